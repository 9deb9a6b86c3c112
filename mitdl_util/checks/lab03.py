"""Lab 03 — CNN classification on MNIST: the exercises, declared as data.

Keras and TensorFlow are imported inside the functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import numbers

import numpy as np

from .diagnostics import as_number, describe, real_array, student_call
from .engine import AnswerExercise, Case, FunctionExercise, Mistake, case_rng, exercises_in, notebook_names
from .engine import progress as _progress
from .fingerprints import count_found
from .outcomes import Incorrect

LAB = "lab03"
IMAGE_SIDE = 28
NUM_CLASSES = 10

# Output shapes of the lecture's CNN on a 28×28×1 input, layer by layer (batch axis left out).
CNN_SHAPES = ((26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64), (1600,), (1024,), (10,))
_SAME_PADDING_SHAPES = ((28, 28, 32), (14, 14, 32), (14, 14, 64), (7, 7, 64), (3136,), (1024,), (10,))
_SLIDE_32_SHAPES = ((30, 30, 32), (15, 15, 32), (13, 13, 64), (6, 6, 64), (2304,), (1024,), (10,))
_LAYER_NAMES = ("Conv2D 32", "MaxPooling2D", "Conv2D 64", "MaxPooling2D", "Flatten", "Dense 1024", "Dense 10")


# ---------------------------------------------------------------- the accuracy threshold
def accuracy_threshold(n_test: int) -> float:
    """The test accuracy `cnn_accuracy` asks for, given the size of the lab's held-out test set (which the check
    loads itself, so a student's subset cannot change it).

    Full MNIST (10 000 test digits, 60 000 to train on) -> 0.99. The 5 000 digits the kit ships offline
    (1 000 test digits, 4 000 to train on; also FAST mode) -> 0.97; the lab's CNN measured 97.6–98.1 % there over
    8 seeds.
    """
    return 0.99 if n_test >= 5000 else 0.97


# ---------------------------------------------------------------- references
def _prepare_images(x):
    return (np.asarray(x, dtype=np.float32) / 255.0)[..., None]


def _build_fc_model():
    import keras

    return keras.Sequential([
        keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(NUM_CLASSES, activation="softmax"),
    ])


def _build_cnn_model(side: int = IMAGE_SIDE, padding: str = "valid", pool: int = 2, head: str = "softmax"):
    import keras

    return keras.Sequential([
        keras.Input(shape=(side, side, 1)),
        keras.layers.Conv2D(32, kernel_size=3, activation="relu", padding=padding),
        keras.layers.MaxPooling2D(pool_size=pool),
        keras.layers.Conv2D(64, kernel_size=3, activation="relu", padding=padding),
        keras.layers.MaxPooling2D(pool_size=pool),
        keras.layers.Flatten(),
        keras.layers.Dense(1024, activation="relu"),
        keras.layers.Dense(NUM_CLASSES, activation=head),
    ])


def _probabilities(model, x):
    return np.asarray(model(np.asarray(x, dtype=np.float32), training=False))


def _predict_classes(model, x):
    return np.argmax(_probabilities(model, x), axis=-1).astype(np.int64)


def _confusion_matrix(y_true, y_pred, num_classes=NUM_CLASSES):
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return matrix


def _shift_images(x, dx, dy):
    x = np.asarray(x)
    out = np.zeros_like(x)
    h, w = x.shape[1], x.shape[2]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    src_rows = slice(max(0, -dy), h - max(0, dy))
    dst_rows = slice(max(0, dy), h - max(0, -dy))
    src_cols = slice(max(0, -dx), w - max(0, dx))
    dst_cols = slice(max(0, dx), w - max(0, -dx))
    out[:, dst_rows, dst_cols] = x[:, src_rows, src_cols]
    return out


def reference_train_step(model, optimizer, images, labels):
    """One step of gradient descent on the mean sparse categorical cross-entropy (the check's reference)."""
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape() as tape:
        probabilities = model(images, training=True)
        loss = loss_fn(labels, probabilities)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
    return loss


# ---------------------------------------------------------------- answers about numbers
FC_PARAMS = (28 * 28 * 128 + 128) + (128 * 10 + 10)
CNN_PARAMS = (3 * 3 * 1 * 32 + 32) + (3 * 3 * 32 * 64 + 64) + (5 * 5 * 64 * 1024 + 1024) + (1024 * 10 + 10)


def _judge_fc_param_count(n) -> None:
    count = as_number(n, "n", integer=True)
    wrong = {
        28 * 28 * 128 + 128 * 10: "that leaves out the biases: every Dense unit has one bias besides its weights.",
        28 * 28 * 128 + 128: "that counts only the first Dense layer; add the output layer's weights and biases.",
        28 * 28 * 128: "that counts only the first layer's weights; add its biases and the output layer.",
        28 * 28 * 128 * 10: "parameters of consecutive layers add up; they do not multiply.",
    }
    if count in wrong:
        raise Incorrect(f"`n` = {count:,}: {wrong[count]}")
    if count != FC_PARAMS:
        raise Incorrect(f"`n` = {count:,} is not the number of parameters of `build_fc_model()`: a Dense layer "
                        "from m inputs to k units has m·k weights and k biases; Flatten has none.")


def _judge_cnn_param_count(n) -> None:
    count = as_number(n, "n", integer=True)
    no_bias = 3 * 3 * 32 + 3 * 3 * 32 * 64 + 1600 * 1024 + 1024 * 10
    slide = CNN_PARAMS - (1600 * 1024) + 2304 * 1024
    same = CNN_PARAMS - (1600 * 1024) + 3136 * 1024
    one_channel = CNN_PARAMS - 3 * 3 * 32 * 64 + 3 * 3 * 64
    wrong = {
        no_bias: "that leaves out the biases: each filter and each Dense unit has one bias.",
        slide: "that uses the slides' 64·6·6 flatten size, which is right for a 32×32 input, not for 28×28.",
        same: "that uses 'same' padding shapes (7·7·64 after the second pool); the lecture's CNN uses 'valid'.",
        one_channel: "a 3×3 filter of the second Conv2D spans all 32 input channels: 3·3·32 weights per filter.",
    }
    if count in wrong:
        raise Incorrect(f"`n` = {count:,}: {wrong[count]}")
    if count != CNN_PARAMS:
        raise Incorrect(f"`n` = {count:,} is not the number of parameters of `build_cnn_model()`: a Conv2D has "
                        "(f·f·C_in)·C_out weights plus C_out biases; pooling and Flatten have none.")


def _as_shape(value, index: int) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise Incorrect(f"entry {index} of `shapes` is {describe(value)}; each entry should be a tuple such as "
                        "(height, width, channels) or (units,).")
    items = list(value)
    if items and items[0] is None:  # a leading batch axis, as Keras prints it
        items = items[1:]
    shape = []
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (numbers.Integral, np.integer)):
            raise Incorrect(f"entry {index} of `shapes` contains {describe(item)}; sizes are whole numbers.")
        shape.append(int(item))
    return tuple(shape)


