"""Lab 05 — detection and segmentation: the exercises, declared as data.

Conventions this lab fixes where the course spec leaves them open (the notebook states them too):

- Boxes are ``(x1, y1, x2, y2)`` in pixels, ``x2``/``y2`` exclusive: a box's width is ``x2 - x1``.
- ``sliding_windows(image, window, stride)``: ``window`` is an int (square) or ``(height, width)``; ``stride`` an
  int or ``(row_stride, col_stride)``. Windows start at 0, ``stride``, ``2·stride``, ... up to and including the
  last start where the whole window fits. Order: row by row (top to bottom), left to right within a row. Returns
  ``boxes`` int (N, 4) and ``crops`` (N, h, w[, C]) with ``crops[i] == image[y1:y2, x1:x2]``.
- ``iou`` of two boxes with no area in common is 0 (also when both boxes are empty).
- ``non_max_suppression`` visits boxes by descending score (ties: lower index first), keeps a box unless its IoU
  with an already kept box is *greater than* ``iou_threshold`` (as ``tf.image.non_max_suppression``), and returns
  the kept indices as an int array in that order (descending score).
- ``pixel_accuracy(y_true, y_pred)``: two integer label maps of the same shape -> fraction of equal pixels.
- ``mean_iou(y_true, y_pred, num_classes)``: IoU per class, averaged over all ``num_classes`` classes except a
  class found in neither the truth nor the prediction (0/0 is undefined: it is skipped, as
  ``keras.metrics.MeanIoU`` does). A class predicted but absent from the truth counts, with IoU 0.
"""

from __future__ import annotations

import numpy as np

from .compare import Unchecked
from .diagnostics import compare_arrays, describe
from .engine import Case, FunctionExercise, Mistake, exercises_in
from .engine import progress as _progress
from .outcomes import Incorrect

LAB = "lab05"


# ---------------------------------------------------------------- references
def _pair(value) -> tuple[int, int]:
    if np.ndim(value) == 0:
        return int(value), int(value)
    a, b = value
    return int(a), int(b)


def _sliding_windows(image, window, stride):
    image = np.asarray(image)
    (wh, ww), (sy, sx) = _pair(window), _pair(stride)
    height, width = image.shape[:2]
    boxes, crops = [], []
    for y in range(0, height - wh + 1, sy):
        for x in range(0, width - ww + 1, sx):
            boxes.append((x, y, x + ww, y + wh))
            crops.append(image[y:y + wh, x:x + ww])
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    crops = np.stack(crops) if crops else np.zeros((0, wh, ww, *image.shape[2:]), image.dtype)
    return boxes, crops


def _iou(box_a, box_b) -> float:
    ax1, ay1, ax2, ay2 = (float(v) for v in box_a)
    bx1, by1, bx2, by2 = (float(v) for v in box_b)
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0


def _nms_with(iou_fn, boxes, scores, iou_threshold, keep_if=lambda overlap, t: overlap <= t, order=None):
    boxes, scores = np.asarray(boxes, dtype=float), np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="stable") if order is None else order(scores)
    kept: list[int] = []
    for i in order:
        if all(keep_if(iou_fn(boxes[i], boxes[k]), iou_threshold) for k in kept):
            kept.append(int(i))
    return np.asarray(kept, dtype=np.int64)


def _non_max_suppression(boxes, scores, iou_threshold):
    return _nms_with(_iou, boxes, scores, iou_threshold)


def _pixel_accuracy(y_true, y_pred) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _per_class_iou(y_true, y_pred, num_classes):
    """(intersection, union) per class."""
    t, p = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    inter = np.array([np.sum((t == c) & (p == c)) for c in range(num_classes)], dtype=float)
    union = np.array([np.sum((t == c) | (p == c)) for c in range(num_classes)], dtype=float)
    return inter, union


def _mean_iou(y_true, y_pred, num_classes) -> float:
    inter, union = _per_class_iou(y_true, y_pred, num_classes)
    present = union > 0
    return float(np.mean(inter[present] / union[present]))


