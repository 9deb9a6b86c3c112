"""Lab 02 — convolution and filters: the exercises, declared as data.

Conventions (the lecture's, and Keras'): "convolution" is cross-correlation (the kernel is not flipped);
"valid" keeps only positions where the kernel fits; "same" gives ceil(n / stride) outputs per side and pads
zeros as Keras does — the total padding (out − 1)·stride + f − n split with the extra zero at the bottom/right.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys

import numpy as np

from .. import lecture
from .diagnostics import as_array, as_number, check_not_stub, describe, is_library, real_array, student_call
from .engine import AnswerExercise, Case, FunctionExercise, Mistake, case_rng, exercises_in, notebook_names
from .engine import progress as _progress
from .outcomes import Incorrect

LAB = "lab02"
PHOTO = "camera"  # skimage.data.camera(): 512×512 grayscale, public domain
PHOTO_STEP = 2  # the lab works on every second pixel (256×256) so a loop-based conv2d runs in about a second
X_FILTER_ORDER = ("diagonal", "cross", "anti_diagonal")
CONV_PARAMS_LAYER = {"filters": 32, "kernel_size": 3, "input_channels": 3}  # the layer conv_params asks about


# ---------------------------------------------------------------- references
def keras_same_padding(n: int, f: int, stride: int = 1) -> tuple[int, int]:
    """Zeros before and after one axis for Keras' "same" padding: total (out − 1)·stride + f − n, extra after."""
    out = -(-n // stride)
    total = max((out - 1) * stride + f - n, 0)
    return total // 2, total - total // 2


def _pad(image, kernel_shape, stride, padding, *, extra_first: bool = False):
    """Pad the first two axes of `image` for `padding`; `extra_first` puts the odd zero on the wrong side."""
    image = np.asarray(image, dtype=np.float64)
    if padding == "valid":
        return image
    if padding != "same":
        raise ValueError(f"padding must be 'valid' or 'same', not {padding!r}")
    widths = []
    for n, f in zip(image.shape[:2], kernel_shape[:2], strict=True):
        before, after = keras_same_padding(n, f, stride)
        widths.append((after, before) if extra_first else (before, after))
    widths += [(0, 0)] * (image.ndim - 2)
    return np.pad(image, widths)


def _windows(padded, kernel_shape, stride):
    """All kernel-sized windows at the output positions: (H', W', kh, kw[, C])."""
    from numpy.lib.stride_tricks import sliding_window_view

    kh, kw = kernel_shape[:2]
    view = sliding_window_view(padded, (kh, kw), axis=(0, 1))[::stride, ::stride]
    # sliding_window_view puts the window axes last: (H', W'[, C], kh, kw) -> (H', W', kh, kw[, C])
    return np.moveaxis(view, (-2, -1), (2, 3)) if padded.ndim == 3 else view


def _conv_patch(patch, kernel, bias=0.0):
    return float(np.sum(np.asarray(patch, dtype=np.float64) * np.asarray(kernel, dtype=np.float64)) + bias)


def _correlate(padded, weights, stride):
    """Cross-correlation of an already padded image with a kernel (f, f) -> (H', W'), or of an (H, W, C) input
    with a layer's weights (f, f, C, D) -> (H', W', D)."""
    windows = _windows(padded, weights.shape, stride)
    return np.einsum("ijab,ab->ij" if weights.ndim == 2 else "ijabc,abcd->ijd", windows, weights)


def _conv2d(image, kernel, stride=1, padding="valid", *, extra_first: bool = False):
    kernel = np.asarray(kernel, dtype=np.float64)
    return _correlate(_pad(image, kernel.shape, stride, padding, extra_first=extra_first), kernel, stride)


def _output_size(n, f, stride=1, padding="valid"):
    if padding == "same":
        return -(-n // stride)
    return (n - f) // stride + 1


def _relu(x):
    return np.maximum(np.asarray(x), 0)


def _pool(x, size=2, stride=2, reduce=np.max):
    """`reduce` (np.max, np.mean, ...) over each size×size window that fits, moved by `stride`."""
    from numpy.lib.stride_tricks import sliding_window_view

    return reduce(sliding_window_view(np.asarray(x), (size, size))[::stride, ::stride], axis=(-2, -1))


def _max_pool2d(x, size=2, stride=2):
    return _pool(x, size, stride, np.max)


def _conv_layer(x, weights, bias, stride=1, padding="valid", *, extra_first: bool = False):
    weights = np.asarray(weights, dtype=np.float64)
    padded = _pad(x, weights.shape, stride, padding, extra_first=extra_first)
    return _correlate(padded, weights, stride) + np.asarray(bias)


def photo() -> np.ndarray:
    """The lab's photo as the notebook prepares it: camera, every second pixel, float32 in [0, 1]."""
    from skimage import data

    return (data.camera()[::PHOTO_STEP, ::PHOTO_STEP] / 255.0).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _photo_maps() -> dict[tuple[int, ...], dict[str, np.ndarray]]:
    """Reference feature maps by shape: the lab's photo (and the full-size one) with 'valid' and 'same'."""
    from skimage import data

    full = (data.camera() / 255.0).astype(np.float32)
    maps = {}
    for image in (full[::PHOTO_STEP, ::PHOTO_STEP], full):
        for padding in ("valid", "same"):
            by_name = {name: _conv2d(image, k, padding=padding) for name, k in lecture.FEATURE_FILTERS.items()}
            maps[next(iter(by_name.values())).shape] = by_name
    return maps


def x_maps(image=lecture.X_IMAGE) -> list[np.ndarray]:
    """The three X filters (diagonal, cross, anti-diagonal) slid over `image` with 'valid' padding."""
    return [_conv2d(image, lecture.X_FILTERS[name]) for name in X_FILTER_ORDER]


# ---------------------------------------------------------------- known mistakes (used by checks and tests)
def _flipped(image, kernel, stride=1, padding="valid"):
    return _conv2d(image, np.asarray(kernel)[::-1, ::-1], stride, padding)


def _ignoring_stride(image, kernel, stride=1, padding="valid"):
    return _conv2d(image, kernel, 1, padding)


def _one_short(image, kernel, stride=1, padding="valid"):
    return _conv2d(image, kernel, stride, padding)[:-1, :-1]


def _padded_wrong_side(image, kernel, stride=1, padding="valid"):
    return _conv2d(image, kernel, stride, padding, extra_first=True)


def _padded_for_stride_one(image, kernel, stride=1, padding="valid"):
    """'same' padding computed as if stride were 1 (f − 1 zeros in all), then strided."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if padding == "same":
        f = kernel.shape[0]
        padded = np.pad(np.asarray(image, dtype=np.float64), ((f - 1) // 2, f - 1 - (f - 1) // 2))
        return _correlate(padded, kernel, stride)
    return _conv2d(image, kernel, stride, padding)


def _padded_symmetric(image, kernel, stride=1, padding="valid"):
    """'same' as f // 2 zeros on every side (too many for an even kernel)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if padding == "same":
        padded = np.pad(np.asarray(image, dtype=np.float64), kernel.shape[0] // 2)
        return _correlate(padded, kernel, stride)
    return _conv2d(image, kernel, stride, padding)


# Order matters where two mistakes give the same output on a case: the first that matches is reported.
CONV2D_MISTAKES = [
    Mistake(_flipped, "`{name}` flips the kernel (that is convolution as in signal processing); deep learning's "
                      "convolution is cross-correlation: multiply each kernel entry with the pixel under it, "
                      "without flipping"),
    Mistake(_ignoring_stride, "`{name}` ignores `stride`: move the kernel `stride` pixels between outputs, so "
                              "each side has fewer outputs"),
    Mistake(_one_short, "`{name}` stops one position short on each side: with 'valid' padding there are "
                        "(n − f) // stride + 1 positions — check the ranges of your loops"),
    Mistake(_padded_for_stride_one, "`{name}` pads for stride 1 (f − 1 zeros in all) even when stride > 1; "
                                    "'same' pads only as much as the ceil(n / stride) outputs need: "
                                    "(out − 1)·stride + f − n zeros in all, the extra one at the bottom/right"),
    Mistake(_padded_wrong_side, "`{name}` puts the odd padding zero on the top/left; Keras puts the extra zero on "
                                "the bottom/right"),
    Mistake(_padded_symmetric, "`{name}` pads f // 2 zeros on every side; with an even kernel that is one too "
                               "many — 'same' pads (out − 1)·stride + f − n in all, the extra one at the "
                               "bottom/right"),
]


def _named(mistakes, name):
    return [Mistake(m.wrong, m.message.format(name=name)) for m in mistakes]


# ---------------------------------------------------------------- cases (fixed + fresh random)
def _sizes(rng, low, high, distinct=True):
    h, w = (int(v) for v in rng.integers(low, high, size=2))
    while distinct and h == w:
        w = int(rng.integers(low, high))
    return h, w


def _even_odd(rng, low, high):
    """A (rows, cols) pair with one odd and one even side, in random order."""
    a = int(rng.integers(low, high)) | 1
    b = int(rng.integers(low, high)) // 2 * 2
    return (a, b) if rng.random() < 0.5 else (b, a)


def _conv_patch_cases(rng):
    cases = []
    for f in (3, 4, 2, 5):
        bias = float(np.round(rng.normal(), 3)) or 0.5
        cases.append(Case((rng.normal(size=(f, f)), rng.normal(size=(f, f)), bias),
                          label=f"a random {f}×{f} patch and kernel with bias {bias:g}"))
    patch = rng.integers(0, 5, size=(3, 3))
    cases.insert(1, Case((patch, lecture.CONV_FILTER, 1.0), label="a random 3×3 integer patch, the slide's "
                                                                  "filter and bias 1"))
    cases.append(Case((rng.normal(size=(3, 3)), rng.normal(size=(3, 3))),
                      label="a random 3×3 patch and kernel, no bias given (the default, 0)"))
    return cases


def _conv_cases(rng):
    def image(shape):
        return np.round(rng.normal(size=shape), 3)

    def kernel(f):
        return np.round(rng.normal(size=(f, f)), 3)

    return [
        Case((lecture.CONV_IMAGE, lecture.CONV_FILTER), label="the slide's 5×5 image and 3×3 filter"),
        Case((image(s := _sizes(rng, 5, 11)), kernel(3), 1, "valid"),
             label=f"a random {s[0]}×{s[1]} image, a random 3×3 kernel, stride 1, 'valid'"),
        Case((rng.integers(0, 9, size=(s := _even_odd(rng, 4, 10))), kernel(2), 1, "valid"),
             label=f"a random {s[0]}×{s[1]} integer image, a random 2×2 kernel, stride 1, 'valid'"),
        Case((image(s := _sizes(rng, 8, 14)), kernel(3), 2, "valid"),
             label=f"a random {s[0]}×{s[1]} image, a random 3×3 kernel, stride 2, 'valid'"),
        Case((image(s := _even_odd(rng, 6, 12)), kernel(4), 1, "same"),
             label=f"a random {s[0]}×{s[1]} image, a random 4×4 kernel, stride 1, 'same'"),
        Case((image(s := _even_odd(rng, 7, 14)), kernel(3), 2, "same"),
             label=f"a random {s[0]}×{s[1]} image, a random 3×3 kernel, stride 2, 'same'"),
        Case((image(s := _sizes(rng, 9, 16)), kernel(5), 3, "same"),
             label=f"a random {s[0]}×{s[1]} image, a random 5×5 kernel, stride 3, 'same'"),
        Case((image(s := _sizes(rng, 9, 16)), kernel(4), 2, "valid"),
             label=f"a random {s[0]}×{s[1]} image, a random 4×4 kernel, stride 2, 'valid'"),
        Case((image(s := _even_odd(rng, 5, 11)), kernel(3), 1, "same"),
             label=f"a random {s[0]}×{s[1]} image, a random 3×3 kernel, stride 1, 'same'"),
        Case((image(s := tuple(3 * v for v in _sizes(rng, 3, 6))), kernel(2), 3, "same"),
             label=f"a random {s[0]}×{s[1]} image, a random 2×2 kernel, stride 3, 'same' (a stride longer than "
                   "the kernel: no padding needed)"),
    ]


def _output_size_cases(rng):
    fixed = [(5, 3, 1, "valid"), (6, 2, 1, "valid"), (7, 3, 2, "valid"), (8, 3, 2, "valid"), (10, 4, 3, "valid"),
             (7, 3, 1, "same"), (7, 3, 2, "same"), (8, 4, 3, "same"), (28, 5, 1, "valid")]
    fresh = []
    for padding in ("valid", "same"):
        f = int(rng.integers(2, 6))
        fresh.append((int(rng.integers(f + 2, 64)), f, int(rng.integers(2, 5)), padding))
    f = int(rng.integers(2, 6))
    n = int(rng.integers(f + 2, 64))
    return [Case((n, f, s, p), label=f"n={n}, f={f}, stride={s}, padding={p!r}") for n, f, s, p in fixed + fresh] + [
        Case((n, f), label=f"n={n}, f={f} (stride and padding left at their defaults, 1 and 'valid')")]


def _relu_cases(rng):
    return [
        Case((np.round(rng.normal(size=_sizes(rng, 3, 9)), 3),), label="a random 2-D float array"),
        Case((rng.integers(-5, 6, size=int(rng.integers(5, 12))),), label="a random 1-D integer array"),
        Case((np.round(rng.normal(size=(3, 4, 2)) * 3, 3),), label="a random 3-D float array"),
        Case((rng.uniform(0.1, 2, size=(4, 4)),), label="a 4×4 array of positive values"),
    ]


def _pool_cases(rng):
    def image(shape, low=-5.0, high=5.0):
        return np.round(rng.uniform(low, high, size=shape), 3)

    return [
        Case((image((8, 8)),), label="a random 8×8 array, size 2, stride 2 (the defaults)"),
        Case((image(s := _even_odd(rng, 5, 12)), 2, 2), label=f"a random {s[0]}×{s[1]} array, size 2, stride 2"),
        Case((image(s := _sizes(rng, 6, 12)), 2, 1), label=f"a random {s[0]}×{s[1]} array, size 2, stride 1"),
        Case((image(s := _sizes(rng, 7, 13)), 3, 2), label=f"a random {s[0]}×{s[1]} array, size 3, stride 2"),
        Case((image((6, 8), -9.0, -1.0), 2, 2), label="a random 6×8 array of negative values, size 2, stride 2"),
    ]


def _conv_layer_cases(rng):
    def case(shape, f, d, stride, padding):
        h, w, c = shape
        x = np.round(rng.normal(size=shape), 3)
        weights = np.round(rng.normal(size=(f, f, c, d)), 3)
        bias = np.round(rng.normal(size=d), 3)
        return Case((x, weights, bias, stride, padding),
                    label=f"a random {h}×{w}×{c} input, {d} filters of {f}×{f}×{c}, stride {stride}, {padding!r}")

    defaults = case((*_sizes(rng, 5, 10), 2), 3, 2, 1, "valid")
    return [
        Case(defaults.args[:3], label=defaults.label.replace(", stride 1, 'valid'", " (stride and padding left at "
                                                                                     "their defaults)")),
        case((*_sizes(rng, 5, 10), 3), 3, 4, 1, "valid"),
        case((*_even_odd(rng, 5, 10), 2), 2, 3, 1, "same"),
        case((*_sizes(rng, 8, 13), 3), 3, 2, 2, "valid"),
        case((*_even_odd(rng, 7, 13), 1), 3, 2, 2, "same"),
    ]


# ---------------------------------------------------------------- answers about values
def _as_map(value, where: str) -> np.ndarray:
    check_not_stub(value, where)
    array = real_array(value, allow_bool=False)
    if array is None:
        raise Incorrect(f"{where} is {describe(value)}; expected a 2-D NumPy array of numbers (a feature map).")
    if array.ndim != 2:
        raise Incorrect(f"{where} is {describe(value)}; a feature map of a grayscale image is 2-D.")
    if not np.isfinite(array).all():
        raise Incorrect(f"{where} has NaN/inf values ({describe(value)}).")
    return array.astype(np.float64)


def _close(a, b, rtol=1e-4, atol=1e-4) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _judge_feature_maps(maps) -> None:
    if not isinstance(maps, dict):
        raise Incorrect(f"`maps` is {describe(maps)}; expected a dict from filter name to feature map, with keys "
                        f"{list(lecture.FEATURE_FILTERS)}.")
    extra = [str(k) for k in maps if k not in lecture.FEATURE_FILTERS]
    if extra:
        raise Incorrect(f"`maps` has unknown keys {extra}; use exactly {list(lecture.FEATURE_FILTERS)}.")
    missing = [k for k in lecture.FEATURE_FILTERS if k not in maps]
    if missing:
        raise Incorrect(f"`maps` has no feature map yet for {missing}.")
    references = _photo_maps()
    for name in lecture.FEATURE_FILTERS:
        where = f"`maps[{name!r}]`"
        got = _as_map(maps[name], where)
        if got.shape not in references:
            lab = photo().shape
            raise Incorrect(f"{where} has shape {got.shape}; it should be the feature map of the lab's "
                            f"{lab[0]}×{lab[1]} photo: {lab[0] - 2}×{lab[1] - 2} with 'valid' padding or "
                            f"{lab[0]}×{lab[1]} with 'same'.")
        expected = references[got.shape]
        if _close(got, expected[name]):
            continue
        for other in lecture.FEATURE_FILTERS:
            if other != name and _close(got, expected[other]):
                raise Incorrect(f"{where} is the feature map of the {other!r} filter: the keys are mixed up.")
        if _close(got, expected[name] * 255, atol=0.05):
            raise Incorrect(f"{where} was computed on the photo in 0–255; use the normalised photo (values in "
                            "[0, 1]) as the notebook prepares it.")
        if _close(got, np.clip(expected[name], 0, 1)):
            raise Incorrect(f"{where} is clipped to [0, 1]; keep the raw filter responses (clip only for display).")
        if _close(got, np.maximum(expected[name], 0)):
            raise Incorrect(f"{where} has no negative values — a ReLU was applied; keep the raw filter responses "
                            "(negative responses are part of the feature map).")
        if _close(got, -expected[name]):
            raise Incorrect(f"{where} has the opposite sign: use the filter as given in `lecture.FEATURE_FILTERS`.")
        raise Incorrect(f"{where} has the right shape but not the right values: slide the {name!r} filter over the "
                        "lab's normalised grayscale photo with your `conv2d`.")


def _judge_x_feature_maps(maps) -> None:
    array = as_array(maps) if not isinstance(maps, (list, tuple)) else None
    if isinstance(maps, (list, tuple)):
        items = list(maps)
    elif array is not None and array.ndim == 3:
        items = list(array)
    else:
        raise Incorrect(f"`maps` is {describe(maps)}; expected a list of three feature maps, one per X filter "
                        f"in the order {list(X_FILTER_ORDER)}.")
    if len(items) != 3:
        raise Incorrect(f"`maps` holds {len(items)} item{'s' if len(items) != 1 else ''}; expected three feature "
                        f"maps, one per X filter ({', '.join(X_FILTER_ORDER)}).")
    got = [_as_map(item, f"`maps[{i}]`") for i, item in enumerate(items)]
    expected = x_maps()
    for i, (mine, right) in enumerate(zip(got, expected, strict=True)):
        if mine.shape == lecture.X_IMAGE.shape:
            raise Incorrect(f"`maps[{i}]` is 9×9: that is 'same' padding. Slide the 3×3 filter over the 9×9 X "
                            "where it fits ('valid'), as on the slides.")
        if mine.shape != right.shape:
            raise Incorrect(f"`maps[{i}]` has shape {mine.shape}; a 3×3 filter fits at (9 − 3) + 1 positions per "
                            "side of the 9×9 X.")
    if all(_close(m, r) for m, r in zip(got, expected, strict=True)):
        return
    for order in itertools.permutations(range(3)):
        if all(_close(got[i], expected[j]) for i, j in enumerate(order)):
            raise Incorrect("the three maps are right but in the wrong order; use "
                            f"{list(X_FILTER_ORDER)} (the order of the slides).")
    if all(_close(m, r / 9) for m, r in zip(got, expected, strict=True)):
        raise Incorrect("the maps are divided by 9 (an average); keep the plain weighted sum that `conv2d` gives "
                        "(a perfect match scores 9).")
    if all(_close(m, r) for m, r in zip(got, x_maps(lecture.X_SHIFTED), strict=True)):
        raise Incorrect("these are the maps of the shifted X; apply the filters to `lecture.X_IMAGE`.")
    wrong = [i for i, (m, r) in enumerate(zip(got, expected, strict=True)) if not _close(m, r)]
    raise Incorrect(f"`maps{wrong}` {'is' if len(wrong) == 1 else 'are'} not right: slide each X filter over "
                    "the X with your `conv2d` ('valid', stride 1).")


def conv_params_answer() -> int:
    spec = CONV_PARAMS_LAYER
    return (spec["kernel_size"] ** 2 * spec["input_channels"] + 1) * spec["filters"]


def _judge_conv_params(n) -> None:
    count = as_number(n, "n", integer=True)
    d, f, c = (CONV_PARAMS_LAYER[k] for k in ("filters", "kernel_size", "input_channels"))
    wrong = {
        f * f * c * d: "that forgets the biases: each filter has one bias as well as its weights.",
        (f * f + 1) * d: "that ignores the input channels: a filter spans all of them, so it has f × f × C weights.",
        f * f * d: "that counts one f × f kernel per filter and no bias: a filter spans all C input channels and "
                   "has a bias.",
        f * f * c + 1: "that is one filter; the layer has `filters` of them.",
        (f * f * c + c) * d: "that gives each input channel its own bias; a filter has one bias.",
    }
    if count in wrong:
        raise Incorrect(f"`n` = {count:,}: {wrong[count]}")
    if count != conv_params_answer():
        raise Incorrect(f"`n` = {count:,} is not the layer's parameter count: each filter has f × f × C weights "
                        "and one bias — the count does not depend on the image size.")


# ---------------------------------------------------------------- validators
def _check_float_scalar(got, case: Case) -> None:
    if isinstance(got, (list, tuple)) or (isinstance(got, np.ndarray) and got.ndim):
        raise Incorrect(f"`conv_patch` returned {describe(got)} for {case.label}; expected one number.")


# ---------------------------------------------------------------- "no Python loop over pixels"
LOOP_CHECK_SIZE = 128


def count_python_lines(func, *args) -> tuple[object, int]:
    """Call `func(*args)` and count the lines of Python it runs outside installed libraries (and this package)."""
    counter = {"lines": 0}

    def local(frame, event, arg):
        if event == "line":
            counter["lines"] += 1
        return local

    def global_trace(frame, event, arg):
        if event == "call" and not is_library(frame.f_code.co_filename):
            counter["lines"] += 1  # each call of a Python function counts, even a one-line lambda
            return local
        return None

    previous = sys.gettrace()
    sys.settrace(global_trace)
    try:
        result = func(*args)
    finally:
        sys.settrace(previous)
    return result, counter["lines"]


class VectorizedFunctionExercise(FunctionExercise):
    """A FunctionExercise whose answer must not loop over pixels in Python: after the usual cases, it runs the
    function once on a LOOP_CHECK_SIZE² image and counts the Python lines it executes. A loop over the kernel's
    entries runs a few dozen lines; a loop over rows or pixels runs at least one line per output row."""

    def judge(self, func) -> None:
        super().judge(func)
        rng = case_rng()
        image = rng.normal(size=(LOOP_CHECK_SIZE, LOOP_CHECK_SIZE))
        kernel = rng.normal(size=(3, 3))
        label = f"a {LOOP_CHECK_SIZE}×{LOOP_CHECK_SIZE} image and a 3×3 kernel"
        _, lines = count_python_lines(lambda *args: student_call(func, self.name, args, {}, label), image, kernel)
        rows = LOOP_CHECK_SIZE - 2
        if lines >= rows:
            raise Incorrect(f"`{self.name}` gives the right values but ran {lines:,} lines of Python for {label} "
                            f"— about one or more per output row or pixel ({rows}×{rows} outputs). Loop at most over "
                            "the kernel's entries (adding shifted slices of the image) or use array operations "
                            "such as `sliding_window_view`.")


# ---------------------------------------------------------------- the exercises
conv_patch = FunctionExercise(
    f"{LAB}.conv_patch", reference=_conv_patch, cases=_conv_patch_cases, output="number", rtol=1e-6, atol=1e-6,
    validate=_check_float_scalar,
    mistakes=[
        Mistake(lambda patch, kernel, bias=0.0: _conv_patch(patch, kernel),
                "`conv_patch` drops the bias: the neuron adds `bias` after the weighted sum"),
        Mistake(lambda patch, kernel, bias=0.0: _conv_patch(patch, np.asarray(kernel)[::-1, ::-1], bias),
                "`conv_patch` flips the kernel; in deep learning weight w_ij multiplies the pixel at the same "
                "position (i, j) of the patch, no flipping"),
        Mistake(lambda patch, kernel, bias=0.0: float(np.sum(np.asarray(patch) @ np.asarray(kernel)) + bias),
                "`conv_patch` uses a matrix product (`@`); the formula multiplies entry by entry (`*`), then sums"),
        Mistake(lambda patch, kernel, bias=0.0: float(np.mean(np.asarray(patch) * np.asarray(kernel)) + bias),
                "`conv_patch` averages the products; the formula sums them"),
        Mistake(lambda patch, kernel, bias=0.0: _conv_patch(patch, kernel, bias * np.size(kernel)),
                "`conv_patch` adds the bias to every product (`np.sum(patch * kernel + bias)`); the neuron adds "
                "it once, after the sum"),
    ],
    hints=["The neuron multiplies each weight w_ij with the pixel under it, adds everything up, then adds b.",
           "Entry-wise product and a sum: `np.sum(patch * kernel) + bias`, returned as a `float`."],
)

conv2d = FunctionExercise(
    f"{LAB}.conv2d", reference=_conv2d, cases=_conv_cases, rtol=1e-5, atol=1e-5,
    mistakes=_named(CONV2D_MISTAKES, "conv2d"),
    hints=["Slide the kernel: one output per position, each one `conv_patch` of the patch under the kernel.",
           "Output size: (n − f) // stride + 1 for 'valid'; for 'same' first pad zeros (Keras: total "
           "(out − 1)·stride + f − n with out = ceil(n / stride), the extra zero at the bottom/right).",
           "Output row i starts at image row i·stride: `padded[i*stride:i*stride+f, j*stride:j*stride+f]`."],
)

def _check_int(got, case: Case) -> None:
    if isinstance(got, (float, np.floating)) or (isinstance(got, np.ndarray) and not np.issubdtype(got.dtype,
                                                                                                     np.integer)):
        raise Incorrect(f"`output_size` returned {describe(got)} for {case.label}; it counts positions, so return "
                        "an int — use integer division `//` (or `int(...)`), as the TODO says.")


output_size = FunctionExercise(
    f"{LAB}.output_size", reference=_output_size, cases=_output_size_cases, output="integer", rtol=0, atol=0,
    validate=_check_int,
    mistakes=[
        Mistake(lambda n, f, stride=1, padding="valid": n - f if padding == "valid" else -(-n // stride),
                "`output_size` is one short: the kernel fits at positions 0 … n − f, that is n − f + 1 of them"),
        Mistake(lambda n, f, stride=1, padding="valid": n - f + 1 if padding == "valid" else n,
                "`output_size` ignores `stride`: the kernel moves `stride` pixels at a time"),
        Mistake(lambda n, f, stride=1, padding="valid": (math.ceil((n - f) / stride) + 1 if padding == "valid"
                                                         else -(-n // stride)),
                "`output_size` rounds up for 'valid'; a last step that would run off the image is not taken, "
                "so round down: (n − f) // stride + 1"),
        Mistake(lambda n, f, stride=1, padding="valid": (n - f) // stride + 1 if padding == "valid" else n // stride,
                "`output_size` rounds down for 'same'; Keras' 'same' gives ceil(n / stride) outputs"),
        Mistake(lambda n, f, stride=1, padding="valid": (n - f) // stride + 1,
                "`output_size` uses the 'valid' formula for 'same' padding; 'same' pads so the output has "
                "ceil(n / stride) positions"),
    ],
    hints=["'valid': the kernel must fit inside the image; count the start positions 0, stride, 2·stride, ….",
           "'valid' gives (n − f) // stride + 1; Keras' 'same' gives ceil(n / stride) (`-(-n // stride)`)."],
)

feature_maps = AnswerExercise(
    f"{LAB}.feature_maps", params=("maps",), judge=_judge_feature_maps,
    hints=["Apply each filter of `lecture.FEATURE_FILTERS` to the lab's photo with your `conv2d`.",
           "`{name: conv2d(photo, kernel) for name, kernel in lecture.FEATURE_FILTERS.items()}` on the normalised "
           "photo."],
)

x_feature_maps = AnswerExercise(
    f"{LAB}.x_feature_maps", params=("maps",), judge=_judge_x_feature_maps, names={"maps": "x_maps"},
    hints=["Each X filter is a small piece of the X; slide each one over `lecture.X_IMAGE` with `conv2d`.",
           "A list of three 7×7 maps, in the order diagonal, cross, anti-diagonal of `lecture.X_FILTERS`."],
)

relu = FunctionExercise(
    f"{LAB}.relu", reference=_relu, cases=_relu_cases, rtol=0, atol=1e-12,
    mistakes=[
        Mistake(lambda x: np.abs(x), "`relu` returns absolute values; negative inputs become 0, not positive"),
        Mistake(lambda x: np.clip(x, 0, 1), "`relu` also caps values at 1; ReLU is max(0, x), unbounded above"),
        Mistake(lambda x: np.minimum(x, 0), "`relu` keeps the negative part; keep the positive part: max(0, x)"),
        Mistake(lambda x: (np.asarray(x) > 0).astype(float),
                "`relu` returns 1 for positive inputs (a step function); return the input itself there"),
    ],
    hints=["ReLU keeps positive values and replaces negative ones with 0: g(z) = max(0, z).",
           "`np.maximum(x, 0)` works element by element on any shape (unlike Python's `max`)."],
)

max_pool2d = FunctionExercise(
    f"{LAB}.max_pool2d", reference=_max_pool2d, cases=_pool_cases, rtol=0, atol=1e-12,
    mistakes=[
        Mistake(lambda x, size=2, stride=2: sliding_mean(x, size, stride),
                "`max_pool2d` averages each window (average pooling); max pooling keeps the largest value"),
        Mistake(lambda x, size=2, stride=2: _max_pool2d(x, size, size),
                "`max_pool2d` ignores `stride` and steps by the window size; move the window `stride` pixels"),
        Mistake(lambda x, size=2, stride=2: _max_pool2d(x, size, 1),
                "`max_pool2d` ignores `stride` and steps by 1; move the window `stride` pixels"),
        Mistake(lambda x, size=2, stride=2: np.maximum(_max_pool2d(x, size, stride), 0),
                "`max_pool2d` never returns a negative value — does your maximum start at 0? Start it at the "
                "window's first value (or use `window.max()`)"),
        Mistake(lambda x, size=2, stride=2: -_max_pool2d(-np.asarray(x), size, stride),
                "`max_pool2d` keeps the smallest value of each window; keep the largest"),
        Mistake(lambda x, size=2, stride=2: ceil_pool(x, size, stride),
                "`max_pool2d` keeps partial windows at the bottom/right edge; like Keras' MaxPool2D (padding "
                "'valid') use only windows that fit: (n − size) // stride + 1 per side"),
    ],
    hints=["Max pooling slides a size×size window with step `stride` and keeps each window's largest value.",
           "Output side: (n − size) // stride + 1; output (i, j) is `x[i*stride:i*stride+size, "
           "j*stride:j*stride+size].max()`."],
)

conv2d_fast = VectorizedFunctionExercise(
    f"{LAB}.conv2d_fast", reference=_conv2d, cases=_conv_cases, rtol=1e-4, atol=1e-4,
    mistakes=_named(CONV2D_MISTAKES, "conv2d_fast"),
    hints=["Loop over the f×f kernel entries instead of the pixels: entry (a, b) multiplies a shifted slice of "
           "the (padded) image, and the output is the sum of those f·f slices.",
           "The slice for entry (a, b) with stride s and output size (oh, ow) is "
           "`padded[a:a + s*(oh-1) + 1:s, b:b + s*(ow-1) + 1:s]`. "
           "Or: `numpy.lib.stride_tricks.sliding_window_view` and `np.einsum`."],
)

conv_layer = FunctionExercise(
    f"{LAB}.conv_layer", reference=_conv_layer, cases=_conv_layer_cases, rtol=1e-4, atol=1e-4,
    mistakes=[
        Mistake(lambda x, w, b, stride=1, padding="valid": _conv_layer(x, w, np.zeros_like(b), stride, padding),
                "`conv_layer` drops the bias: add `bias[d]` to every output of filter d"),
        Mistake(lambda x, w, b, stride=1, padding="valid": _conv_layer(x, np.asarray(w)[::-1, ::-1], b, stride,
                                                                       padding),
                "`conv_layer` flips the kernels; Keras' Conv2D (like the lecture) does not flip them"),
        Mistake(lambda x, w, b, stride=1, padding="valid": _conv_layer(x, w, b, 1, padding),
                "`conv_layer` ignores `stride`: move each filter `stride` pixels between outputs"),
        Mistake(lambda x, w, b, stride=1, padding="valid": layer_wrong_side(x, w, b, stride, padding),
                "`conv_layer` puts the odd padding zero on the top/left; Keras puts it on the bottom/right"),
        Mistake(lambda x, w, b, stride=1, padding="valid": _conv_layer(x[..., :1], np.asarray(w)[:, :, :1], b,
                                                                       stride, padding),
                "`conv_layer` uses only the first input channel; each filter spans all C channels and sums "
                "over them"),
        Mistake(lambda x, w, b, stride=1, padding="valid": np.maximum(_conv_layer(x, w, b, stride, padding), 0),
                "`conv_layer` applies a ReLU; return the layer's raw outputs (Conv2D without activation)"),
        Mistake(lambda x, w, b, stride=1, padding="valid": _conv_layer(x, w, np.asarray(b) * np.shape(w)[2], stride,
                                                                       padding),
                "`conv_layer` adds the bias once per input channel (inside the loop over channels); filter d adds "
                "`bias[d]` once, after summing over all C channels"),
        Mistake(lambda x, w, b, stride=1, padding="valid": _conv_layer(x, w, np.asarray(b) * np.prod(np.shape(w)[:3]),
                                                                       stride, padding),
                "`conv_layer` adds the bias to every product; filter d adds `bias[d]` once, after summing the "
                "f·f·C products"),
    ],
    hints=["Filter d is an f×f×C block: output (i, j, d) = Σ over a, b, c of weights[a, b, c, d] · x[i·s+a, j·s+b, c]"
           " + bias[d].",
           "Your `conv2d` per channel and filter works: out[..., d] = Σ_c conv2d(x[..., c], weights[..., c, d]) "
           "+ bias[d]. `np.tensordot`/`np.einsum` over windows is faster."],
)

conv_params = AnswerExercise(
    f"{LAB}.conv_params", params=("n",), judge=_judge_conv_params,
    hints=["A Conv2D layer's parameters are its filters' weights and biases; they do not depend on the image size.",
           "Each of the `filters` filters has kernel_size × kernel_size × input_channels weights and one bias."],
)


# ---------------------------------------------------------------- helpers for mistakes defined above
def sliding_mean(x, size=2, stride=2):
    return _pool(np.asarray(x, dtype=np.float64), size, stride, np.mean)


def ceil_pool(x, size=2, stride=2):
    """Max pooling that keeps partial windows at the bottom/right (as with ceil_mode / padding)."""
    x = np.asarray(x, dtype=np.float64)
    out = [-(-(n - size) // stride) + 1 for n in x.shape]
    padded = np.pad(x, [(0, (o - 1) * stride + size - n) for o, n in zip(out, x.shape, strict=True)],
                    constant_values=-np.inf)
    return _max_pool2d(padded, size, stride)


def layer_wrong_side(x, weights, bias, stride=1, padding="valid"):
    return _conv_layer(x, weights, bias, stride, padding, extra_first=True)


EXERCISES = exercises_in(globals())

# The notebook variables `mitdl grade` passes to each check, where they differ from the exercise's parameters.
ANSWERS = notebook_names(EXERCISES)


def progress():
    """Print this lab's exercises and their last outcome."""
    return _progress(LAB, EXERCISES)
