"""Training and evaluation plumbing for lab 04 (facial detection and bias), shared by the notebook and
`benchmarks/lab04_bias.py`. The exercises themselves (losses, sampling, probabilities, models) are passed in,
so the notebook trains with the student's own functions and the script with the references in
`mitdl_util.checks.lab04`. TensorFlow is imported inside the functions.

Every method trains with the same batches: half faces, drawn with replacement by a probability per training face
(uniform for the standard CNN, by true group for oversampling, by the DB-VAE's latent densities for the DB-VAE,
recomputed every epoch or several times per epoch, optionally with a uniform share), half non-faces drawn
uniformly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .todo import require


@dataclass
class History:
    """What happened per epoch: mean loss, the minority's share of the face-sampling probability, the share of
    minority faces among the faces actually drawn (when `minority` was given), and the effective number of faces
    the sampling probabilities rely on (1 / Σp²: all faces when uniform, 1 when one face takes all). When the
    probabilities change within an epoch (``updates_per_epoch``), the probability-based numbers are the epoch's
    means over its updates."""

    loss: list[float] = field(default_factory=list)
    minority_probability: list[float] = field(default_factory=list)
    minority_drawn: list[float] = field(default_factory=list)
    effective_faces: list[float] = field(default_factory=list)  # 1 / sum(p²): how many faces the draw relies on
    probabilities: np.ndarray | None = None  # the last face-sampling probabilities


def _require(model) -> None:
    require(model=model)


def _encode_training(model, images):
    """``model.encode(images, training=True)``, or ``model.encode(images)`` for a DB_VAE whose ``encode`` takes no
    ``training`` argument (the check accepts both styles, so training must run with both)."""
    import inspect

    parameters = inspect.signature(model.encode).parameters.values()
    if any(p.name == "training" or p.kind is p.VAR_KEYWORD for p in parameters):
        return model.encode(images, training=True)
    return model.encode(images)


def face_logits(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N,) logits of a face classifier, or of a DB-VAE (its `encode(x)[0]`)."""
    _require(model)
    out = []
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        logit = model.encode(batch)[0] if hasattr(model, "encode") else model(batch, training=False)
        out.append(np.asarray(logit).reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def predict_faces(model, x: np.ndarray) -> np.ndarray:
    """uint8 predictions, 1 = face (logit > 0)."""
    return (face_logits(model, x) > 0).astype(np.uint8)


def latent_means(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N, latent_dim) latent means of a DB-VAE."""
    _require(model)
    return np.concatenate([np.asarray(model.encode(x[s:s + batch_size])[1]) for s in range(0, len(x), batch_size)])


def group_balance_probabilities(groups: np.ndarray) -> np.ndarray:
    """Sampling probabilities that give every group the same total share (true-label oversampling)."""
    groups = np.asarray(groups)
    values, counts = np.unique(groups, return_counts=True)
    weight = {v: 1.0 / (len(values) * c) for v, c in zip(values, counts, strict=True)}
    return np.asarray([weight[g] for g in groups])


def augment(images: np.ndarray, rng: np.random.Generator, shift: int = 4) -> np.ndarray:
    """Random horizontal flips and shifts of up to ``shift`` pixels (edges repeated): the same photo seen a little
    differently every time it is drawn. Brightness is left alone (it is the bias under study)."""
    n, h, w = images.shape[:3]
    flip = rng.random(n) < 0.5
    out = np.where(flip[:, None, None, None], images[:, :, ::-1], images)
    padded = np.pad(out, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
    dy, dx = rng.integers(0, 2 * shift + 1, n), rng.integers(0, 2 * shift + 1, n)
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _batches(n_faces: int, n_nonfaces: int, p_faces, batch_size: int, rng: np.random.Generator):
    """One epoch of (face indices, non-face indices) per step. ``p_faces``: the face-sampling probabilities (None:
    uniform), or a function ``step -> probabilities`` asked before every step (the probabilities can change within
    an epoch)."""
    half = batch_size // 2
    steps = (n_faces + n_nonfaces) // batch_size
    nonface_order = rng.permutation(np.resize(rng.permutation(n_nonfaces), steps * half))
    for step in range(steps):
        p = p_faces(step) if callable(p_faces) else p_faces
        faces = rng.choice(n_faces, half, replace=True, p=p)
        yield faces, nonface_order[step * half:(step + 1) * half]


def train(model, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int = 32, learning_rate: float = 5e-4,
          seed: int = 0, loss_fn: Callable | None = None, probability_fn: Callable | None = None,
          face_probabilities: np.ndarray | None = None, minority: np.ndarray | None = None,
          augment_images: bool | Callable = False, latent_from_original: bool = False,
          cosine_decay: bool = False, weight_average: float = 0.0, updates_per_epoch: int = 1,
          uniform_share: float = 0.0, epoch_end: Callable | None = None, verbose: bool = True) -> History:
    """Train a face classifier (``loss_fn=None``: sigmoid cross-entropy on its logit) or a DB-VAE
    (``loss_fn=debiasing_loss``) with balanced batches. Faces are drawn by ``face_probabilities`` (fixed) or, when
    ``probability_fn`` is given, by ``probability_fn(latent_means_of_the_training_faces)`` recomputed at the start
    of every epoch (``updates_per_epoch`` > 1: that many times per epoch, at evenly spaced steps, so the draw
    follows the latent space as it changes within an epoch; the history then reports each epoch's mean over its
    updates). ``uniform_share`` (e.g. 0.2): that share of the face draws is uniform, the rest follows
    ``probability_fn`` (the probabilities become ``(1 - uniform_share) * p + uniform_share / N``), so no face is
    left out of training while the draw favours the rare ones. ``augment_images``: random flips and shifts of
    every batch (:func:`augment`), or a function ``(images, rng) -> images`` to use instead (e.g. ``mitdl_util.face_augment.jitter``); the
    probabilities are always computed on the unaugmented faces. ``latent_from_original`` (a DB-VAE trained with
    augmentation): the latent vector comes from the original batch while the face logit and the reconstruction
    target are the augmented batch. The decoder cannot know which zoom or tilt was drawn, so the latent space only
    pays for what every augmented view shares (brightness, colour, the rough layout) — what the densities should
    find rare — rather than the pose and scale the augmentation drew. ``cosine_decay``: the learning rate falls from
    ``learning_rate`` to 0 along a half cosine over all the training steps (large steps first, small ones to
    settle at the end). ``weight_average`` (e.g. 0.99): the model ends with an exponential moving average of its
    weights over the training steps (Keras's optimizer ``use_ema``; about ``1 / (1 - weight_average)`` steps), its
    batch-normalisation statistics then recomputed on training batches, instead of the weights of the last step
    alone. ``epoch_end(epoch, model)``, if given, is called after every epoch (epochs count from 1; the
    weights are the last step's, not yet averaged), e.g. to measure how the model changes from epoch to epoch.
    ``minority`` (bool per training image) is only used to report the minority's share."""
    import keras
    import tensorflow as tf

    _require(model)
    rng = np.random.default_rng(seed)
    y = np.asarray(y).reshape(-1)
    face_idx, nonface_idx = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    faces, nonfaces = x[face_idx], x[nonface_idx]
    minority_faces = None if minority is None else np.asarray(minority)[face_idx]
    steps = (len(faces) + len(nonfaces)) // batch_size  # per epoch, as _batches draws them
    rate = (keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, epochs * steps))
            if cosine_decay else learning_rate)
    if not 0.0 <= weight_average < 1.0:
        raise ValueError(f"weight_average must be in [0, 1) (0: no averaging); got {weight_average}")
    if not 0.0 <= uniform_share <= 1.0:
        raise ValueError(f"uniform_share must be in [0, 1] (0: the probabilities alone); got {uniform_share}")
    if not 1 <= updates_per_epoch <= steps:
        raise ValueError(f"updates_per_epoch must be between 1 and the {steps} steps of an epoch; "
                         f"got {updates_per_epoch}")
    optimizer = (keras.optimizers.Adam(rate, use_ema=True, ema_momentum=weight_average) if weight_average
                 else keras.optimizers.Adam(rate))
    debias = loss_fn is not None

    @tf.function(reduce_retracing=True)
    def step(images, labels, originals):
        with tf.GradientTape() as tape:
            if debias:
                y_logit, mu, logsigma, recon = model(originals, training=True)
                if latent_from_original:
                    y_logit = _encode_training(model, images)[0]
                total, _ = loss_fn(images, recon, labels, y_logit, mu, logsigma)
                loss = tf.reduce_mean(total)
            else:
                logits = tf.reshape(model(images, training=True), [-1])
                loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    history = History()
    p = face_probabilities
    every = -(-steps // updates_per_epoch)  # steps between two updates of the probabilities
    for epoch in range(epochs):
        effective, shares = [], []

        def probabilities_at(i, effective=effective, shares=shares):  # asked by _batches before every step
            nonlocal p
            if i % every == 0:
                if probability_fn is not None:
                    p = np.asarray(probability_fn(latent_means(model, faces)), np.float64)
                    p = p / p.sum()
                    if uniform_share:
                        p = (1.0 - uniform_share) * p + uniform_share / len(p)
                        p = p / p.sum()
                effective.append(float(len(faces)) if p is None else float(1.0 / np.sum(np.square(p))))
                if minority_faces is not None:
                    shares.append(float(np.sum(p[minority_faces])) if p is not None else float(minority_faces.mean()))
            return p

        losses, drawn = [], []
        for f, n in _batches(len(faces), len(nonfaces), probabilities_at, batch_size, rng):
            images, originals = _views(faces[f], nonfaces[n], augment_images, latent_from_original, rng)
            labels = np.r_[np.ones(len(f), np.float32), np.zeros(len(n), np.float32)]
            losses.append(float(step(tf.constant(images), tf.constant(labels), tf.constant(originals))))
            drawn.append(f)
        history.loss.append(float(np.mean(losses)))
        history.effective_faces.append(float(np.mean(effective)))
        if minority_faces is not None:
            history.minority_probability.append(float(np.mean(shares)))
            history.minority_drawn.append(float(minority_faces[np.concatenate(drawn)].mean()))
        if epoch_end is not None:
            epoch_end(epoch + 1, model)
        if verbose:
            share = f" · minority share of drawn faces {history.minority_drawn[-1]:.3f}" if minority_faces is not None else ""
            print(f"epoch {epoch + 1}/{epochs} · loss {history.loss[-1]:.4f}{share}")
    if weight_average:
        optimizer.finalize_variable_values(model.trainable_variables)
        _refresh_batchnorm(model, faces, nonfaces, p, batch_size, rng, augment_images, latent_from_original, debias)
    history.probabilities = p
    return history


def _views(faces: np.ndarray, nonfaces: np.ndarray, augment_images, latent_from_original: bool, rng):
    """One training batch as the model sees it: (images, originals) — the (augmented) batch, and the batch the
    DB-VAE's latent vector comes from (the un-augmented one with ``latent_from_original``, else the same)."""
    originals = images = np.concatenate([faces, nonfaces])
    if augment_images:
        images = (augment_images if callable(augment_images) else augment)(images, rng)
    return images, (originals if latent_from_original else images)


def _refresh_batchnorm(model, faces, nonfaces, p, batch_size, rng, augment_images, latent_from_original, debias,
                       batches: int = 50) -> None:
    """Batch-normalisation statistics for averaged weights: ``batches`` forward passes in training mode (no weight
    update) over training batches drawn and seen as in training, so the moving means and variances match the
    weights they serve (with the lab's momentum 0.9, what the last-step weights left in them weighs 0.9**50,
    under 1 %)."""
    done = 0
    while done < batches:
        for f, n in _batches(len(faces), len(nonfaces), p, batch_size, rng):
            images, originals = _views(faces[f], nonfaces[n], augment_images, latent_from_original, rng)
            model(originals if debias else images, training=True)
            if debias and latent_from_original:
                _encode_training(model, images)
            done += 1
            if done == batches:
                return


def bias_report(model, x_test: np.ndarray, y_test: np.ndarray, groups_test: np.ndarray) -> dict:
    """Experiment 2's numbers for one model: face recall per group, the gap, non-face accuracy, overall accuracy."""
    pred = predict_faces(model, x_test)
    y_test, groups_test = np.asarray(y_test).reshape(-1), np.asarray(groups_test)
    faces = y_test == 1
    light, dark = faces & (groups_test == "light"), faces & (groups_test == "dark")
    report = {
        "light_face_recall": float(np.mean(pred[light] == 1)),
        "dark_face_recall": float(np.mean(pred[dark] == 1)),
        "nonface_accuracy": float(np.mean(pred[~faces] == 0)),
        "accuracy": float(np.mean(pred == y_test)),
    }
    report["gap"] = report["light_face_recall"] - report["dark_face_recall"]
    return report


def worst_group_gap(correct: np.ndarray, groups: np.ndarray) -> float:
    """Largest minus smallest per-group mean of ``correct``."""
    means = [np.mean(correct[groups == g]) for g in np.unique(groups)]
    return float(max(means) - min(means))


def permutation_floor(correct: np.ndarray, groups: np.ndarray, n: int = 1000, seed: int = 0) -> np.ndarray:
    """Worst-group gaps when the group labels are shuffled ``n`` times: the gap that chance alone produces with
    groups of these sizes (compare the real gap with, e.g., its 95th percentile)."""
    rng = np.random.default_rng(seed)
    correct, groups = np.asarray(correct), np.asarray(groups)
    return np.asarray([worst_group_gap(correct, rng.permutation(groups)) for _ in range(n)])
