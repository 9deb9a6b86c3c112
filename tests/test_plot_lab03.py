"""The plot helper lab 03 adds: a confusion matrix drawn with its counts, rows = true labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from mitdl_util import plot  # noqa: E402


def test_confusion_matrix_shows_counts_with_true_labels_as_rows():
    """Does every non-zero cell get its count, at (column=prediction, row=truth)?"""
    matrix = np.array([[5, 0, 1], [2, 7, 0], [0, 0, 3]])
    ax = plot.show_confusion_matrix(matrix, title="cm", class_names=["a", "b", "c"])
    texts = {(t.get_position(), t.get_text()) for t in ax.texts}
    assert ((0, 1), "2") in texts  # true label 1, predicted 0
    assert ((2, 0), "1") in texts
    assert len(ax.texts) == 5
    assert ax.get_ylabel() == "true label" and ax.get_xlabel() == "predicted label"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert np.array_equal(ax.images[0].get_array(), matrix)


def test_confusion_matrix_accepts_an_all_zero_matrix():
    """Does an empty matrix (no predictions yet) draw without dividing by zero?"""
    ax = plot.show_confusion_matrix(np.zeros((10, 10), dtype=int))
    assert len(ax.texts) == 0
