"""The mask overlay used by lab 05 draws the image, then the mask in one colour per class over it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from mitdl_util import plot


def test_overlay_draws_image_and_mask_layer():
    image = np.zeros((6, 8, 3))
    mask = np.zeros((6, 8), int)
    mask[1:3, 2:5] = 2
    ax = plot.overlay_mask(image, mask, num_classes=3, alpha=0.4, title="t")
    layers = ax.get_images()
    assert len(layers) == 2
    rgba = np.asarray(layers[1].get_array())
    assert rgba.shape == (6, 8, 4)
    assert np.all(rgba[mask == 0, 3] == 0), "background must stay see-through"
    assert np.allclose(rgba[mask == 2, 3], 0.4)
    assert ax.get_title() == "t"


def test_overlay_rejects_a_batch_of_masks():
    with pytest.raises(ValueError, match="2-D mask"):
        plot.overlay_mask(np.zeros((4, 4, 3)), np.zeros((2, 4, 4), int))
