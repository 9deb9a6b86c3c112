"""A synthetic segmentation dataset for lab 05: coloured circles, squares and triangles on noisy backgrounds.

The images are **synthetic** (generated here from a seed, no photo involved), so every pixel's label is known
exactly. Colours are drawn at random for shapes and background alike, so a network cannot tell the classes apart
by colour: it has to look at the shape, which is what segmentation is about.

```python
images, masks = make_shapes(200, size=32, seed=0)  # float32 (200, 32, 32, 3) in [0, 1], uint8 (200, 32, 32)
```
Class ids: 0 background, 1 circle, 2 square, 3 triangle (``CLASS_NAMES``). NumPy only.
"""

from __future__ import annotations

import numpy as np

CLASS_NAMES = ("background", "circle", "square", "triangle")
"""Class id -> name; the masks hold these ids."""
NUM_CLASSES = len(CLASS_NAMES)


def _shape_mask(kind: int, size: int, cy: float, cx: float, r: float) -> np.ndarray:
    """Boolean (size, size) mask of one shape of half-size ``r`` centred at (cy, cx)."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    dy, dx = yy - cy, xx - cx
    if kind == 1:  # circle of radius r
        return dy**2 + dx**2 <= r**2
    if kind == 2:  # axis-aligned square of side 2r
        return (np.abs(dy) <= r) & (np.abs(dx) <= r)
    # upward triangle inside the same 2r × 2r box: apex at the top, base at the bottom
    t = (dy + r) / (2 * r)  # 0 at the apex row, 1 at the base row
    return (t >= 0) & (t <= 1) & (np.abs(dx) <= r * t)


def _random_colour(rng: np.random.Generator, avoid: np.ndarray | None = None) -> np.ndarray:
    """An RGB colour in [0, 1], at least a little different from ``avoid`` so shapes stay visible."""
    while True:
        colour = rng.random(3)
        if avoid is None or np.abs(colour - avoid).sum() > 0.6:
            return colour


def make_shapes(n: int, size: int = 32, seed: int = 0, max_shapes: int = 3, min_radius: float = 4.0,
                max_radius: float | None = None, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images, masks)``: ``n`` synthetic float32 RGB images (n, size, size, 3) in [0, 1] and their
    uint8 label masks (n, size, size) with ids from ``CLASS_NAMES``. Later shapes are drawn over earlier ones,
    and the mask always says what is visible. The same seed gives the same data."""
    if n < 0 or size < 8:
        raise ValueError(f"make_shapes needs n >= 0 and size >= 8; got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    max_radius = size / 4 if max_radius is None else max_radius
    images = np.empty((n, size, size, 3), np.float32)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        background = rng.random(3)
        image = np.broadcast_to(background, (size, size, 3)).copy()
        mask = masks[i]
        for _ in range(int(rng.integers(1, max_shapes + 1))):
            kind = int(rng.integers(1, NUM_CLASSES))
            r = rng.uniform(min_radius, max_radius)
            cy, cx = rng.uniform(r, size - r, size=2)
            inside = _shape_mask(kind, size, cy, cx, r)
            image[inside] = _random_colour(rng, avoid=background)
            mask[inside] = kind
        image += rng.normal(0.0, noise, image.shape)
        images[i] = np.clip(image, 0.0, 1.0)
    return images, masks


def class_colours(num_classes: int = NUM_CLASSES) -> np.ndarray:
    """A fixed RGB colour in [0, 1] per class id (class 0 black), for drawing masks."""
    # background black, circle red, square blue, triangle amber (green was hard to see on the noisy backgrounds)
    palette = np.array([[0.0, 0.0, 0.0], [0.89, 0.10, 0.11], [0.22, 0.49, 0.72], [1.0, 0.78, 0.0],
                        [0.60, 0.31, 0.64], [1.0, 0.50, 0.0], [1.0, 1.0, 0.2], [0.65, 0.34, 0.16]])
    reps = int(np.ceil(num_classes / len(palette)))
    return np.tile(palette, (reps, 1))[:num_classes]


def mask_to_rgb(mask, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Colour a label mask (H, W) of class ids as a float RGB image (H, W, 3) using `class_colours`."""
    mask = np.asarray(mask)
    if mask.size and (mask.min() < 0 or mask.max() >= num_classes):
        raise ValueError(f"mask holds ids outside 0..{num_classes - 1}")
    return class_colours(num_classes)[mask.astype(np.intp)]