# ---------------------------------------------------------------- known wrong answers
def _iou_inclusive(box_a, box_b) -> float:
    ax1, ay1, ax2, ay2 = (float(v) for v in box_a)
    bx1, by1, bx2, by2 = (float(v) for v in box_b)
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1) + 1) * max(0.0, min(ay2, by2) - max(ay1, by1) + 1)
    union = (ax2 - ax1 + 1) * (ay2 - ay1 + 1) + (bx2 - bx1 + 1) * (by2 - by1 + 1) - inter
    return inter / union if union > 0 else 0.0


def _iou_no_clamp(box_a, box_b) -> float:
    ax1, ay1, ax2, ay2 = (float(v) for v in box_a)
    bx1, by1, bx2, by2 = (float(v) for v in box_b)
    inter = (min(ax2, bx2) - max(ax1, bx1)) * (min(ay2, by2) - max(ay1, by1))
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union else 0.0


def _iou_union_without_minus(box_a, box_b) -> float:
    ax1, ay1, ax2, ay2 = (float(v) for v in box_a)
    bx1, by1, bx2, by2 = (float(v) for v in box_b)
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    total = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1)
    return inter / total if total > 0 else 0.0


def _mean_iou_frequency_weighted(y_true, y_pred, num_classes) -> float:
    """Each class's IoU weighted by its share of the true pixels ('frequency-weighted IoU')."""
    inter, union = _per_class_iou(y_true, y_pred, num_classes)
    t = np.asarray(y_true).ravel()
    share = np.array([np.mean(t == c) for c in range(num_classes)])
    present = union > 0
    return float(np.sum(share[present] * inter[present] / union[present]))


def _iou_over_min(box_a, box_b) -> float:
    ax1, ay1, ax2, ay2 = (float(v) for v in box_a)
    bx1, by1, bx2, by2 = (float(v) for v in box_b)
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    smaller = min((ax2 - ax1) * (ay2 - ay1), (bx2 - bx1) * (by2 - by1))
    return inter / smaller if smaller > 0 else 0.0


def _windows_skip_last(image, window, stride):
    image = np.asarray(image)
    (wh, ww), (sy, sx) = _pair(window), _pair(stride)
    starts = [(x, y) for y in range(0, image.shape[0] - wh, sy) for x in range(0, image.shape[1] - ww, sx)]
    boxes = np.asarray([(x, y, x + ww, y + wh) for x, y in starts], dtype=np.int64).reshape(-1, 4)
    crops = [image[y:y + wh, x:x + ww] for x, y in starts]
    return boxes, (np.stack(crops) if crops else np.zeros((0, wh, ww, *image.shape[2:]), image.dtype))


def _windows_column_major(image, window, stride):
    boxes, crops = _sliding_windows(image, window, stride)
    order = np.lexsort((boxes[:, 1], boxes[:, 0]))
    return boxes[order], crops[order]


def _windows_yx(image, window, stride):
    boxes, crops = _sliding_windows(image, window, stride)
    return boxes[:, [1, 0, 3, 2]], crops


def _windows_inclusive(image, window, stride):
    boxes, crops = _sliding_windows(image, window, stride)
    return boxes - np.array([0, 0, 1, 1]), crops


def _mean_iou_truth_classes(y_true, y_pred, num_classes) -> float:
    inter, union = _per_class_iou(y_true, y_pred, num_classes)
    present = np.isin(np.arange(num_classes), np.asarray(y_true))
    return float(np.mean(inter[present] / np.maximum(union[present], 1)))


def _mean_iou_absent_zero(y_true, y_pred, num_classes) -> float:
    inter, union = _per_class_iou(y_true, y_pred, num_classes)
    return float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 0.0)))


def _mean_iou_absent_one(y_true, y_pred, num_classes) -> float:
    inter, union = _per_class_iou(y_true, y_pred, num_classes)
    return float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 1.0)))


def _mean_recall(y_true, y_pred, num_classes) -> float:
    t = np.asarray(y_true).ravel()
    inter, union = _per_class_iou(y_true, y_pred, num_classes)
    size = np.array([np.sum(t == c) for c in range(num_classes)], dtype=float)
    present = union > 0
    return float(np.mean(inter[present] / np.maximum(size[present], 1)))


