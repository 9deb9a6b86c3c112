"""lfw-people, the real-face source where faces-ccby is absent: downloaded (hash-pinned) from a local server on
127.0.0.1 with a small archive of LFW's layout, by itself only on Colab, and used by load_faces and the
illumination-bias benchmark."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import sys
import tarfile
import types

import numpy as np
import pytest

from mitdl_util.data import bias, lfw_people, loaders
from mitdl_util.data.cache import DataUnavailableError
from mitdl_util.data.registry import REGISTRY

from .test_data_download import Server, _isolated, server  # noqa: F401  (fixtures)

N_PEOPLE = 40


def _jpeg(rgb_centre, seed: int) -> bytes:
    """A 250×250 photo: noisy dark background, a bright 125×125 square where LFW's aligned face is."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (250, 250, 3), dtype=np.uint8)
    left, top, right, bottom = lfw_people.CROP_BOX
    img[top:bottom, left:right] = rgb_centre
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _fake_archive(n_people: int = N_PEOPLE) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(n_people):
            name = f"Person_{i:03d}"
            photos = [f"{name}_0001.jpg"] + ([f"{name}_0002.jpg"] if i % 3 == 0 else [])
            for photo in photos:
                data = _jpeg((200, 150 + i, 100), seed=i)
                info = tarfile.TarInfo(f"lfw_funneled/{name}/{photo}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def lfw_server(server, monkeypatch, tmp_path):  # noqa: F811
    body = _fake_archive()
    url = server.serve("/lfw-funneled.tgz", body)
    entry = dataclasses.replace(REGISTRY["lfw-people"], urls=(url,), sha256=hashlib.sha256(body).hexdigest())
    monkeypatch.setitem(REGISTRY, "lfw-people", entry)
    monkeypatch.setenv("MITDL_LOCAL_DATA", str(tmp_path / "no-faces-ccby"))  # as on Colab: no shared folder
    lfw_people.read_faces.cache_clear()
    yield server.routes["/lfw-funneled.tgz"]
    lfw_people.read_faces.cache_clear()


@pytest.fixture
def colab(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


def test_registry_pins_the_hash_scikit_learn_pins():
    """Is lfw-people's sha256 the one scikit-learn's own LFW fetcher pins for the same file?"""
    from sklearn.datasets import _lfw

    entry = REGISTRY["lfw-people"]
    assert entry.sha256 == _lfw.FUNNELED_ARCHIVE.checksum
    assert entry.urls[0] == _lfw.FUNNELED_ARCHIVE.url and entry.archive == "tar"


def test_on_colab_auto_downloads_lfw_people_and_uses_one_photo_per_person(lfw_server, colab, monkeypatch, capsys):
    faces = loaders.load_faces(fast=False, seed=0)
    out = capsys.readouterr().out
    assert faces.source == "lfw-people" and "lfw-people" in out and "faces-ccby not found" in out
    face_files = np.concatenate([faces.attributes_train["file"][faces.y_train == 1],
                                 faces.attributes_test["file"][faces.y_test == 1]])
    assert sorted(face_files) == [f"Person_{i:03d}_0001.jpg" for i in range(N_PEOPLE)]  # one photo per person, all of them
    assert faces.x_train.shape[1:] == (64, 64, 3) and faces.x_train.dtype == np.float32
    # the crop is the face square: a face image is the bright centre, not the dark background
    face = faces.x_train[(faces.y_train == 1) & ~faces.attributes_train["grayscale"]][0]
    assert face.min() > 0.3 and face[..., 0].mean() > face[..., 2].mean() + 0.2  # colour kept
    assert len(lfw_server.requests) == 1
    # cached and verified: used again offline without a request, from the resized-array cache
    monkeypatch.setenv("MITDL_OFFLINE", "1")
    lfw_people.read_faces.cache_clear()
    again = loaders.load_faces(fast=False, seed=0)
    assert np.array_equal(again.x_train, faces.x_train) and len(lfw_server.requests) == 1
    assert (lfw_people._folder() / "faces-64.npy").is_file()


def test_off_colab_auto_never_downloads_and_says_how_to_get_it(lfw_server, capsys):
    faces = loaders.load_faces(fast=True)
    notices = [line for line in capsys.readouterr().out.splitlines() if line.startswith("mitdl data:")]
    assert faces.source == "lfw_subset" and len(lfw_server.requests) == 0
    assert len(notices) == 1 and "mitdl data fetch lfw-people" in notices[0]


def test_explicit_source_downloads_anywhere_and_failure_is_one_clear_error(lfw_server, monkeypatch):
    faces = loaders.load_faces("lfw-people", fast=True, verbose=False)
    assert faces.source == "lfw-people" and int(faces.y_train.sum() + faces.y_test.sum()) == N_PEOPLE
    srv = Server()
    url = srv.base + "/gone.tgz"
    srv.close()
    monkeypatch.setitem(REGISTRY, "lfw-people", dataclasses.replace(REGISTRY["lfw-people"], urls=(url,)))
    monkeypatch.setenv("MITDL_DATA_DIR", str(lfw_people.data_dir().parent / "other-cache"))
    lfw_people.read_faces.cache_clear()
    with pytest.raises(DataUnavailableError, match="LFW faces are not available: lfw-people could not be downloaded"):
        loaders.load_faces("lfw-people", verbose=False)


def test_illumination_benchmark_uses_lfw_people_on_colab(lfw_server, colab):
    data = bias.load_illumination_bias(seed=0, verbose=False)
    assert data.source.startswith("lfw-people")
    faces = data.y_train == 1
    assert faces.sum() == 30 and data.minority_train[faces].sum() == bias.MIN_MINORITY
    assert (data.groups_test == "dark").sum() == (data.groups_test == "light").sum()


def test_an_unsafe_archive_is_refused_and_colab_falls_back_with_the_reason(server, colab, monkeypatch, tmp_path,  # noqa: F811
                                                                            capsys):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        link = tarfile.TarInfo("lfw_funneled/Person_000/Person_000_0001.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    body = buf.getvalue()
    url = server.serve("/evil.tgz", body)
    monkeypatch.setitem(REGISTRY, "lfw-people", dataclasses.replace(
        REGISTRY["lfw-people"], urls=(url,), sha256=hashlib.sha256(body).hexdigest()))
    monkeypatch.setenv("MITDL_LOCAL_DATA", str(tmp_path / "no-faces-ccby"))
    faces = loaders.load_faces(fast=True)
    out = capsys.readouterr().out
    assert faces.source == "lfw_subset"
    assert "lfw-people could not be downloaded" in out and "link member" in out
    assert not list(lfw_people._folder().parent.rglob("Person_000_0001.jpg"))
