"""Shared diagnostics: describe what a student passed, and compare it with the reference without ever
broadcasting or printing the expected values."""

from __future__ import annotations

import itertools
import math
import numbers
import traceback
from pathlib import Path

import numpy as np

from .outcomes import Incorrect, NotAttempted, Outcome, StudentError, TimeLimitExceeded

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


def describe(value) -> str:
    """A short, safe summary of any value: its type, shape, dtype and range."""
    try:
        return _describe(value)
    except Exception:  # an object whose attributes raise: say what it is, nothing more
        return f"a {type(value).__name__}"


def _describe(value) -> str:
    if value is None:
        return "None"
    if value is Ellipsis:
        return "`...` (the stub)"
    if isinstance(value, (bool, np.bool_)):
        return f"the boolean {bool(value)}"
    if isinstance(value, numbers.Number) and not isinstance(value, np.ndarray):
        return f"the {type(value).__name__} {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    array = as_array(value)
    if array is not None and array.dtype != object:
        kind = "array" if isinstance(value, np.ndarray) else f"{type(value).__name__} (as an array)"
        text = f"a {array.dtype} {kind} of shape {tuple(array.shape)}"
        if array.size and np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array):
            finite = array[np.isfinite(array)] if np.issubdtype(array.dtype, np.floating) else array
            if finite.size:
                text += f", values in [{_fmt(finite.min())}, {_fmt(finite.max())}]"
            bad = array.size - finite.size
            if bad:
                text += f", {bad} NaN/inf"
        return text
    if isinstance(value, (list, tuple, dict, set)):
        return f"a {type(value).__name__} of {len(value)} item{'s' if len(value) != 1 else ''}"
    if callable(value):
        return f"the function `{getattr(value, '__name__', type(value).__name__)}`"
    return f"a {type(value).__name__}"


def _fmt(x) -> str:
    x = float(x)
    return f"{x:.4g}"


def base_array(array: np.ndarray) -> np.ndarray:
    """`array` as a plain np.ndarray: a subclass (whose methods could say anything) becomes a base-class copy."""
    if type(array) is np.ndarray:
        return array
    return np.ndarray.copy(np.ndarray.view(array, np.ndarray))


def as_array(value):
    """Convert array-likes (lists, NumPy, TensorFlow tensors) to a NumPy array; None if impossible."""
    if isinstance(value, np.ndarray):
        return base_array(value)
    if _has_callable(value, "numpy"):  # tf.Tensor, keras tensors
        try:
            return base_array(np.asarray(value.numpy()))
        except Exception:
            return None
    if isinstance(value, (list, tuple, numbers.Number, np.generic)):
        try:
            array = np.asarray(value)
        except Exception:
            return None
        return None if array.dtype == object else array
    return None


def _has_callable(value, attribute: str) -> bool:
    try:
        return callable(getattr(value, attribute, None))
    except Exception:
        return False


def is_keras_object(value) -> bool:
    """A Keras model or layer instance (not a class, not a function)."""
    if isinstance(value, type):
        return False
    return any(c.__module__.split(".")[0] in ("keras", "tf_keras") and c.__name__ in ("Model", "Layer")
               for c in type(value).__mro__)


_PLAIN_SCALARS = (bool, int, float, complex, str, bytes)
_MAX_DEPTH = 32


def plain(value, name: str, context: str = "", _depth: int = 0):
    """The student's value as data the checks can trust: NumPy subclasses as base ndarrays, subclasses of Python
    numbers and strings as the base values, lists, tuples and dicts rebuilt; tensors, models, functions and other
    objects as they are. Incorrect when it cannot be read (an `__array__` that raises, a `__float__` that lies)."""
    where = f" for {context}" if context else ""
    if value is None or value is Ellipsis or type(value) in _PLAIN_SCALARS:
        return value
    if _depth > _MAX_DEPTH:
        raise Incorrect(f"`{name}` is nested more than {_MAX_DEPTH} levels deep{where}; expected plain numbers, "
                        "arrays, lists or dicts.")
    try:
        if isinstance(value, np.ndarray):
            return base_array(value)
        if isinstance(value, np.generic):
            return value if type(value).__module__ == "numpy" else base_array(np.asarray(value))[()]
        for base in _PLAIN_SCALARS:
            if isinstance(value, base):
                return {bool: bool, int: int.__int__, float: float.__float__, complex: complex.__complex__,
                        str: str.__str__, bytes: bytes.__bytes__}[base](value)
        if isinstance(value, (list, tuple)):
            items = [plain(v, name, context, _depth + 1) for v in (list.__iter__(value) if isinstance(value, list)
                                                                 else tuple.__iter__(value))]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, dict):
            return {plain(k, name, context, _depth + 1): plain(v, name, context, _depth + 1)
                    for k, v in dict.items(value)}
        module = type(value).__module__.split(".")[0]
        if module in ("tensorflow", "keras", "tf_keras", "jax", "torch") or callable(value) \
                or isinstance(value, (set, frozenset, range, type)):
            return value
        if _has_callable(value, "__array__") or hasattr(type(value), "__array_interface__"):
            return base_array(np.asarray(value))
    except Outcome:
        raise
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
        raise Incorrect(f"`{name}` gave {describe(value)}{where}, which could not be read as plain numbers "
                        f"({detail[:120]}); return a NumPy array, a number or a list.") from exc
    return value