# ---------------------------------------------------------------- cases (fixed + fresh random)
def _random_box(rng, size=40, min_side=1):
    x1, y1 = rng.integers(0, size - min_side, size=2)
    x2 = rng.integers(x1 + min_side, size + 1)
    y2 = rng.integers(y1 + min_side, size + 1)
    return (int(x1), int(y1), int(x2), int(y2))


def _overlapping_pair(rng):
    a = _random_box(rng, 30, 6)
    dx, dy = (int(v) for v in rng.integers(-3, 4, size=2))
    b = (a[0] + dx, a[1] + dy, a[2] + dx + int(rng.integers(0, 4)), a[3] + dy + int(rng.integers(0, 4)))
    return a, b


def _iou_cases(rng):
    a, b = _overlapping_pair(rng)
    c = _random_box(rng, 50, 3)
    return [
        Case(((2, 2, 12, 12), (7, 2, 17, 12)), label="boxes (2, 2, 12, 12) and (7, 2, 17, 12)"),
        Case(((0, 0, 10, 10), (10, 0, 20, 10)), label="two 10×10 boxes that touch along an edge (x2 = x1)"),
        Case(((0, 0, 8, 8), (20, 20, 31, 30)), label="two boxes far apart"),
        Case(((0, 0, 20, 20), (5, 5, 10, 10)), label="a small box inside a big one"),
        Case((a, b), label=f"random overlapping boxes {a} and {b}"),
        Case((c, c), label=f"a random box {c} with itself"),
        Case((np.array([1.5, 2.0, 9.5, 7.0]), np.array([4.0, 1.0, 11.0, 6.5])), label="boxes with float coordinates"),
        Case(((0, 0, 10, 10), (2, 14, 8, 25)), label="two boxes in the same columns, one far below the other"),
        Case(((3, 5, 4, 6), (3, 5, 4, 6)), label="a 1×1 box (one pixel) with itself"),
        Case(((4, 4, 4, 9), (4, 4, 4, 9)), label="two empty boxes (x1 = x2, so the union is 0)"),
    ]


def _random_detections(rng, n):
    """n boxes in clusters (so NMS has something to do), with distinct scores."""
    centres = rng.uniform(10, 60, size=(max(1, n // 3), 2))
    boxes = []
    for _ in range(n):
        cx, cy = centres[rng.integers(len(centres))] + rng.normal(0, 3, size=2)
        w, h = rng.uniform(8, 16, size=2)
        boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    scores = rng.permutation(n) / n + rng.uniform(0, 0.5 / n, size=n)  # distinct
    return np.round(np.asarray(boxes), 1), scores


def _nms_cases(rng):
    fixed = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9], [21, 20, 31, 30],
                      [40, 0, 50, 10]], dtype=float)
    fixed_scores = np.array([0.6, 0.9, 0.5, 0.3, 0.8, 0.1])
    b1, s1 = _random_detections(rng, int(rng.integers(8, 15)))
    b2, s2 = _random_detections(rng, int(rng.integers(15, 25)))
    # Boxes 0 and 1: IoU 1/3 (0.375 with inclusive ends); box 2 overlaps neither.
    side_by_side = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [40, 0, 50, 10]], dtype=float)
    return [
        Case((fixed, fixed_scores, 0.5), label="6 boxes in two clusters and one alone, threshold 0.5"),
        Case((side_by_side, np.array([0.9, 0.8, 0.7]), 0.35),
             label="boxes (0, 0, 10, 10), (5, 0, 15, 10) and (40, 0, 50, 10), threshold 0.35"),
        Case((fixed, fixed_scores, 0.9), label="the same 6 boxes, threshold 0.9 (boxes 0 and 3 overlap by "
                                               "exactly 0.9)"),
        Case((b1, s1, 0.3), label=f"{len(b1)} random clustered boxes, threshold 0.3"),
        Case((b2, s2, 0.6), label=f"{len(b2)} random clustered boxes, threshold 0.6"),
    ]


