"""Plot helpers, headless: assert on what they draw (axes, titles, image data, texts), not only that they run."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mitdl_util import plot  # noqa: E402


def test_show_image_draws_the_array_without_ticks():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    ax = plot.show_image(image, title="tiny")
    shown = ax.get_images()[0]
    assert np.array_equal(shown.get_array(), image)
    assert shown.get_cmap().name == "gray"
    assert ax.get_title() == "tiny" and list(ax.get_xticks()) == []


def test_show_image_squeezes_a_single_channel():
    ax = plot.show_image(np.zeros((5, 6, 1)))
    assert ax.get_images()[0].get_array().shape == (5, 6)


def test_show_images_makes_one_panel_per_image_and_hides_spares():
    fig = plot.show_images([np.zeros((4, 4))] * 3, ["a", "b", "c"], ncols=2)
    axes = fig.axes
    assert len(axes) == 4
    assert [ax.get_title() for ax in axes[:3]] == ["a", "b", "c"]
    assert not axes[3].axison


def test_show_pixel_values_writes_every_number_and_highlights():
    block = np.array([[0, 255], [7, 128]])
    ax = plot.show_pixel_values(block, highlight=(1, 0))
    assert sorted(t.get_text() for t in ax.texts) == ["0", "128", "255", "7"]
    assert len(ax.patches) == 1
    dark_text = [t for t in ax.texts if t.get_text() == "0"][0]
    assert dark_text.get_color() == "white"


def test_show_channels_shows_rgb_then_each_channel():
    image = np.random.default_rng(0).integers(0, 256, (4, 5, 3)).astype(np.uint8)
    fig = plot.show_channels(image)
    assert [ax.get_title() for ax in fig.axes] == ["RGB", "red channel", "green channel", "blue channel"]
    assert np.array_equal(fig.axes[2].get_images()[0].get_array(), image[..., 1])


def test_bar_chart_labels_bars_with_values():
    ax = plot.bar_chart({"a": 0.5, "b": 0.25}, errors={"a": 0.1, "b": 0.0}, title="acc")
    assert [round(p.get_height(), 2) for p in ax.patches] == [0.5, 0.25]
    assert {t.get_text() for t in ax.texts} == {"0.50", "0.25"}
    assert ax.get_title() == "acc"


def test_line_plot_draws_each_series_with_a_legend():
    ax = plot.line_plot({"train": [3, 2, 1], "test": [4, 3, 2]}, x=[1, 2, 3], xlabel="epoch")
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [[3, 2, 1], [4, 3, 2]]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
    assert ax.get_xlabel() == "epoch"


def test_draw_boxes_uses_exclusive_corners():
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((20, 20)))
    (rect,) = plot.draw_boxes(ax, [(2, 3, 12, 8)], labels=["face"])
    assert (rect.get_width(), rect.get_height()) == (10, 5)
    assert ax.texts[0].get_text() == "face"


def test_latent_histogram_marks_the_rare_bins_and_the_marked_faces():
    values = np.r_[np.zeros(50), np.ones(50), [5.0, 5.0]]  # two faces far out: a rare bin
    marked = np.r_[np.zeros(100, bool), [True, True]]
    ax = plot.latent_histogram(values, bins=10, marked=marked)
    bars = [p for p in ax.patches if p.get_height() > 0]
    red = [p for p in bars if matplotlib.colors.to_hex(p.get_facecolor()) == matplotlib.colors.to_hex("tab:red")]
    assert sorted(p.get_height() for p in bars) == [2, 50, 50]
    assert [p.get_height() for p in red] == [2]
    (ticks,) = [line for line in ax.get_lines() if line.get_marker() == "|"]
    assert list(ticks.get_xdata()) == [5.0, 5.0]
    assert any("rare bins" in t.get_text() for t in ax.get_legend().get_texts())
