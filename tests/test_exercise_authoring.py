"""What an exercise's author must get right, checked over every lab: each exercise has a solution row and at least
two known-wrong answers in its lab's tables, each known mistake runs on every case and differs from the
reference somewhere, and each exercise is bound to its own name. Then the worked example of docs/authoring.md:
a new exercise declared with the public API, its tables, its cell built and checked."""

from __future__ import annotations

import copy
import importlib
import types

import numpy as np
import pytest

from mitdl_util.build import strip_solutions
from mitdl_util.checks import compare, engine
from mitdl_util.checks.engine import Case, FunctionExercise, Mistake
from mitdl_util.checks.outcomes import Incorrect
from tests import mutation
from tests.exercise_tables import MODEL_CHECKS, TABLES, TESTED_ELSEWHERE, exercise_table_tests

LABS = ("lab01", "lab02", "lab03", "lab04", "lab05")
for _lab in LABS:
    importlib.import_module(f"tests.test_{_lab}")  # fills TABLES
MODULES = {lab: importlib.import_module(f"mitdl_util.checks.{lab}") for lab in LABS}
EXERCISES = [ex for module in MODULES.values() for ex in module.EXERCISES]
WITH_MISTAKES = [ex for ex in EXERCISES if isinstance(ex, FunctionExercise) and ex.mistakes]


@pytest.mark.parametrize("lab", LABS)
def test_every_exercise_has_a_solution_row_and_two_wrong_answers(lab):
    """A missing SOLUTIONS row used to fail nothing; now it does (and so do fewer than two WRONG rows)."""
    q, solutions, wrong = TABLES[lab]
    elsewhere = TESTED_ELSEWHERE[lab]
    names = {ex.name for ex in q.EXERCISES}
    assert names - set(solutions) - set(elsewhere) == set(), "exercises without a SOLUTIONS row"
    counts = {name: sum(1 for n, *_ in wrong if n == name) for name in names - set(elsewhere)}
    assert {n: c for n, c in counts.items() if c < 2} == {}, "exercises with fewer than two WRONG rows"
    assert set(solutions) | {n for n, *_ in wrong} <= names, "table rows for exercises that do not exist"