def _window_cases(rng):
    h, w = int(rng.integers(9, 16)), int(rng.integers(9, 16))
    colour = rng.integers(0, 256, size=(h, w, 3)).astype(np.uint8)
    gray = rng.random((12, 17)).astype(np.float32)
    return [
        Case((np.arange(36, dtype=np.float32).reshape(6, 6), 2, 2), label="a 6×6 image, window 2, stride 2"),
        Case((gray, (4, 5), 3), label="a 12×17 gray image, window (4, 5), stride 3"),
        Case((colour, int(rng.integers(3, 6)), int(rng.integers(1, 4))), label=f"a random {h}×{w} RGB image"),
        Case((rng.random((10, 14, 3)).astype(np.float32), (3, 4), (2, 5)),
             label="a 10×14 RGB image, window (3, 4), stride (2, 5)"),
    ]


def _accuracy_cases(rng):
    t = rng.integers(0, 4, size=(int(rng.integers(5, 12)), int(rng.integers(5, 12))))
    p = np.where(rng.random(t.shape) < 0.3, rng.integers(0, 4, size=t.shape), t)
    batch_t = rng.integers(0, 3, size=(3, 6, 6))
    batch_p = np.where(rng.random(batch_t.shape) < 0.5, 0, batch_t)
    return [
        Case((np.array([[0, 0, 1], [1, 2, 2]]), np.array([[0, 1, 1], [1, 2, 0]])), label="two 2×3 label maps"),
        Case((t, p), label=f"random {t.shape[0]}×{t.shape[1]} label maps"),
        Case((batch_t, batch_p), label="a batch of three 6×6 label maps"),
    ]


def _miou_cases(rng):
    t = rng.integers(0, 3, size=(8, 9))
    p = np.where(rng.random(t.shape) < 0.3, rng.integers(0, 3, size=t.shape), t)
    t2 = rng.integers(0, 2, size=(7, 7))  # classes 0 and 1 only
    p2 = t2.copy()
    p2[rng.random(t2.shape) < 0.2] = 2  # class 2 predicted, never true; class 3 nowhere
    return [
        Case((np.array([[0, 0, 1], [1, 2, 2]]), np.array([[0, 1, 1], [1, 2, 0]]), 3),
             label="two 2×3 label maps, 3 classes"),
        Case((t, p, 3), label="random 8×9 label maps, 3 classes"),
        Case((t2, p2, 4), label="7×7 maps where class 2 is predicted but never true and class 3 appears in neither"),
        Case((np.zeros((4, 4), int), np.zeros((4, 4), int), 5), label="all-background maps, 5 classes"),
        Case((one := np.pad([[2]], ((1, 3), (2, 1))), np.where(np.arange(20).reshape(5, 4) == 0, 1, one), 3),
             label="5×4 maps where classes 1 and 2 each cover a single pixel"),
    ]


