"""The check engine: exercises are declared as data and run by the small classes here.

An exercise's `check(...)` runs its cases, turns the outcome (`Incorrect`, `NotAttempted`, `StudentError`, or
none = passed) into a `Result`, prints it once through `render` and returns it.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import compare as comparisons
from . import diagnostics, render
from .outcomes import ERROR, INCORRECT, PASSED, Incorrect, NotAttempted, Outcome, Result, TimeLimitExceeded

SEED_VARIABLE = "MITDL_CHECK_SEED"
STRICT_VARIABLE = "MITDL_STRICT_CHECKS"  # "1": a check that does not pass raises (solution notebooks under test)
TIMEOUT_VARIABLE = "MITDL_CHECK_TIMEOUT"  # seconds one check may take (unset: no limit; `mitdl grade` sets it)


def case_rng() -> np.random.Generator:
    """Fresh randomness for each check (so a shown example cannot be hard-coded), unless the grader fixes it."""
    seed = os.environ.get(SEED_VARIABLE)
    return np.random.default_rng(int(seed) if seed else secrets.randbits(64))


def check_timeout() -> float | None:
    """The time limit of one check in seconds from MITDL_CHECK_TIMEOUT, or None (no limit)."""
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    try:
        seconds = float(text) if text else 0.0
    except ValueError:
        return None
    return seconds if seconds > 0 else None


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise `TimeLimitExceeded` in the block after `seconds`. A no-op without a limit, off the main thread, or
    where there is no SIGALRM (Windows): there the check simply waits."""
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise TimeLimitExceeded(seconds)

    outer_left, _ = signal.getitimer(signal.ITIMER_REAL)
    if outer_left and outer_left <= seconds:  # an outer alarm (the grader's backstop) comes first: leave it be
        yield
        return
    previous = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    remaining, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining:  # an outer timer (the grader's backstop) was running: it goes on, less the time spent here
            signal.setitimer(signal.ITIMER_REAL, max(remaining - (time.monotonic() - started), 1e-3), interval)



@contextlib.contextmanager
def _quiet_tensorflow():
    """TensorFlow's own warnings (a retrace per fresh copy of a model in the cases) stay out of the check's line."""
    if "tensorflow" not in sys.modules:
        yield
        return
    import logging

    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class Hint(str):
    """The hint `hint()` printed; Jupyter does not show it a second time as the cell's value."""

    def _ipython_display_(self) -> None:
        """Already printed."""


@dataclass(frozen=True)
class Case:
    """One input to a student's function; `label` says in words what it is, for messages."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: if the student's output matches `wrong`'s, say `message` instead of a generic miss."""

    wrong: Callable
    message: str


class Exercise:
    """Base class: naming, hints, points, the outcome-to-result conversion and the last result."""

    def __init__(self, exercise_id: str, *, params: Sequence[str], hints: Sequence[str], points: int = 1,
                 description: str = "", names: dict[str, str] | None = None):
        if len(hints) < 2:
            raise ValueError(f"{exercise_id}: declare at least two hints")
        self.id = exercise_id
        self.name = exercise_id.split(".", 1)[-1]
        self.params = tuple(params)
        unknown = set(names or {}) - set(self.params)
        if unknown:
            raise ValueError(f"{exercise_id}: `names` renames {sorted(unknown)}, which are not among its params "
                             f"{list(self.params)}")
        self.names = dict(names or {})  # param -> the notebook's variable, as messages should call it
        self.hints = tuple(hints)
        self.points = points
        self.description = description
        self.last_result: Result | None = None
        self._hints_shown = 0
        self._signature = inspect.Signature(
            [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in self.params])

    def __repr__(self) -> str:
        return f"<exercise {self.id}({', '.join(self.params)})>"

    def check(self, *args, **kwargs) -> Result:
        """Check the answer, print one line saying how it went, and return the `Result`."""
        result = self.evaluate(*args, **kwargs)
        render.show(result)
        if not result and os.environ.get(STRICT_VARIABLE) == "1":
            raise AssertionError(f"{STRICT_VARIABLE}=1 and {render.result_line(result)}")
        return result

    def evaluate(self, *args, **kwargs) -> Result:
        """Like `check`, without printing."""
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError:
            result = Result(self.id, ERROR, f"`{self.name}.check` takes ({', '.join(self.params)}); "
                                             f"you passed {len(args) + len(kwargs)} value(s).")
        else:
            result = self._run(*bound.args)
        self.last_result = result
        return result

    def _run(self, *answers) -> Result:
        seconds = check_timeout()
        try:
            with time_limit(seconds), _quiet_tensorflow():
                answers = tuple(diagnostics.plain(a, name) for a, name in zip(answers, self.params, strict=True))
                self.judge(*answers)
        except Outcome as outcome:
            return Result(self.id, outcome.status, self.rename(str(outcome)))
        except TimeLimitExceeded:
            return Result(self.id, INCORRECT, self.rename(
                f"checking `{self.name}` took longer than the limit of {seconds:g} s ({TIMEOUT_VARIABLE}); "
                "look for a loop that never ends or far more work than the exercise needs."))
        except Exception as exc:  # a bug in the check itself, not the student's fault
            return Result(self.id, ERROR, f"the check itself failed ({type(exc).__name__}: {exc}); your answer may be "
                                          "fine — please report this to the course staff.")
        return Result(self.id, PASSED, "")

    def rename(self, message: str) -> str:
        """`message` with each parameter written as the notebook's variable (`n` -> `n_fc_params`)."""
        for param, variable in self.names.items():
            message = re.sub(rf"`{re.escape(param)}(?=[`\[.(])", f"`{variable}", message)
        return message

    def judge(self, *answers) -> None:
        """Raise an `Outcome` unless the answers are right."""
        raise NotImplementedError

    def hint(self) -> Hint:
        """Print the next hint (the last one repeats) and return its text (which a notebook does not show again)."""
        number = min(self._hints_shown, len(self.hints) - 1)
        self._hints_shown += 1
        line = render.hint_line(self.id, number + 1, len(self.hints), self.hints[number])
        print(line)
        return Hint(self.hints[number])


