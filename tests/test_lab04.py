"""Lab 04 checks: the solutions pass; known-wrong answers are rejected with a message that says what is wrong;
junk never crashes a check; the bias benchmarks are deterministic and keep their minority small."""

from __future__ import annotations

import numpy as np
import pytest

from mitdl_util.checks import lab04 as q
from tests.exercise_tables import exercise_table_tests

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


# ---------------------------------------------------------------- the lab's solutions, written as a student would
def build_face_classifier(input_shape=(64, 64, 3), n_filters=12, n_outputs=1, momentum=0.9):
    """The functional API, as a student might write it."""
    conv = dict(strides=2, padding="same", activation="relu")
    inputs = keras.Input(shape=input_shape)
    h = inputs
    for factor, size in ((1, 5), (2, 5), (4, 3), (6, 3)):
        h = keras.layers.BatchNormalization(momentum=momentum)(keras.layers.Conv2D(factor * n_filters, size, **conv)(h))
    h = keras.layers.Dense(512, activation="relu")(keras.layers.Flatten()(h))
    return keras.Model(inputs, keras.layers.Dense(n_outputs)(h))


def _ignores_n_outputs(input_shape=(64, 64, 3), n_filters=12, n_outputs=1):
    return build_face_classifier(input_shape, n_filters, 1)


def _np_sampling(z_mean, z_logsigma):
    z_mean = np.asarray(z_mean)
    return z_mean + np.exp(0.5 * np.asarray(z_logsigma)) * np.random.standard_normal(z_mean.shape)


def _np_vae_loss(x, x_recon, mu, logsigma, kl_weight=0.0005):
    x, x_recon, mu, logsigma = (np.asarray(a) for a in (x, x_recon, mu, logsigma))
    kl = 0.5 * np.sum(np.exp(logsigma) + mu ** 2 - 1 - logsigma, axis=1)
    return kl_weight * kl + np.mean(np.abs(x - x_recon), axis=(1, 2, 3))


def build_decoder(latent_dim, n_filters=12):
    up = dict(strides=2, padding="same", activation="relu")
    return keras.Sequential([
        keras.Input(shape=(latent_dim,)),
        keras.layers.Dense(4 * 4 * 6 * n_filters, activation="relu"),
        keras.layers.Reshape((4, 4, 6 * n_filters)),
        keras.layers.Conv2DTranspose(4 * n_filters, 3, **up),
        keras.layers.Conv2DTranspose(2 * n_filters, 3, **up),
        keras.layers.Conv2DTranspose(n_filters, 5, **up),
        keras.layers.Conv2DTranspose(3, 5, strides=2, padding="same", activation="sigmoid"),
    ])


def group_accuracy(y_true, y_pred, groups):
    return {g: np.mean(y_pred[groups == g] == y_true[groups == g]) for g in np.unique(groups)}


def sampling(z_mean, z_logsigma):
    eps = tf.random.normal(shape=tf.shape(z_mean))
    return z_mean + tf.math.exp(0.5 * z_logsigma) * eps


def vae_loss(x, x_recon, mu, logsigma, kl_weight=0.0005):
    latent = 0.5 * tf.reduce_sum(tf.exp(logsigma) + tf.square(mu) - 1.0 - logsigma, axis=1)
    reconstruction = tf.reduce_mean(tf.abs(x - x_recon), axis=(1, 2, 3))
    return kl_weight * latent + reconstruction


def debiasing_loss(x, x_pred, y, y_logit, mu, logsigma):
    y = tf.reshape(tf.cast(y, tf.float32), [-1])
    y_logit = tf.reshape(y_logit, [-1])
    class_loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=y_logit)
    face = tf.cast(tf.equal(y, 1), tf.float32)
    return tf.reduce_mean(class_loss + face * vae_loss(x, x_pred, mu, logsigma)), class_loss


def sample_probabilities(mu, bins=10, smoothing_fac=0.001, combine="max"):
    logs = np.zeros(mu.shape)
    for i in range(mu.shape[1]):
        density, edges = np.histogram(mu[:, i], bins=bins, density=True)
        which = np.clip(np.searchsorted(edges, mu[:, i], side="right") - 1, 0, bins - 1)
        smoothed = (density + smoothing_fac) / np.sum(density + smoothing_fac)
        p = 1 / smoothed[which]
        logs[:, i] = np.log(p / p.sum())
    w = logs.max(axis=1) if combine == "max" else logs.sum(axis=1)
    w = np.exp(w - w.max())
    return w / w.sum()


