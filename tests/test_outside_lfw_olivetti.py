"""The outside test where faces-ccby is absent (Colab): train on LFW (lfw-people), test outside on the Olivetti faces
(olivetti-faces). Both are downloaded from a local server on 127.0.0.1 serving small files of the real layouts; the
Olivetti file is read as scikit-learn reads it, and the notebook's outside cells run on that data."""

from __future__ import annotations

import dataclasses
import hashlib
import io

import nbformat
import numpy as np
import pytest

from mitdl_util.data import DataUnavailableError, olivetti, outside
from mitdl_util.data.registry import REGISTRY

from .test_data_download import Server, _isolated, server  # noqa: F401  (fixtures)
from .test_data_lfw_people import N_PEOPLE, colab, lfw_server  # noqa: F401  (fixtures)


def _olivetti_mat(faces: np.ndarray) -> bytes:
    """A MATLAB file laid out as olivettifaces.mat: `faces`, 4096 × 400, each column a face stored column-major."""
    import scipy.io

    columns = faces.transpose(0, 2, 1).reshape(len(faces), -1).T.astype(np.float64) * 255.0
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"faces": columns}, do_compression=True)
    return buf.getvalue()


def _faces(n: int = olivetti.N_FACES) -> np.ndarray:
    """Grey 64×64 faces with an orientation mark: the top rows bright, the left columns mid-grey."""
    rng = np.random.default_rng(1)
    x = np.broadcast_to(rng.uniform(0.1, 0.3, (n, 1, 1)) + np.linspace(0, 0.1, 64), (n, 64, 64)).astype(np.float32)
    x[:, :8] = 1.0
    x[:, 8:, :8] = 0.6
    x[:, 0, 0] = 0.0  # the darkest pixel, so that min-max scaling leaves the values as they are
    return x


@pytest.fixture
def olivetti_server(server, monkeypatch):  # noqa: F811
    body = _olivetti_mat(_faces())
    url = server.serve("/olivettifaces.mat", body)
    monkeypatch.setitem(REGISTRY, "olivetti-faces", dataclasses.replace(
        REGISTRY["olivetti-faces"], urls=(url,), sha256=hashlib.sha256(body).hexdigest()))
    olivetti.read_faces.cache_clear()
    yield server.routes["/olivettifaces.mat"], body
    olivetti.read_faces.cache_clear()


def test_registry_pins_the_file_scikit_learn_pins():
    """Is olivetti-faces' sha256 and URL the ones scikit-learn's own fetcher pins for the same file?"""
    from sklearn.datasets import _olivetti_faces

    entry = REGISTRY["olivetti-faces"]
    assert entry.sha256 == _olivetti_faces.FACES.checksum and entry.urls[0] == _olivetti_faces.FACES.url
    assert entry.filename == _olivetti_faces.FACES.filename


def test_faces_are_read_as_scikit_learn_reads_the_same_file(olivetti_server, colab, monkeypatch, tmp_path):  # noqa: F811
    """Downloaded by itself on Colab, and the same pixels, the right way up, as fetch_olivetti_faces gives."""
    from sklearn.datasets import _olivetti_faces, fetch_olivetti_faces

    route, body = olivetti_server
    assert olivetti.available() == (True, "") and len(route.requests) == 1
    faces, people = olivetti.read_faces()
    assert faces.shape == (400, 64, 64, 3) and faces.dtype == np.float32
    assert np.array_equal(faces[..., 0], faces[..., 2])  # grey
    assert faces[:, 1:8].min() > 0.99 and abs(float(faces[:, 20:, :8].mean()) - 0.6) < 0.01  # top bright, left grey
    assert np.array_equal(people, np.repeat(np.arange(40), 10))
    monkeypatch.setattr(_olivetti_faces, "FACES", _olivetti_faces.FACES._replace(
        url=REGISTRY["olivetti-faces"].urls[0], checksum=hashlib.sha256(body).hexdigest()))
    reference = fetch_olivetti_faces(data_home=str(tmp_path / "sklearn"))
    assert np.allclose(faces[..., 0], reference.images, atol=1e-6)
    assert np.array_equal(people, reference.target)
    assert olivetti.available() == (True, "") and len(route.requests) == 2  # ours was cached: only sklearn fetched


def test_off_colab_it_is_never_downloaded_and_says_how_to_get_it(olivetti_server):
    route, _ = olivetti_server
    usable, why_not = olivetti.available()
    assert not usable and "mitdl data fetch olivetti-faces" in why_not and route.requests == []


def test_a_file_that_is_not_the_olivetti_faces_is_one_clear_sentence(olivetti_server, colab):  # noqa: F811
    import scipy.io

    assert olivetti.available()[0]
    scipy.io.savemat(str(olivetti.cached_path("olivetti-faces")), {"faces": np.zeros((10, 10))})
    olivetti.read_faces.cache_clear()
    with pytest.raises(DataUnavailableError, match=r"not the 4096 × 400 Olivetti faces: delete it and run "
                                                   r"`mitdl data fetch olivetti-faces` again\.$"):
        olivetti.read_faces()


