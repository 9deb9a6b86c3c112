"""The check engine: every diagnostic path, on a toy exercise whose reference squares an array."""

from __future__ import annotations

import numpy as np
import pytest

from mitdl_util.checks import diagnostics, engine, render
from mitdl_util.checks.engine import AnswerExercise, Case, FunctionExercise, Mistake
from mitdl_util.checks.outcomes import STATUSES, Incorrect, Result

SECRET = 123456.0  # a value only the reference produces; no message may show it


def _square(x):
    return (np.asarray(x, dtype=np.float64) ** 2 + SECRET * (x.size == 1)).astype(np.float32)


def _cases(rng):
    return [Case((rng.random((3, 4)),), label="a random 3×4 array"),
            Case((np.array([2.0]),), label="a 1-element array")]


def make_exercise(**kwargs):
    options = dict(reference=_square, cases=_cases, dtype="float32", hints=["first", "second"])
    options.update(kwargs)
    return FunctionExercise("lab00.square", **options)


def right(x):
    return _square(x)


def test_right_answer_passes_and_result_is_truthy():
    """Does the reference pass, with a truthy Result naming the exercise?"""
    result = make_exercise().evaluate(right)
    assert result == Result("lab00.square", "passed", "")
    assert bool(result)


@pytest.mark.parametrize("answer, status, fragment", [
    (None, "not_attempted", "still the stub"),
    (..., "not_attempted", "still the stub"),
    (42, "incorrect", "should be a function"),
    (lambda x: None, "incorrect", "forget `return`"),
    (lambda x: "text", "incorrect", "expected a NumPy array"),
    (lambda x: [[object()]], "incorrect", "expected a NumPy array"),
    (lambda x: _square(x)[:, :3], "incorrect", "shape (3, 3)"),
    (lambda x: _square(x).T, "incorrect", "swapped"),
    (lambda x: _square(x)[None], "incorrect", "3 dimensions"),
    (lambda x: _square(x).astype(np.float64), "incorrect", "dtype float64"),
    (lambda x: _square(x) * np.nan, "incorrect", "NaN"),
    (lambda x: _square(x) + 1, "incorrect", "values are wrong"),
])
def test_wrong_answers_get_a_specific_message(answer, status, fragment):
    """Does each diagnostic (stub, type, shape, dtype, NaN, values) say what is wrong?"""
    result = make_exercise().evaluate(answer)
    assert result.status == status
    assert fragment in result.message


def test_stub_raising_not_implemented_is_not_attempted():
    def stub(x):
        raise NotImplementedError("TODO: square")

    assert make_exercise().evaluate(stub).status == "not_attempted"


def test_exception_in_student_code_names_their_line():
    """Is a crash in the student's function reported with its line, not a traceback wall?"""
    def broken(x):
        y = x * 2
        return y[10, 10]  # IndexError

    result = make_exercise().evaluate(broken)
    assert result.status == "error"
    assert "IndexError" in result.message
    assert "return y[10, 10]" in result.message
    assert "Traceback" not in result.message


def test_exception_inside_numpy_points_at_the_students_call():
    def broken(x):
        return np.dot(x, np.ones((7, 7))).astype(np.float32)

    result = make_exercise().evaluate(broken)
    assert result.status == "error"
    assert "np.dot(x, np.ones((7, 7)))" in result.message


def test_tolerance_accepts_rounding_but_never_broadcasts():
    close = make_exercise().evaluate(lambda x: (_square(x) * (1 + 1e-7)).astype(np.float32))
    assert close
    row = make_exercise(cases=lambda rng: [Case((np.ones(3),), label="three ones")]).evaluate(
        lambda x: np.ones((1, 3), np.float32))
    assert row.status == "incorrect" and "shape (1, 3)" in row.message


def test_range_is_checked_before_values():
    exercise = make_exercise(value_range=(0.0, 1.0))
    result = exercise.evaluate(lambda x: _square(x) - 5)
    assert result.status == "incorrect" and "within [0, 1]" in result.message


def test_known_mistake_gets_its_own_message():
    exercise = make_exercise(mistakes=[Mistake(lambda x: (_square(x) * 2).astype(np.float32), "you doubled it")])
    result = exercise.evaluate(lambda x: (_square(x) * 2).astype(np.float32))
    assert result.status == "incorrect" and result.message.startswith("you doubled it")


def test_messages_never_show_expected_values():
    """Across every wrong answer, does the expected value stay hidden?"""
    for answer in (lambda x: np.zeros_like(x, dtype=np.float32), lambda x: _square(x)[:1], lambda x: x):
        result = make_exercise().evaluate(answer)
        assert not result
        assert "123456" not in result.message and "1.235e+05" not in result.message


