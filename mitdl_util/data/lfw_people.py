"""Real colour faces for machines without faces-ccby (Colab): Labeled Faces in the Wild, one photo per person.

The archive is a registry download (``lfw-people``: hash-pinned, resumable, extracted safely). On Colab the face
loaders fetch it by themselves; elsewhere ``mitdl data fetch lfw-people`` does, once, and the loaders use it from
then on. The faces are cropped around LFW's aligned face centre and resized; the resized array is cached next to
the archive so later runs skip the 5 749 JPEG decodes.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np

from ..errors import MitdlError
from .cache import DataUnavailableError, data_dir, is_offline
from .download import cached_path, extract_archive, fetch, is_cached

NAME = "lfw-people"
CROP_BOX = (63, 70, 188, 195)
"""(left, top, right, bottom) in LFW's 250×250 funneled photos: the 125×125 square around the face (scikit-learn's
default slice, widened to a square)."""


def on_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "google.colab" in sys.modules


def _folder() -> Path:
    return data_dir() / NAME


def _photos(folder: Path) -> list[Path]:
    """The first photo of every person, sorted by name."""
    return sorted(folder.rglob("*_0001.jpg"))


def available(*, download: bool | None = None) -> tuple[bool, str]:
    """(True, "") when the LFW faces can be used: extracted already, or fetched now when ``download`` (default:
    on Colab and not offline). Otherwise (False, why) — never raises for a missing network."""
    folder = _folder()
    if folder.is_dir() and _photos(folder):
        return True, ""
    try:
        if is_cached(NAME):
            extract_archive(cached_path(NAME), folder)
            return True, ""
    except (OSError, MitdlError) as exc:
        return False, f"the cached {NAME} archive could not be extracted ({exc}); delete {cached_path(NAME)}"
    if download is None:
        download = on_colab() and not is_offline()
    if not download:
        return False, f"`mitdl data fetch {NAME}` downloads 5 749 real colour faces (about 200 MB) once"
    try:
        fetch(NAME)
    except MitdlError as exc:  # no network, wrong hash, an archive refused as unsafe: fall back, say why
        return False, f"{NAME} could not be downloaded ({exc})"
    return (True, "") if _photos(folder) else (False, f"the {NAME} archive holds no photos")


def for_source(source: str) -> tuple[bool, str]:
    """What a face loader asked for ``source`` ("auto" or "lfw_people") does where faces-ccby is absent: (use LFW?,
    why not). An explicit "lfw_people" downloads anywhere and raises when it cannot."""
    usable, why_not = available(download=True if source == "lfw_people" else None)
    if source == "lfw_people" and not usable:
        raise DataUnavailableError(f"LFW faces are not available: {why_not}.")
    return usable, why_not


@functools.lru_cache(maxsize=2)
def read_faces(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(faces float32 (N, size, size, 3) in [0, 1], photo file names): one photo per person, face-centred crops.
    Call :func:`available` first."""
    from PIL import Image

    folder = _folder()
    photos = _photos(folder)
    if not photos:
        raise DataUnavailableError(f"No LFW photos in {folder}: run `mitdl data fetch {NAME}`.")
    names = np.asarray([p.name for p in photos])
    cache = folder / f"faces-{size}.npy"  # uint8, a quarter of the float32 size
    if cache.is_file():
        stored = np.load(cache, allow_pickle=False)
        if stored.shape == (len(photos), size, size, 3) and stored.dtype == np.uint8:
            return stored.astype(np.float32) / 255.0, names
    stored = np.empty((len(photos), size, size, 3), np.uint8)
    for i, path in enumerate(photos):
        with Image.open(path) as im:
            crop = im.convert("RGB").crop(CROP_BOX)
            stored[i] = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR), np.uint8)
    tmp = cache.with_name(cache.name + ".part.npy")
    np.save(tmp, stored)
    tmp.replace(cache)
    return stored.astype(np.float32) / 255.0, names
