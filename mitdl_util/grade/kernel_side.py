"""Grading code that runs INSIDE the student's kernel, after the student's cells (see `guard` for what ran before).

The grader never imports this module: the worker sends its source (from the snapshot taken when grading began)
as a cell, executed in a private namespace so that no name of the student's is overwritten. It

- drops every ``mitdl_util*`` module from ``sys.modules`` and imports the check code again from the snapshot of
  the package's source files taken when grading began (a meta-path finder serves them), so edits or
  monkeypatches made by the notebook, in memory or on disk, count for nothing (files changed on disk are reported
  by the grader at the end of the run);
- compares the notebook's copy of the check modules with the fresh one and lists every difference (tampering),
  and, through the guard, every library function, class or module that is not the object loaded before the
  student's first cell (flagged and put back before each exercise; an exercise during which one was replaced gets
  no points);
- sets the grade-time seed, then evaluates one exercise per call on the student's objects (looked up by name and
  converted to plain data by the guard), with a time limit, printing nothing, and sends each result through the
  guard's channel (a file the grader reads), never through IPython's display machinery.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import signal
import sys
import time
import types

PACKAGE = "mitdl_util"
CHECKS = "mitdl_util.checks"
IGNORED_EXERCISE_STATE = {"last_result", "_hints_shown"}  # what check() and hint() legitimately change


class GradeTimeout(BaseException):
    """Raised by the alarm when one exercise runs too long (a BaseException, so `except Exception` cannot eat it)."""


# ---------------------------------------------------------------- fingerprints (what "unchanged" means)
def fingerprint(value, depth: int = 0):
    """A comparable summary of code and declared data: equal for two imports of the same source."""
    if depth > 4:
        return ("deep",)
    if isinstance(value, types.FunctionType):
        cells = ()
        if value.__closure__:
            cells = tuple(_cell_fingerprint(c, depth) for c in value.__closure__)
        return ("function", value.__code__, fingerprint(value.__defaults__, depth + 1), cells)
    if isinstance(value, types.MethodType):
        return ("method", fingerprint(value.__func__, depth + 1))
    if isinstance(value, (staticmethod, classmethod)):
        return (type(value).__name__, fingerprint(value.__func__, depth + 1))
    if isinstance(value, property):
        return ("property", fingerprint(value.fget, depth + 1), fingerprint(value.fset, depth + 1))
    if hasattr(value, "__wrapped__") and callable(value) and not isinstance(value, type):  # functools wrappers
        return ("wrapped", fingerprint(value.__wrapped__, depth + 1))
    if isinstance(value, type):
        members = {k: v for k, v in vars(value).items() if not k.startswith("__") or k in ("__init__", "__call__")}
        return ("class", value.__qualname__, tuple(b.__qualname__ for b in value.__mro__),
                tuple(sorted((k, fingerprint(v, depth + 1)) for k, v in members.items()
                             if callable(v) or isinstance(v, (staticmethod, classmethod, property)))))
    if isinstance(value, types.ModuleType):
        return ("module", value.__name__)
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return ("value", repr(value))
    if isinstance(value, (tuple, list, frozenset)):
        return (type(value).__name__, tuple(fingerprint(v, depth + 1) for v in value))
    if type(value).__name__ == "ndarray":
        return ("ndarray", value.shape, value.dtype.str, hashlib.sha256(value.tobytes()).hexdigest())
    if hasattr(value, "__dict__") and hasattr(value, "judge") and hasattr(value, "params"):  # an exercise
        if depth:  # inside a list such as EXERCISES: which exercise, not its contents (reported on its own)
            return ("exercise", getattr(value, "id", None))
        state = {k: v for k, v in vars(value).items() if k not in IGNORED_EXERCISE_STATE and k != "_signature"}
        return ("exercise", fingerprint(type(value), depth + 1),
                tuple(sorted((k, fingerprint(v, depth + 1)) for k, v in state.items())))
    if hasattr(value, "__dataclass_fields__"):
        return ("dataclass", type(value).__qualname__,
                tuple((k, fingerprint(getattr(value, k, None), depth + 1)) for k in value.__dataclass_fields__))
    return ("object", type(value).__qualname__)  # data (dicts, caches): not compared


def _cell_fingerprint(cell, depth):
    try:
        return fingerprint(cell.cell_contents, depth + 1)
    except ValueError:  # an empty cell
        return ("empty",)


def module_fingerprints(module) -> dict:
    return {k: fingerprint(v) for k, v in vars(module).items() if not k.startswith("__")}


def compare_modules(name: str, old, fresh) -> list[str]:
    """Words for every attribute of `fresh` that the notebook's copy `old` lacks or holds differently."""
    if not isinstance(old, types.ModuleType):
        return [f"`{name}` in sys.modules was replaced by {type(old).__name__} object"]
    found = []
    old_prints, fresh_prints = module_fingerprints(old), module_fingerprints(fresh)
    for attr, fresh_print in fresh_prints.items():
        if attr not in old_prints:
            if isinstance(getattr(fresh, attr, None), types.ModuleType):
                continue  # a submodule the grader imported and the notebook never did (e.g. another lab's checks)
            found.append(f"`{name}.{attr}` was deleted")
        elif old_prints[attr] != fresh_print:
            found.append(f"`{name}.{attr}` was changed{_detail(getattr(old, attr), getattr(fresh, attr))}")
    return found