def _judge_cnn_shapes(shapes) -> None:
    if isinstance(shapes, (str, bytes)) or not isinstance(shapes, (tuple, list)):
        raise Incorrect(f"`shapes` is {describe(shapes)}; expected a list with one output shape per layer.")
    if len(shapes) != len(CNN_SHAPES):
        raise Incorrect(f"`shapes` has {len(shapes)} entries; expected {len(CNN_SHAPES)}, one per layer after "
                        f"the input ({', '.join(_LAYER_NAMES)}).")
    got = tuple(_as_shape(s, i) for i, s in enumerate(shapes))
    if got == CNN_SHAPES:
        return
    if got == _SAME_PADDING_SHAPES:
        raise Incorrect("those are the shapes with padding='same'; the lecture's Conv2D layers use 'valid' "
                        "(no padding), so a 3×3 filter trims one pixel on each side: n -> n - 2.")
    if got == _SLIDE_32_SHAPES:
        raise Incorrect("those are the shapes for a 32×32 input (where the slides' 64*6*6 comes from); "
                        "MNIST digits are 28×28.")
    for index, (mine, ref, name) in enumerate(zip(got, CNN_SHAPES, _LAYER_NAMES, strict=True)):
        if mine == ref:
            continue
        if len(mine) == 3 and (mine[1], mine[2], mine[0]) == ref:
            raise Incorrect(f"entry {index} ({name}) puts the channels first; Keras images are (height, width, "
                            "channels), channels last.")
        if len(mine) != len(ref):
            kind = "(height, width, channels)" if len(ref) == 3 else "(units,)"
            raise Incorrect(f"entry {index} ({name}) is {mine}; that layer's output has the form {kind}.")
        raise Incorrect(f"entry {index} ({name}) is {mine}, which is not right. A 3×3 'valid' convolution "
                        "maps n to n - 2; 2×2 max pooling with stride 2 maps n to n // 2 (rounding down).")