def test_mutating_the_input_is_reported():
    def in_place(x):
        x **= 2
        return _square(np.sqrt(x))

    result = make_exercise().evaluate(in_place)
    assert result.status == "incorrect" and "in place" in result.message


def test_cases_are_fresh_unless_the_grader_fixes_the_seed(monkeypatch):
    seen = []
    exercise = make_exercise(cases=lambda rng: seen.append(rng.random()) or [])
    exercise.evaluate(right)
    exercise.evaluate(right)
    assert seen[0] != seen[1]
    monkeypatch.setenv(engine.SEED_VARIABLE, "7")
    exercise.evaluate(right)
    exercise.evaluate(right)
    assert seen[2] == seen[3]


def test_a_bug_in_the_check_is_an_error_not_a_crash():
    exercise = make_exercise(reference=lambda x: 1 / 0)
    result = exercise.evaluate(right)
    assert result.status == "error" and "the check itself failed" in result.message


def test_wrong_number_of_answers_is_reported():
    result = make_exercise().evaluate()
    assert result.status == "error" and "takes (square)" in result.message


def test_check_prints_one_line_and_returns_the_result(capsys, monkeypatch):
    monkeypatch.delenv(engine.STRICT_VARIABLE, raising=False)
    result = make_exercise().check(None)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out.startswith("⏳ lab00.square: not attempted")
    assert result.status == "not_attempted"


def test_hints_progress_and_repeat_the_last(capsys):
    exercise = make_exercise()
    assert [exercise.hint() for _ in range(3)] == ["first", "second", "second"]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "💡 lab00.square hint 1/2: first"
    assert "last hint" in out[2]


def test_a_hint_is_shown_once_in_a_notebook(capsys):
    """`q.x.hint()` as a cell's last line: printed once, and IPython's display of the returned value adds nothing."""
    from IPython.core.formatters import DisplayFormatter

    hint = make_exercise().hint()
    assert capsys.readouterr().out.count("first") == 1
    assert hint == "first" and hint._ipython_display_() is None
    shown = []
    formatter = DisplayFormatter()
    formatter.ipython_display_formatter.for_type(type(hint), lambda value: shown.append(value) or True)
    assert formatter.format(hint) == ({}, {})  # handled by _ipython_display_, which prints nothing


def test_an_exercise_needs_two_hints():
    with pytest.raises(ValueError):
        make_exercise(hints=["only one"])


def test_progress_lists_last_outcomes(capsys):
    a, b = make_exercise(), make_exercise()
    a.evaluate(right)
    results = engine.progress("lab00", [a, b])
    out = capsys.readouterr().out
    assert "1/2 exercises passed" in out and "not checked yet" in out
    assert results[0] and results[1] is None


def test_answer_exercise_numbers():
    def judge(n):
        diagnostics.compare_numbers(n, 12, "n", "the count", integer=True)

    exercise = AnswerExercise("lab00.count", params=("n",), judge=judge, hints=["a", "b"])
    assert exercise.evaluate(12) and exercise.evaluate(np.int64(12)) and exercise.evaluate(12.0)
    assert exercise.evaluate(None).status == "not_attempted"
    assert "whole number" in exercise.evaluate(12.5).message
    assert "single number, not an array" in exercise.evaluate(np.array([12])).message
    assert "expected a number" in exercise.evaluate(True).message
    assert "finite" in exercise.evaluate(float("nan")).message
    assert "not right" in exercise.evaluate(13).message
    assert "12" not in exercise.evaluate(13).message.replace("13", "")


def test_result_display_and_text():
    result = Result("lab00.x", "incorrect", "why")
    assert str(result) == "❌ lab00.x: incorrect — why"
    assert result._ipython_display_() is None
    assert set(render.SYMBOLS) == set(STATUSES)


def test_describe_summarises_without_crashing():
    assert diagnostics.describe(None) == "None"
    assert "float64 array of shape (2,)" in diagnostics.describe(np.array([1.0, np.nan]))
    assert "1 NaN/inf" in diagnostics.describe(np.array([1.0, np.nan]))
    assert diagnostics.describe("x" * 100).endswith("...'")
    assert "list of 3 items" in diagnostics.describe([1, "a", None])
    assert "function `right`" in diagnostics.describe(right)


