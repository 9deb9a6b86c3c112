"""Judging in the worker: the check runs in this process, only the student's functions run in the kernel.

For an exercise whose answers are plain data (`plaindata`), the worker imports the check itself; each call of a
student's function becomes a cell in the kernel that runs it on plain-data arguments and sends back the result
(and the arguments, to see changes made in place). The reference, the cases and the comparison never leave the
worker, so nothing in the kernel can change the verdict. What cannot cross (a Keras model, a class), and exercises
with their own machinery (tracing the function, counting the lines it runs), are judged in the kernel instead.
"""

from __future__ import annotations

import json
import os
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError

from . import plaindata


class Fallback(BaseException):
    """An argument or result cannot cross as plain data: judge this exercise in the kernel instead."""


class KernelDiedInCall(BaseException):
    """The kernel died while the student's function ran."""


class RemoteFunction:
    """Stands for the student's function in the worker: each call runs it in the kernel on plain data."""

    def __init__(self, attempt, handle: str, dotted: str, deadline: float):
        self.attempt, self.handle, self.dotted, self.deadline = attempt, handle, dotted, deadline
        self.__name__ = dotted.split(".")[-1]
        self.unresponsive = False

    def __call__(self, *args, **kwargs):
        limit = self.attempt.g.options.cell_timeout
        left = self.deadline - time.monotonic()
        if self.unresponsive or left <= 0:
            raise _time_limit(limit)
        try:
            blob = json.dumps(plaindata.encode((args, kwargs)))
        except plaindata.CannotCross:
            raise Fallback from None
        try:
            _, lines = self.attempt._call(f"{self.handle}.emit_call({self.dotted!r}, {blob!r}, '__NONCE__');",
                                          max(1.0, left))
        except CellTimeoutError:
            self.unresponsive = not self.attempt._responsive()
            raise _time_limit(limit) from None
        except DeadKernelError:
            raise KernelDiedInCall from None
        if len(lines) != 1:
            raise RuntimeError("its result could not be read back (did it print or change the kernel's output?)")
        reply = lines[0]
        if "raised" in reply:
            ename, message, where = (list(reply["raised"]) + ["", "", ""])[:3]
            raise _student_exception(str(ename), str(message), str(where))
        tree = reply.get("result")
        if isinstance(tree, dict) and set(tree) == {"$o"}:
            raise Fallback  # it returned a live object (e.g. a Keras model): only the kernel can judge it
        try:
            result = plaindata.decode(tree)
        except (ValueError, TypeError, KeyError, RecursionError):
            raise Fallback from None
        copy_back(args, reply.get("after") or [])
        return result


def _time_limit(seconds: float) -> BaseException:
    from ..checks import outcomes

    limit = getattr(outcomes, "TimeLimitExceeded", None)
    return limit(seconds) if limit is not None else TimeoutError(f"it ran longer than {seconds:g} s")


_BUILTIN_EXCEPTIONS = {"NotImplementedError": NotImplementedError, "RecursionError": RecursionError}


def _student_exception(ename: str, message: str, where: str) -> Exception:
    """What the student's function raised in the kernel, as an exception of the same name here (an Exception, so
    that nothing the student raises can stop the worker), carrying where it was raised."""
    cls = _BUILTIN_EXCEPTIONS.get(ename) or type(ename if ename.isidentifier() else "Exception", (Exception,), {})
    exc = cls(message)
    exc.mitdl_where = where
    return exc


def copy_back(args: tuple, after: list) -> None:
    """Arrays the student's function changed in place in the kernel are changed here too (the checks look)."""
    import numpy as np

    for arg, tree in zip(args, after, strict=False):
        if tree is None or not isinstance(arg, np.ndarray):
            continue
        try:
            new = plaindata.decode(tree)
        except (ValueError, TypeError, KeyError):
            continue
        if not isinstance(new, np.ndarray) or new.shape != arg.shape or new.dtype != arg.dtype:
            continue  # not changed in place (a changed shape or dtype is a new array, not a change in place)
        same = np.array_equal(new, arg, equal_nan=new.dtype.kind in "fc")  # isnan exists for floats only
        if not same and arg.flags.writeable:
            np.copyto(arg, new)


def worker_exercise(lab: str, name: str):
    """The exercise, imported in the worker, if it can be judged here: a plain FunctionExercise (not of a model)
    or AnswerExercise. Exercises with their own machinery (e.g. counting the lines a function runs) stay in the
    kernel."""
    import importlib

    from ..checks import engine

    exercise = getattr(importlib.import_module(f"mitdl_util.checks.{lab}"), name, None)
    if type(exercise) is engine.AnswerExercise:
        return exercise
    if type(exercise) is engine.FunctionExercise and exercise.output != "model":
        return exercise
    return None


def evaluate_quietly(exercise, values: list, seed: int):
    """`exercise.evaluate(*values)` with the grade-time seed, printing nothing; `student_frame` reads where the
    student's code raised from the kernel's report."""
    import contextlib
    import io

    from ..checks import diagnostics, engine

    if not getattr(diagnostics.student_frame, "mitdl_remote", False):
        local = diagnostics.student_frame

        def student_frame(exc):
            return getattr(exc, "mitdl_where", None) or local(exc)

        student_frame.mitdl_remote = True
        diagnostics.student_frame = student_frame
    saved = os.environ.get(engine.SEED_VARIABLE)
    os.environ[engine.SEED_VARIABLE] = str(seed)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return exercise.evaluate(*values)
    finally:
        if saved is None:
            os.environ.pop(engine.SEED_VARIABLE, None)
        else:
            os.environ[engine.SEED_VARIABLE] = saved
