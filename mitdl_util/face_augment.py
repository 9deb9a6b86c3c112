"""Augmentation that looks like real variation between photo sources, for lab 04's face detector.

Faces from another source differ in how tightly they are cropped, where the face sits, how the head is tilted and
how the photo was exposed and colour-balanced. :func:`jitter` draws each of those at random for every image of a
batch: scale and crop (zoom in or out and move), a small rotation, a mirror, and — only with ``colour=True`` —
brightness, contrast, saturation and a slight colour cast. Experiment 2 studies a brightness cue it controls, so
it trains with ``colour=False``: geometry only, never a change of brightness.

``jitter(images, rng)`` has the signature ``facelab.train(augment_images=...)`` takes. NumPy only.
"""

from __future__ import annotations

import functools

import numpy as np

GREY = np.asarray([0.299, 0.587, 0.114], np.float32)


def _affine_sample(images: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Bilinear sampling of each image at ``matrices[i] @ (row, col, 1)`` (output pixel -> input position), with
    edge pixels repeated outside the image. images (N, H, W, C), matrices (N, 2, 3)."""
    n, h, w = images.shape[:3]
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    grid = np.stack([rows, cols, np.ones_like(rows)])  # (3, H, W)
    src = np.einsum("nij,jhw->nihw", matrices.astype(np.float32), grid)  # (N, 2, H, W)
    r = np.clip(src[:, 0], 0, h - 1)
    c = np.clip(src[:, 1], 0, w - 1)
    r0, c0 = np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)
    r1, c1 = np.minimum(r0 + 1, h - 1), np.minimum(c0 + 1, w - 1)
    fr, fc = (r - r0)[..., None], (c - c0)[..., None]
    idx = np.arange(n)[:, None, None]
    top = images[idx, r0, c0] * (1 - fc) + images[idx, r0, c1] * fc
    bottom = images[idx, r1, c0] * (1 - fc) + images[idx, r1, c1] * fc
    return (top * (1 - fr) + bottom * fr).astype(images.dtype)


def geometry(n: int, h: int, w: int, rng: np.random.Generator, *, scale=(0.85, 1.15), rotate: float = 10.0,
             shift: float = 0.08, flip: bool = True) -> np.ndarray:
    """(n, 2, 3) matrices mapping output (row, col, 1) to input positions: zoom by a factor in ``scale`` (> 1 zooms
    in), rotate by up to ``rotate`` degrees, move the centre by up to ``shift`` of the side, mirror half of them."""
    zoom = rng.uniform(*scale, n)
    angle = np.deg2rad(rng.uniform(-rotate, rotate, n))
    mirror = np.where(rng.random(n) < 0.5, -1.0, 1.0) if flip else np.ones(n)
    dy, dx = rng.uniform(-shift, shift, (2, n)) * np.array([[h], [w]])
    cy, cx = (h - 1) / 2, (w - 1) / 2
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
    m = np.empty((n, 2, 3))
    # input = centre + R(angle)/zoom · (output − centre) with the column axis mirrored, then moved by (dy, dx)
    m[:, 0, 0], m[:, 0, 1] = cos, -sin * mirror
    m[:, 1, 0], m[:, 1, 1] = sin, cos * mirror
    m[:, 0, 2] = cy - cos * cy + sin * mirror * cx + dy
    m[:, 1, 2] = cx - sin * cy - cos * mirror * cx + dx
    return m


def colour(images: np.ndarray, rng: np.random.Generator, *, brightness: float = 0.25, contrast: float = 0.3,
           saturation: float = 0.4, cast: float = 0.06) -> np.ndarray:
    """Random exposure (gain within ±``brightness``), contrast (±``contrast`` around each image's mean),
    saturation (±``saturation``, blending with the grey image) and colour cast (per-channel gain ±``cast``)."""
    n = len(images)
    grey = (images @ GREY)[..., None]
    sat = rng.uniform(1 - saturation, 1 + saturation, (n, 1, 1, 1))
    out = grey + sat * (images - grey)
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    out = mean + rng.uniform(1 - contrast, 1 + contrast, (n, 1, 1, 1)) * (out - mean)
    gain = rng.uniform(1 - brightness, 1 + brightness, (n, 1, 1, 1))
    channel = rng.uniform(1 - cast, 1 + cast, (n, 1, 1, 3))
    return np.clip(out * gain * channel, 0.0, 1.0).astype(images.dtype)


def jitter(images: np.ndarray, rng: np.random.Generator, *, colour_jitter: bool = True, scale=(0.85, 1.15),
           rotate: float = 10.0, shift: float = 0.08) -> np.ndarray:
    """A new array: each image zoomed, moved, rotated, maybe mirrored, and (``colour_jitter``) re-exposed and
    re-coloured. The input is never modified."""
    images = np.asarray(images, np.float32)
    n, h, w = images.shape[:3]
    out = _affine_sample(images, geometry(n, h, w, rng, scale=scale, rotate=rotate, shift=shift))
    return colour(out, rng) if colour_jitter else out


geometric_jitter = functools.partial(jitter, colour_jitter=False)
""":func:`jitter` without any change of brightness or colour (for experiment 2's brightness cue)."""