def test_without_faces_ccby_the_split_trains_on_lfw_and_tests_outside_on_olivetti(
        lfw_server, olivetti_server, colab):  # noqa: F811
    assert outside.outside_split_available()
    data = outside.load_outside_split(0, verbose=False)
    assert data.recipe["source"] == "lfw-olivetti" and data.reported == ()
    assert "from lfw" in repr(data) and "from olivetti" in repr(data)
    faces_tr, faces_te, faces_out = data.y_train == 1, data.y_test == 1, data.y_outside == 1
    assert set(data.sources_train[faces_tr]) == {"lfw"} == set(data.sources_test[faces_te])
    assert set(data.sources_outside[faces_out]) == {"olivetti"} and faces_out.sum() == 400
    # every LFW person once: in training or held out, never both
    people = np.concatenate([data.files_train[faces_tr], data.files_test[faces_te]])
    assert len(people) == len(set(people)) == N_PEOPLE and faces_te.sum() == round(N_PEOPLE * 0.25)
    for y in (data.y_train, data.y_test, data.y_outside):  # as many non-faces as faces in each part
        assert (y == 0).sum() == (y == 1).sum()
    assert np.array_equal(data.x_outside[faces_out][..., 0], data.x_outside[faces_out][..., 1])  # Olivetti is grey
    varied = outside.load_outside_split(0, varied=True, hard_nonfaces_share=0.25, verbose=False)
    assert varied.x_test_standard is not None and varied.x_train.shape[1:] == (64, 64, 3)
    assert not np.array_equal(varied.x_test, varied.x_test_standard)  # the held-out faces got the random crops
    again = outside.load_outside_split(0, varied=True, hard_nonfaces_share=0.25, verbose=False)
    assert np.array_equal(again.x_train, varied.x_train) and np.array_equal(again.files_test, varied.files_test)


def test_without_any_source_the_split_says_both_ways_to_get_one(lfw_server, olivetti_server):  # noqa: F811
    """Off Colab, with neither faces-ccby nor the two downloads: not available, one error naming what to do."""
    assert not outside.outside_split_available()
    with pytest.raises(DataUnavailableError, match=r"MITDL_LOCAL_DATA.*mitdl data fetch lfw-people.*"
                                                   r"mitdl data fetch olivetti-faces"):
        outside.load_outside_split(0, verbose=False)
    with pytest.raises(DataUnavailableError, match="faces-ccby"):
        outside.load_outside_split(0, source="faces-ccby", verbose=False)
    with pytest.raises(ValueError, match="source must be"):
        outside.load_outside_split(0, source="lfw", verbose=False)
    assert lfw_server.requests == [] and olivetti_server[0].requests == []


def _outside_cells(repo_root) -> list[str]:
    nb = nbformat.read(repo_root / "solutions" / "04_facial_detection.ipynb", as_version=4)
    start = next(i for i, c in enumerate(nb.cells) if "from mitdl_util.data import outside" in c.source)
    pictures = next(c for c in nb.cells if "outside.mistakes(" in c.source)
    return [nb.cells[start].source, nb.cells[start + 2].source, pictures.source]


def test_the_notebooks_outside_cells_run_on_lfw_and_olivetti(lfw_server, olivetti_server, colab,  # noqa: F811
                                                              repo_root, monkeypatch, capsys):
    """The outside cells of lab 04, as a student on Colab runs them: both detectors trained (for 1 epoch here),
    tables printed with all faces and non-faces only, the bar chart drawn with one bar, the mistakes shown."""
    import keras
    import matplotlib.pyplot as plt

    from mitdl_util import face_augment, facelab, plot
    from mitdl_util.checks import lab04

    reported, shown = {}, []
    monkeypatch.setattr(plt, "show", lambda: shown.append([ax.patches for ax in plt.gcf().axes]))
    namespace = {"keras": keras, "np": np, "plt": plt, "plot": plot, "facelab": facelab,
                 "face_augment": face_augment, "results": {},
                 "build_face_classifier": lab04.REFERENCES["build_face_classifier"],
                 "mdl": type("Mdl", (), {"report": staticmethod(lambda k, v: reported.__setitem__(k, v))})}
    first, second, pictures = _outside_cells(repo_root)
    exec(first.replace("OUTSIDE_EPOCHS = 25", "OUTSIDE_EPOCHS = 1"), namespace)  # noqa: S102
    exec(second, namespace)  # noqa: S102
    assert len(shown) == 1 and [len(p) for p in shown[0]] == [1, 1]  # one bar ("all faces") per detector
    plt.close("all")
    exec(pictures, namespace)  # noqa: S102
    figures = [plt.figure(n) for n in plt.get_fignums()]
    titles = [f._suptitle.get_text() for f in figures if f._suptitle is not None]
    said = capsys.readouterr().out
    assert len(shown) == 2
    for name in ("standard crop", "varied training"):  # each detector: a grid of its mistakes, or a line saying none
        assert sum(t.startswith(f"{name}: outside ") for t in titles) + said.count(f"{name}: no outside ") == 1
    images = [im for f in figures for ax in f.axes for im in ax.get_images()]
    assert len(images) >= len(titles) and all(im.get_array().shape[:2] == (64, 64) for im in images)
    plain, robust = namespace["results"]["outside_plain"], namespace["results"]["outside_robust"]
    for r in (plain, robust):
        assert set(r["outside"]) == {"all faces", "non-faces"} and r["outside"]["all faces"]["n"] == 400
    assert set(reported) == {"outside_face_recall_plain", "outside_face_recall_robust"}
