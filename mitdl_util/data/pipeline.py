"""tf.data input pipelines for the labs (instead of hand-indexed batches)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf


def make_dataset(
    x: np.ndarray,
    y: np.ndarray | None = None,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int = 0,
    cache: bool = True,
    prefetch: bool = True,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Return a batched ``tf.data.Dataset`` of ``x`` (or ``(x, y)`` pairs): seeded shuffle each epoch, cached
    after the first pass, prefetched."""
    import tensorflow as tf

    if y is not None and len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}; pass arrays of the same length")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(buffer_size=max(1, len(x)), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds
