"""Plain data across the kernel boundary: answers, arguments and return values as JSON-able trees.

Used on both sides: the worker (imports it) and the kernel (its source runs in the guard's namespace). Only
plain values cross: None, booleans, numbers, strings, bytes, lists, tuples, dicts, sets, NumPy arrays and scalars
(never of dtype object) and TensorFlow tensors (as their values). Subclasses are read through the base types'
own methods, so a lying `astype`, `__eq__` or `__iter__` never runs on the judging side; anything else cannot
cross (`CannotCross`), and its exercise is judged in the kernel instead.
"""

import base64
import math

MAX_DEPTH = 100


class CannotCross(Exception):
    """A value with no plain form (a Keras model, a class, an open file ...)."""


def encode(value, depth: int = 0):
    """`value` as a JSON-able tree; CannotCross for what has no plain form."""
    import numpy as np

    if depth > MAX_DEPTH:
        raise CannotCross("nested deeper than the grader follows")
    if value is None or type(value) in (bool, str):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, np.ndarray):
        base = np.ndarray.view(value, np.ndarray)
        if base.dtype.hasobject:
            raise CannotCross("an array of Python objects")
        data = np.ndarray.tobytes(np.ascontiguousarray(base))
        return {"$a": [base.dtype.str, list(base.shape), base64.b64encode(data).decode("ascii")]}
    if isinstance(value, np.generic):
        array = np.asarray([value])
        if array.dtype.hasobject:
            raise CannotCross("a NumPy object scalar")
        return {"$s": [array.dtype.str, base64.b64encode(np.ndarray.tobytes(array)).decode("ascii")]}
    if isinstance(value, int):
        return {"$i": str(int.__add__(value, 0))}  # as text: JSON numbers lose big integers
    if isinstance(value, float):
        number = float.__add__(value, 0.0)
        return number if math.isfinite(number) else {"$x": repr(number)}
    if isinstance(value, complex):
        return {"$c": [encode(float(complex.__getattribute__(value, "real")), depth + 1),
                       encode(float(complex.__getattribute__(value, "imag")), depth + 1)]}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray)):
        return {"$b": base64.b64encode(bytes(memoryview(value))).decode("ascii")}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in list.__iter__(value)]
    if isinstance(value, tuple):
        return {"$t": [encode(v, depth + 1) for v in tuple.__iter__(value)]}
    if isinstance(value, dict):
        return {"$d": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in dict.items(value)]}
    if isinstance(value, (set, frozenset)):
        return {"$set": [encode(v, depth + 1) for v in (set.__iter__(value) if isinstance(value, set)
                                                          else frozenset.__iter__(value))]}
    if _is_tensor(value):
        return {"$tf": encode(np.ndarray.view(np.asarray(value.numpy()), np.ndarray), depth + 1)}
    raise CannotCross(f"a {type(value).__name__}")


def _is_tensor(value) -> bool:
    module = type(value).__module__ or ""
    return module.startswith("tensorflow") and callable(getattr(value, "numpy", None))


def decode(tree, *, tensors: bool = False, depth: int = 0):
    """The value `encode` wrote (fresh objects of the base types). `tensors`: `$tf` becomes a TensorFlow
    constant (in the kernel, where the student's function expects one), else a NumPy array."""
    import numpy as np

    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    if isinstance(tree, list):
        return [decode(v, tensors=tensors, depth=depth + 1) for v in tree]
    if not isinstance(tree, dict) or len(tree) != 1:
        raise ValueError("not a plain-data tree")
    (tag, body), = tree.items()
    if tag == "$a":
        dtype, shape, data = body
        dtype = np.dtype(str(dtype))
        if dtype.hasobject:
            raise ValueError("object arrays do not cross")
        return np.frombuffer(base64.b64decode(data), dtype=dtype).reshape([int(n) for n in shape]).copy()
    if tag == "$s":
        dtype = np.dtype(str(body[0]))
        if dtype.hasobject:
            raise ValueError("object scalars do not cross")
        return np.frombuffer(base64.b64decode(body[1]), dtype=dtype)[0].copy()
    if tag == "$i":
        return int(str(body))
    if tag == "$x":
        return float(str(body))
    if tag == "$c":
        return complex(decode(body[0]), decode(body[1]))
    if tag == "$b":
        return base64.b64decode(body)
    if tag == "$t":
        return tuple(decode(v, tensors=tensors, depth=depth + 1) for v in body)
    if tag == "$d":
        return {decode(k, tensors=tensors, depth=depth + 1): decode(v, tensors=tensors, depth=depth + 1)
                for k, v in body}
    if tag == "$set":
        return {decode(v, tensors=tensors, depth=depth + 1) for v in body}
    if tag == "$tf":
        array = decode(body, depth=depth + 1)
        if tensors:
            import tensorflow as tf

            return tf.constant(array)
        return array
    raise ValueError(f"unknown tag {tag!r}")