def _flatten_side(n: int) -> int:
    return ((n - 2) // 2 - 2) // 2


def _judge_slide_input_size(n) -> None:
    side = as_number(n, "n", integer=True)
    if side in (64 * 6 * 6, 6 * 6, 6):
        raise Incorrect(f"`n` = {side:,} is a size after the layers; the question asks for the input image's "
                        "side (its height = width).")
    if side == IMAGE_SIDE:
        raise Incorrect("for a 28×28 MNIST digit the shapes go 28 -> 26 -> 13 -> 11 -> 5, so the flatten size is "
                        "64*5*5, not 64*6*6 — that is the slides' mistake. Which side gives 6?")
    if side < 6:
        raise Incorrect(f"`n` = {side} is too small for two 3×3 convolutions and two 2×2 poolings.")
    if _flatten_side(side) != 6:
        raise Incorrect(f"an input of side {side} leaves {_flatten_side(side)}×{_flatten_side(side)} after the "
                        "second pooling, not 6×6. Follow one side through the layers: 3×3 'valid' conv: n -> n - 2; "
                        "2×2 pool: n -> n // 2.")


def _judge_receptive_field(n) -> None:
    size = as_number(n, "n", integer=True)
    wrong = {
        5: "that ignores the pooling: after a 2×2 pool, neighbouring units are 2 input pixels apart, so the "
           "second 3×3 convolution spans more of the input than 3 + 2 pixels.",
        6: "receptive fields do not simply add up: stacking adds (kernel - 1) × (the step between neighbouring "
           "units in the input).",
        9: "receptive fields do not multiply: stacking adds (kernel - 1) × (the step between neighbouring "
           "units in the input).",
        64: "that is an area; give the side of the square patch of input pixels.",
    }
    if size in wrong:
        raise Incorrect(f"`n` = {size}: {wrong[size]}")
    if size != 8:
        raise Incorrect(f"`n` = {size} is not the side of the input patch one unit after the second Conv2D sees. "
                        "Start at 1 and go through the layers: a k×k layer adds (k - 1) × the current step; "
                        "a stride-2 pool doubles the step.")


# ---------------------------------------------------------------- cnn_accuracy
def held_out_digits():
    """The MNIST split `cnn_accuracy` judges on: the lab's own `mdl.data.load_mnist()`, loaded by the check itself
    (so a subset of the test set, or the training set, cannot change the verdict). Returns uint8 arrays
    ((x_train, y_train), (x_test, y_test))."""
    from ..data import load_mnist

    return load_mnist(verbose=False)


def _as_uint8_digits(x: np.ndarray) -> np.ndarray:
    """Prepared images (N, 28, 28, 1) in [0, 1] back to the uint8 pixels they came from."""
    return np.clip(np.rint(np.asarray(x, np.float64)[..., 0] * 255), 0, 255).astype(np.uint8)


def _judge_cnn_accuracy(model, x_test, y_test) -> None:
    import keras

    if not isinstance(model, keras.Model):
        raise Incorrect(f"`model` is {describe(model)}; expected your trained `keras.Model`.")
    x, y = real_array(x_test, allow_bool=False), real_array(y_test)
    if x is None:
        raise Incorrect(f"`x_test` is {describe(x_test)}; expected the prepared test images, a float32 array.")
    if y is None:
        raise Incorrect(f"`y_test` is {describe(y_test)}; expected the test labels, an array of integers 0–9.")
    if x.ndim != 4 or x.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE, 1):
        raise Incorrect(f"`x_test` is {describe(x_test)}; expected shape (N, 28, 28, 1) — pass it through "
                        "`prepare_images` first.")
    if x.size and (x.max() > 1.0 or x.min() < 0.0):
        raise Incorrect(f"`x_test` is {describe(x_test)}; the model was trained on values in [0, 1] — pass the "
                        "test images through `prepare_images` first.")
    if y.ndim == 2 and y.shape[1] == NUM_CLASSES:
        raise Incorrect("`y_test` looks one-hot encoded; pass the integer labels 0–9, shape (N,).")
    if y.ndim != 1 or len(y) != len(x):
        raise Incorrect(f"`y_test` is {describe(y_test)}; expected one integer label per image, shape ({len(x)},).")
    (train_raw, _), (test_raw, test_labels) = held_out_digits()
    pixels = _as_uint8_digits(x)
    if pixels.shape != test_raw.shape or not np.array_equal(pixels, test_raw):
        in_training = count_found(pixels, train_raw)
        if in_training:
            raise Incorrect(f"{in_training:,} of the {len(x):,} images in `x_test` are training digits: accuracy on "
                            "digits the model trained on says nothing about new ones. Pass the held-out test set, "
                            "`x_test, y_test`.")
        raise Incorrect(f"`x_test` ({len(x):,} images) is not the lab's held-out test set ({len(test_raw):,} "
                        "images): pass all of `x_test` and `y_test` as `mdl.data.load_mnist()` gave them, through "
                        "`prepare_images`.")
    if not np.array_equal(y, test_labels):
        raise Incorrect("`y_test` is not the labels of the held-out test set: pass `y_test`, in its order.")
    prepared = _prepare_images(test_raw)
    probabilities = np.asarray(model.predict(prepared, batch_size=512, verbose=0))
    if probabilities.shape != (len(prepared), NUM_CLASSES):
        raise Incorrect(f"`model` outputs shape {probabilities.shape} for {len(prepared)} images; expected "
                        f"({len(prepared)}, 10), one probability per class.")
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == test_labels.astype(np.int64)))
    threshold = accuracy_threshold(len(prepared))
    if accuracy < threshold:
        raise Incorrect(f"test accuracy is {accuracy:.2%} on the {len(prepared):,} held-out images; this lab asks "
                        f"for at least {threshold:.1%} on this test set. Train for more epochs, check that the "
                        "images went through `prepare_images`, and that the model is the CNN you trained.")


