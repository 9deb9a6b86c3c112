"""Lab 04's training and evaluation plumbing (mitdl_util.facelab): augmentation, balanced batches, probabilities,
the per-epoch history and the bias report."""

from __future__ import annotations

import numpy as np
import pytest

from mitdl_util import facelab


def _images(n=6, side=16, seed=0):
    return np.random.default_rng(seed).random((n, side, side, 3)).astype(np.float32)


def test_augment_flips_and_shifts_without_touching_brightness_or_the_input():
    x = _images()
    before = x.copy()
    out = facelab.augment(x, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert np.array_equal(x, before)  # the training images are never modified
    assert not np.array_equal(out, x)
    # every output pixel is a pixel of the same image: no brightness change, no mixing across images
    for i in range(len(x)):
        assert set(np.unique(out[i])) <= set(np.unique(x[i]))
    # without shifts, each image is itself or its mirror, and both happen
    flipped = facelab.augment(x, np.random.default_rng(2), shift=0)
    kinds = [np.array_equal(f, o) or np.array_equal(f, o[:, ::-1]) for f, o in zip(flipped, x, strict=True)]
    assert all(kinds)
    mirrored = [np.array_equal(f, o[:, ::-1]) for f, o in zip(flipped, x, strict=True)]
    assert 0 < sum(mirrored) < len(x) or len(x) < 4
    # seeded: the same generator state gives the same batch
    assert np.array_equal(facelab.augment(x, np.random.default_rng(5)), facelab.augment(x, np.random.default_rng(5)))


def test_augment_shift_moves_the_image_content():
    x = np.zeros((1, 9, 9, 3), np.float32)
    x[0, 4, 4] = 1.0
    positions = set()
    rng = np.random.default_rng(0)
    for _ in range(50):
        out = facelab.augment(x, rng, shift=2)
        positions.add(tuple(np.argwhere(out[0, ..., 0] == 1.0)[0]))
    assert len(positions) > 5
    assert all(2 <= r <= 6 and 2 <= c <= 6 for r, c in positions)


def test_group_balance_probabilities_give_every_group_the_same_share():
    groups = np.array([True] * 3 + [False] * 97)
    p = facelab.group_balance_probabilities(groups)
    assert p.sum() == pytest.approx(1.0)
    assert p[groups].sum() == pytest.approx(0.5) and p[~groups].sum() == pytest.approx(0.5)


def test_batches_are_half_faces_half_nonfaces_and_follow_the_probabilities():
    rng = np.random.default_rng(0)
    p = np.zeros(50)
    p[:5] = 0.2
    batches = list(facelab._batches(50, 70, p, 16, rng))
    assert len(batches) == (50 + 70) // 16
    for faces, nonfaces in batches:
        assert len(faces) == len(nonfaces) == 8
        assert faces.max() < 5  # zero probability: never drawn
    drawn_nonfaces = np.concatenate([n for _, n in batches])
    assert len(np.unique(drawn_nonfaces)) == 56  # uniform, each at most once per pass


class _BrightnessModel:
    """A fake face detector: "face" when the image is bright. It misses every darkened face."""

    def __call__(self, x, training=False):
        return (np.asarray(x).mean(axis=(1, 2, 3)) - 0.2)[:, None]


def test_bias_report_measures_the_gap_on_light_and_dark_copies():
    from mitdl_util.data.bias import darken

    faces = np.full((4, 8, 8, 3), 0.6, np.float32)
    nonfaces = np.full((4, 8, 8, 3), 0.1, np.float32)
    x = np.concatenate([faces, darken(faces), nonfaces, darken(nonfaces)])
    y = np.r_[np.ones(8), np.zeros(8)].astype(np.uint8)
    groups = np.array((["light"] * 4 + ["dark"] * 4) * 2)
    report = facelab.bias_report(_BrightnessModel(), x, y, groups)
    assert report["light_face_recall"] == 1.0 and report["dark_face_recall"] == 0.0
    assert report["gap"] == 1.0 and report["nonface_accuracy"] == 1.0 and report["accuracy"] == 0.75


def test_noise_floor_is_zero_when_every_group_is_equally_right():
    correct = np.ones(40)
    groups = np.repeat(["a", "b"], 20)
    assert facelab.worst_group_gap(correct, groups) == 0.0
    assert facelab.permutation_floor(correct, groups, n=20).max() == 0.0
    correct[:20] = 0
    assert facelab.worst_group_gap(correct, groups) == 1.0
    assert np.mean(facelab.permutation_floor(correct, groups, n=200)) < 0.5


def test_train_records_what_it_drew_and_how_many_faces_the_probabilities_rely_on():
    import keras

    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 3)).astype(np.float32)
    y = np.r_[np.ones(32), np.zeros(32)].astype(np.uint8)
    minority = np.zeros(64, bool)
    minority[:4] = True  # 4 of the 32 faces
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    uniform = facelab.train(model, x, y, epochs=2, batch_size=16, minority=minority, verbose=False)
    assert len(uniform.loss) == len(uniform.minority_drawn) == len(uniform.effective_faces) == 2
    assert uniform.effective_faces == [32.0, 32.0]
    # all the probability on the minority: every drawn face is a minority face, and 4 faces carry the draw
    only_minority = np.where(minority[:32], 0.25, 0.0)
    skewed = facelab.train(model, x, y, epochs=1, batch_size=16, face_probabilities=only_minority,
                           minority=minority, augment_images=True, verbose=False)
    assert skewed.minority_drawn == [1.0]
    assert skewed.effective_faces[0] == pytest.approx(4.0)
    assert np.isfinite(skewed.loss).all()