def real_array(value, *, allow_bool: bool = True) -> np.ndarray | None:
    """`value` (a list, NumPy array or TensorFlow tensor) as an array of real numbers — or of booleans, unless
    `allow_bool` is False — or None when it is not one (strings, objects, complex numbers, ragged lists)."""
    array = as_array(value)
    if array is None or array.dtype == object or np.iscomplexobj(array):
        return None
    if np.issubdtype(array.dtype, np.number) or (allow_bool and array.dtype == bool):
        return array
    return None


def check_not_stub(value, name: str) -> None:
    """An untouched `name = None  # TODO` or `...` means the exercise was not attempted yet."""
    if value is None or value is Ellipsis:
        raise NotAttempted(f"`{name}` is still the stub ({describe(value)}): fill in the TODO, run that cell, then check again.")


def student_call(func, name: str, args: tuple, kwargs: dict, context: str):
    """Call the student's function; turn a stub or a crash into an outcome naming their line of code."""
    try:
        return func(*args, **kwargs)
    except NotImplementedError as exc:
        raise NotAttempted(f"`{name}` still raises NotImplementedError: fill in its TODO, run that cell, then check again.") from exc
    except RecursionError as exc:
        raise StudentError(f"`{name}` recursed without end for {context}.") from exc
    except TimeLimitExceeded as exc:
        raise Incorrect(f"`{name}` took longer than the check's limit of {exc.seconds:g} s for {context} (still "
                        "running when it was stopped): look for a loop that never ends or far more work than "
                        "the exercise needs.") from exc
    except SystemExit as exc:
        raise StudentError(f"`{name}` called exit (SystemExit {exc.code!r}) for {context}{student_frame(exc)}; "
                           "a function should return its result, not stop Python.") from exc
    except KeyboardInterrupt as exc:
        raise StudentError(f"`{name}` was interrupted (KeyboardInterrupt) for {context}{student_frame(exc)}; "
                           "run the check again and let it finish.") from exc
    except Exception as exc:  # the student's code failed: report where, not a traceback wall
        where = student_frame(exc)
        detail = f"{type(exc).__name__}: {exc}".strip()
        if len(detail) > 200:
            detail = detail[:197] + "..."
        raise StudentError(f"`{name}` raised {detail} for {context}{where}.") from exc