# ---------------------------------------------------------------- train_step
def _tiny_model(seed: int):
    """A small softmax CNN with weights from `seed`, so two copies start identical."""
    import keras

    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(NUM_CLASSES, activation="softmax"),
    ])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _sgd(learning_rate: float, model):
    import keras

    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    optimizer.build(model.trainable_variables)
    return optimizer


def _judge_train_step(train_step) -> None:
    if not callable(train_step):
        raise Incorrect(f"`train_step` should be a function; you passed {describe(train_step)}.")
    rng = case_rng()
    for _ in range(2):
        seed = int(rng.integers(2**31))
        batch = int(rng.integers(5, 12))
        images = rng.random((batch, 8, 8, 1)).astype(np.float32)
        labels = rng.integers(0, NUM_CLASSES, size=batch).astype(np.int64)
        label = f"a {batch}-image batch on a small softmax CNN with SGD (learning rate 0.1)"
        mine, ref = _tiny_model(seed), _tiny_model(seed)
        before = [w.copy() for w in mine.get_weights()]
        loss = student_call(train_step, "train_step", (mine, _sgd(0.1, mine), images, labels), {}, label)
        ref_loss = float(np.asarray(reference_train_step(ref, _sgd(0.1, ref), images, labels)))
        if loss is None:
            raise Incorrect(f"`train_step` returned None for {label} — return the loss.")
        array = real_array(loss, allow_bool=False)
        if array is None:
            raise Incorrect(f"`train_step` returned {describe(loss)} for {label}; expected the scalar loss.")
        if array.shape == (batch,):
            raise Incorrect(f"`train_step` returned one loss per image (shape {array.shape}); average them into "
                            "one scalar (e.g. `keras.losses.SparseCategoricalCrossentropy()` does).")
        if array.size != 1:
            raise Incorrect(f"`train_step` returned {describe(loss)} for {label}; expected the scalar loss.")
        value = float(array.reshape(()))
        if not np.isfinite(value):
            raise Incorrect(f"`train_step` returned the loss {value} for {label}; expected a finite number.")
        delta = [a - b for a, b in zip(mine.get_weights(), before, strict=True)]
        ref_delta = [a - b for a, b in zip(ref.get_weights(), before, strict=True)]
        moved = sum(float(np.abs(d).sum()) for d in delta)
        if moved == 0.0:
            raise Incorrect(f"`train_step` did not change the model's weights for {label}: compute the gradients "
                            "of the loss with respect to `model.trainable_variables` and apply them with "
                            "`optimizer.apply_gradients` (use the arguments, not global variables).")
        if not np.isclose(value, ref_loss, rtol=1e-4, atol=1e-5):
            if np.isclose(value, ref_loss * batch, rtol=1e-4):
                raise Incorrect("`train_step`'s loss is the sum over the batch; take the mean, as Keras losses do.")
            raise Incorrect(f"`train_step` returned the loss {value:.4g} for {label}, which is not the sparse "
                            "categorical cross-entropy of the model's predictions before the update. The model "
                            "ends in softmax, so the loss takes probabilities (from_logits=False), and the "
                            "labels are integers (sparse).")
        if _deltas_close(delta, [-d for d in ref_delta]):
            raise Incorrect("`train_step` moves the weights uphill (gradient ascent): apply the gradients of the "
                            "loss itself, and let the optimizer subtract them.")
        if _deltas_close(delta, [d * batch for d in ref_delta]):
            raise Incorrect("`train_step` follows the gradient of the summed loss; take the gradient of the mean "
                            "loss over the batch.")
        if not _deltas_close(delta, ref_delta):
            raise Incorrect(f"`train_step` changed the weights for {label}, but not by one step of the given "
                            "optimizer on this batch's loss: record the forward pass inside `tf.GradientTape`, "
                            "take `tape.gradient(loss, model.trainable_variables)` and apply it once with the "
                            "`optimizer` argument.")


