"""Real colour faces for machines without faces-ccby (Colab): Labeled Faces in the Wild, one photo per person.

The archive is a registry download (``lfw-people``: hash-pinned, resumable, extracted safely). On Colab the face
loaders fetch it by themselves; elsewhere ``mitdl data fetch lfw-people`` does, once, and the loaders use it from
then on. The faces are cropped around LFW's aligned face centre and resized; the resized array is cached next to
the archive so later runs skip the 5 749 JPEG decodes.

Both derived files carry a record: the extracted folder one of every file's size (see ``download.unpack``), the
resized array ``faces-64.npy.json`` (sha256, shape, dtype, photo list). A folder or array that does not match its
record, or a photo that does not decode, is rebuilt from the verified archive, with a notice.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import MitdlError
from .cache import DataUnavailableError, as_cache_error, data_dir, notice, remove, sha256_file
from .download import cached_path, fetch_where_allowed, is_cached, unpack, unpacked_intact

NAME = "lfw-people"
CROP_BOX = (63, 70, 188, 195)
"""(left, top, right, bottom) in LFW's 250×250 funneled photos: the 125×125 square around the face (scikit-learn's
default slice, widened to a square)."""


def _folder() -> Path:
    return data_dir() / NAME


def _photos(folder: Path) -> list[Path]:
    """The first photo of every person, sorted by name."""
    return sorted(folder.rglob("*_0001.jpg"))


def available(*, download: bool | None = None) -> tuple[bool, str]:
    """(True, "") when the LFW faces can be used: extracted already (and matching the extraction's record), or
    extracted from the cached archive, or fetched now when ``download`` (default: on Colab and not offline).
    Otherwise (False, why) — never raises for a missing network, a full disk or a read-only cache."""
    try:
        folder = _folder()
        if unpacked_intact(folder) and _photos(folder):
            return True, ""
        if is_cached(NAME):
            unpack(NAME)
            return (True, "") if _photos(folder) else (False, f"the {NAME} archive holds no photos")
    except (OSError, MitdlError) as exc:
        return False, f"the cached {NAME} archive could not be extracted ({exc})"
    offer = f"`mitdl data fetch {NAME}` downloads 5 749 real colour faces (about 200 MB) once"
    why_not = fetch_where_allowed(NAME, download=download, offer=offer)  # a fault: fall back, say why
    if why_not:
        return False, why_not
    return (True, "") if _photos(folder) else (False, f"the {NAME} archive holds no photos")


def for_source(source: str) -> tuple[bool, str]:
    """What a face loader asked for ``source`` ("auto" or "lfw_people") does where faces-ccby is absent: (use LFW?,
    why not). An explicit "lfw_people" downloads anywhere and raises when it cannot."""
    usable, why_not = available(download=True if source == "lfw_people" else None)
    if source == "lfw_people" and not usable:
        raise DataUnavailableError(f"LFW faces are not available: {why_not}.")
    return usable, why_not


class _CorruptPhoto(Exception):
    def __init__(self, path: Path, why: str):
        super().__init__(f"{path}: {why}")
        self.path, self.why = path, why


def _decode(photos: list[Path], size: int) -> np.ndarray:
    """uint8 (N, size, size, 3) face crops; :class:`_CorruptPhoto` names the first photo that does not decode."""
    from PIL import Image

    stored = np.empty((len(photos), size, size, 3), np.uint8)
    for i, path in enumerate(photos):
        try:
            with Image.open(path) as im:
                crop = im.convert("RGB").crop(CROP_BOX)
                stored[i] = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR), np.uint8)
        except (OSError, ValueError, SyntaxError) as exc:  # PIL: UnidentifiedImageError, truncated file, bad data
            raise _CorruptPhoto(path, str(exc) or type(exc).__name__) from None
    return stored


def _decode_or_reextract(folder: Path, size: int) -> tuple[list[Path], np.ndarray]:
    photos = _photos(folder)
    try:
        return photos, _decode(photos, size)
    except _CorruptPhoto as bad:
        if not is_cached(NAME):
            raise DataUnavailableError(
                f"The LFW photo {bad.path} is corrupt ({bad.why}) and the archive it came from is no longer cached: "
                f"delete {folder} and run `mitdl data fetch {NAME}` again."
            ) from None
        notice(f"the LFW photo {bad.path.name} is corrupt ({bad.why}); extracting the verified archive again")
    unpack(NAME, force=True)
    photos = _photos(folder)
    try:
        return photos, _decode(photos, size)
    except _CorruptPhoto as bad:
        raise DataUnavailableError(
            f"The LFW photo {bad.path} is corrupt ({bad.why}) even in a fresh extraction of the verified archive: "
            f"delete {cached_path(NAME)} and {folder} and run `mitdl data fetch {NAME}` again."
        ) from None


def _names_digest(names: np.ndarray) -> str:
    return hashlib.sha256("\n".join(names.tolist()).encode()).hexdigest()


def _load_resized(cache: Path, shape: tuple[int, ...], names: np.ndarray) -> np.ndarray | None:
    """The cached uint8 faces when the file matches its record (sha256, shape, dtype, photo list), else None —
    with a notice when a file was there but did not match."""
    if not cache.is_file():
        return None
    record_path = cache.with_name(cache.name + ".json")
    try:
        record = json.loads(record_path.read_text())
        matches = (record.get("shape") == list(shape) and record.get("dtype") == "uint8"
                   and record.get("photos") == _names_digest(names) and record.get("sha256") == sha256_file(cache))
    except (OSError, ValueError, AttributeError):
        matches = False
    if matches:
        try:
            stored = np.load(cache, allow_pickle=False)
            if stored.shape == shape and stored.dtype == np.uint8:
                return stored
        except (OSError, ValueError):
            pass
    notice(f"{cache.name} in {cache.parent} does not match its record (corrupt, or made from other photos); "
           "rebuilding it from the photos")
    return None


def _save_resized(cache: Path, stored: np.ndarray, names: np.ndarray) -> None:
    """Write the array and then its record; on a full or read-only disk say so and go on without the cache."""
    tmp = cache.with_name(cache.name + ".part.npy")
    record_path = cache.with_name(cache.name + ".json")
    try:
        record_path.unlink(missing_ok=True)  # a stale record must never vouch for a new array
        np.save(tmp, stored)
        tmp.replace(cache)
        record = {"sha256": sha256_file(cache), "shape": list(stored.shape), "dtype": "uint8",
                  "photos": _names_digest(names)}
        record_path.write_text(json.dumps(record))
    except OSError as exc:
        remove(tmp)
        if not record_path.is_file():
            remove(cache)  # an array without its record would only be rebuilt next time
        error = as_cache_error(exc, cache.parent, cache.name)
        if error is None:
            raise
        notice(f"{error.short}, so {cache.name} was not saved; the faces are used anyway and resized again next "
               f"time ({error.advice} to keep it)")


@functools.lru_cache(maxsize=2)
def read_faces(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(faces float32 (N, size, size, 3) in [0, 1], photo file names): one photo per person, face-centred crops.
    Call :func:`available` first."""
    folder = _folder()
    photos = _photos(folder)
    if not photos:
        raise DataUnavailableError(f"No LFW photos in {folder}: run `mitdl data fetch {NAME}`.")
    names = np.asarray([p.name for p in photos])
    cache = folder / f"faces-{size}.npy"  # uint8, a quarter of the float32 size
    stored = _load_resized(cache, (len(photos), size, size, 3), names)
    if stored is None:
        photos, stored = _decode_or_reextract(folder, size)
        names = np.asarray([p.name for p in photos])
        _save_resized(cache, stored, names)
    return stored.astype(np.float32) / 255.0, names
