"""Mutation test of the checks: every mutant of a solution's answer (tests/mutation.py makes them from the solution
notebooks) must be rejected by its exercise's check, unless it is listed in ACCEPTED with the reason it is an
acceptable answer. A listed mutant that is no longer made or no longer survives must leave the table.

    pytest -n 0 -p no:randomly tests/test_mutation.py        # the test
    python -m tests.mutation [lab01 ...]                     # kill rates per exercise and lab, every survivor
"""

from __future__ import annotations

import pytest

from tests import mutation

SAME = "same result for every input the exercise allows"
DEFAULTS = "the check calls it with every argument given, so a default never matters"  # only for extra defaults

# exercise id -> {mutant key (as `python -m tests.mutation` prints it; `*` matches any text, for the sampled model
# exercises): why the mutant is an acceptable answer}
ACCEPTED: dict[str, dict[str, str]] = {
    "lab01.to_grayscale": {
        "drop `img = np.asarray(img, dtype=np.float32)`":
            "computing in float64 and converting at the end differs from float32 only by rounding",
    },
    "lab02.conv_patch": {
        "drop `patch = np.asarray(patch, dtype=np.float64)`": "`*` converts array-likes anyway",
        "drop `kernel = np.asarray(kernel, dtype=np.float64)`": "`*` converts array-likes anyway",
    },
    "lab02.conv2d": {
        "drop `image = np.asarray(image, dtype=np.float64)`": "conv_patch converts the patch to float itself",
        "`0` → `1` in `f = np.shape(kernel)[0]`": "kernels are square (f×f): either side is f",
        "`0` → `-1` in `f = np.shape(kernel)[0]`": "kernels are square (f×f): either side is f",
        "`conv_patch(image[top:top + f, left:left + f], ker…` → `conv_patch(kernel, image[top:top + f, left:left +…` "
        "in `out[i, j] = conv_patch(image[top:top + f, left:left + f], kernel)`":
            "the entry-wise product is symmetric in patch and kernel",
    },
    "lab02.conv2d via pad_same": {
        **{key: "conv2d pads 2-D images: the line for channel axes adds nothing to them" for key in (
            "drop `widths += [(0, 0)] * (image.ndim - 2)`",
            "`image.ndim - 2` → `2 - image.ndim` in `widths += [(0, 0)] * (image.ndim - 2)`",
            "`2` → `3` in `widths += [(0, 0)] * (image.ndim - 2)`",
            "`0` → `1` in `widths += [(0, 0)] * (image.ndim - 2)`",
            "`0` → `-1` in `widths += [(0, 0)] * (image.ndim - 2)`",
            "`0` → `1` in `widths += [(0, 0)] * (image.ndim - 2)` (#2)",
            "`0` → `-1` in `widths += [(0, 0)] * (image.ndim - 2)` (#2)",
            "`2` → `3` in `for n in image.shape[:2]:`")},
        "`1` → `2` in the signature": "conv2d always passes its stride to pad_same",
        "`1` → `0` in the signature": "conv2d always passes its stride to pad_same",
        "`max((out - 1) * stride + f - n, 0)` → `max(0, (out - 1) * stride + f - n)` in "
        "`total = max((out - 1) * stride + f - n, 0)`": "max is symmetric",
        "`0` → `1` in `total = max((out - 1) * stride + f - n, 0)`":
            "where no padding is needed (a stride longer than the kernel) one zero more at the bottom/right is "
            "never reached by the kernel",
    },
    "lab02.relu": {
        "`np.maximum(x, 0)` → `np.maximum(0, x)` in `return np.maximum(x, 0)`": SAME,
    },
    "lab02.max_pool2d": {
        "drop `x = np.asarray(x)`": "the cases pass NumPy arrays, which the contract asks for",
        "`np.result_type(x, np.float32)` → `np.result_type(np.float32, x)` in "
        "`out = np.zeros((out_h, out_w), dtype=np.result_type(x, np.float32))`": SAME,
    },
    "lab02.conv2d_fast": {
        "drop `image = np.asarray(image, dtype=dtype)`": "`*` with the float kernel converts the slices anyway",
        "drop `kernel = np.asarray(kernel, dtype=dtype)`": "the kernel is already an array of numbers",
        "`np.result_type(image, kernel, np.float32)` → `np.result_type(kernel, image, np.float32)` in "
        "`dtype = np.result_type(image, kernel, np.float32)`": SAME,
        "`np.result_type(image, kernel, np.float32)` → `np.result_type(image, np.float32, kernel)` in "
        "`dtype = np.result_type(image, kernel, np.float32)`": SAME,
        "`0` → `1` in `f = kernel.shape[0]`": "kernels are square (f×f): either side is f",
        "`0` → `-1` in `f = kernel.shape[0]`": "kernels are square (f×f): either side is f",
    },
    "lab02.conv_layer": {
        "drop `x = np.asarray(x)`": "the cases pass NumPy arrays, which the contract asks for",
    },
    "lab03.cnn_param_count": {
        "`3 * 3 * 1` → `3 * 3 / 1`": "the same count, as a whole-number float (the check accepts 2.0e6 as 2 000 000)",
    },
    "lab03.slide_input_size": {
        "`32` → `33`": "a 33×33 input also ends at 6×6 after the second pooling (floors): the slide is right for it",
        "`32` → `31`": "a 31×31 input also ends at 6×6 after the second pooling (floors): the slide is right for it",
    },
    "lab03.train_step": {
        "`True` → `False` in `probabilities = model(images, training=True)`":
            "the lab's CNN has no dropout or batch normalisation, so training=True changes nothing",
    },
    "lab03.predict_classes": {
        "`-1` → `1` in `return np.argmax(model.predict(x, verbose=0), axis=-1)`":
            "the predictions are (N, 10): axis 1 is the last axis",
        "`0` → `1` in `return np.argmax(model.predict(x, verbose=0), axis=-1)`":
            "verbose=1 only prints a progress bar",
        "`0` → `-1` in `return np.argmax(model.predict(x, verbose=0), axis=-1)`":
            "verbose=-1 only changes what is printed",
    },
    "lab03.shift_images": {
        **{f"`{fn}({a}, 0)` → `{fn}(0, {a})` in `out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = "
           "x[:, m…`": "max and min are symmetric" for fn in ("max", "min") for a in ("dy", "dx", "-dy", "-dx")},
        **{f"`abs({d}) >= {n}` → `abs({d}) > {n}` in `if abs(dx) >= w or abs(dy) >= h:`":
           "a shift of exactly the image size also empties the slices below, so the early return is a shortcut"
           for d, n in (("dx", "w"), ("dy", "h"))},
        **{f"`0` → `1` in `out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = x[:, m…` (#{i})":
           "`h + min(d, 1)` differs from `h + min(d, 0)` only for d ≥ 1, where it ends the slice past the last "
           "row, which NumPy clips to the last row" for i in (5, 6, 7, 8)},
    },
    "lab04.group_accuracy": {
        "drop `y_true, y_pred, groups = (np.asarray(y_true), np.asarray(y_pred), np.…`":
            "the cases pass NumPy arrays, which the contract asks for",
    },
    "lab04.sampling": {
        "`z_mean + tf.math.exp(0.5 * z_logsigma) * eps` → `z_mean - tf.math.exp(0.5 * z_logsigma) * eps` in "
        "`return z_mean + tf.math.exp(0.5 * z_logsigma) * eps`": "−ε is standard normal noise as much as ε is",
    },
    "lab04.vae_loss": {
        "`x - x_recon` → `x_recon - x` in `reconstruction = tf.reduce_mean(tf.abs(x - x_recon), axis=(1, 2, 3))`":
            "|a − b| = |b − a|",
    },
    "lab04.debiasing_loss": {
        "drop `tf.debugging.assert_equal(tf.shape(vae), tf.shape(class_loss), messag…`":
            "a safety assertion; the check verifies the per-sample shapes itself",
        "`vae_loss(x, x_pred, mu, logsigma)` → `vae_loss(x_pred, x, mu, logsigma)` in "
        "`vae = vae_loss(x, x_pred, mu, logsigma)`": "the reconstruction term |x − x̂| is symmetric",
        "`tf.debugging.assert_equal(tf.shape(vae), tf.shape…` → `tf.debugging.assert_equal(tf.shape(class_loss), t…`":
            "equality is symmetric",
        "`tf.equal(y, 1.0)` → `tf.equal(1.0, y)` in `face = tf.cast(tf.equal(y, 1.0), tf.float32)`": SAME,
    },
    "lab04.sample_probabilities": {
        "drop `mu = np.asarray(mu, np.float64)`": "the cases pass float arrays, which the contract asks for",
        "drop `smoothed = smoothed / smoothed.sum()`":
            "a per-dimension scale; `p / p.sum()` removes it (the outputs differ only by rounding)",
        "`smoothed / smoothed.sum()` → `smoothed * smoothed.sum()` in `smoothed = smoothed / smoothed.sum()`":
            "a per-dimension scale; `p / p.sum()` removes it (the outputs differ only by rounding)",
        "`smoothed.sum` → `smoothed.mean` in `smoothed = smoothed / smoothed.sum()`":
            "a per-dimension scale; `p / p.sum()` removes it (the outputs differ only by rounding)",
        "`1.0` → `2.0` in `p = 1.0 / smoothed[which]`": "a per-dimension scale; `p / p.sum()` removes it",
        "`p.sum` → `p.mean` in `per_dim[:, i] = p / p.sum()`":
            "the same factor 1/N on every dimension; the final normalisation removes it",
        "`log_w.max` → `log_w.min` in `weights = np.exp(log_w - log_w.max())`":
            "a constant shift in log space, removed by the final normalisation (differs only by rounding here; "
            "the check's cases do not overflow)",
        "`0` → `-1` in `edges[0], edges[-1] = (-np.inf, np.inf)`":
            "the smallest mean equals the first edge, so np.digitize puts it in the first bin either way",
    },
    "lab05.sliding_windows": {
        "`1` → `2` in `return (np.array(boxes, dtype=np.int64).reshape(-1, 4), np.stack(crop…`":
            "NumPy reads any negative size in reshape as 'the rest'",
    },
    "lab05.iou": {
        "`max(0.0, min(box_a[2], box_b[2]) - max(box_a[0], …` → `max(min(box_a[2], box_b[2]) - max(box_a[0], box_b…` "
        "in `inter_w = max(0.0, min(box_a[2], box_b[2]) - max(box_a[0], box_b[0]))`": "max is symmetric",
        "`max(0.0, min(box_a[3], box_b[3]) - max(box_a[1], …` → `max(min(box_a[3], box_b[3]) - max(box_a[1], box_b…` "
        "in `inter_h = max(0.0, min(box_a[3], box_b[3]) - max(box_a[1], box_b[1]))`": "max is symmetric",
        **{f"`{fn}(box_a[{i}], box_b[{i}])` → `{fn}(box_b[{i}], box_a[{i}])` in `inter_{'w' if i in (0, 2) else 'h'} = "
           f"max(0.0, min(box_a[{2 + i % 2}], box_b[{2 + i % 2}]) - max(box_a[{i % 2}], box_b[{i % 2}]))`":
           "min and max are symmetric" for fn, i in (("min", 2), ("max", 0), ("min", 3), ("max", 1))},
    },
    "lab05.non_max_suppression": {
        "`iou(boxes[i], boxes[k])` → `iou(boxes[k], boxes[i])` in "
        "`if all((iou(boxes[i], boxes[k]) <= iou_threshold for k in kept)):`": "IoU is symmetric",
    },
    "lab05.build_fcn": {
        "`32` → `*` in *":
            "the check asks for an FCN's properties (Conv2DTranspose, per-pixel softmax, sizes), not these widths",
    },
    "lab05.mean_iou": {
        "drop `y_true, y_pred = (np.asarray(y_true), np.asarray(y_pred))`":
            "the cases pass NumPy arrays, which the contract asks for",
    },
}