def _deltas_close(a, b) -> bool:
    return all(x.shape == y.shape and np.allclose(x, y, rtol=1e-3, atol=1e-6) for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------- cases (fixed + fresh random)
def _random_digits(rng, n=None, side=IMAGE_SIDE):
    n = int(rng.integers(2, 6)) if n is None else n
    return rng.integers(0, 256, size=(n, side, side)).astype(np.uint8)


def _prepare_cases(rng):
    full = np.arange(256, dtype=np.uint8)
    ramp = np.resize(full, (3, IMAGE_SIDE, IMAGE_SIDE)).astype(np.uint8)
    return [
        Case((_random_digits(rng),), label="a random uint8 batch of shape (N, 28, 28)"),
        Case((ramp,), label="3 images holding every value 0–255"),
        Case((_random_digits(rng, n=1)[:, :, :] // 2,), label="one random image with values in 0–127"),
    ]


def _model_cases(rng):
    return [Case((), label="the model it builds")]


def _classifier(rng):
    """A small softmax model on 28×28×1 with random weights (deterministic given rng)."""
    import keras

    model = keras.Sequential([keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(NUM_CLASSES, activation="softmax")])
    model.set_weights([rng.normal(0.0, 0.05, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _predict_cases(rng):
    model = _classifier(rng)
    n = int(rng.integers(11, 30))
    return [
        Case((model, rng.random((n, IMAGE_SIDE, IMAGE_SIDE, 1)).astype(np.float32)),
             label=f"a small random softmax model and {n} random images"),
        Case((model, rng.random((3, IMAGE_SIDE, IMAGE_SIDE, 1)).astype(np.float32)),
             label="the same model and 3 random images"),
    ]


def _confusion_cases(rng):
    n = int(rng.integers(150, 250))
    y_true = rng.integers(0, 10, size=n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, 10, size=n))
    few = rng.integers(0, 7, size=40)  # classes 7, 8, 9 never appear
    return [
        Case((y_true, y_pred), label=f"{n} random labels and predictions"),
        Case((few, rng.permutation(few)), label="40 labels in 0–6 (classes 7–9 never appear)"),
        Case((rng.integers(0, 3, size=30), rng.integers(0, 3, size=30)), {"num_classes": 3},
             label="30 labels with num_classes=3"),
    ]


def _shift_cases(rng):
    h, w = int(rng.integers(6, 10)), int(rng.integers(11, 15))
    images = rng.random((3, h, w, 1)).astype(np.float32) + 0.5
    dx, dy = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    while dx == dy:
        dy = int(rng.integers(1, 4))
    gray = rng.integers(1, 256, size=(2, IMAGE_SIDE, IMAGE_SIDE)).astype(np.uint8)
    return [
        Case((images, dx, dy), label=f"3 random {h}×{w}×1 images, dx={dx}, dy={dy}"),
        Case((images, -dy, dx), label=f"the same images, dx={-dy}, dy={dx}"),
        Case((gray, 2, -3), label="2 uint8 28×28 images, dx=2, dy=-3"),
        Case((gray, 0, 0), label="2 uint8 28×28 images, dx=0, dy=0"),
        Case((images, w + int(rng.integers(1, 4)), 1), label=f"the {h}×{w} images shifted right by more than "
                                                            "their width (everything moves out)"),
        Case((gray, 0, -IMAGE_SIDE), label="2 uint8 28×28 images, dy=-28 (up by exactly their height)"),
    ]


# ---------------------------------------------------------------- validators
def _check_prepare(got, case: Case) -> None:
    if np.asarray(got).dtype != np.float32:
        raise Incorrect(f"`prepare_images` returned dtype {np.asarray(got).dtype} for {case.label}; expected "
                        "float32, the type Keras layers compute in — convert with `.astype(np.float32)`.")


def _check_integer(name: str, what: str = "class numbers"):
    def validate(got, case: Case) -> None:
        array = np.asarray(got)
        # Only whole-number floats are a dtype slip; other values are judged (and explained) by the comparison.
        if np.issubdtype(array.dtype, np.floating) and np.all(array == np.round(array)):
            raise Incorrect(f"`{name}` returned dtype {array.dtype} for {case.label}; expected integers "
                            f"({what}) — convert with `.astype(int)`.")
    return validate


def _check_same_dtype(got, case: Case) -> None:
    if np.asarray(got).dtype != np.asarray(case.args[0]).dtype:
        raise Incorrect(f"`shift_images` returned dtype {np.asarray(got).dtype} for {case.label}; keep the input's "
                        "dtype (e.g. start from `np.zeros_like(x)`).")


# ---------------------------------------------------------------- the exercises
prepare_images = FunctionExercise(
    f"{LAB}.prepare_images", reference=_prepare_images, cases=_prepare_cases, validate=_check_prepare,
    rtol=1e-6, atol=1e-6,
    mistakes=[
        Mistake(lambda x: np.asarray(x, dtype=np.float32)[..., None],
                "`prepare_images` keeps the 0–255 scale; divide by the largest 8-bit value so inputs lie in [0, 1]"),
        Mistake(lambda x: np.asarray(x, dtype=np.float32) / 255.0,
                "`prepare_images` has no channel axis: Conv2D expects (N, height, width, channels), so a grey "
                "digit needs a last axis of size 1"),
        Mistake(lambda x: (np.asarray(x, dtype=np.float32) / 255.0)[:, None],
                "`prepare_images` puts the channel axis first; Keras images are channels-last, (N, 28, 28, 1)"),
        Mistake(lambda x: (np.asarray(x, dtype=np.float32) / 256.0)[..., None],
                "`prepare_images` divides by 256; the largest 8-bit value is 255, which should map to exactly 1.0"),
    ],
    hints=["Two things: scale the pixels from 0…255 to [0, 1], and add a channel axis for Conv2D.",
           "`(x.astype(np.float32) / 255.0)[..., None]` — `[..., None]` (or `np.expand_dims(x, -1)`) adds the "
           "last axis."],
)

build_fc_model = FunctionExercise(
    f"{LAB}.build_fc_model", reference=_build_fc_model, cases=_model_cases, output="model",
    mistakes=[
        Mistake(lambda: _fc_variant(flatten=False),
                "`build_fc_model` has no Flatten layer: a Dense layer on a (28, 28, 1) image acts on the last axis "
                "only; flatten each image into one vector of 784 pixels first"),
        Mistake(lambda: _fc_variant(head=None),
                "the last Dense layer of `build_fc_model` has no softmax: the lecture's classifier turns the 10 "
                "scores into probabilities that sum to 1"),
        Mistake(lambda: _fc_variant(input_shape=(784,)),
                "`build_fc_model` takes flat vectors of 784; this lab feeds it images of shape (28, 28, 1) and lets "
                "a Flatten layer do the flattening"),
    ],
    hints=["keras.Sequential([keras.Input(shape=(28, 28, 1)), ...]): flatten, one hidden Dense layer, then the "
           "output layer.",
           "Flatten() -> Dense(128, activation='relu') -> Dense(10, activation='softmax')."],
)

fc_param_count = AnswerExercise(
    f"{LAB}.fc_param_count", params=("n",), judge=_judge_fc_param_count, names={"n": "n_fc_params"},
    hints=["A Dense layer from m inputs to k units holds an m×k weight matrix and k biases.",
           "Flatten gives 28·28 = 784 inputs; add the parameters of both Dense layers."],
)

build_cnn_model = FunctionExercise(
    f"{LAB}.build_cnn_model", reference=_build_cnn_model, cases=_model_cases, output="model",
    mistakes=[
        Mistake(lambda: _build_cnn_model(side=32),
                "`build_cnn_model` takes 32×32 inputs — that is where the slides' 64*6*6 comes from; MNIST digits "
                "are 28×28×1"),
        Mistake(lambda: _build_cnn_model(padding="same"),
                "the Conv2D layers of `build_cnn_model` use padding='same'; the lecture's use 'valid' (the default)"),
        Mistake(lambda: _build_cnn_model(pool=3),
                "the pooling layers of `build_cnn_model` are 3×3; the lecture uses 2×2 max pooling with stride 2"),
        Mistake(lambda: _build_cnn_model(head=None),
                "the last Dense layer of `build_cnn_model` has no softmax: the classifier outputs probabilities"),
    ],
    hints=["Conv2D(32, kernel_size=3, activation='relu') — Keras calls it `kernel_size`, not `filter_size` as "
           "on the slide.",
           "Conv 32 -> MaxPooling2D(2) -> Conv 64 -> MaxPooling2D(2) -> Flatten -> Dense(1024, relu) -> "
           "Dense(10, softmax), after keras.Input(shape=(28, 28, 1))."],
)

cnn_shapes = AnswerExercise(
    f"{LAB}.cnn_shapes", params=("shapes",), judge=_judge_cnn_shapes, names={"shapes": "cnn_shapes"},
    hints=["A 3×3 convolution without padding trims one pixel on each side; 2×2 max pooling with stride 2 halves "
           "each side, rounding down.",
           "Conv2D outputs (height, width, filters); Flatten multiplies the three; a Dense layer outputs (units,)."],
)

cnn_param_count = AnswerExercise(
    f"{LAB}.cnn_param_count", params=("n",), judge=_judge_cnn_param_count, names={"n": "n_cnn_params"},
    hints=["A Conv2D layer with C_out filters of size f×f over C_in channels has f·f·C_in·C_out weights and C_out "
           "biases.",
           "Use your shapes: the first Dense layer gets (flattened size) inputs; pooling and Flatten have no "
           "parameters."],
)

slide_input_size = AnswerExercise(
    f"{LAB}.slide_input_size", params=("n",), judge=_judge_slide_input_size, names={"n": "slide_side"},
    hints=["Follow one side of the image through the layers, as in `cnn_shapes`.",
           "Work backwards from 6: which side n gives ((n - 2) // 2 - 2) // 2 = 6?"],
)

cnn_accuracy = AnswerExercise(
    f"{LAB}.cnn_accuracy", params=("model", "x_test", "y_test"), judge=_judge_cnn_accuracy,
    names={"model": "cnn_model"},
    hints=["Pass the trained CNN and the held-out test set: prepared images (N, 28, 28, 1) and integer labels.",
           "Below the threshold? Train for more epochs, and check `prepare_images` was applied to both splits."],
)

train_step = AnswerExercise(
    f"{LAB}.train_step", params=("train_step",), judge=_judge_train_step,
    hints=["Inside `with tf.GradientTape() as tape:` run the model on the images and compute the loss.",
           "Then `grads = tape.gradient(loss, model.trainable_variables)`, "
           "`optimizer.apply_gradients(zip(grads, model.trainable_variables))`, and return the loss."],
)

predict_classes = FunctionExercise(
    f"{LAB}.predict_classes", reference=_predict_classes, cases=_predict_cases, rtol=0, atol=0,
    validate=_check_integer("predict_classes"),
    mistakes=[
        Mistake(_probabilities,
                "`predict_classes` returns the probabilities; return the index of the largest one per image"),
        Mistake(lambda model, x: np.argmax(_probabilities(model, x), axis=0),
                "`predict_classes` takes the argmax over the images (axis 0); take it over the 10 classes of each "
                "image (the last axis)"),
        Mistake(lambda model, x: np.max(_probabilities(model, x), axis=-1),
                "`predict_classes` returns the largest probability; return its position (the class), with argmax"),
    ],
    hints=["The model gives 10 probabilities per image; the predicted class is where the largest one is.",
           "`np.argmax(model.predict(x, verbose=0), axis=-1)`."],
)

confusion_matrix = FunctionExercise(
    f"{LAB}.confusion_matrix", reference=_confusion_matrix, cases=_confusion_cases, rtol=0, atol=0,
    validate=_check_integer("confusion_matrix", "counts of images, so start from `np.zeros(..., dtype=int)`"),
    mistakes=[
        Mistake(lambda y_true, y_pred, num_classes=NUM_CLASSES: (_confusion_matrix(y_true, y_pred, num_classes)
                                                                 > 0).astype(np.int64),
                "`confusion_matrix` counts each (true, predicted) pair at most once — as `m[y_true, y_pred] += 1` "
                "on whole arrays does, because fancy indexing does not accumulate repeated pairs. Loop over the "
                "pairs, or use `np.add.at(m, (y_true, y_pred), 1)`"),
        Mistake(lambda y_true, y_pred, num_classes=NUM_CLASSES: _confusion_matrix(y_true, y_pred, num_classes).T,
                "`confusion_matrix` is transposed: row i must count the images whose true label is i, and column "
                "j those predicted as j"),
        Mistake(lambda y_true, y_pred, num_classes=NUM_CLASSES: _confusion_matrix(
                    y_true, y_pred, int(max(np.max(y_true), np.max(y_pred))) + 1),
                "`confusion_matrix` sizes the matrix from the labels it sees; use `num_classes`, so a class that "
                "never appears still gets its row and column"),
        Mistake(lambda y_true, y_pred, num_classes=NUM_CLASSES: _row_fractions(y_true, y_pred, num_classes),
                "`confusion_matrix` divides each row by its total; return the counts"),
    ],
    hints=["Start from a num_classes × num_classes array of zeros; each (true, predicted) pair adds 1 to one cell.",
           "Row = true label, column = prediction: `m[t, p] += 1` for each pair (or `np.add.at`)."],
)

shift_images = FunctionExercise(
    f"{LAB}.shift_images", reference=_shift_images, cases=_shift_cases, rtol=0, atol=0,
    validate=_check_same_dtype,
    mistakes=[
        Mistake(lambda x, dx, dy: np.roll(np.roll(x, dy, axis=1), dx, axis=2),
                "`shift_images` wraps around (like `np.roll`): what leaves one edge comes back at the other; fill "
                "the uncovered pixels with zeros (background) instead"),
        Mistake(lambda x, dx, dy: _shift_images(x, dy, dx),
                "`shift_images` swaps the directions: dx moves the image right (along the columns, axis 2), "
                "dy moves it down (along the rows, axis 1)"),
        Mistake(lambda x, dx, dy: _shift_images(x, -dx, -dy),
                "`shift_images` moves the image the wrong way: a positive dx moves it right, a positive dy down"),
    ],
    hints=["Make an array of zeros the shape of `x`, then copy the part of each image that stays inside.",
           "For dx ≥ 0: `out[:, :, dx:] = x[:, :, :W - dx]`; the rows (dy) work the same on axis 1; handle "
           "negative shifts with the mirror-image slices."],
)

receptive_field = AnswerExercise(
    f"{LAB}.receptive_field", params=("n",), judge=_judge_receptive_field, names={"n": "receptive_field_side"},
    hints=["One unit after the first 3×3 Conv2D sees a 3×3 patch. Pooling 2×2 combines 2×2 of those units.",
           "Track two numbers: the patch side r and the step s between neighbours (in input pixels). A k×k conv: "
           "r += (k - 1)·s. A stride-2 pool: r += (2 - 1)·s, then s doubles."],
)


def _fc_variant(flatten: bool = True, head: str | None = "softmax", input_shape=(IMAGE_SIDE, IMAGE_SIDE, 1)):
    import keras

    layers = [keras.Input(shape=input_shape)]
    if flatten and len(input_shape) > 1:
        layers.append(keras.layers.Flatten())
    layers += [keras.layers.Dense(128, activation="relu"), keras.layers.Dense(NUM_CLASSES, activation=head)]
    return keras.Sequential(layers)


def _row_fractions(y_true, y_pred, num_classes):
    counts = _confusion_matrix(y_true, y_pred, num_classes).astype(np.float64)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


EXERCISES = exercises_in(globals())

# The notebook variables `mitdl grade` passes to each check, where they differ from the exercise's parameters.
ANSWERS = notebook_names(EXERCISES)


def progress():
    """Print this lab's exercises and their last outcome."""
    return _progress(LAB, EXERCISES)