class DB_VAE(keras.Model):
    def __init__(self, latent_dim, n_filters=12):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = build_face_classifier(n_filters=n_filters, n_outputs=2 * latent_dim + 1)
        self.decoder = build_decoder(latent_dim, n_filters)

    def encode(self, x):
        out = self.encoder(x)
        d = self.latent_dim
        return out[:, :1], out[:, 1:d + 1], out[:, d + 1:]

    def decode(self, z):
        return self.decoder(z)

    def call(self, x):
        y_logit, mu, logsigma = self.encode(x)
        return y_logit, mu, logsigma, self.decode(sampling(mu, logsigma))


class OverlapVAE(DB_VAE):
    def encode(self, x):
        out = self.encoder(x)
        d = self.latent_dim
        return out[:, :1], out[:, 1:d + 1], out[:, d:2 * d]


class SwappedVAE(DB_VAE):
    def encode(self, x):
        out = self.encoder(x)
        d = self.latent_dim
        return out[:, :1], out[:, d + 1:], out[:, 1:d + 1]


class MeanDecodingVAE(DB_VAE):
    def call(self, x):
        y_logit, mu, logsigma = self.encode(x)
        return y_logit, mu, logsigma, self.decode(mu)


class ThreeOutputVAE(DB_VAE):
    def call(self, x):
        y_logit, mu, logsigma = self.encode(x)
        return y_logit, mu, self.decode(sampling(mu, logsigma))


SOLUTIONS = {
    "build_face_classifier": (build_face_classifier,),
    "group_accuracy": (group_accuracy,),
    "sampling": (sampling,),
    "vae_loss": (vae_loss,),
    "debiasing_loss": (debiasing_loss,),
    "build_decoder": (build_decoder,),
    "DB_VAE": (DB_VAE,),
    "sample_probabilities": (sample_probabilities,),
}


# ---------------------------------------------------------------- known-wrong answers
def _vae(recon="l1", kl_sign=1.0, weight_on="kl", kl="sum"):
    def loss(x, x_recon, mu, logsigma, kl_weight=0.0005):
        variance = tf.exp(0.5 * logsigma) if kl == "sigma" else tf.exp(logsigma)  # "sigma": σ where σ² belongs
        reduce = tf.reduce_mean if kl == "mean" else tf.reduce_sum
        kl_term = kl_sign * 0.5 * reduce(variance + mu ** 2 - 1 - logsigma, axis=1)
        if recon == "l1":
            rec = tf.reduce_mean(tf.abs(x - x_recon), axis=(1, 2, 3))
        elif recon == "batch":
            rec = tf.reduce_mean(tf.abs(x - x_recon))
        else:
            rec = tf.reduce_mean(tf.square(x - x_recon), axis=(1, 2, 3))
        return kl_weight * kl_term + rec if weight_on == "kl" else kl_term + rec
    return loss


def _textbook_kl_without_minus(x, x_recon, mu, logsigma, kl_weight=0.0005):
    kl = 0.5 * tf.reduce_sum(1 + logsigma - mu ** 2 - tf.exp(logsigma), axis=1)
    return kl_weight * kl + tf.reduce_mean(tf.abs(x - x_recon), axis=(1, 2, 3))


def _lecture_debiasing(x, x_pred, y, y_logit, mu, logsigma):  # the slide's code: B×B broadcast
    vae = vae_loss(x, x_pred, mu, logsigma)
    class_loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(y, tf.float32), logits=y_logit)
    face = tf.cast(tf.equal(y, 1), tf.float32)
    return tf.reduce_mean(class_loss + face * vae), class_loss


def _broadcast_unreduced(x, x_pred, y, y_logit, mu, logsigma):
    vae = vae_loss(x, x_pred, mu, logsigma)
    class_loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(y, tf.float32), logits=y_logit)
    return class_loss + tf.cast(tf.equal(y, 1), tf.float32) * vae, class_loss


def _vae_for_all(x, x_pred, y, y_logit, mu, logsigma):
    y, y_logit = tf.reshape(tf.cast(y, tf.float32), [-1]), tf.reshape(y_logit, [-1])
    class_loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=y_logit)
    return class_loss + vae_loss(x, x_pred, mu, logsigma), class_loss