def test_incorrect_is_raised_not_printed(capsys):
    with pytest.raises(Incorrect):
        diagnostics.compare_arrays(np.ones(2), np.zeros(2), "f", "two zeros")
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------- answers that fight back (issue 15, self-checks)
def test_system_exit_inside_the_students_function_is_their_error():
    def quits(x):
        raise SystemExit(3)

    result = make_exercise().evaluate(quits)
    assert result.status == "error"
    assert "SystemExit" in result.message and "raise SystemExit(3)" in result.message


def test_keyboard_interrupt_inside_the_students_function_does_not_escape_check(capsys, monkeypatch):
    monkeypatch.delenv(engine.STRICT_VARIABLE, raising=False)

    def interrupted(x):
        raise KeyboardInterrupt

    result = make_exercise().check(interrupted)
    assert result.status == "error" and "interrupted" in result.message


class _ArrayRaises:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("no array for you")


class _FloatRaises(float):
    def __float__(self):
        raise RuntimeError("no float for you")


@pytest.mark.parametrize("returned", [_ArrayRaises(), [[_ArrayRaises()]], {"a": _ArrayRaises()}],
                         ids=["object", "nested-list", "dict"])
def test_an_object_that_breaks_on_conversion_is_the_students_error(returned):
    result = make_exercise().evaluate(lambda x: returned)
    assert result.status == "incorrect", result.message
    assert "the check itself failed" not in result.message


def test_a_float_whose_conversion_raises_is_judged_by_its_value():
    def judge(n):
        diagnostics.compare_numbers(n, 12.0, "n", "the count")

    exercise = AnswerExercise("lab00.count", params=("n",), judge=judge, hints=["a", "b"])
    assert exercise.evaluate(_FloatRaises(12.0))
    assert exercise.evaluate(_FloatRaises(13.0)).status == "incorrect"


class _Lying(np.ndarray):
    """An array whose astype returns itself and whose np.isclose says 'all equal': it passed 15 checks once."""

    def astype(self, *args, **kwargs):
        return self

    def __array_function__(self, func, types, args, kwargs):
        if func is np.isclose:
            return np.ones(np.shape(args[0]), dtype=bool)
        return super().__array_function__(func, types, args, kwargs)


def test_an_ndarray_subclass_that_lies_is_judged_as_plain_data():
    liar = np.zeros((3, 4), dtype=np.float32).view(_Lying)
    assert np.isclose(liar, np.ones((3, 4))).all()  # the lie works on NumPy itself...
    result = make_exercise(cases=lambda rng: [Case((rng.random((3, 4)),), label="a random 3×4 array")]).evaluate(
        lambda x: liar)
    assert result.status == "incorrect" and "values are wrong" in result.message  # ...not on the check
    assert type(diagnostics.plain(liar, "x")) is np.ndarray


def test_a_check_gets_the_time_limit_from_the_environment(monkeypatch):
    import time

    def endless(x):
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # a student's catch-all cannot swallow the limit
                pass

    monkeypatch.setenv(engine.TIMEOUT_VARIABLE, "0.5")
    start = time.perf_counter()
    result = make_exercise().evaluate(endless)
    assert time.perf_counter() - start < 5
    assert result.status == "incorrect" and "longer than the check's limit of 0.5 s" in result.message
    assert make_exercise().evaluate(right)  # a fast answer still passes under the limit
    monkeypatch.setenv(engine.TIMEOUT_VARIABLE, "")
    assert engine.check_timeout() is None
    monkeypatch.setenv(engine.TIMEOUT_VARIABLE, "soon")
    assert engine.check_timeout() is None


def test_the_time_limit_restores_the_alarm_it_found():
    import signal
    import time

    def outer(signum, frame):
        raise AssertionError("the outer alarm fired")

    previous = signal.signal(signal.SIGALRM, outer)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        with engine.time_limit(0.3):
            time.sleep(0.2)
        assert signal.getsignal(signal.SIGALRM) is outer
        assert 25 < signal.getitimer(signal.ITIMER_REAL)[0] <= 29.8  # it went on, less the time spent inside
        with engine.time_limit(60):  # an outer alarm that comes first is left alone
            assert signal.getsignal(signal.SIGALRM) is outer
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_messages_use_the_notebooks_names_for_parameters():
    def judge(n):
        if diagnostics.as_number(n, "n", integer=True) != 12:
            raise Incorrect("`n` = 13 is not the count; `n[0]` and `name` are other things.")

    exercise = AnswerExercise("lab00.count", params=("n",), judge=judge, hints=["a", "b"],
                              names={"n": "n_fc_params"})
    message = exercise.evaluate(13).message
    assert message == "`n_fc_params` = 13 is not the count; `n_fc_params[0]` and `name` are other things."
    assert "`n_fc_params` is still the stub" in exercise.evaluate(None).message
    with pytest.raises(ValueError, match="not among its params"):
        AnswerExercise("lab00.count", params=("n",), judge=judge, hints=["a", "b"], names={"m": "x"})


