"""The Olivetti faces: 400 grey studio photos of 40 people (AT&T Laboratories Cambridge, 1992-94), the outside test
set where faces-ccby is absent (Colab): other photographers, a studio, a dark background and the face filling the
frame, none of which the LFW news photos the detector trains on share.

The file is a registry download (``olivetti-faces``: the ``olivettifaces.mat`` scikit-learn fetches, hash-pinned).
On Colab :func:`available` fetches it by itself; elsewhere ``mitdl data fetch olivetti-faces`` does, once.
"""

from __future__ import annotations

import functools

import numpy as np

from .cache import DataUnavailableError
from .download import cached_path, fetch_where_allowed, is_cached

NAME = "olivetti-faces"
N_FACES, N_PEOPLE, SIDE = 400, 40, 64


def available(*, download: bool | None = None) -> tuple[bool, str]:
    """(True, "") when the verified file is in the cache, or was fetched now because ``download`` (default: on
    Colab and not offline); otherwise (False, why). Never raises for a missing network or a full disk."""
    if is_cached(NAME):
        return True, ""
    why_not = fetch_where_allowed(NAME, download=download,
                                  offer=f"`mitdl data fetch {NAME}` downloads the 400 Olivetti faces (a few MB) once")
    return (False, why_not) if why_not else (True, "")


@functools.lru_cache(maxsize=2)
def read_faces(size: int = SIDE) -> tuple[np.ndarray, np.ndarray]:
    """(faces float32 (400, size, size, 3) in [0, 1], grey in all three channels; person id per face, 0-39).
    Read as scikit-learn's ``fetch_olivetti_faces`` reads the same file. Call :func:`available` first."""
    import scipy.io

    path = cached_path(NAME)
    try:
        raw = np.asarray(scipy.io.loadmat(str(path))["faces"], np.float32)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataUnavailableError(f"{path} is not the Olivetti faces file ({exc}): delete it and run "
                                   f"`mitdl data fetch {NAME}` again.") from None
    if raw.shape != (SIDE * SIDE, N_FACES):
        raise DataUnavailableError(f"{path} holds an array of shape {raw.shape}, not the 4096 × 400 Olivetti faces: "
                                   f"delete it and run `mitdl data fetch {NAME}` again.")
    # Columns are faces stored column-major (MATLAB): transpose each back to rows, as scikit-learn does.
    faces = raw.T.reshape(N_FACES, SIDE, SIDE).transpose(0, 2, 1)
    faces = (faces - faces.min()) / max(float(faces.max() - faces.min()), 1e-12)
    if size != SIDE:
        from PIL import Image

        faces = np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.Resampling.BILINEAR))
                          for f in faces])
    people = np.repeat(np.arange(N_PEOPLE), N_FACES // N_PEOPLE)
    return np.repeat(faces[..., None], 3, axis=-1).astype(np.float32), people