def test_train_uses_an_augmentation_function_when_given_one():
    import keras

    rng = np.random.default_rng(0)
    x = rng.random((32, 8, 8, 3)).astype(np.float32)
    y = np.r_[np.ones(16), np.zeros(16)].astype(np.uint8)
    seen = []

    def blank_out(images, generator):
        assert isinstance(generator, np.random.Generator)
        seen.append(images.shape)
        return np.zeros_like(images)  # the model must train on what this returns

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    kernel = model.layers[-1].get_weights()[0].copy()
    facelab.train(model, x, y, epochs=2, batch_size=16, augment_images=blank_out, verbose=False)
    assert seen == [(16, 8, 8, 3)] * 4  # every batch of both epochs
    # trained on blank images only, the kernel gets no gradient; trained on the images themselves, it moves
    assert np.array_equal(model.layers[-1].get_weights()[0], kernel)
    facelab.train(model, x, y, epochs=1, batch_size=16, verbose=False)
    assert not np.array_equal(model.layers[-1].get_weights()[0], kernel)


def test_latent_from_original_encodes_the_original_batch_and_classifies_and_rebuilds_the_augmented_one():
    import keras
    import tensorflow as tf

    class Tiny(keras.Model):  # the DB-VAE's interface: encode -> (logit, mu, logsigma); call adds a reconstruction
        def __init__(self):
            super().__init__()
            self.enc, self.dec = keras.layers.Dense(5), keras.layers.Dense(8 * 8 * 3)

        def encode(self, x, training=False):
            out = self.enc(keras.ops.reshape(x, (-1, 8 * 8 * 3)))
            return out[:, :1], out[:, 1:3], out[:, 3:]

        def call(self, x, training=False):
            logit, mu, logsigma = self.encode(x)
            return logit, mu, logsigma, keras.ops.reshape(self.dec(mu), (-1, 8, 8, 3))

    # what the loss got: the reconstruction target's mean, the spread over the batch of the logits and of mu
    seen = tf.Variable([0.0, 0.0, 0.0])

    def loss_fn(x, recon, y, y_logit, mu, logsigma):
        seen.assign(tf.stack([tf.reduce_mean(x), tf.math.reduce_std(y_logit), tf.reduce_mean(tf.math.reduce_std(mu, axis=0))]))
        y = tf.reshape(y, [-1])
        class_loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=tf.reshape(y_logit, [-1]))
        return class_loss + tf.reduce_mean(tf.abs(x - recon), axis=(1, 2, 3)), class_loss

    rng = np.random.default_rng(0)
    x = (0.5 + 0.5 * rng.random((32, 8, 8, 3))).astype(np.float32)
    y = np.r_[np.ones(16), np.zeros(16)].astype(np.uint8)
    blank = lambda images, generator: np.zeros_like(images)  # noqa: E731
    keras.utils.set_random_seed(0)
    model = Tiny()
    facelab.train(model, x, y, epochs=1, batch_size=16, loss_fn=loss_fn, augment_images=blank,
                  latent_from_original=True, verbose=False)
    target_mean, logit_spread, mu_spread = seen.numpy()
    assert target_mean == 0.0  # the reconstruction target is the augmented (blanked) batch ...
    assert logit_spread == pytest.approx(0.0, abs=1e-6)  # ... so is the classified one (one logit for all) ...
    assert mu_spread > 1e-3  # ... while mu comes from the photos themselves
    facelab.train(model, x, y, epochs=1, batch_size=16, loss_fn=loss_fn, augment_images=blank, verbose=False)
    assert seen.numpy()[2] == pytest.approx(0.0, abs=1e-6)  # without it, mu comes from the blanked batch too