def _probabilities(variant):
    def probabilities(mu, bins=10, smoothing_fac=0.001, combine="max"):
        if variant == "whole":
            density, edges = np.histogram(mu, bins=bins, density=True)
            which = np.clip(np.searchsorted(edges, mu, side="right") - 1, 0, bins - 1)
            smoothed = (density + smoothing_fac) / np.sum(density + smoothing_fac)
            p = 1 / smoothed[which]
            p = p / p.sum(axis=0)
            w = p.max(axis=1) if combine == "max" else np.prod(p, axis=1)
            return w / w.sum()
        per_dim = []
        for i in range(mu.shape[1]):
            density, edges = np.histogram(mu[:, i], bins=bins, density=True)
            which = np.clip(np.searchsorted(edges, mu[:, i], side="right") - 1, 0, bins - 1)
            smoothed = (density + smoothing_fac) / np.sum(density + smoothing_fac)
            p = 1 / smoothed[which]
            per_dim.append(p / p.sum())
        p = np.stack(per_dim, axis=1)
        if variant == "unnormalized":
            return p.max(axis=1) if combine == "max" else np.exp(np.log(p).sum(axis=1))
        if variant == "naive_product":  # the known mistake: the product underflows to 0, and 0 / 0 is NaN
            w = p.max(axis=1) if combine == "max" else np.prod(p, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                return w / w.sum()
        if variant == "always_max":
            w = p.max(axis=1)
            return w / w.sum()
        raise ValueError(variant)
    return probabilities


def _classifier_with_sigmoid(input_shape=(64, 64, 3), n_filters=12):
    model = q.REFERENCES["build_face_classifier"](input_shape, n_filters)
    return keras.Sequential([keras.Input(shape=input_shape), *model.layers[:-1], keras.layers.Dense(1, "sigmoid")])


def _classifier_without_strides(input_shape=(64, 64, 3), n_filters=12):
    layers = []
    for filters, size in ((n_filters, 5), (2 * n_filters, 5), (4 * n_filters, 3), (6 * n_filters, 3)):
        layers += [keras.layers.Conv2D(filters, size, padding="same", activation="relu"),
                   keras.layers.BatchNormalization()]
    return keras.Sequential([keras.Input(shape=input_shape), *layers, keras.layers.Flatten(),
                             keras.layers.Dense(512, activation="relu"), keras.layers.Dense(1)])


def _decoder_relu(latent_dim, n_filters=12):
    model = build_decoder(latent_dim, n_filters)
    return keras.Sequential([keras.Input(shape=(latent_dim,)), *model.layers[:-1],
                             keras.layers.Conv2DTranspose(3, 5, strides=2, padding="same", activation="relu")])


def _decoder_no_strides(latent_dim, n_filters=12):
    return keras.Sequential([
        keras.Input(shape=(latent_dim,)), keras.layers.Dense(4 * 4 * 6 * n_filters, activation="relu"),
        keras.layers.Reshape((4, 4, 6 * n_filters)),
        *[keras.layers.Conv2DTranspose(f, k, padding="same", activation="relu")
          for f, k in ((4 * n_filters, 3), (2 * n_filters, 3), (n_filters, 5))],
        keras.layers.Conv2DTranspose(3, 5, padding="same", activation="sigmoid")])


WRONG = [
    ("build_face_classifier", (_classifier_with_sigmoid,), "output the raw logit"),
    ("build_face_classifier", (_classifier_without_strides,), "strides"),
    ("build_face_classifier", (lambda input_shape=(64, 64, 3), n_filters=12: build_face_classifier((64, 64, 3), 12),),
     "expected (None, 32, 32, 3)"),
    ("group_accuracy", (lambda t, p, g: {k: np.mean(p == t) for k in np.unique(g)},), "overall accuracy"),
    ("group_accuracy", (lambda t, p, g: {k: np.sum((p == t) & (g == k)) for k in np.unique(g)},), "counts"),
    ("group_accuracy", (lambda t, p, g: {k: np.sum((p == t) & (g == k)) / len(g) for k in np.unique(g)},),
     "whole test set"),
    ("group_accuracy", (lambda t, p, g: {k: np.mean(p[g == k] != t[g == k]) for k in np.unique(g)},), "error rates"),
    ("group_accuracy", (lambda t, p, g: np.mean(p == t),), "expected a dict"),
    ("sampling", (lambda m, s: m + tf.exp(s) * tf.random.normal(tf.shape(m)),), "exp(0.5 · z_logsigma)"),
    ("sampling", (lambda m, s: m + s * tf.random.normal(tf.shape(m)),), "z_logsigma itself"),
    ("sampling", (lambda m, s: m + tf.exp(0.5 * s) * tf.random.normal(tf.shape(m)[1:]),), "same ε for every sample"),
    ("sampling", (lambda m, s: m,), "without noise"),
    ("sampling", (lambda m, s: m + tf.exp(0.5 * s) * tf.random.uniform(tf.shape(m)),), "standard normal"),
    ("vae_loss", (_vae(kl_sign=-1.0),), "wrong sign"),
    ("vae_loss", (_vae(kl="mean"),), "averages the KL term over the latent dimensions"),
    ("vae_loss", (_vae(kl="sigma"),), "needs the variance σ²"),
    ("vae_loss", (_np_vae_loss,), "fails inside `tf.function`"),
    ("sampling", (_np_sampling,), "fails inside `tf.function`"),
    ("build_face_classifier", (lambda input_shape=(64, 64, 3), n_filters=12, n_outputs=1:
                               build_face_classifier(input_shape, n_filters, n_outputs, momentum=0.99),),
     "momentum=0.99"),
    ("build_face_classifier", (_ignores_n_outputs,), "ignores `n_outputs`"),
    ("build_face_classifier", (build_face_classifier(),), "pass the function itself"),
    ("vae_loss", (_textbook_kl_without_minus,), "wrong sign"),
    ("vae_loss", (_vae(recon="batch"),), "whole batch"),
    ("vae_loss", (_vae(recon="l2"),), "squared error"),
    ("vae_loss", (_vae(weight_on="none"),), "ignores `kl_weight`"),
    ("vae_loss", (lambda x, xr, mu, ls, kl_weight=0.0005: tf.reduce_mean(_vae()(x, xr, mu, ls, kl_weight)),),
     "shape ()"),
    ("debiasing_loss", (_lecture_debiasing,), "B×B"),
    ("debiasing_loss", (_broadcast_unreduced,), "B×B"),
    ("debiasing_loss", (_vae_for_all,), "face indicator"),
    ("debiasing_loss", (lambda *a: debiasing_loss(*a)[0],), "expected a pair"),
    ("build_decoder", (_decoder_relu,), "sigmoid"),
    ("build_decoder", (_decoder_no_strides,), "strides=(1, 1)"),
    ("DB_VAE", (OverlapVAE,), "without overlap"),
    ("DB_VAE", (SwappedVAE,), "log-variances as `z_mean`"),
    ("DB_VAE", (MeanDecodingVAE,), "*sampled* z"),
    ("DB_VAE", (ThreeOutputVAE,), "four outputs"),
    ("DB_VAE", (DB_VAE(4),), "not an instance"),
    ("sample_probabilities", (_probabilities("whole"),), "one histogram over the whole latent"),
    ("sample_probabilities", (_probabilities("unnormalized"),), "sum to"),
    ("sample_probabilities", (_probabilities("naive_product"),), "underflows"),
    ("sample_probabilities", (_probabilities("always_max"),), "ignores `combine`"),
]


test_solution_passes, test_known_wrong_answer_is_rejected, test_enough_known_wrong_answers, \
    test_untouched_stub_is_not_attempted = exercise_table_tests(q, SOLUTIONS, WRONG, tested_elsewhere=("face_accuracy",))


def test_db_vae_with_stub_methods_is_not_attempted():
    class Stub(DB_VAE):
        def encode(self, x):
            raise NotImplementedError("TODO: encode")

    assert q.DB_VAE.evaluate(Stub).status == "not_attempted"


def _blob_faces(rng, n=60):
    """Tiny separable data: bright-centre 'faces' vs dark-centre 'non-faces' (for face_accuracy's plumbing)."""
    x = rng.random((2 * n, 64, 64, 3)).astype(np.float32) * 0.5
    x[:n, 16:48, 16:48] += 0.5
    y = np.r_[np.ones(n), np.zeros(n)].astype(np.uint8)
    return x, y


@pytest.fixture
def blob_split(monkeypatch):
    """The check judges on the split it loads itself; here, tiny separable blobs."""
    from mitdl_util.data.loaders import Faces

    rng = np.random.default_rng(0)
    x_train, y_train = _blob_faces(rng)
    x_test, y_test = _blob_faces(rng)
    monkeypatch.setattr(q, "held_out_faces", lambda: Faces(x_train, y_train, x_test, y_test, source="faces-ccby"))
    return x_train, y_train, x_test, y_test


def test_face_accuracy_measures_the_model_itself(blob_split):
    x_train, y_train, x, y = blob_split
    keras.utils.set_random_seed(0)
    model = q.REFERENCES["build_face_classifier"](n_filters=4)
    untrained = q.face_accuracy.evaluate(model, x, y)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(x_train, y_train, epochs=6, batch_size=20, verbose=0)
    assert q.face_accuracy.evaluate(model, x, y), "a model that separates the blobs should pass"
    assert untrained.status == "incorrect" and "balanced accuracy" in untrained.message
    assert "expected shape (N, 64, 64, 3)" in q.face_accuracy.evaluate(model, x[..., :1], y).message
    assert "in [0, 1]" in q.face_accuracy.evaluate(model, x * 255, y).message
    assert "not the lab's held-out test set" in q.face_accuracy.evaluate(model, x[:30], y[:30]).message
    assert "labels 0" in q.face_accuracy.evaluate(model, x, y * 3).message
    assert "trained `keras.Model`" in q.face_accuracy.evaluate(0.97, x, y).message


def test_face_accuracy_rejects_the_training_set_and_subsets(blob_split):
    """Issue 14: the check accepted the *training* set — the lecture's mistake the lab warns about."""
    x_train, y_train, x, y = blob_split
    model = q.REFERENCES["build_face_classifier"](n_filters=4)
    for images, labels in ((x_train, y_train), (x_train[:50], y_train[:50]), (np.r_[x[:10], x_train[:70]],
                                                                             np.r_[y[:10], y_train[:70]])):
        result = q.face_accuracy.evaluate(model, images, labels)
        assert result.status == "incorrect" and "training images" in result.message, result.message
    for images, labels in ((x[1:], y[1:]), (x[::2], y[::2])):
        result = q.face_accuracy.evaluate(model, images, labels)
        assert result.status == "incorrect" and "not the lab's held-out test set" in result.message, result.message
    assert "not the labels" in q.face_accuracy.evaluate(model, x, 1 - y).message


def test_face_accuracy_loads_the_labs_own_test_set():
    """Without monkeypatching: the held-out set is the notebook's `load_faces(seed=0)` test split."""
    from mitdl_util.data import load_faces

    faces = load_faces(seed=0, verbose=False)
    held_out = q.held_out_faces()
    assert np.array_equal(held_out.x_test, faces.x_test) and np.array_equal(held_out.y_test, faces.y_test)
    model = q.REFERENCES["build_face_classifier"](n_filters=4)
    result = q.face_accuracy.evaluate(model, faces.x_train, faces.y_train)
    assert result.status == "incorrect" and "training images" in result.message, result.message


def test_reference_db_vae_passes_its_own_check():
    assert q.DB_VAE.evaluate(q.reference_db_vae_class())


def test_product_in_log_space_matches_the_plain_product_where_it_does_not_underflow():
    mu = np.random.default_rng(1).normal(size=(50, 3))
    p = q._inverse_densities(mu, 10, 0.001)
    plain = p.prod(axis=1) / p.prod(axis=1).sum()
    assert np.allclose(q._sample_probabilities(mu, combine="product"), plain)
    assert np.isclose(q._sample_probabilities(mu).sum(), 1.0)


def test_rare_latent_values_get_higher_probability():
    mu = np.random.default_rng(2).normal(size=(400, 2))
    mu[:5, 1] = 6.0
    for combine in ("max", "product"):
        p = q._sample_probabilities(mu, combine=combine)
        assert p[:5].min() > np.median(p) * 5


# ---------------------------------------------------------------- the bias benchmarks
def test_illumination_benchmark_is_deterministic_and_keeps_the_minority_small():
    from mitdl_util.data import bias

    a = bias.load_illumination_bias(seed=3, source="lfw_subset", verbose=False)
    b = bias.load_illumination_bias(seed=3, source="lfw_subset", verbose=False)
    c = bias.load_illumination_bias(seed=4, source="lfw_subset", verbose=False)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.x_test, b.x_test)
    assert np.array_equal(a.minority_train, b.minority_train)
    assert not np.array_equal(a.x_train, c.x_train)
    faces = a.y_train == 1
    assert 0 < a.minority_train[faces].mean() <= 0.10
    assert not a.minority_train[~faces].any()
    dark_nonfaces = (a.groups_train == "dark") & ~faces
    assert dark_nonfaces.sum() / (~faces).sum() >= 0.4  # "dark" predicts "non-face" in training
    # every test image appears as it is and darkened
    for pair in np.unique(a.pair_test):
        idx = np.flatnonzero(a.pair_test == pair)
        assert sorted(a.groups_test[idx]) == ["dark", "light"]
        light, dark = idx[a.groups_test[idx] == "light"][0], idx[a.groups_test[idx] == "dark"][0]
        assert np.allclose(a.x_test[dark], bias.darken(a.x_test[light]))
    with pytest.raises(ValueError):
        bias.load_illumination_bias(seed=0, source="lfw_subset", minority_share=0.2, verbose=False)


