"""Lab 02 checks: the references pass, known-wrong answers are rejected with a specific message, stubs are
"not attempted", crashes are "error", and the references agree with independent peers (scipy, OpenCV,
TensorFlow, Keras)."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pytest

from mitdl_util import lecture
from mitdl_util.checks import lab02 as q
from tests.exercise_tables import exercise_table_tests


# ---------------------------------------------------------------- student-style answers (loops, as a student writes)
def student_conv2d(image, kernel, stride=1, padding="valid", *, flip=False, step=None, short=0, extra_first=False,
                   stride_one_padding=False):
    """A loop-based conv2d with switches for the classic mistakes."""
    image = np.asarray(image, dtype=float)
    kernel = np.asarray(kernel, dtype=float)
    if flip:
        kernel = kernel[::-1, ::-1]
    f = kernel.shape[0]
    step = stride if step is None else step
    if padding == "same":
        pads = []
        for n in image.shape:
            if stride_one_padding:
                total = f - 1
            else:
                out = math.ceil(n / stride)
                total = max((out - 1) * stride + f - n, 0)
            small, big = total // 2, total - total // 2
            pads.append((big, small) if extra_first else (small, big))
        image = np.pad(image, pads)
    oh = (image.shape[0] - f) // step + 1 - short
    ow = (image.shape[1] - f) // step + 1 - short
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = np.sum(image[i * step:i * step + f, j * step:j * step + f] * kernel)
    return out


def good_conv2d(image, kernel, stride=1, padding="valid"):
    return student_conv2d(image, kernel, stride, padding)


def fast_by_kernel_entries(image, kernel, stride=1, padding="valid"):
    """The solution's approach: loop over the f×f kernel entries, add shifted slices."""
    kernel = np.asarray(kernel, dtype=float)
    image = q._pad(image, kernel.shape, stride, padding)
    f = kernel.shape[0]
    oh, ow = ((n - f) // stride + 1 for n in image.shape)
    out = np.zeros((oh, ow))
    for a in range(f):
        for b in range(f):
            out += kernel[a, b] * image[a:a + stride * (oh - 1) + 1:stride, b:b + stride * (ow - 1) + 1:stride]
    return out


def student_pool(x, size=2, stride=2, *, reduce=np.max, start_at_zero=False):
    x = np.asarray(x, dtype=float)
    oh, ow = ((n - size) // stride + 1 for n in x.shape)
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = x[i * stride:i * stride + size, j * stride:j * stride + size]
            out[i, j] = max(0.0, window.max()) if start_at_zero else reduce(window)
    return out


def student_conv_layer(x, weights, bias, stride=1, padding="valid", *, use_bias=True, flip=False, channels=None,
                       bias_per_channel=False):
    x = np.asarray(x, dtype=float)
    c_in = x.shape[-1] if channels is None else channels
    maps = []
    for d in range(weights.shape[-1]):
        if bias_per_channel:  # the bias inside the loop over input channels
            maps.append(sum(student_conv2d(x[..., c], weights[:, :, c, d], stride, padding) + bias[d]
                            for c in range(c_in)))
            continue
        total = sum(student_conv2d(x[..., c], weights[:, :, c, d], stride, padding, flip=flip) for c in range(c_in))
        maps.append(total + (bias[d] if use_bias else 0))
    return np.stack(maps, axis=-1)


def conv_layer_bias_on_every_product(x, weights, bias, stride=1, padding="valid"):
    f, _, c, d = weights.shape
    return student_conv_layer(x, weights, np.asarray(bias) * f * f * c, stride, padding)


def photo_maps(**changes):
    image = q.photo()
    maps = {name: q._conv2d(image, k) for name, k in lecture.FEATURE_FILTERS.items()}
    maps.update(changes)
    return maps


def raising_conv2d(image, kernel, stride=1, padding="valid"):
    rows = image.shape[0]
    return image[rows + 5]  # IndexError: the student's own bug


# ---------------------------------------------------------------- the references pass
SOLUTIONS = [
    (q.conv_patch, lambda patch, kernel, bias=0.0: float(np.sum(patch * kernel) + bias)),
    (q.conv2d, good_conv2d),
    (q.output_size, lambda n, f, stride=1, padding="valid": -(-n // stride) if padding == "same"
     else (n - f) // stride + 1),
    (q.relu, lambda x: np.maximum(x, 0)),
    (q.max_pool2d, student_pool),
    (q.conv2d_fast, fast_by_kernel_entries),
    (q.conv_layer, student_conv_layer),
]


@pytest.mark.parametrize("exercise", [e for e in q.EXERCISES if hasattr(e, "reference")], ids=lambda e: e.name)
def test_references_pass_their_own_checks(exercise):
    result = exercise.evaluate(exercise.reference)
    assert result.status == "passed", result.message


def test_value_exercises_pass_with_the_right_answers():
    assert q.feature_maps.evaluate(photo_maps())
    same = {name: q._conv2d(q.photo(), k, padding="same") for name, k in lecture.FEATURE_FILTERS.items()}
    assert q.feature_maps.evaluate(same)
    assert q.x_feature_maps.evaluate(q.x_maps())
    assert q.x_feature_maps.evaluate(np.stack(q.x_maps()))
    assert q.conv_params.evaluate(896)


def test_the_slide_example_is_a_case_and_the_reference_reproduces_it():
    np.testing.assert_array_equal(q._conv2d(lecture.CONV_IMAGE, lecture.CONV_FILTER), lecture.CONV_RESULT)
    labels = [c.label for c in q._conv_cases(np.random.default_rng(0))]
    assert any("slide" in label for label in labels)


# ---------------------------------------------------------------- known-wrong answers, each with its message
def _shifted_x_maps():
    return q.x_maps(lecture.X_SHIFTED)


WRONG = [
    # conv_patch
    (q.conv_patch, lambda patch, kernel, bias=0.0: float(np.sum(patch * kernel)), "drops the bias"),
    (q.conv_patch, lambda patch, kernel, bias=0.0: float(np.sum(patch * kernel[::-1, ::-1]) + bias), "flips"),
    (q.conv_patch, lambda patch, kernel, bias=0.0: float(np.sum(patch @ kernel) + bias), "matrix product"),
    (q.conv_patch, lambda patch, kernel, bias=0.0: float(np.mean(patch * kernel) + bias), "averages"),
    # conv2d
    (q.conv2d, lambda im, k, s=1, p="valid": student_conv2d(im, k, s, p, flip=True), "flips the kernel"),
    (q.conv2d, lambda im, k, s=1, p="valid": student_conv2d(im, k, s, p, step=1), "ignores `stride`"),
    (q.conv2d, lambda im, k, s=1, p="valid": student_conv2d(im, k, s, p, short=1), "one position short"),
    (q.conv2d, lambda im, k, s=1, p="valid": student_conv2d(im, k, s, p, extra_first=True), "top/left"),
    (q.conv2d, lambda im, k, s=1, p="valid": student_conv2d(im, k, s, p, stride_one_padding=True),
     "pads for stride 1"),
    (q.conv2d, lambda im, k, s=1, p="valid": student_conv2d(np.pad(im, k.shape[0] // 2) if p == "same" else im, k,
                                                            s, "valid"), "f // 2 zeros on every side"),
    # output_size
    (q.output_size, lambda n, f, s=1, p="valid": n - f if p == "valid" else math.ceil(n / s), "one short"),
    (q.output_size, lambda n, f, s=1, p="valid": n - f + 1 if p == "valid" else n, "ignores `stride`"),
    (q.output_size, lambda n, f, s=1, p="valid": math.ceil((n - f) / s) + 1 if p == "valid" else math.ceil(n / s),
     "rounds up"),
    (q.output_size, lambda n, f, s=1, p="valid": (n - f) // s + 1 if p == "valid" else n // s, "rounds down"),
    (q.output_size, lambda n, f, s=1, p="valid": (n - f) // s + 1, "'valid' formula for 'same'"),
    (q.output_size, lambda n, f, s=1, p="valid": (n - f) / s + 1 if p == "valid" else math.ceil(n / s),
     "return an int"),
    # relu
    (q.relu, np.abs, "absolute values"),
    (q.relu, lambda x: np.clip(x, 0, 1), "caps values at 1"),
    (q.relu, lambda x: np.minimum(x, 0), "negative part"),
    (q.relu, lambda x: (x > 0).astype(float), "step function"),
    (q.relu, lambda x: x > 0, "step function"),
    # max_pool2d
    (q.max_pool2d, lambda x, size=2, stride=2: student_pool(x, size, stride, reduce=np.mean), "average pooling"),
    (q.max_pool2d, lambda x, size=2, stride=2: student_pool(x, size, stride, start_at_zero=True), "start at 0"),
    (q.max_pool2d, lambda x, size=2, stride=2: student_pool(x, size, stride, reduce=np.min), "smallest"),
    (q.max_pool2d, lambda x, size=2, stride=2: student_pool(x, size, size), "steps by the window size"),
    (q.max_pool2d, lambda x, size=2, stride=2: student_pool(x, size, 1), "steps by 1"),
    (q.max_pool2d, lambda x, size=2, stride=2: q.ceil_pool(x, size, stride), "partial windows"),
    # conv2d_fast: the conv2d mistakes, and loops over pixels
    (q.conv2d_fast, lambda im, k, s=1, p="valid": fast_by_kernel_entries(im, k[::-1, ::-1], s, p), "flips"),
    (q.conv2d_fast, lambda im, k, s=1, p="valid": fast_by_kernel_entries(im, k, 1, p), "ignores `stride`"),
    (q.conv2d_fast, good_conv2d, "lines of Python"),
    (q.conv2d_fast, lambda im, k, s=1, p="valid": np.stack(
        [q._conv2d(im, k, s, p)[i] for i in range(q._conv2d(im, k, s, p).shape[0])]), "lines of Python"),
    # conv_layer
    (q.conv_layer, lambda x, w, b, s=1, p="valid": student_conv_layer(x, w, b, s, p, use_bias=False),
     "drops the bias"),
    (q.conv_layer, lambda x, w, b, s=1, p="valid": student_conv_layer(x, w, b, s, p, flip=True), "flips"),
    (q.conv_layer, lambda x, w, b, s=1, p="valid": student_conv_layer(x, w, b, 1, p), "ignores `stride`"),
    (q.conv_layer, lambda x, w, b, s=1, p="valid": student_conv_layer(x, w, b, s, p, channels=1),
     "first input channel"),
    (q.conv_layer, lambda x, w, b, s=1, p="valid": np.maximum(student_conv_layer(x, w, b, s, p), 0), "ReLU"),
    (q.conv_layer, lambda x, w, b, s=1, p="valid": student_conv_layer(x, w, b, s, p, bias_per_channel=True),
     "once per input channel"),
    (q.conv_layer, conv_layer_bias_on_every_product, "adds the bias to every product"),
    (q.conv_layer, lambda x, w, b, s=1, p="valid": np.moveaxis(student_conv_layer(x, w, b, s, p), -1, 0),
     "axes in a different order"),  # issue 14: (D, H', W') was told "off by a little… off-by-one?"
    (q.conv_patch, lambda patch, kernel, bias=0.0: float(np.sum(patch * kernel + bias)), "adds the bias to every product"),
    (q.output_size, lambda n, f, s=1, p="valid": float(-(-n // s) if p == "same" else (n - f) // s + 1),
     "return an int"),
    (q.output_size, lambda n, f, s=1, p="valid": np.float64(-(-n // s) if p == "same" else (n - f) // s + 1),
     "return an int"),
]

WRONG_VALUES = [
    (q.feature_maps, lambda: photo_maps(edge=photo_maps()["sharpen"]), "keys are mixed up"),
    (q.feature_maps, lambda: {k: v * 255 for k, v in photo_maps().items()}, "0–255"),
    (q.feature_maps, lambda: {k: np.clip(v, 0, 1) for k, v in photo_maps().items()}, "clipped"),
    (q.feature_maps, lambda: {k: np.maximum(v, 0) for k, v in photo_maps().items()}, "ReLU"),
    (q.feature_maps, lambda: {k: v[:-1] for k, v in photo_maps().items()}, "shape"),
    (q.feature_maps, lambda: {"sharpen": 1}, "no feature map yet"),
    (q.x_feature_maps, lambda: q.x_maps()[::-1], "wrong order"),
    (q.x_feature_maps, lambda: [m / 9 for m in q.x_maps()], "divided by 9"),
    (q.x_feature_maps, _shifted_x_maps, "shifted X"),
    (q.x_feature_maps, lambda: [q._conv2d(lecture.X_IMAGE, k, padding="same") for k in lecture.X_FILTERS.values()],
     "'same' padding"),
    (q.x_feature_maps, lambda: q.x_maps()[:2], "three"),
    (q.conv_params, lambda: 864, "forgets the biases"),
    (q.conv_params, lambda: 320, "ignores the input channels"),
    (q.conv_params, lambda: 28, "one filter"),
    (q.conv_params, lambda: 896 * 30 * 30, "does not depend on the image size"),
]

test_solution_passes, test_known_wrong_answer_is_rejected, test_enough_known_wrong_answers, \
    test_untouched_stub_is_not_attempted = exercise_table_tests(
        q, {exercise.name: (answer,) for exercise, answer in SOLUTIONS}
        | {"feature_maps": (photo_maps(),), "x_feature_maps": (q.x_maps(),), "conv_params": (896,)},
        [(e.name, (answer,), m) for e, answer, m in WRONG] + [(e.name, (make(),), m) for e, make, m in WRONG_VALUES])


def test_messages_never_show_the_expected_answer():
    result = q.conv2d.evaluate(lambda im, k, s=1, p="valid": student_conv2d(im, k, s, p, flip=True))
    assert "4 3 4" not in result.message and "[[" not in result.message
    assert "896" not in q.conv_params.evaluate(895).message


def test_hard_coding_the_slide_example_fails():
    result = q.conv2d.evaluate(lambda image, kernel, stride=1, padding="valid": lecture.CONV_RESULT.copy())
    assert result.status == "incorrect"


# ---------------------------------------------------------------- crashes
def test_a_crash_inside_the_students_function_names_the_line():
    result = q.conv2d.evaluate(raising_conv2d)
    assert result.status == "error"
    assert "IndexError" in result.message
    assert "return image[rows + 5]" in result.message


def test_none_values_inside_a_dict_are_not_attempted():
    result = q.feature_maps.evaluate({"sharpen": None, "edge": None, "strong_edge": None})
    assert result.status == "not_attempted"


def test_check_prints_one_line(capsys):
    q.relu.check(lambda x: np.maximum(x, 0))
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "passed" in out


# ---------------------------------------------------------------- "no loop over pixels" is measured, not timed
def test_line_counter_tells_kernel_loops_from_pixel_loops():
    image, kernel = np.zeros((40, 40)), np.ones((3, 3))
    _, kernel_loop = q.count_python_lines(fast_by_kernel_entries, image, kernel)
    _, pixel_loop = q.count_python_lines(good_conv2d, image, kernel)
    assert kernel_loop < 40 < 38 * 38 < pixel_loop


# ---------------------------------------------------------------- the reference against independent peers
def _random_case(seed):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(int(rng.integers(6, 20)), int(rng.integers(6, 20))))
    kernel = rng.normal(size=(int(rng.integers(1, 6)),) * 2)
    return image, kernel


@pytest.mark.parametrize("seed", range(10))
def test_conv2d_valid_equals_scipy_correlate2d(seed):
    from scipy.signal import correlate2d

    image, kernel = _random_case(seed)
    np.testing.assert_allclose(q._conv2d(image, kernel), correlate2d(image, kernel, mode="valid"), atol=1e-10)


@pytest.mark.parametrize("seed", range(10))
def test_conv2d_valid_equals_cv2_filter2d_inside_the_border(seed):
    import cv2

    image, kernel = _random_case(seed)
    f = kernel.shape[0]
    # filter2D is also a correlation; its anchor is the kernel's centre (f // 2). Compare where no border is used.
    full = cv2.filter2D(image, cv2.CV_64F, kernel, borderType=cv2.BORDER_CONSTANT)
    top = f // 2
    inside = full[top:top + image.shape[0] - f + 1, top:top + image.shape[1] - f + 1]
    np.testing.assert_allclose(q._conv2d(image, kernel), inside, atol=1e-9)


@pytest.mark.parametrize("seed", range(10))
def test_output_size_matches_the_reference_shape(seed):
    image, kernel = _random_case(seed)
    for stride in (1, 2, 3):
        for padding in ("valid", "same"):
            shape = q._conv2d(image, kernel, stride, padding).shape
            f = kernel.shape[0]
            assert shape == tuple(q._output_size(n, f, stride, padding) for n in image.shape)


def test_conv_references_equal_tensorflow_and_keras():
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(7)
    for h, w, c, d, f in [(9, 12, 3, 4, 3), (10, 7, 2, 3, 4), (11, 8, 1, 2, 2), (13, 13, 3, 2, 5)]:
        x = rng.normal(size=(h, w, c)).astype(np.float32)
        weights = rng.normal(size=(f, f, c, d)).astype(np.float32)
        bias = rng.normal(size=d).astype(np.float32)
        for stride in (1, 2, 3):
            for padding in ("valid", "same"):
                ours = q._conv_layer(x, weights, bias, stride, padding)
                tf_out = tf.nn.conv2d(x[None], weights, strides=stride, padding=padding.upper())[0] + bias
                np.testing.assert_allclose(ours, tf_out.numpy(), rtol=1e-4, atol=1e-4)
                layer = keras.layers.Conv2D(d, f, strides=stride, padding=padding)
                layer.build((None, h, w, c))
                layer.set_weights([weights, bias])
                np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(layer(x[None]))[0], rtol=1e-4, atol=1e-4)
                # a single-channel, single-filter layer is conv2d
                single = tf.nn.conv2d(x[None, ..., :1], weights[..., :1, :1], strides=stride, padding=padding.upper())
                np.testing.assert_allclose(q._conv2d(x[..., 0], weights[..., 0, 0], stride, padding),
                                           single.numpy()[0, ..., 0], rtol=1e-4, atol=1e-4)
                assert ours.shape[:2] == tuple(q._output_size(n, f, stride, padding) for n in (h, w))
    layer = keras.layers.Conv2D(32, 3)
    layer.build((None, 28, 28, 3))
    assert layer.count_params() == q.conv_params_answer() == 896


def test_relu_and_max_pool_equal_keras():
    import keras

    rng = np.random.default_rng(3)
    x = rng.normal(size=(9, 12)).astype(np.float32)
    np.testing.assert_allclose(q._relu(x), keras.ops.convert_to_numpy(keras.activations.relu(x)))
    for size, stride in [(2, 2), (3, 2), (2, 1)]:
        pooled = keras.layers.MaxPool2D(pool_size=size, strides=stride)(x[None, ..., None])
        np.testing.assert_allclose(q._max_pool2d(x, size, stride), keras.ops.convert_to_numpy(pooled)[0, ..., 0])


def test_feature_maps_photo_is_the_notebooks():
    from skimage import data

    image = q.photo()
    assert image.shape == (256, 256) and image.dtype == np.float32
    assert 0 <= image.min() and image.max() <= 1
    np.testing.assert_allclose(image, data.camera()[::2, ::2] / 255, atol=1e-6)


# ---------------------------------------------------------------- the notebook's prose and figures
NOTEBOOK = Path(__file__).resolve().parents[1] / "solutions" / "02_convolution_filters.ipynb"


def _cell(needle: str, kind: str = "markdown") -> str:
    (source,) = [c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == kind
                 and needle in c.source]
    return source


def _x_maps(image):
    return {k: q._conv2d(image, lecture.X_FILTERS[k]) for k in ("diagonal", "cross", "anti_diagonal")}


def test_the_x_prose_states_what_the_maps_show():
    """Issue 14: the prose must follow the maps the notebook draws (perfect matches and best scores)."""
    prose = _cell("Where does each filter match?")
    shifted = _x_maps(lecture.X_SHIFTED)
    assert int(np.sum(shifted["cross"] == 9)) == 1 and "cross still finds\n1 perfect match" in prose
    assert {shifted["diagonal"].max(), shifted["anti_diagonal"].max()} == {7.0} and "at most 7 of 9" in prose
    assert all(np.sum(m == 9) > 0 for m in _x_maps(lecture.X_IMAGE).values())


def test_pooling_makes_the_shifted_x_more_similar_as_the_prose_says():
    _cell("Pooling forgets *exactly* where")
    for a, b in zip(_x_maps(lecture.X_IMAGE).values(), _x_maps(lecture.X_SHIFTED).values(), strict=True):
        before = np.corrcoef(q._relu(a).ravel(), q._relu(b).ravel())[0, 1]
        after = np.corrcoef(q._max_pool2d(q._relu(a)).ravel(), q._max_pool2d(q._relu(b)).ravel())[0, 1]
        assert after > before


def test_the_shifted_x_titles_read_as_words():
    """Issue 14: titles read "(0× 9)"; the figure now says "no perfect match" and has a colour bar."""
    source = _cell("def matches(m)", kind="code")
    assert "× 9" not in source and "colorbar=True" in source


def test_feature_map_panels_follow_their_names_not_the_dict_order():
    """A student's dict in another order must not relabel the panels: each panel shows the map its title names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mitdl_util import plot

    photo = q.photo()[:40, :40]
    maps = {name: np.clip(q._conv2d(photo, kernel), 0, 1) for name, kernel in lecture.FEATURE_FILTERS.items()}
    reordered = dict(reversed(list(maps.items())))
    namespace = {"maps": reordered, "photo": photo, "plot": plot, "plt": plt, "np": np,
                 "mdl": __import__("mitdl_util")}
    plt.show = lambda: None
    exec(compile(_cell('TITLES = {"sharpen"', kind="code"), "lab02 cell", "exec"), namespace)  # noqa: S102
    axes = plt.gcf().axes
    for ax, name in zip(axes[1:], ("sharpen", "edge", "strong_edge"), strict=True):
        assert np.array_equal(ax.get_images()[0].get_array(), maps[name]), (ax.get_title(), name)
        assert ax.get_title().startswith(name.replace("_", " ")[:4])


def test_edge_and_relu_panels_differ():
    """Issue 14: both were drawn with vmin=0, so the edge map's negative half looked like ReLU's zeros."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mitdl_util import plot

    namespace = {"maps": {"edge": q._conv2d(q.photo(), lecture.FEATURE_FILTERS["edge"])}, "relu": q._relu,
                 "max_pool2d": q._max_pool2d, "plot": plot, "plt": plt, "np": np}
    namespace["mdl"] = __import__("mitdl_util")
    plt.show = lambda: None
    exec(compile(_cell('edge = maps["edge"]', kind="code"), "lab02 cell", "exec"), namespace)  # noqa: S102
    edge_ax, relu_ax = namespace["axes"][:2]
    edge_image, relu_image = edge_ax.get_images()[0], relu_ax.get_images()[0]
    assert edge_image.get_clim()[0] < 0 and edge_image.get_clim() == relu_image.get_clim()
    shown_edge = edge_image.to_rgba(edge_image.get_array())
    shown_relu = relu_image.to_rgba(relu_image.get_array())
    assert not np.allclose(shown_edge, shown_relu)