class FunctionExercise(Exercise):
    """The answer is a function; it is run on several cases (fixed and fresh random) against a reference.

    `compare` (a strategy from `mitdl_util.checks.compare`, or any `f(got, expected, name, case)` raising
    Incorrect) judges each output against the reference's; `validate` (one `f(got, case)` or a sequence of them)
    adds checks that need no reference. The older spelling `output="array" | "number" | "integer" | "model" |
    "any"` with `rtol`, `atol`, `dtype`, `value_range` still works and means the matching strategy.
    """

    def __init__(self, exercise_id: str, *, reference: Callable | None,
                 cases: Callable[[np.random.Generator], list[Case]], hints: Sequence[str],
                 compare: Callable[[Any, Any, str, Case], None] | None = None, output: str = "array",
                 dtype: str | None = None, value_range: tuple[float, float] | None = None, rtol: float = 1e-5,
                 atol: float = 1e-6, mistakes: Sequence[Mistake] = (),
                 validate: Callable[[Any, Case], None] | Sequence[Callable[[Any, Case], None]] | None = None,
                 points: int = 1, description: str = ""):
        name = exercise_id.split(".", 1)[-1]
        super().__init__(exercise_id, params=(name,), hints=hints, points=points, description=description)
        self.reference = reference
        self.cases = cases
        self.output = output
        self.dtype = dtype
        self.value_range = value_range
        self.rtol, self.atol = rtol, atol
        self.compare = compare if compare is not None else comparisons.from_output(
            output, rtol=rtol, atol=atol, dtype=dtype, value_range=value_range)
        self.mistakes = tuple(mistakes)
        self.validators = (() if validate is None else (validate,) if callable(validate) else tuple(validate))
        self.mistake_errors: list[str] = []  # mistakes that raised instead of giving an output: authoring errors

    @property
    def validate(self):
        """The first validator (older code reads one `validate`)."""
        return self.validators[0] if self.validators else None

    def judge(self, func) -> None:
        diagnostics.check_not_stub(func, self.name)
        if diagnostics.is_keras_object(func):
            raise Incorrect(f"`{self.name}` is {diagnostics.describe(func)}, not the function that makes one: pass "
                            f"the function itself, without calling it — `q.{self.name}.check({self.name})`.")
        if not callable(func):
            raise Incorrect(f"`{self.name}` should be a function; you passed {diagnostics.describe(func)}.")
        for case in self.cases(case_rng()):
            self._judge_case(func, case)

    def _judge_case(self, func, case: Case) -> None:
        args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
        got = diagnostics.plain(diagnostics.student_call(func, self.name, args, kwargs, case.label), self.name,
                                case.label)
        if got is None:
            raise Incorrect(f"`{self.name}` returned None for {case.label} — did you forget `return`?")
        self._check_inputs_untouched(args, case)
        expected = (None if self.reference is None
                    else self.reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs)))
        try:
            self._compare(got, expected, case)
        except Incorrect:
            for mistake in self.mistakes:
                if self._matches(got, mistake, case):
                    raise Incorrect(f"{mistake.message} (for {case.label})") from None
            raise

    def _compare(self, got, expected, case: Case) -> None:
        self.compare(got, expected, self.name, case)
        for validator in self.validators:
            validator(got, case)

    def _matches(self, got, mistake: Mistake, case: Case) -> bool:
        """Does `got` equal what `mistake` outputs for `case`? A mistake that raises is an authoring error: it is
        recorded in `mistake_errors` (tests/test_exercise_authoring.py fails on it), and does not match."""
        try:
            wrong = mistake.wrong(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        except Exception as exc:  # noqa: BLE001 - the author's bug, reported by the tests, not the student's
            self.mistake_errors.append(f"{mistake.message[:60]}… raised {type(exc).__name__}: {exc} for {case.label}")
            return False
        try:
            self._compare(got, wrong, case)
        except Outcome:
            return False
        except Exception as exc:  # noqa: BLE001 - comparing with the mistake's output crashed: also the author's
            self.mistake_errors.append(f"{mistake.message[:60]}…: comparing with its output raised "
                                       f"{type(exc).__name__}: {exc} for {case.label}")
            return False
        return True

    def _check_inputs_untouched(self, args: tuple, case: Case) -> None:
        for position, (before, after) in enumerate(zip(case.args, args, strict=True)):
            if isinstance(before, np.ndarray) and isinstance(after, np.ndarray):
                nan_too = np.issubdtype(before.dtype, np.inexact)  # strings and objects have no NaN
                if before.shape != after.shape or not np.array_equal(before, after, equal_nan=nan_too):
                    raise Incorrect(f"`{self.name}` changed its input argument {position + 1} in place for "
                                    f"{case.label}; work on a copy (e.g. `x.copy()`) so the caller's array stays "
                                    "as it was.")


class AnswerExercise(Exercise):
    """The answers are values (numbers, tuples, dicts); `judge` is a small function raising `Incorrect`."""

    def __init__(self, exercise_id: str, *, params: Sequence[str], judge: Callable[..., None],
                 hints: Sequence[str], points: int = 1, description: str = "", names: dict[str, str] | None = None):
        super().__init__(exercise_id, params=params, hints=hints, points=points, description=description,
                         names=names)
        self._judge = judge

    def judge(self, *answers) -> None:
        for name, value in zip(self.params, answers, strict=True):
            diagnostics.check_not_stub(value, name)
        self._judge(*answers)


class Progress(list):
    """The last result of each exercise (None: not checked yet); already printed as a table."""

    def _ipython_display_(self) -> None:
        """`progress()` printed the table; showing the list again as the cell's value adds nothing."""


def progress(lab: str, exercises: Sequence[Exercise]) -> Progress:
    """Print a table of the lab's exercises and their last outcome; return the last results."""
    rows = [(ex.name, ex.last_result) for ex in exercises]
    print(render.progress_table(lab, rows))
    return Progress(r for _, r in rows)


def notebook_names(exercises: Sequence[Exercise]) -> dict[str, tuple[str, ...]]:
    """The notebook variables each exercise's check takes, where an exercise renames its params (`names=`): the
    `ANSWERS` map `mitdl grade` reads."""
    return {ex.name: tuple(ex.names.get(p, p) for p in ex.params) for ex in exercises if ex.names}


def exercises_in(namespace: dict) -> list[Exercise]:
    """The exercises a check module declares, in declaration order. Each must be bound to its own name (the id
    "lab02.conv2d" to `conv2d` in lab02's module), since notebooks call `q.<name>.check(...)`."""
    found = []
    for variable, value in namespace.items():
        if not isinstance(value, Exercise):
            continue
        lab = namespace.get("LAB")
        if value.name != variable or (lab and value.id != f"{lab}.{variable}"):
            expected = f"{lab}.{variable}" if lab else variable
            raise ValueError(f"the exercise {value.id!r} is bound to the name `{variable}`; give it the id "
                             f"{expected!r} or bind it to `{value.name}` (notebooks call q.<name>.check)")
        found.append(value)
    return found


__all__ = ["AnswerExercise", "Case", "Exercise", "FunctionExercise", "Hint", "Incorrect", "Mistake", "NotAttempted",
           "TimeLimitExceeded", "case_rng", "check_timeout", "exercises_in", "notebook_names", "progress",
           "time_limit"]