def test_race_split_keeps_rare_groups_rare_and_the_test_set_balanced():
    from mitdl_util.data import bias

    try:
        data = bias.load_race_split(seed=0, verbose=False)
    except Exception as exc:  # faces-ccby is absent for users
        pytest.skip(str(exc))
    again = bias.load_race_split(seed=0, verbose=False)
    assert np.array_equal(data.x_train, again.x_train)
    faces = data.y_train == 1
    assert 0.03 <= data.minority_train[faces].mean() <= 0.07
    groups, counts = np.unique(data.groups_test[data.y_test == 1], return_counts=True)
    assert len(groups) == 7 and set(counts) == {bias.TEST_PER_GROUP}


# ---------------------------------------------------------------- the lab quotes the script's tables, not old ones
DISCUSSION_ROWS = {
    "standard CNN": "standard",
    "DB-VAE loss, no resampling": "dbvae-uniform",
    'DB-VAE, `"max"`, 32 dims': "dbvae-max",
    'DB-VAE, `"product"`, smoothing 1.0': "dbvae-product",
    "oversampling with the true labels": "oversample",
}


def test_the_discussion_quotes_the_current_benchmark_tables(repo_root):
    """Do the gaps and reductions in the solution's discussion match benchmarks/lab04_bias.json? (Rerunning the
    script with another recipe must come with an updated discussion.)"""
    import json
    import re

    import nbformat

    results = json.loads((repo_root / "benchmarks" / "lab04_bias.json").read_text("utf-8"))["experiment2"]
    rows = results["rows"]
    nb = nbformat.read(repo_root / "solutions" / "04_facial_detection.ipynb", as_version=4)
    discussion = next(c.source for c in nb.cells if c.cell_type == "markdown" and "### Discussion" in c.source)
    base = {r["seed"]: r["gap"] for r in rows if r["method"] == "standard"}
    for label, method in DISCUSSION_ROWS.items():
        line = next((ln for ln in discussion.splitlines() if ln.startswith("| " + label)), None)
        assert line is not None, f"the discussion has no row for {label!r}"
        gaps = np.asarray([r["gap"] for r in rows if r["method"] == method])
        mean, sd = re.search(r"\| (-?[\d.]+) ± ([\d.]+) \|", line).groups()
        assert float(mean) == pytest.approx(gaps.mean(), abs=0.006), line
        assert float(sd) == pytest.approx(gaps.std(ddof=1), abs=0.006), line
        reduction = re.search(r"\| (\d+) % \|$", line)
        if reduction:
            expected = np.mean([1 - r["gap"] / base[r["seed"]] for r in rows if r["method"] == method])
            assert int(reduction.group(1)) == round(100 * expected), line


