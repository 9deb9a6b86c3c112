"""The table-driven tests every lab's exercises share, made once here and bound in each tests/test_labNN.py:

    test_solution_passes, test_known_wrong_answer_is_rejected, test_enough_known_wrong_answers, \\
        test_untouched_stub_is_not_attempted = exercise_table_tests(q, SOLUTIONS, WRONG)

SOLUTIONS maps an exercise name to the tuple of answers a finished notebook passes to its check; WRONG lists
(exercise name, tuple of answers, a fragment of the message that must name the mistake).
"""

from __future__ import annotations

import pytest

from mitdl_util.checks.engine import FunctionExercise

# Exercises whose check builds, calls or trains Keras models: each evaluation costs seconds, so property tests
# (junk answers, mutants, seed sweeps) give them fewer tries.
MODEL_CHECKS = frozenset({
    "lab03.build_fc_model", "lab03.build_cnn_model", "lab03.train_step", "lab03.predict_classes",
    "lab03.cnn_accuracy", "lab04.build_face_classifier", "lab04.build_decoder", "lab04.DB_VAE",
    "lab04.face_accuracy", "lab05.build_fcn",
})


def _stub(*args, **kwargs):
    raise NotImplementedError("TODO")


# Every lab's tables, by lab ("lab01"), as exercise_table_tests received them: (q, SOLUTIONS, WRONG). Other
# property tests (tests/test_check_seeds.py) run the same answers.
TABLES: dict[str, tuple] = {}
TESTED_ELSEWHERE: dict[str, tuple[str, ...]] = {}  # lab -> exercises whose wrong answers live in their own tests


def wrong_answer_ids(wrong: list[tuple[str, tuple, str]]) -> list[str]:
    """Stable test ids for WRONG rows: the exercise and the message fragment ("crop-end positions"), numbered only
    where a fragment repeats, so inserting a row renames no other test."""
    ids, seen = [], {}
    for name, _, fragment in wrong:
        text = f"{name}-{' '.join(fragment.split())}"
        seen[text] = seen.get(text, 0) + 1
        ids.append(text if seen[text] == 1 else f"{text} #{seen[text]}")
    return ids


def exercise_table_tests(q, solutions: dict[str, tuple], wrong: list[tuple[str, tuple, str]],
                         tested_elsewhere: tuple[str, ...] = ()):
    """Four tests over a lab's check module `q`; exercises in `tested_elsewhere` need not appear in `wrong`."""
    TABLES[q.LAB] = (q, solutions, wrong)
    TESTED_ELSEWHERE[q.LAB] = tuple(tested_elsewhere)

    @pytest.mark.parametrize("name", sorted(solutions))
    def test_solution_passes(name):
        """Does the finished notebook's answer pass?"""
        result = getattr(q, name).evaluate(*solutions[name])
        assert result.status == "passed", result.message

    @pytest.mark.parametrize("name, answers, fragment", wrong, ids=wrong_answer_ids(wrong))
    def test_known_wrong_answer_is_rejected(name, answers, fragment):
        """Is each known mistake rejected as incorrect, with a message that names it?"""
        result = getattr(q, name).evaluate(*answers)
        assert result.status == "incorrect", (result.status, result.message)
        assert fragment in result.message, result.message

    def test_enough_known_wrong_answers():
        """Is every exercise tested against at least two known-wrong answers?"""
        counts = {ex.name: sum(1 for n, *_ in wrong if n == ex.name) for ex in q.EXERCISES}
        short = {name: c for name, c in counts.items() if c < 2 and name not in tested_elsewhere}
        assert not short, short

    @pytest.mark.parametrize("exercise", q.EXERCISES, ids=lambda ex: ex.id)
    def test_untouched_stub_is_not_attempted(exercise):
        """The lab ships `name = None  # TODO` and functions raising NotImplementedError: both are 'not attempted'."""
        assert exercise.evaluate(*[None] * len(exercise.params)).status == "not_attempted"
        if isinstance(exercise, FunctionExercise):
            assert exercise.evaluate(_stub).status == "not_attempted"

    return (test_solution_passes, test_known_wrong_answer_is_rejected, test_enough_known_wrong_answers,
            test_untouched_stub_is_not_attempted)