PAIRS = mutation.all_answers()


matches = mutation.matches


def test_every_lab_has_mutated_answers():
    """Does the harness find answers to mutate in every lab (a renamed notebook would silently skip one)?"""
    labs = {exercise.id.split(".")[0] for exercise, _ in PAIRS}
    assert labs == set(mutation.lab_modules())
    assert len(PAIRS) >= 35


def test_accepted_table_names_real_exercises():
    assert set(ACCEPTED) <= {answer.label for _, answer in PAIRS}


@pytest.mark.parametrize("exercise, answer", PAIRS, ids=[answer.label for _, answer in PAIRS])
def test_check_rejects_every_mutant_of_its_solution(exercise, answer):
    """Is every mutant of the solution rejected, or listed as acceptable with a reason?"""
    with mutation.quiet(), mutation.check_seed(mutation.SEED):
        solution = exercise.evaluate(answer.build())
    assert solution.status == "passed", f"{answer.label}: the solution itself does not pass: {solution.message}"
    verdicts = mutation.judge(exercise, answer)
    assert verdicts, f"{answer.label}: no mutants made from its solution"
    accepted = ACCEPTED.get(answer.label, {})
    survivors = {v.mutant.key: v for v in verdicts if not v.killed}
    unlisted = [f"{key} ({v.outputs} outputs on the check's cases)" for key, v in survivors.items()
                if not any(matches(key, pattern) for pattern in accepted)]
    judged = {v.mutant.key for v in verdicts}
    made = {m.key for m in mutation.mutants(answer.source, mode="eval" if answer.kind == "value" else "exec")}
    stale = [pattern for pattern in accepted if not any(matches(key, pattern) for key in survivors)
             and (any(matches(key, pattern) for key in judged) or not any(matches(key, pattern) for key in made))]
    assert not unlisted, (f"{answer.label}: these mutants of the solution pass its check — make the check reject "
                          "them, or list them in ACCEPTED with the reason they are right:\n  " + "\n  ".join(unlisted))
    assert not stale, (f"{answer.label}: ACCEPTED lists mutants that are no longer made or no longer pass; remove "
                       "them:\n  " + "\n  ".join(stale))