def test_the_discussion_says_what_the_lectures_smoothing_costs(repo_root):
    """The product with smoothing 0.001 no longer collapses once a fifth of the draws is uniform; the discussion
    gives its gap, its reduction and the light-face recall it loses, from lab04_bias.json."""
    import json
    import re

    rows = json.loads((repo_root / "benchmarks" / "lab04_bias.json").read_text("utf-8"))["experiment2"]["rows"]
    base = {r["seed"]: r for r in rows if r["method"] == "standard"}
    sharp = [r for r in rows if r["method"] == "dbvae-product-s0.001"]
    line = next(ln for ln in _prose(repo_root, "### Discussion").splitlines()
                if ln.startswith('| DB-VAE, `"product"`, smoothing 0.001'))
    lost, mean, sd, reduction = re.search(r"loses (\d+) points of light-face recall\) \| ([\d.]+) ± ([\d.]+) \| (\d+) % \|",
                                          line).groups()
    gaps = np.asarray([r["gap"] for r in sharp])
    assert (float(mean), float(sd)) == pytest.approx((gaps.mean(), gaps.std(ddof=1)), abs=0.006)
    assert int(reduction) == round(100 * np.mean([1 - r["gap"] / base[r["seed"]]["gap"] for r in sharp]))
    light = np.mean([base[r["seed"]]["light_face_recall"] - r["light_face_recall"] for r in sharp])
    assert int(lost) == round(100 * light)
    text = " ".join(_prose(repo_root, "Which way of combining dimensions?").split())
    assert f"it finds {int(lost)} points fewer of the light faces" in text
    assert max(round(r["effective_faces"][-1]) for r in sharp) <= 2 and "on one or two faces" in text