@pytest.mark.parametrize("exercise", WITH_MISTAKES, ids=lambda ex: ex.id)
def test_every_known_mistake_runs_and_differs_from_the_reference(exercise):
    """A Mistake whose function raises (a typo) used to turn its message into the generic one without a word; one
    that equals the reference on every case can never be reported."""
    seeds = (0,) if exercise.id in MODEL_CHECKS else (0, 1, 2)
    differs = {mistake.message: False for mistake in exercise.mistakes}
    with np.errstate(all="ignore"):
        for seed in seeds:
            for case in exercise.cases(np.random.default_rng(seed)):
                expected = None if exercise.reference is None else exercise.reference(
                    *copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
                for mistake in exercise.mistakes:
                    try:
                        wrong = mistake.wrong(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
                    except Exception as exc:  # noqa: BLE001 - the point of the test
                        pytest.fail(f"{exercise.id}: the mistake {mistake.message[:60]!r} raised "
                                    f"{type(exc).__name__}: {exc} for {case.label}")
                    try:
                        exercise._compare(wrong, expected, case)
                    except Incorrect:
                        differs[mistake.message] = True
    assert all(differs.values()), [m[:60] for m, d in differs.items() if not d]


def test_a_raising_mistake_is_recorded_as_an_authoring_error():
    exercise = FunctionExercise("lab00.double", reference=lambda x: 2 * x, hints=["a", "b"], output="number",
                                cases=lambda rng: [Case((3.0,), label="three")],
                                mistakes=[Mistake(lambda x: undefined_name * x, "you tripled it")])  # noqa: F821
    result = exercise.evaluate(lambda x: 3 * x)
    assert result.status == "incorrect" and "you tripled it" not in result.message
    assert len(exercise.mistake_errors) == 1 and "NameError" in exercise.mistake_errors[0]


def test_an_exercise_bound_to_another_name_fails_at_import():
    exercise = FunctionExercise("lab00.double", reference=lambda x: 2 * x, hints=["a", "b"],
                                cases=lambda rng: [])
    assert engine.exercises_in({"LAB": "lab00", "double": exercise}) == [exercise]
    with pytest.raises(ValueError, match="bound to the name `triple`"):
        engine.exercises_in({"LAB": "lab00", "triple": exercise})
    with pytest.raises(ValueError, match="'lab09.double'"):
        engine.exercises_in({"LAB": "lab09", "double": exercise})


def test_the_older_output_spelling_means_the_matching_strategy():
    def make(**kwargs):
        return FunctionExercise("lab00.f", reference=None, cases=lambda rng: [], hints=["a", "b"], **kwargs)

    assert make().compare == compare.Arrays(1e-5, 1e-6)
    assert make(output="integer", rtol=0, atol=0).compare == compare.Numbers(0, 0, integer=True)
    assert make(output="model").compare == compare.Models()
    assert make(output="any").compare == compare.Unchecked()
    with pytest.raises(ValueError, match="compare="):
        make(output="arrays")


# ---------------------------------------------------------------- the worked example of docs/authoring.md
SOLUTION_CELL = '''\
def average_pool2d(x, size=2, stride=2):
    """Average pooling over size×size windows moved by `stride`."""
    ### BEGIN SOLUTION
    # TODO: as max_pool2d, but keep the mean of each window.
    x = np.asarray(x, dtype=np.float64)
    out_h = (x.shape[0] - size) // stride + 1
    out_w = (x.shape[1] - size) // stride + 1
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            out[i, j] = x[i * stride:i * stride + size, j * stride:j * stride + size].mean()
    return out
    ### END SOLUTION
'''


def _average_pool2d(x, size=2, stride=2):
    from numpy.lib.stride_tricks import sliding_window_view

    return sliding_window_view(np.asarray(x, np.float64), (size, size))[::stride, ::stride].mean(axis=(-2, -1))


def _pool_cases(rng):
    side = int(rng.integers(5, 12))
    return [Case((rng.normal(size=(8, 8)),), label="a random 8×8 array (size and stride left at 2)"),
            Case((rng.normal(size=(side, side + 1)), 3, 2), label=f"a random {side}×{side + 1} array, size 3, stride 2"),
            Case((rng.normal(size=(6, 7)), 2, 1), label="a random 6×7 array, size 2, stride 1")]


def _declare_example_lab():
    """What labNN.py would hold: the exercise as data."""
    average_pool2d = FunctionExercise(
        "lab00.average_pool2d", reference=_average_pool2d, cases=_pool_cases, compare=compare.Arrays(rtol=1e-9),
        mistakes=[Mistake(lambda x, size=2, stride=2: _average_pool2d(x, size, size),
                          "`average_pool2d` steps by the window size; move the window `stride` pixels"),
                  Mistake(lambda x, size=2, stride=2: np.asarray(x)[::stride, ::stride][:-1, :-1],
                          "`average_pool2d` keeps one value per window; average the whole window")],
        hints=["Like max pooling, with the mean instead of the max.", "`window.mean()` for each window."])
    module = types.SimpleNamespace(LAB="lab00")
    module.average_pool2d = average_pool2d
    module.EXERCISES = engine.exercises_in({"LAB": "lab00", "average_pool2d": average_pool2d})
    return module


def _student_answer():
    namespace = {"np": np}
    exec(SOLUTION_CELL.replace("### BEGIN SOLUTION\n", "").replace("### END SOLUTION\n", ""), namespace)  # noqa: S102
    return namespace["average_pool2d"]


EXAMPLE = _declare_example_lab()
SOLUTIONS = {"average_pool2d": (_student_answer(),)}
WRONG = [
    ("average_pool2d", (lambda x, size=2, stride=2: _average_pool2d(x, size, size),), "steps by the window size"),
    ("average_pool2d", (lambda x, size=2, stride=2: _average_pool2d(x, size, stride).T,), "transposed"),
    ("average_pool2d", (lambda x, size=2, stride=2: _average_pool2d(x, size, stride) * size,), "values are wrong"),
]
test_example_solution_passes, test_example_wrong_answer_is_rejected, test_example_has_wrong_answers, \
    test_example_stub_is_not_attempted = exercise_table_tests(EXAMPLE, SOLUTIONS, WRONG)
TABLES.pop("lab00")  # the example is not a lab of the kit
TESTED_ELSEWHERE.pop("lab00")


def test_example_cell_builds_to_a_stub_the_check_calls_not_attempted():
    lab_cell = strip_solutions(SOLUTION_CELL, "example")
    assert "# TODO: as max_pool2d, but keep the mean of each window." in lab_cell
    assert "x.shape[0] - size" not in lab_cell
    namespace = {"np": np}
    exec(lab_cell, namespace)  # noqa: S102
    assert EXAMPLE.average_pool2d.evaluate(namespace["average_pool2d"]).status == "not_attempted"


def test_example_survives_its_own_mutation_test():
    answer = mutation.Answer("lab00.average_pool2d", "function", SOLUTION_CELL.replace("### BEGIN SOLUTION\n", "")
                             .replace("### END SOLUTION\n", ""), lambda: {"np": np})
    verdicts = mutation.judge(EXAMPLE.average_pool2d, answer)
    survivors = {v.mutant.key for v in verdicts if not v.killed}
    assert survivors == {"drop `x = np.asarray(x, dtype=np.float64)`"}  # the cases pass float arrays already
    assert len(verdicts) > 30