def test_cosine_decay_brings_the_learning_rate_from_its_start_to_zero_over_all_steps(monkeypatch):
    import keras

    made = []
    adam = keras.optimizers.Adam

    def spy(rate, *args, **kwargs):
        made.append(rate)
        return adam(rate, *args, **kwargs)

    monkeypatch.setattr(keras.optimizers, "Adam", spy)
    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8, 3)).astype(np.float32)
    y = np.r_[np.ones(20), np.zeros(20)].astype(np.uint8)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    facelab.train(model, x, y, epochs=3, batch_size=16, learning_rate=1e-3, cosine_decay=True, verbose=False)
    facelab.train(model, x, y, epochs=3, batch_size=16, learning_rate=1e-3, verbose=False)
    schedule, constant = made
    steps = 3 * (40 // 16)  # 3 epochs of 2 batches
    assert float(schedule(0)) == pytest.approx(1e-3)
    assert float(schedule(steps // 2)) == pytest.approx(0.5e-3, rel=0.2)
    assert float(schedule(steps)) == pytest.approx(0.0, abs=1e-9)
    assert constant == 1e-3


def _linear_problem(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((40, 8, 8, 3)).astype(np.float32)
    y = np.r_[np.ones(20), np.zeros(20)].astype(np.uint8)
    return x, y


def test_weight_average_ends_on_the_optimizers_moving_average_of_the_same_trajectory(monkeypatch):
    import keras

    made = []
    adam = keras.optimizers.Adam

    def spy(*args, **kwargs):
        made.append(adam(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(keras.optimizers, "Adam", spy)
    x, y = _linear_problem()

    def model():
        keras.utils.set_random_seed(3)
        return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])

    last_step, averaged = model(), model()
    assert all(np.array_equal(a, b) for a, b in zip(last_step.get_weights(), averaged.get_weights(), strict=True))
    facelab.train(last_step, x, y, epochs=4, batch_size=16, learning_rate=1e-2, seed=1, verbose=False)
    facelab.train(averaged, x, y, epochs=4, batch_size=16, learning_rate=1e-2, seed=1, weight_average=0.9,
                  verbose=False)
    plain, ema = made
    assert not plain.use_ema and ema.use_ema and ema.ema_momentum == pytest.approx(0.9)
    # the averaging does not change the steps taken (same seed, same batches), only which weights the model keeps:
    # the moving average the optimizer kept, not the last step's weights
    averages = [np.asarray(v) for v in ema._model_variables_moving_average]
    for kept, average, last in zip(averaged.get_weights(), averages, last_step.get_weights(), strict=True):
        assert np.allclose(kept, average)
        assert not np.allclose(kept, last)
        assert np.abs(kept - last).max() < 0.5  # an average of nearby weights, not something else


def test_weight_average_recomputes_batchnorm_statistics_for_the_averaged_weights():
    import keras

    x = np.full((40, 8, 8, 3), 5.0, np.float32)
    y = np.r_[np.ones(20), np.zeros(20)].astype(np.uint8)

    def model():
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.BatchNormalization(momentum=0.9),
                                 keras.layers.Flatten(), keras.layers.Dense(1)])

    plain, averaged = model(), model()
    facelab.train(plain, x, y, epochs=1, batch_size=16, verbose=False)  # 2 steps: moving mean 5 × (1 − 0.9²)
    facelab.train(averaged, x, y, epochs=1, batch_size=16, weight_average=0.5, verbose=False)
    mean = lambda m: np.asarray(m.layers[0].moving_mean)  # noqa: E731
    assert mean(plain) == pytest.approx(np.full(3, 0.95), rel=1e-3)
    assert mean(averaged) == pytest.approx(np.full(3, 5.0), rel=0.01)  # 50 more batches in training mode


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_weight_average_outside_zero_to_one_is_refused_before_training(bad):
    import keras

    x, y = _linear_problem()
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="weight_average must be in"):
        facelab.train(model, x, y, epochs=1, batch_size=16, weight_average=bad, verbose=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_epoch_end_sees_the_model_after_every_epoch():
    import keras

    x, y = _linear_problem()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    seen = []
    facelab.train(model, x, y, epochs=3, batch_size=16, verbose=False,
                  epoch_end=lambda epoch, m: seen.append((epoch, m, m.get_weights()[1].copy())))
    assert [e for e, _, _ in seen] == [1, 2, 3] and all(m is model for _, m, _ in seen)
    assert not np.array_equal(seen[0][2], seen[1][2])  # called between epochs, with the weights of that moment
    assert np.array_equal(seen[-1][2], model.get_weights()[1])


def _faces_with_minority(n_faces=64, n_minority=8):
    """n_faces random "faces" (the first n_minority of them the minority) and as many non-faces."""
    rng = np.random.default_rng(0)
    x = rng.random((2 * n_faces, 8, 8, 3)).astype(np.float32)
    y = np.r_[np.ones(n_faces), np.zeros(n_faces)].astype(np.uint8)
    minority = np.zeros(2 * n_faces, bool)
    minority[:n_minority] = True
    return x, y, minority


def _latent_model():
    """A linear face classifier with an ``encode`` whose latent means are two pixels: enough for probability_fn."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.encode = lambda images: (model(images), np.asarray(images).reshape(len(images), -1)[:, :2])
    return model


def test_updates_per_epoch_recomputes_the_probabilities_within_an_epoch():
    x, y, minority = _faces_with_minority()  # 8 of the 64 faces
    calls = []

    def alternate(mu):  # all the probability on the minority, then none of it, then all of it again...
        calls.append(len(mu))
        on = len(calls) % 2 == 1
        return np.where(minority[:64] == on, 1.0, 0.0)

    def run(updates):
        calls.clear()
        return facelab.train(_latent_model(), x, y, epochs=2, batch_size=16, probability_fn=alternate,
                             minority=minority, updates_per_epoch=updates, verbose=False)

    once = run(1)  # 8 steps per epoch; once per epoch: the minority in epoch 1, the others in epoch 2
    assert len(calls) == 2 and calls[0] == 64
    assert once.minority_drawn == [1.0, 0.0] and once.minority_probability == [1.0, 0.0]
    four = run(4)  # every 2 steps, alternating: half of each epoch's draws are minority faces
    assert len(calls) == 8
    assert four.minority_drawn == [0.5, 0.5] and four.minority_probability == [0.5, 0.5]
    assert four.effective_faces == [pytest.approx(32.0)] * 2  # mean of 8 (minority) and 56 (the others)


@pytest.mark.parametrize("bad", [0, 3])
def test_updates_per_epoch_outside_one_to_the_steps_of_an_epoch_is_refused(bad):
    import keras

    x, y = _linear_problem()
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="updates_per_epoch must be between 1 and the"):
        facelab.train(model, x, y, epochs=1, batch_size=16, updates_per_epoch=bad, verbose=False)


def test_uniform_share_keeps_that_share_of_the_face_draws_uniform():
    x, y, minority = _faces_with_minority()  # 8 of the 64 faces

    def run(share):
        return facelab.train(_latent_model(), x, y, epochs=3, batch_size=16, minority=minority, uniform_share=share,
                             probability_fn=lambda mu: np.where(minority[:64], 1.0, 0.0), verbose=False)

    assert run(0.0).minority_probability == [1.0] * 3
    mixed = run(0.5)  # half the draws on the 8 minority faces, half uniform over all 64 (of which 8 minority)
    assert mixed.minority_probability == [pytest.approx(0.5 + 0.5 * 8 / 64)] * 3
    assert mixed.probabilities.min() == pytest.approx(0.5 / 64)  # every face can be drawn
    assert 0.45 < np.mean(mixed.minority_drawn) < 0.68
    assert run(1.0).minority_probability == [pytest.approx(8 / 64)] * 3  # uniform


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_uniform_share_outside_zero_to_one_is_refused(bad):
    import keras

    x, y = _linear_problem()
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="uniform_share must be in"):
        facelab.train(model, x, y, epochs=1, batch_size=16, uniform_share=bad, verbose=False)