def test_the_discussion_quotes_how_many_dark_faces_the_standard_cnn_finds(repo_root):
    import json

    rows = json.loads((repo_root / "benchmarks" / "lab04_bias.json").read_text("utf-8"))["experiment2"]["rows"]
    dark = [100 * r["dark_face_recall"] for r in rows if r["method"] == "standard"]
    text = " ".join(_prose(repo_root, "### Discussion").split())
    assert (f"it finds {round(np.mean(dark))} % of them on average, {round(min(dark))} % to {round(max(dark))} % "
            "depending on the seed") in text, text


def test_the_slides_broadcast_loss_is_rejected_whatever_the_check_seed(monkeypatch):
    """The B×B mean once matched the per-sample mean on 13 of 300 random check seeds; the cases now make faces and
    non-faces reconstruct differently, so it never can."""
    from mitdl_util.checks.engine import SEED_VARIABLE

    for seed in range(25):
        monkeypatch.setenv(SEED_VARIABLE, str(seed))
        assert q.debiasing_loss.evaluate(_lecture_debiasing).status == "incorrect", seed
        assert q.debiasing_loss.evaluate(debiasing_loss).status == "passed", seed


def _prose(repo_root, needle: str) -> str:
    import nbformat

    nb = nbformat.read(repo_root / "solutions" / "04_facial_detection.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "markdown" and needle in c.source)


def test_the_sampling_prose_quotes_the_benchmark(repo_root):
    """Issue 14: "max barely moves" while the table shows 48 % against 49 %, and "the first epoch or two are close
    to uniform" while a run drew 74 % dark faces in epoch 1. Every number now comes from lab04_bias.json."""
    import json
    import re

    rows = json.loads((repo_root / "benchmarks" / "lab04_bias.json").read_text("utf-8"))["experiment2"]["rows"]
    by = {m: [r for r in rows if r["method"] == m] for m in ("standard", "dbvae-max", "dbvae-product")}
    base = {r["seed"]: r["gap"] for r in by["standard"]}

    def reduction(method):
        return round(100 * np.mean([1 - r["gap"] / base[r["seed"]] for r in by[method]]))

    def effective(method):
        last = [round(r["effective_faces"][-1]) for r in by[method]]
        return min(last), max(last)

    text = " ".join(_prose(repo_root, "Which way of combining dimensions?").split())
    assert "barely moves" not in text
    low, high = effective("dbvae-max")
    assert f"{round(low, -1):.0f} to {round(high, -1):.0f} of the {by['dbvae-max'][0]['train_faces']}" in text, text
    shares = [np.mean(r["minority_drawn"]) for r in by["dbvae-max"]]
    assert f"{round(100 * min(shares))}–{round(100 * max(shares))} %" in text
    assert f"by {reduction('dbvae-max')} %" in text and f"product's {reduction('dbvae-product')} %" in text
    assert "{} to {} faces".format(*effective("dbvae-product")) in text
    first = [r["minority_drawn"][0] for r in by["dbvae-product"]]
    epochs = " ".join(_prose(repo_root, "How often did training see dark faces?").split())
    assert "close to uniform" not in epochs
    assert re.search(rf"from {round(100 * min(first))} % to {round(100 * max(first))} %", epochs), epochs


def test_the_reconstruction_prose_claims_only_what_the_cell_prints(repo_root):
    text = _prose(repo_root, "What the VAE learned: reconstructions")
    assert "keep the pose" not in text and "brightness" in text


def test_the_face_accuracy_seed_sweep_trains_as_the_notebook(repo_root):
    """benchmarks/face_accuracy_seeds.py measured the pass rate (24 of 24 seeds in FAST mode); it must keep training
    the way the notebook's cell does, or its numbers stop describing the lab."""
    import nbformat

    nb = nbformat.read(repo_root / "solutions" / "04_facial_detection.ipynb", as_version=4)
    cell = next(c.source for c in nb.cells if c.cell_type == "code" and "FACE_EPOCHS =" in c.source)
    script = (repo_root / "benchmarks" / "face_accuracy_seeds.py").read_text(encoding="utf-8")
    for expression in ("mdl.fast_or_full(6, 10)", "7000 // len(faces.x_train)", "keras.optimizers.Adam(5e-4)",
                       'keras.layers.RandomFlip("horizontal")',
                       'keras.layers.RandomTranslation(0.06, 0.06, fill_mode="nearest")', "seed=42",
                       "(images, training=True), labels)"):
        assert expression in cell and expression in script, expression


def test_face_accuracy_threshold_follows_the_split(blob_split):
    from mitdl_util.data.loaders import Faces

    x = np.zeros((10, 64, 64, 3), np.float32)
    small, big = Faces(x, np.zeros(10), x[:148 % 10], np.zeros(8)), Faces(x, np.zeros(10), np.zeros((400, 1)), [])
    assert q.face_accuracy_threshold(small) == q.FACE_ACCURACY_SMALL < q.FACE_ACCURACY
    assert q.face_accuracy_threshold(big) == q.FACE_ACCURACY
    assert q.face_accuracy_threshold(Faces(x, x, x, x, source="lfw_subset")) == q.FACE_ACCURACY_LFW


def test_the_discussion_claims_light_recall_and_nonface_accuracy_barely_change(repo_root):
    """'Light-face recall and non-face accuracy stay within about a point of the standard CNN' (5-seed means)."""
    import json

    rows = json.loads((repo_root / "benchmarks" / "lab04_bias.json").read_text("utf-8"))["experiment2"]["rows"]
    assert "within about a point of the standard CNN" in _prose(repo_root, "### Discussion")

    def mean(method, key):
        return np.mean([r[key] for r in rows if r["method"] == method])

    for method in set(DISCUSSION_ROWS.values()) - {"standard"}:
        for key in ("light_face_recall", "nonface_accuracy"):
            assert abs(mean(method, key) - mean("standard", key)) <= 0.015, (method, key)


def test_answers_in_another_style_train_in_the_lab(blob_split):
    """Issue 14's principle: what the checks pass, the rest of the lab runs with. The table's solutions (a
    functional-API classifier, a DB_VAE without `training` arguments, a scalar debiasing loss) pass their checks;
    here they also go through the lab's training loop (tf.function) and its evaluation helpers."""
    from mitdl_util import facelab

    for name in ("build_face_classifier", "sampling", "vae_loss", "debiasing_loss", "DB_VAE", "sample_probabilities"):
        assert getattr(q, name).evaluate(*SOLUTIONS[name]), name
    x, y, _, _ = blob_split
    keras.utils.set_random_seed(0)
    classifier = build_face_classifier(n_filters=4)
    history = facelab.train(classifier, x, y, epochs=1, seed=0, augment_images=True, verbose=False)
    assert np.isfinite(history.loss).all() and facelab.predict_faces(classifier, x).shape == (len(x),)
    db_vae = DB_VAE(4, n_filters=4)
    history = facelab.train(db_vae, x, y, epochs=2, seed=0, loss_fn=debiasing_loss,
                            probability_fn=lambda mu: sample_probabilities(mu, smoothing_fac=1.0, combine="product"),
                            verbose=False)
    assert np.isfinite(history.loss).all() and facelab.latent_means(db_vae, x[:5]).shape == (5, 4)
    # experiment 2's way: augmented batches, the latent vector from the originals, averaged weights, the
    # probabilities recomputed within an epoch with a uniform share
    classifier = build_face_classifier(n_filters=4)
    history = facelab.train(classifier, x, y, epochs=1, seed=0, augment_images=True, weight_average=0.9,
                            verbose=False)
    assert np.isfinite(history.loss).all()
    db_vae = DB_VAE(4, n_filters=4)
    history = facelab.train(db_vae, x, y, epochs=2, seed=0, loss_fn=debiasing_loss,
                            probability_fn=lambda mu: sample_probabilities(mu, smoothing_fac=1.0, combine="product"),
                            augment_images=True, latent_from_original=True, weight_average=0.9,
                            updates_per_epoch=2, uniform_share=0.2, verbose=False)
    assert np.isfinite(history.loss).all() and facelab.predict_faces(db_vae, x).shape == (len(x),)
    assert history.probabilities.min() >= 0.2 / int((y == 1).sum()) - 1e-12
