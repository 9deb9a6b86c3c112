"""Lab 05 checks: the solutions pass; known-wrong answers are rejected with a message saying what is wrong;
iou / NMS / mean IoU agree with independent peers; junk answers never crash a check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mitdl_util.checks import lab05 as q
from tests.exercise_tables import exercise_table_tests


# ---------------------------------------------------------------- solutions, written as a student would
def sliding_windows(image, window, stride):
    h, w = (window, window) if np.isscalar(window) else window
    sy, sx = (stride, stride) if np.isscalar(stride) else stride
    boxes, crops = [], []
    for y in range(0, image.shape[0] - h + 1, sy):
        for x in range(0, image.shape[1] - w + 1, sx):
            boxes.append([x, y, x + w, y + h])
            crops.append(image[y:y + h, x:x + w])
    return np.array(boxes), np.stack(crops)


def iou(a, b):
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def non_max_suppression(boxes, scores, iou_threshold):
    keep = []
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        if all(iou(boxes[i], boxes[k]) <= iou_threshold for k in keep):
            keep.append(i)
    return np.array(keep, dtype=int)


def pixel_accuracy(y_true, y_pred):
    return float(np.mean(y_true == y_pred))


def mean_iou(y_true, y_pred, num_classes):
    ious = []
    for c in range(num_classes):
        union = np.sum((y_true == c) | (y_pred == c))
        if union:
            ious.append(np.sum((y_true == c) & (y_pred == c)) / union)
    return float(np.mean(ious))


SOLUTIONS = {
    "sliding_windows": sliding_windows,
    "iou": iou,
    "non_max_suppression": non_max_suppression,
    "build_fcn": q.build_fcn_reference,
    "pixel_accuracy": pixel_accuracy,
    "mean_iou": mean_iou,
}


# ---------------------------------------------------------------- builders of wrong FCNs
def _fcn(input_shape, num_classes, *, down=2, up=2, activation="softmax", upsample="transpose"):
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape)
    x = inputs
    for _ in range(down):
        x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    if down == 0:
        x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    for _ in range(up):
        if upsample == "transpose":
            x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)
        else:
            x = layers.UpSampling2D()(x)
    if up == 0 and upsample == "transpose" and down == 0:
        x = layers.Conv2DTranspose(8, 3, padding="same", activation="relu")(x)
    return keras.Model(inputs, layers.Conv2D(num_classes, 1, activation=activation)(x))


def _windows_yx(image, window, stride):
    boxes, crops = sliding_windows(image, window, stride)
    return boxes[:, [1, 0, 3, 2]], crops


def _windows_skip_last(image, window, stride):
    h, w = (window, window) if np.isscalar(window) else window
    sy, sx = (stride, stride) if np.isscalar(stride) else stride
    boxes, crops = [], []
    for y in range(0, image.shape[0] - h, sy):
        for x in range(0, image.shape[1] - w, sx):
            boxes.append([x, y, x + w, y + h])
            crops.append(image[y:y + h, x:x + w])
    return np.array(boxes), np.stack(crops)


def _windows_bad_crops(image, window, stride):
    boxes, crops = sliding_windows(image, window, stride)
    return boxes, crops[::-1]


def _iou_inclusive(a, b):
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    inter = w * h
    return inter / ((a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter)


def _iou_no_clamp(a, b):
    inter = (min(a[2], b[2]) - max(a[0], b[0])) * (min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _nms_lowest_first(boxes, scores, t):
    keep = []
    for i in np.argsort(scores):
        if all(iou(boxes[i], boxes[k]) <= t for k in keep):
            keep.append(i)
    return np.array(keep)


def _nms_suppress_below(boxes, scores, t):
    keep = []
    for i in np.argsort(-scores):
        if all(iou(boxes[i], boxes[k]) >= t for k in keep):
            keep.append(i)
    return np.array(keep)


def _nms_suppress_at_equal(boxes, scores, t):
    keep = []
    for i in np.argsort(-scores):
        if all(iou(boxes[i], boxes[k]) < t for k in keep):
            keep.append(i)
    return np.array(keep)


def _nms_inclusive(boxes, scores, t):
    keep = []
    for i in np.argsort(-scores):
        if all(_iou_inclusive(boxes[i], boxes[k]) <= t for k in keep):
            keep.append(i)
    return np.array(keep)


def _iou_union_twice(a, b):
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    total = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / total if total else 0.0


def _miou_frequency_weighted(y_true, y_pred, num_classes):
    total = 0.0
    for c in range(num_classes):
        union = np.sum((y_true == c) | (y_pred == c))
        if union:
            total += np.mean(y_true == c) * np.sum((y_true == c) & (y_pred == c)) / union
    return float(total)


def _miou_present_only(y_true, y_pred, num_classes):
    return float(np.mean([np.sum((y_true == c) & (y_pred == c)) / np.sum((y_true == c) | (y_pred == c))
                          for c in np.unique(y_true)]))


def _miou_absent_zero(y_true, y_pred, num_classes):
    return float(np.mean([np.sum((y_true == c) & (y_pred == c)) / max(np.sum((y_true == c) | (y_pred == c)), 1)
                          for c in range(num_classes)]))


WRONG = [
    ("sliding_windows", _windows_skip_last, "skips the last position"),
    ("sliding_windows", _windows_yx, "(y1, x1, y2, x2)"),
    ("sliding_windows", _windows_bad_crops, "`crops` returned the right shape"),
    ("sliding_windows", lambda image, window, stride: sliding_windows(image, window, stride)[0], "expected a pair"),
    ("iou", _iou_inclusive, "inclusive"),
    ("iou", _iou_no_clamp, "clamp"),
    ("iou", lambda a, b: iou(a, b) * 100, "not right"),
    ("non_max_suppression", _nms_lowest_first, "lowest score"),
    ("non_max_suppression", _nms_suppress_below, "below the threshold"),
    ("non_max_suppression", _nms_suppress_at_equal, "*equals* `iou_threshold`"),
    ("non_max_suppression", _nms_inclusive, "inclusive box ends"),
    ("iou", _iou_union_twice, "counts the overlap twice"),
    ("mean_iou", _miou_frequency_weighted, "frequency-weighted"),
    ("non_max_suppression", lambda b, s, t: np.sort(non_max_suppression(b, s, t)), "descending score"),
    ("non_max_suppression", lambda b, s, t: b[non_max_suppression(b, s, t)], "shape"),
    ("build_fcn", lambda shape, n: _fcn(shape, n, down=2, up=1), "input's resolution"),
    ("build_fcn", lambda shape, n: _fcn(shape, n, upsample="nearest"), "no `Conv2DTranspose`"),
    ("build_fcn", lambda shape, n: _fcn(shape, n, down=0, up=0), "never downsamples"),
    ("build_fcn", lambda shape, n: _fcn(shape, n, activation="sigmoid"), "softmax"),
    ("build_fcn", lambda shape, n: "a model", "expected a `keras.Model`"),
    ("pixel_accuracy", lambda t, p: float(np.sum(t == p)), "returns a count"),
    ("pixel_accuracy", lambda t, p: float(np.mean(t != p)), "fraction of wrong pixels"),
    ("pixel_accuracy", lambda t, p: float(np.mean((t == p)[t != 0])), "leaves out the background"),
    ("mean_iou", _miou_present_only, "present in `y_true`"),
    ("mean_iou", _miou_absent_zero, "as IoU 0"),
    ("mean_iou", lambda t, p, n: float(np.mean([np.sum((t == c) & (p == c)) / max(np.sum(t == c), 1)
                                                for c in range(n) if np.any((t == c) | (p == c))])), "recall"),
    ("mean_iou", lambda t, p, n: 0.5, "not right"),
]


test_solution_passes, test_known_wrong_answer_is_rejected, test_enough_known_wrong_answers, \
    test_untouched_stub_is_not_attempted = exercise_table_tests(q, {name: (answer,) for name, answer in SOLUTIONS.items()},
    [(name, (answer,), fragment) for name, answer, fragment in WRONG])


def test_mean_iou_message_states_the_convention():
    message = q.mean_iou.evaluate(_miou_absent_zero).message
    assert "skips such classes" in message


# ---------------------------------------------------------------- independent peers
def _pixel_iou(a, b, size=64):
    """IoU by painting both boxes on a pixel grid (exclusive ends = slices) and counting."""
    ma, mb = np.zeros((size, size), bool), np.zeros((size, size), bool)
    ma[a[1]:a[3], a[0]:a[2]] = True
    mb[b[1]:b[3], b[0]:b[2]] = True
    union = np.sum(ma | mb)
    return np.sum(ma & mb) / union if union else 0.0


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.integers(0, 63), min_size=8, max_size=8))
def test_iou_matches_pixel_counting(coords):
    a = (min(coords[0], coords[2]), min(coords[1], coords[3]), max(coords[0], coords[2]), max(coords[1], coords[3]))
    b = (min(coords[4], coords[6]), min(coords[5], coords[7]), max(coords[4], coords[6]), max(coords[5], coords[7]))
    assert q._iou(a, b) == pytest.approx(_pixel_iou(a, b), abs=1e-12)


def test_nms_matches_tensorflow():
    import tensorflow as tf

    rng = np.random.default_rng(5)
    for trial in range(25):
        boxes, scores = q._random_detections(rng, int(rng.integers(5, 40)))
        threshold = float(rng.uniform(0.1, 0.8))
        ours = q._non_max_suppression(boxes, scores, threshold)
        yx = boxes[:, [1, 0, 3, 2]].astype(np.float32)  # TensorFlow wants (y1, x1, y2, x2)
        theirs = tf.image.non_max_suppression(yx, scores.astype(np.float32), max_output_size=len(boxes),
                                              iou_threshold=threshold).numpy()
        assert ours.tolist() == theirs.tolist(), trial


def test_mean_iou_matches_keras():
    import keras

    rng = np.random.default_rng(3)
    for _ in range(10):
        n = int(rng.integers(2, 6))
        t = rng.integers(0, n - 1, size=(9, 11))  # the last class never true
        p = np.where(rng.random(t.shape) < 0.4, rng.integers(0, n, size=t.shape), t)
        metric = keras.metrics.MeanIoU(num_classes=n + 1)  # one class in neither map: skipped by both
        metric.update_state(t.ravel(), p.ravel())
        assert q._mean_iou(t, p, n + 1) == pytest.approx(float(metric.result()), abs=1e-6)


def test_sliding_window_crops_match_their_boxes():
    image = np.random.default_rng(0).random((13, 18, 3))
    boxes, crops = q._sliding_windows(image, (4, 6), (3, 4))
    assert boxes[-1].tolist() == [12, 9, 18, 13]  # the last window that fits touches both far edges
    for (x1, y1, x2, y2), crop in zip(boxes, crops, strict=True):
        assert np.array_equal(crop, image[y1:y2, x1:x2])
    assert boxes[:, 1].tolist() == sorted(boxes[:, 1].tolist())  # row by row


def test_the_window_counts_in_the_prose_follow_the_notebooks_settings(repo_root):
    """'Millions of crops with stride 1', 'a few thousand crops' and 'the smallest window is 40 px (80 px in the
    full photo)': computed from the notebook's own sizes, strides and scale."""
    import re

    import nbformat

    nb = nbformat.read(repo_root / "solutions" / "05_detection_segmentation.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    prose = " ".join(" ".join(c.source for c in nb.cells if c.cell_type == "markdown").split())
    side = 512  # the astronaut photo
    start, step = map(int, re.search(r"WINDOW_SIZES = range\((\d+), width \+ 1, (\d+)\)", code).groups())
    sizes = range(start, side + 1, step)

    def count(n, size, stride):
        return ((n - size) // stride + 1) ** 2

    assert sum(count(side, s, 1) for s in sizes) >= 1_000_000 and "Millions of crops with stride 1" in prose
    scale = float(re.search(r"SCALE = ([\d.]+)", code).group(1))
    detect = [int(v) for v in re.search(r"DETECT_SIZES = \(([\d, ]+)\)", code).group(1).split(",")]
    stride = int(re.search(r"DETECT_STRIDE = (\d+)", code).group(1))
    coarse = sum(count(int(side * scale), s, stride) for s in detect)
    assert 2_000 <= coarse < 10_000 and "a few thousand crops" in prose, coarse
    assert f"The smallest window is {min(detect)} px ({min(detect) / scale:.0f} px in the full photo)" in prose