def _detail(old, fresh) -> str:
    """For an exercise or a class: which member differs."""
    if hasattr(fresh, "judge") and hasattr(fresh, "params") and hasattr(old, "__dict__"):
        names = set(vars(old)) | set(vars(fresh)) | {k for k in dir(type(fresh)) if not k.startswith("__")}
        changed = sorted(k for k in names - IGNORED_EXERCISE_STATE - {"_signature"}
                         if fingerprint(_member(old, k)) != fingerprint(_member(fresh, k)))
        return f" (its {', '.join(f'`{k}`' for k in changed)})" if changed else ""
    if isinstance(fresh, type) and isinstance(old, type):
        names = set(vars(old)) | set(vars(fresh))
        changed = sorted(k for k in names if fingerprint(vars(old).get(k)) != fingerprint(vars(fresh).get(k)))
        return f" (its {', '.join(f'`{k}`' for k in changed)})" if changed else ""
    return ""


def _member(obj, name):
    if name in getattr(obj, "__dict__", {}):
        return obj.__dict__[name]
    for klass in type(obj).__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


# ---------------------------------------------------------------- the grader
class Grader:
    """Holds the fresh check module and grades one exercise per `grade` call; `guard` is what ran before the
    student's cells (the results channel, the library baseline and `plain`)."""

    def __init__(self, config: dict, sources: dict, user_ns: dict, guard):
        self.config = config
        self.finder = guard.SnapshotFinder(sources)
        self.user_ns = user_ns
        self.guard = guard
        self.tampering: list[str] = []
        self.lab = None
        self.baseline: dict = {}

    # -- set-up
    def setup(self) -> dict:
        libraries = self.guard.changes(restore=True)  # put the libraries back before the check code is imported
        old = {n: m for n, m in sys.modules.items() if n == PACKAGE or n.startswith(PACKAGE + ".")}
        self._load_fresh()
        for name, module in old.items():
            if name.startswith(CHECKS) and name in self.finder.sources:
                try:
                    fresh = importlib.import_module(name)
                except Exception as exc:  # noqa: BLE001 - reported, grading goes on
                    self.tampering.append(f"`{name}` could not be re-imported ({type(exc).__name__})")
                    continue
                self.tampering.extend(compare_modules(name, module, fresh))
        for item in libraries:
            self._note(f"{item} (put back before grading)")
        self.baseline = self._fingerprints()
        return {"exercises": [{"name": ex.name, "id": ex.id, "points": ex.points} for ex in self.lab.EXERCISES],
                "tampering": list(self.tampering), "digest": self.guard.digest()}

    def _load_fresh(self) -> None:
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)
        sys.meta_path.insert(0, self.finder)
        importlib.invalidate_caches()
        engine = importlib.import_module(f"{CHECKS}.engine")
        os.environ[engine.SEED_VARIABLE] = str(self.config["seed"])
        os.environ.pop(engine.STRICT_VARIABLE, None)
        self.lab = importlib.import_module(f"{CHECKS}.{self.config['lab']}")

    def _fingerprints(self) -> dict:
        return {n: module_fingerprints(m) for n, m in sys.modules.items()
                if n.startswith(CHECKS) and isinstance(m, types.ModuleType)}

    def _changed_since_baseline(self) -> bool:
        now = self._fingerprints()
        return any(now.get(n) != prints for n, prints in self.baseline.items())

    # -- one exercise
    def grade(self, name: str) -> dict:
        for item in self.guard.changes(restore=True):
            self._note(f"{item} (put back before `{name}` was graded)")
        if self._changed_since_baseline():
            self._note("the check code was changed while another exercise ran; it was loaded again")
            self._load_fresh()
            self.baseline = self._fingerprints()
        exercise = getattr(self.lab, name)
        names = list(self.config["answers"][name])  # chosen by the grader (see grader.exercise_list)
        values, missing = [], []
        for dotted in names:  # "x" or "data.x_test": a variable, then attributes
            head, *attributes = dotted.split(".")
            if head not in self.user_ns:
                missing.append(head)
                continue
            value = self.user_ns[head]
            try:
                for attribute in attributes:
                    value = getattr(value, attribute)
                value = self.guard.plain(value)
            except Exception:  # noqa: BLE001 - any failure means the answer is not there
                missing.append(dotted)
            values.append(value)
        if missing:
            return {"name": name, "status": "missing", "missing": missing, "time": 0.0,
                    "tampering": list(self.tampering)}
        start = time.perf_counter()
        status, message = self._evaluate(exercise, values)
        elapsed = time.perf_counter() - start
        if self._changed_since_baseline():
            self._note(f"the check code was changed while `{name}` ran")
            status, message = "error", (f"`{name}` changed the check code while it was being checked; "
                                        "this exercise gets no points.")
            self._load_fresh()
            self.baseline = self._fingerprints()
        replaced = self.guard.changes(restore=True)
        if replaced:
            for item in replaced:
                self._note(f"{item} while `{name}` was being checked")
            status, message = "error", (f"a library the check uses was replaced while `{name}` was being checked "
                                        f"({replaced[0]}); this exercise gets no points.")
        return {"name": name, "status": status, "message": message, "time": round(elapsed, 4),
                "tampering": list(self.tampering)}

    # -- for exercises judged in the worker: the answers as plain data, and calls of the student's functions
    def answers(self, name: str) -> dict:
        """Each answer of `name` as plain data, `{"$f": name}` for a function, `{"$o": type}` for other objects."""
        for item in self.guard.changes(restore=True):
            self._note(f"{item} (put back before `{name}` was graded)")
        plaindata = self.guard.plaindata
        values, missing = [], []
        for dotted in self.config["answers"][name]:
            try:
                value = self._lookup(dotted)
            except LookupError:
                missing.append(dotted)
                continue
            if isinstance(value, types.FunctionType):
                values.append({"$f": dotted})
                continue
            try:
                values.append(plaindata.encode(value))
            except Exception:  # noqa: BLE001 - CannotCross, or an object that breaks when read
                values.append({"$o": type(value).__name__})
        return {"values": values, "missing": missing, "tampering": list(self.tampering)}

    def call(self, dotted: str, blob: str) -> dict:
        """Call the student's function `dotted` on the worker's arguments; its result (and the arguments after the
        call, to see changes made in place) as plain data, or what it raised."""
        plaindata = self.guard.plaindata
        import json

        args, kwargs = plaindata.decode(json.loads(blob), tensors=True)
        func = self._lookup(dotted)
        sink = io.StringIO()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                result = func(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - what the student's code raised, reported to the worker
            diagnostics = sys.modules.get(f"{CHECKS}.diagnostics")
            where = diagnostics.student_frame(exc) if diagnostics else ""
            return {"raised": [type(exc).__name__, str(exc)[:500], where]}
        try:
            out = plaindata.encode(result)
        except Exception:  # noqa: BLE001
            out = {"$o": type(result).__name__}
        after = []
        for arg in args:
            try:
                after.append(plaindata.encode(arg) if type(arg).__name__ == "ndarray" else None)
            except Exception:  # noqa: BLE001
                after.append(None)
        return {"result": out, "after": after}

    def _lookup(self, dotted: str):
        head, *attributes = dotted.split(".")
        if head not in self.user_ns:
            raise LookupError(dotted)
        value = self.user_ns[head]
        try:
            for attribute in attributes:
                value = getattr(value, attribute)
        except Exception:  # noqa: BLE001 - any failure means the answer is not there
            raise LookupError(dotted) from None
        return value

    def _note(self, text: str) -> None:
        if text not in self.tampering:
            self.tampering.append(text)

    def _evaluate(self, exercise, values) -> tuple[str, str]:
        limit = float(self.config["exercise_timeout"])
        alarm = _Alarm(limit + 2)  # a backstop: the check's own limit (MITDL_CHECK_TIMEOUT) comes first
        sink = io.StringIO()
        try:
            with alarm, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                result = exercise.evaluate(*values)
        except (GradeTimeout, KeyboardInterrupt):
            return "error", f"checking `{exercise.name}` did not finish within {limit:g} s (the time limit)."
        except BaseException as exc:  # noqa: BLE001 - SystemExit and friends from student code
            return "error", f"checking `{exercise.name}` was stopped by {type(exc).__name__}: {exc}"[:300]
        return str(result.status), str(result.message)


class _Alarm:
    """SIGALRM after `limit` seconds (POSIX main thread only; elsewhere the client's cell timeout interrupts)."""

    def __init__(self, limit: float):
        self.limit = limit
        self.previous = None
        self.armed = False

    def __enter__(self):
        if hasattr(signal, "setitimer"):
            try:
                self.previous = signal.signal(signal.SIGALRM, _raise_timeout)
            except ValueError:  # not the main thread
                return self
            signal.setitimer(signal.ITIMER_REAL, self.limit)
            self.armed = True
        return self

    def __exit__(self, *exc):
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous or signal.SIG_DFL)
        return False


def _raise_timeout(signum, frame):
    raise GradeTimeout()