# ---------------------------------------------------------------- comparisons that need more than one array
def _compare_pair(got, expected, name: str, case: Case) -> None:
    """`sliding_windows` returns (boxes, crops): both are compared, and each crop must match its box."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Incorrect(f"`{name}` returned {describe(got)} for {case.label}; expected a pair "
                        "`(boxes, crops)` — end with `return boxes, crops`.")
    boxes, crops = got
    where = f"{case.label} (returned by `{name}`)"
    compare_arrays(boxes, expected[0], "boxes", where, rtol=0, atol=0, dtype="integer")
    compare_arrays(crops, expected[1], "crops", where, rtol=0, atol=0)


def _validate_nms(got, case: Case) -> None:
    kept = np.asarray(got)
    if len(np.unique(kept)) != len(kept):
        raise Incorrect(f"`non_max_suppression` returned an index twice for {case.label}; keep each box at most once.")


# ---------------------------------------------------------------- build_fcn: properties, not one architecture
FCN_CASES = (((32, 32, 3), 4), ((48, 64, 1), 2))
"""(input_shape, num_classes) the check builds; both sides divisible by 16."""


def _layers_of(model) -> list:
    try:
        return list(model._flatten_layers(include_self=False))
    except Exception:  # older/newer Keras: fall back to the top level
        return list(model.layers)


def _judge_fcn_case(model, input_shape, num_classes, label) -> None:
    import keras

    if not isinstance(model, keras.Model):
        raise Incorrect(f"`build_fcn` returned {describe(model)} for {label}; expected a `keras.Model`.")
    if not model.inputs:
        raise Incorrect(f"`build_fcn` returned a model without a known input shape for {label}; start it with "
                        "`keras.Input(shape=input_shape)`.")
    got_in = tuple(model.inputs[0].shape[1:])
    if got_in != tuple(input_shape):
        raise Incorrect(f"`build_fcn`'s model takes inputs of shape {got_in} for {label}; use `input_shape`.")
    height, width = input_shape[:2]
    layers = _layers_of(model)
    names = [type(layer).__name__ for layer in layers]
    if "Conv2DTranspose" not in names:
        raise Incorrect("`build_fcn`'s model has no `Conv2DTranspose` layer; upsample with a learned transposed "
                        "convolution (the lecture's decoder), not only `UpSampling2D` or resizing.")
    smallest = min((_spatial(layer) for layer in layers if _spatial(layer) is not None), default=None)
    if smallest is None or smallest >= (height, width) or smallest[0] * smallest[1] >= height * width:
        raise Incorrect(f"`build_fcn`'s model never downsamples for {label}: every feature map is as large as "
                        "the input. An FCN first shrinks the map (a stride-2 Conv2D or MaxPool2D) to see more "
                        "context, then upsamples it back.")
    try:
        x = np.random.default_rng(0).random((2, *input_shape)).astype("float32")
        out = np.asarray(model(x, training=False))
    except Exception as exc:
        raise Incorrect(f"`build_fcn`'s model raised {type(exc).__name__} when run on a batch of two "
                        f"{input_shape} images for {label}.") from None
    expected = (2, height, width, num_classes)
    if out.shape != expected:
        if out.ndim == 4 and out.shape[-1] == num_classes:
            raise Incorrect(f"`build_fcn`'s output is {out.shape[1]}×{out.shape[2]} per image for {label}; it must "
                            f"be at the input's resolution ({height}×{width}): upsample as many times, by the same "
                            "factors, as you downsampled.")
        raise Incorrect(f"`build_fcn`'s model outputs shape {out.shape} for a batch of two {label}; expected "
                        "(batch, height, width, num_classes): one score per class for every pixel.")
    if not np.all(np.isfinite(out)):
        raise Incorrect(f"`build_fcn`'s model outputs NaN/inf for {label}.")
    if out.min() < -1e-6 or out.max() > 1 + 1e-6 or not np.allclose(out.sum(-1), 1.0, atol=1e-3):
        raise Incorrect("`build_fcn`'s per-pixel outputs are not probabilities summing to 1 over the classes; end "
                        "with a softmax over the last axis (e.g. a 1×1 `Conv2D(num_classes, 1, "
                        "activation='softmax')`).")


def _spatial(layer):
    try:
        shape = tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return (int(shape[1]), int(shape[2]))


def _validate_fcn(got, case: Case) -> None:
    _judge_fcn_case(got, *case.args, case.label)


def _fcn_cases(rng):
    return [Case(args, label=f"input_shape={args[0]}, num_classes={args[1]}") for args in FCN_CASES]


def build_fcn_reference(input_shape, num_classes, filters: int = 16):
    """A small encoder-decoder FCN: two stride-2 downsamplings, two Conv2DTranspose upsamplings with skip
    connections (as in FCN-8s / U-Net), and a per-pixel softmax."""
    import keras
    from keras import layers

    def conv(x, f, strides=1):
        x = layers.Conv2D(f, 3, strides=strides, padding="same", use_bias=False)(x)
        return layers.ReLU()(layers.BatchNormalization(momentum=0.9)(x))

    def up(x, f):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", use_bias=False)(x)
        return layers.ReLU()(layers.BatchNormalization(momentum=0.9)(x))

    inputs = keras.Input(shape=input_shape)
    full = conv(inputs, filters)
    half = conv(conv(full, 2 * filters, strides=2), 2 * filters)
    quarter = conv(conv(half, 4 * filters, strides=2), 4 * filters)
    x = conv(layers.Concatenate()([up(quarter, 2 * filters), half]), 2 * filters)
    x = conv(layers.Concatenate()([up(x, filters), full]), filters)
    outputs = layers.Conv2D(num_classes, 1, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="fcn")


# ---------------------------------------------------------------- the exercises
sliding_windows = FunctionExercise(
    f"{LAB}.sliding_windows", reference=_sliding_windows, cases=_window_cases, compare=_compare_pair,
    mistakes=[
        Mistake(_windows_skip_last, "`sliding_windows` skips the last position that fits: a window may start at "
                "row `H - h` (and column `W - w`), so loop up to and including it — `range(0, H - h + 1, stride)`"),
        Mistake(_windows_column_major, "`sliding_windows` goes column by column; go row by row (top to bottom, "
                "the outer loop over y), left to right within a row"),
        Mistake(_windows_yx, "`sliding_windows` writes boxes as (y1, x1, y2, x2); this lab's boxes are "
                "(x1, y1, x2, y2): x (the column) first"),
        Mistake(_windows_inclusive, "`sliding_windows` gives inclusive ends (x2 = x + w - 1); here x2 and y2 are "
                "exclusive, like Python slices: x2 = x1 + w"),
    ],
    hints=["Two nested loops: y over rows from 0 in steps of the row stride, x over columns; the window must fit: "
           "y + h <= H.", "`range(0, H - h + 1, stride)` includes the last start that fits. Each crop is "
           "`image[y:y + h, x:x + w]` and its box `(x, y, x + w, y + h)`; return `np.array(boxes)` and "
           "`np.stack(crops)`."],
)

iou = FunctionExercise(
    f"{LAB}.iou", reference=_iou, cases=_iou_cases, output="number", rtol=1e-6, atol=1e-9,
    mistakes=[
        Mistake(_iou_inclusive, "`iou` treats x2/y2 as inclusive (adds 1 to widths); this lab's boxes are "
                "exclusive: width = x2 - x1, so boxes that only touch have IoU 0"),
        Mistake(_iou_no_clamp, "`iou` does not clamp the overlap's width and height at 0, so two boxes that are "
                "apart can get a positive intersection; use `max(0, ...)` for each side"),
        Mistake(_iou_over_min, "`iou` divides by the smaller box's area; IoU divides the intersection by the "
                "union: area_a + area_b - intersection"),
        Mistake(_iou_union_without_minus, "`iou`'s union is area_a + area_b, which counts the overlap twice; "
                "subtract the intersection once: union = area_a + area_b - intersection"),
    ],
    hints=["The overlap is a box too: (max of the x1s, max of the y1s, min of the x2s, min of the y2s); if it is "
           "empty, its width or height is negative — clamp at 0.", "IoU = intersection / (area_a + area_b - "
           "intersection), with area = (x2 - x1) · (y2 - y1). Return 0.0 when the union is 0."],
)

non_max_suppression = FunctionExercise(
    f"{LAB}.non_max_suppression", reference=_non_max_suppression, cases=_nms_cases, output="array",
    dtype="integer", rtol=0, atol=0, validate=_validate_nms,
    mistakes=[
        Mistake(lambda b, s, t: _nms_with(_iou, b, s, t, order=lambda sc: np.argsort(sc, kind="stable")),
                "`non_max_suppression` starts from the lowest score; visit boxes from the highest score down, so "
                "the most confident box of each cluster is the one kept"),
        Mistake(lambda b, s, t: _nms_with(_iou, b, s, t, keep_if=lambda o, thr: o >= thr),
                "`non_max_suppression` suppresses boxes whose IoU is below the threshold; suppress a box only "
                "when it overlaps a kept box by more than `iou_threshold`"),
        Mistake(lambda b, s, t: _nms_with(_iou, b, s, t, keep_if=lambda o, thr: o < thr),
                "`non_max_suppression` also suppresses a box whose IoU *equals* `iou_threshold` (`>=`); suppress "
                "only when the IoU is greater than the threshold (`>`)"),
        Mistake(lambda b, s, t: np.sort(_non_max_suppression(b, s, t)),
                "`non_max_suppression` keeps the right boxes but returns their indices sorted by index; return "
                "them in the order they were kept (descending score)"),
        Mistake(lambda b, s, t: _nms_with(_iou_inclusive, b, s, t),
                "`non_max_suppression` measures overlap with inclusive box ends; use exclusive ones (your `iou`)"),
    ],
    hints=["Sort the indices by score, highest first (`np.argsort(-scores)`); walk down the list.",
           "Keep a box unless its IoU with a box you already kept is greater than `iou_threshold`; return the kept "
           "indices as an int array, in the order you kept them."],
)

build_fcn = FunctionExercise(
    f"{LAB}.build_fcn", reference=None, cases=_fcn_cases, compare=Unchecked(),
    validate=_validate_fcn,
    hints=["Downsample with `Conv2D(..., strides=2, padding='same')` (or MaxPool2D), then upsample back with "
           "`Conv2DTranspose(..., strides=2, padding='same')`, once per downsampling.",
           "End with `Conv2D(num_classes, 1, activation='softmax')`: a class probability for every pixel, at the "
           "input's height and width."],
)

pixel_accuracy = FunctionExercise(
    f"{LAB}.pixel_accuracy", reference=_pixel_accuracy, cases=_accuracy_cases, output="number", atol=1e-9,
    mistakes=[
        Mistake(lambda t, p: float(np.sum(np.asarray(t) == np.asarray(p))),
                "`pixel_accuracy` returns a count; return the fraction of pixels (between 0 and 1)"),
        Mistake(lambda t, p: float(np.mean(np.asarray(t) != np.asarray(p))),
                "`pixel_accuracy` returns the fraction of wrong pixels; return the fraction of right ones"),
        Mistake(lambda t, p: float(np.mean((np.asarray(t) == np.asarray(p))[np.asarray(t) != 0]))
                if np.any(np.asarray(t) != 0) else 1.0,
                "`pixel_accuracy` leaves out the background (class 0); count every pixel"),
    ],
    hints=["Both arguments are label maps of the same shape: one class id per pixel.",
           "`np.mean(y_true == y_pred)` is the fraction of pixels labelled right; return it as a float."],
)

mean_iou = FunctionExercise(
    f"{LAB}.mean_iou", reference=_mean_iou, cases=_miou_cases, output="number", rtol=1e-6, atol=1e-9,
    mistakes=[
        Mistake(_mean_iou_truth_classes, "`mean_iou` averages only over the classes present in `y_true`; average "
                "over all `num_classes` classes, so a class the model predicts where there is none counts (IoU 0) "
                "— only a class in neither truth nor prediction is skipped"),
        Mistake(_mean_iou_absent_zero, "`mean_iou` counts a class that is in neither the truth nor the prediction "
                "as IoU 0; this lab skips such classes (0/0 is undefined, as in keras.metrics.MeanIoU)"),
        Mistake(_mean_iou_absent_one, "`mean_iou` counts a class that is in neither the truth nor the prediction "
                "as IoU 1; this lab skips such classes (0/0 is undefined, as in keras.metrics.MeanIoU)"),
        Mistake(_mean_recall, "`mean_iou` divides each class's intersection by its true pixels only (that is "
                "recall); divide by the union of true and predicted pixels"),
        Mistake(_mean_iou_frequency_weighted, "`mean_iou` weights each class's IoU by how many true pixels it "
                "has (frequency-weighted IoU), so the large background dominates; give every class the same "
                "weight: the plain mean over the classes"),
    ],
    hints=["For each class c: intersection = pixels where both maps are c, union = pixels where either is c.",
           "Average intersection / union over the classes 0…num_classes-1 whose union is not empty."],
)

EXERCISES = exercises_in(globals())


def progress():
    """Print this lab's exercises and their last outcome."""
    return _progress(LAB, EXERCISES)


__all__ = ["EXERCISES", "FCN_CASES", "build_fcn", "build_fcn_reference", "iou", "mean_iou", "non_max_suppression",
           "pixel_accuracy", "progress", "sliding_windows"]