def test_a_wrong_mutant_is_caught_by_the_harness():
    """The harness itself: a check that accepts anything lets every mutant survive."""
    from mitdl_util.checks.engine import Case, FunctionExercise

    lenient = FunctionExercise("lab00.double", reference=lambda x: 2 * x, hints=["a", "b"], output="any",
                               cases=lambda rng: [Case((3.0,), label="three")])
    answer = mutation.Answer("lab00.double", "function", "def double(x):\n    return 2 * x\n")
    verdicts = mutation.judge(lenient, answer)
    survivors = [v for v in verdicts if not v.killed]
    assert [v.mutant.key for v in verdicts if v.killed] == ["drop `return 2 * x`"]  # None: "forgot `return`"
    assert survivors and {v.outputs for v in survivors} == {"different"}
    strict = FunctionExercise("lab00.double", reference=lambda x: 2 * x, hints=["a", "b"], output="number",
                              cases=lambda rng: [Case((3.0,), label="three")])
    assert all(v.killed for v in mutation.judge(strict, answer) if v.outputs != "same")


def test_mutants_cover_the_operators_the_issue_names():
    source = ("def f(x, n=1):\n    y = x[1:n] + 2\n    if n < 3:\n        y = y * 2\n"
              "    return np.sum(y, axis=0) - np.maximum(x, n)\n")
    keys = [m.key for m in mutation.mutants(source)]
    for key in ("`x[1:n] + 2` → `x[1:n] - 2` in `y = x[1:n] + 2`",  # arithmetic
                "`n < 3` → `n <= 3` in `if n < 3:`",  # comparison
                "`2` → `3` in `y = x[1:n] + 2`", "`1` → `0` in the signature",  # constants ±1
                "`axis=0` → `axis=None` in `return np.sum(y, axis=0) - np.maximum(x, n)`",  # axes
                "`1:n` → `1:n - 1` in `y = x[1:n] + 2`",  # slice bounds
                "drop `y = y * 2`",  # a dropped statement
                "`np.maximum(x, n)` → `np.maximum(n, x)` in `return np.sum(y, axis=0) - np.maximum(x, n)`",  # args
                "`np.maximum` → `np.minimum` in `return np.sum(y, axis=0) - np.maximum(x, n)`"):
        assert key in keys, key
    assert not any(key.startswith("drop `def") for key in keys)
    assert len(keys) == len(set(keys))
