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


def test_overlay_uses_the_mask_colours_and_outlines_every_class():
    """Issue 14: class colours differed between the mask and the overlay figures; triangles were hard to see."""
    from mitdl_util import shapes

    image = np.full((10, 12, 3), 0.5)
    mask = np.zeros((10, 12), int)
    mask[1:3, 1:3], mask[4:6, 4:6], mask[7:9, 8:11] = 1, 2, 3
    ax = plot.overlay_mask(image, mask, num_classes=shapes.NUM_CLASSES)
    rgba = np.asarray(ax.get_images()[1].get_array())
    solid = shapes.mask_to_rgb(mask)
    for c in (1, 2, 3):
        assert np.allclose(rgba[mask == c, :3], solid[mask == c]), c
    contours = [a for a in ax.get_children() if type(a).__name__ in ("QuadContourSet", "ContourSet")]
    if not contours:  # older matplotlib: one collection per level
        contours = [a for a in ax.collections]
    assert len(contours) >= 3


def test_class_legend_names_every_class_but_the_background():
    import matplotlib.pyplot as plt

    from mitdl_util import shapes

    fig = plt.figure()
    legend = plot.class_legend(fig, shapes.CLASS_NAMES)
    assert [t.get_text() for t in legend.get_texts()] == list(shapes.CLASS_NAMES[1:])
    patches = legend.get_patches() if hasattr(legend, "get_patches") else legend.legend_handles
    assert np.allclose([p.get_facecolor()[:3] for p in patches], shapes.class_colours()[1:])