def _channels_last(x):
    return np.stack([np.asarray(x, np.float64) * k for k in (1, 2, 3)], axis=-1).astype(np.float32)


@pytest.mark.parametrize("answer, fragment", [
    (lambda x: _channels_last(x).transpose(2, 0, 1), "axes in a different order"),
    (lambda x: _channels_last(x).transpose(1, 0, 2), "axes in a different order"),
    (lambda x: _channels_last(x).transpose(1, 0, 2) if x.shape[0] == x.shape[1] else _channels_last(x),
     "values are in the wrong order of axes"),
    (lambda x: np.zeros((4, 3, 3), np.float32), "axes look swapped"),
])
def test_axis_order_mistakes_are_named_as_such(answer, fragment):
    """(D, H, W) for (H, W, D), or (W, H, D): an axis-order message, never 'off by a little… off-by-one?'."""
    exercise = FunctionExercise("lab00.layer", reference=_channels_last, dtype="float32", hints=["a", "b"],
                                cases=lambda rng: [Case((rng.random((3, 4)),), label="a random 3×4 array"),
                                                   Case((rng.random((4, 4)),), label="a random 4×4 array")])
    assert exercise.evaluate(_channels_last)
    result = exercise.evaluate(answer)
    assert result.status == "incorrect"
    assert fragment in result.message and "off-by-one" not in result.message


def test_square_transposed_values_are_named():
    exercise = make_exercise(cases=lambda rng: [Case((rng.random((4, 4)),), label="a random 4×4 array")])
    result = exercise.evaluate(lambda x: _square(x).T.copy())
    assert "wrong order of axes" in result.message


# ---------------------------------------------------------------- Keras models
keras = pytest.importorskip("keras")


def _model(*layers, shape=(8, 8, 1)):
    return keras.Sequential([keras.Input(shape=shape), *layers])


def _reference():
    return _model(keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                  keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax"))


@pytest.mark.parametrize("student, fragment", [
    (lambda: "not a model", "expected a `keras.Model`"),
    (lambda: _model(keras.layers.Conv2D(4, 3, activation="relu"), shape=(9, 9, 1)), "inputs of shape"),
    (lambda: _model(keras.layers.Dense(4), keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                    keras.layers.Dense(10, activation="softmax")), "layer 1 of"),
    (lambda: _model(keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                    keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")), "filters=8"),
    (lambda: _model(keras.layers.Conv2D(4, 3, activation="relu", padding="same"), keras.layers.MaxPooling2D(2),
                    keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")), "padding='same'"),
    (lambda: _model(keras.layers.Conv2D(4, 3, activation="relu", strides=2), keras.layers.MaxPooling2D(2),
                    keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")), "strides=(2, 2)"),
    (lambda: _model(keras.layers.Conv2D(4, 3), keras.layers.MaxPooling2D(2),
                    keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")), "activation='linear'"),
    (lambda: _model(keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                    keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax", use_bias=False)),
     "parameters"),
    (lambda: _model(keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                    keras.layers.Flatten()), "3 layers after the input"),
])
def test_model_checks_name_the_first_layer_that_differs(student, fragment):
    exercise = FunctionExercise("lab00.build", reference=_reference, output="model",
                                cases=lambda rng: [Case((), label="no arguments")], hints=["a", "b"])
    assert exercise.evaluate(_reference)
    result = exercise.evaluate(student)
    assert result.status == "incorrect"
    assert fragment in result.message


def test_a_model_passed_for_its_builder_says_so():
    exercise = FunctionExercise("lab00.build", reference=_reference, output="model",
                                cases=lambda rng: [Case((), label="no arguments")], hints=["a", "b"])
    result = exercise.evaluate(_reference())
    assert result.status == "incorrect"
    assert "without calling it" in result.message and "q.build.check(build)" in result.message
    assert "missing a required argument" not in result.message


def test_strict_mode_raises_when_a_check_does_not_pass(monkeypatch, capsys):
    """Solution notebooks run with MITDL_STRICT_CHECKS=1, so a failing check fails the notebook test."""
    monkeypatch.setenv(engine.STRICT_VARIABLE, "1")
    assert make_exercise().check(right)
    with pytest.raises(AssertionError, match="lab00.square: incorrect"):
        make_exercise().check(lambda x: x)