def student_frame(exc: BaseException) -> str:
    """' at line N of your code: `...`' for the innermost frame outside this package and installed libraries."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if not _is_library(f.filename)]
    if not mine:
        return ""
    frame = mine[-1]
    code = (frame.line or "").strip()
    return f", at line {frame.lineno} of your code" + (f": `{code}`" if code else "")


def is_library(filename: str) -> bool:
    """Is `filename` this package's or an installed library's (not the student's code)?"""
    return _is_library(filename)


def _is_library(filename: str) -> bool:
    path = filename.replace("\\", "/")
    return (
        path.startswith(_PACKAGE_DIR.replace("\\", "/"))
        or "/site-packages/" in path
        or "/dist-packages/" in path
        or "/lib/python3" in path
        or path.startswith("<frozen")
    )


def as_number(value, name: str, *, integer: bool = False) -> float | int:
    """The student's value as a Python number, or Incorrect saying what they passed instead."""
    check_not_stub(value, name)
    if isinstance(value, (bool, np.bool_)):
        raise Incorrect(f"`{name}` is {describe(value)}; expected a number.")
    array = as_array(value)
    if array is not None and array.shape == (1,) and not isinstance(value, (numbers.Number, np.generic)):
        raise Incorrect(f"`{name}` is {describe(value)}; expected a single number, not an array — use `float(...)` or `.item()`.")
    if array is None or array.ndim != 0 or not np.issubdtype(array.dtype, np.number):
        raise Incorrect(f"`{name}` is {describe(value)}; expected a single number.")
    number = array.item()
    if isinstance(number, complex):
        raise Incorrect(f"`{name}` is {describe(value)}; expected a real number.")
    if not math.isfinite(number):
        raise Incorrect(f"`{name}` is {number}; expected a finite number.")
    if integer:
        if float(number) != int(number):
            raise Incorrect(f"`{name}` is {number!r}; expected a whole number (a count has no fractional part).")
        return int(number)
    return number


def compare_numbers(got, expected, name: str, context: str, *, rtol: float = 1e-6, atol: float = 1e-6,
                    integer: bool = False) -> None:
    """Compare one number; never shows the expected value."""
    number = as_number(got, name, integer=integer)
    if not math.isclose(number, expected, rel_tol=rtol, abs_tol=atol):
        raise Incorrect(f"`{name}` gave {number!r} for {context}, which is not right.")


def compare_arrays(got, expected: np.ndarray, name: str, context: str, *, rtol: float = 1e-5, atol: float = 1e-6,
                   dtype: str | None = None, value_range: tuple[float, float] | None = None) -> None:
    """Type, shape (never broadcast), dtype, NaN, range, then tolerance-aware values; Incorrect on the first miss.

    ``dtype`` is an exact dtype name ("float32"), a kind ("float", "integer", "bool") or None (any numeric).
    """
    check_not_stub(got, name)
    array = real_array(got)
    if array is None:
        raise Incorrect(f"`{name}` returned {describe(got)} for {context}; expected a NumPy array of real numbers.")
    expected = np.asarray(expected)
    if array.shape != expected.shape:
        advice = _shape_advice(array.shape, expected.shape)
        if sorted(array.shape) == sorted(expected.shape) and np.issubdtype(array.dtype, np.number) \
                and _axes_permuted(array.astype(np.float64), expected.astype(np.float64), rtol, atol):
            advice = (" It holds the right values transposed: rows and columns are swapped." if array.ndim == 2 else
                      " It holds the right values with its axes in a different order (swapped axes): check which "
                      "axis is which (`np.stack(..., axis=-1)` puts the new axis last; `.transpose(...)` reorders "
                      "axes).")
        raise Incorrect(
            f"`{name}` returned shape {tuple(array.shape)} for {context}; expected an array of shape {tuple(expected.shape)}."
            + advice
        )
    _check_dtype(array, dtype, name, context)
    if np.issubdtype(array.dtype, np.floating):
        nan_got = ~np.isfinite(array)
        nan_expected = ~np.isfinite(expected) if np.issubdtype(expected.dtype, np.floating) else np.zeros_like(nan_got)
        extra = int(np.sum(nan_got & ~nan_expected))
        if extra:
            raise Incorrect(f"`{name}` returned {extra} NaN/inf value{'s' if extra > 1 else ''} for {context}; look for a division by zero or an overflow.")
    if value_range is not None and array.size:
        low, high = value_range
        if array.min() < low or array.max() > high:
            raise Incorrect(
                f"`{name}` returned values in [{_fmt(array.min())}, {_fmt(array.max())}] for {context}; expected every value within [{low:g}, {high:g}]."
            )
    got64 = array.astype(np.float64)
    exp64 = expected.astype(np.float64)
    close = np.isclose(got64, exp64, rtol=rtol, atol=atol, equal_nan=True)
    if not close.all():
        if _axes_permuted(got64, exp64, rtol, atol):
            raise Incorrect(f"`{name}` returned the right shape for {context}, but its values are in the wrong "
                            "order of axes (they match the expected ones transposed): check which axis is which "
                            "— rows, columns, channels.")
        wrong = int(close.size - close.sum())
        first = tuple(int(i) for i in np.argwhere(~close)[0])
        where = f" (the first at index {first})" if array.ndim else ""
        raise Incorrect(f"`{name}` returned the right shape for {context}, but {wrong} of {close.size} values are wrong{where}.")


def _check_dtype(array: np.ndarray, dtype: str | None, name: str, context: str) -> None:
    if dtype is None:
        return
    kinds = {"float": np.floating, "integer": np.integer, "bool": np.bool_}
    ok = np.issubdtype(array.dtype, kinds[dtype]) if dtype in kinds else array.dtype == np.dtype(dtype)
    if not ok:
        raise Incorrect(f"`{name}` returned dtype {array.dtype} for {context}; expected {dtype} — convert with `.astype(...)`.")


def _axes_permuted(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    """Does some reordering of `got`'s axes (other than none) give `expected`? Only up to 4 axes."""
    if got.ndim < 2 or got.ndim > 4 or got.ndim != expected.ndim or got.size != expected.size or not got.size:
        return False
    for order in itertools.permutations(range(got.ndim)):
        if order == tuple(range(got.ndim)):
            continue
        moved = np.transpose(got, order)
        if moved.shape == expected.shape and np.allclose(moved, expected, rtol=rtol, atol=atol, equal_nan=True):
            return True
    return False


def _shape_advice(got: tuple, expected: tuple) -> str:
    if len(got) != len(expected):
        return f" Yours has {len(got)} dimension{'s' if len(got) != 1 else ''}, it should have {len(expected)}."
    if len(got) == 2 and tuple(got) == tuple(expected)[::-1]:
        return " Rows and columns look swapped."
    if sorted(got) == sorted(expected):
        return " The sizes are right but in a different order: the axes look swapped — check which axis is which."
    if all(g <= e + 2 and g >= e - 2 for g, e in zip(got, expected, strict=True)):
        return " Off by a little: check the ranges of your loops (an off-by-one?)."
    return ""
