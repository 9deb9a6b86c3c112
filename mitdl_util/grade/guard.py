"""Kernel-side guard, installed by the grader BEFORE any student cell runs (the grader never imports this module:
its source, from the snapshot taken when grading began, is executed in the kernel in a private namespace whose
builtins are a copy taken at that moment).

It keeps what later grading needs to trust, from before the student's code could touch anything:

- the results channel: a file the grader created and reads itself, opened here by path (the path is in no cell
  the notebook can read back: grader cells are not stored in the kernel's history) and written with `os.write`
  captured now. Results never travel through IPython's display machinery, which student cells can patch;
- a baseline of the libraries the checks use (NumPy, the standard library modules, builtins, and TensorFlow/Keras
  for the labs that need them): every function, class and module they hold, and which module object each name in
  ``sys.modules`` is. Before and after each exercise the grader compares the live libraries with the baseline by
  identity; every difference is flagged and put back, and an exercise during which a library was replaced gets no
  points. A digest of the baseline goes to the grader at once, so a notebook that edits the baseline is caught;
- `plain`: answers as plain data — NumPy array subclasses become base ``ndarray`` copies, subclasses of numbers,
  strings, lists, tuples and dicts become the base types, and a student's function is wrapped so that what it
  returns is converted the same way. The checks never see an object whose methods the student wrote, unless it is
  one no plain type can stand for (e.g. a Keras model, checked through Keras' public API).
"""

import hashlib
import importlib.abc
import importlib.util
import json
import os
import sys
import types

# root module names whose loaded submodules are watched; names are exact for TensorFlow/Keras (which load lazily)
WATCHED_ROOTS = ("builtins", "numpy", "math", "cmath", "copy", "inspect", "functools", "operator", "json",
                 "traceback", "numbers", "secrets", "contextlib", "io", "os", "posixpath", "signal", "time",
                 "types", "re", "collections", "itertools", "random", "statistics", "warnings", "hashlib",
                 "dataclasses", "typing", "abc", "enum", "importlib", "string", "textwrap", "zlib", "base64",
                 "weakref", "struct", "decimal", "fractions", "sys")
WATCHED_EXACT = ("tensorflow", "tensorflow.math", "tensorflow.nn", "tensorflow.random", "tensorflow.linalg",
                 "keras", "keras.layers", "keras.models", "keras.ops", "keras.losses", "keras.optimizers",
                 "IPython.display", "IPython.core.display_functions", "IPython.core.displaypub")
ALLOWED_CHANGES = {("sys", "last_value"), ("sys", "last_type"), ("sys", "last_traceback"), ("sys", "last_exc"),
                   ("sys", "displayhook"), ("sys", "excepthook"), ("sys", "stdout"), ("sys", "stderr"),
                   ("sys", "stdin"), ("sys", "ps1"), ("sys", "ps2"), ("warnings", "showwarning"),
                   ("warnings", "filters"), ("warnings", "_showwarnmsg_impl"), ("builtins", "_"), ("builtins", "__"), ("builtins", "___"),
                   ("sys", "breakpointhook"), ("sys", "modules"), ("sys", "path_importer_cache"),
                   ("sys", "meta_path"), ("sys", "path_hooks"), ("sys", "path"),
                   ("builtins", "display"), ("builtins", "get_ipython"), ("builtins", "exit"), ("builtins", "quit"),
                   ("builtins", "input"), ("builtins", "raw_input")}  # ipykernel sets these per request
MAX_DEPTH = 64  # plain(): deeper containers than this are left as they are (the check reports what it sees)

_write = os.write
_baseline: dict = {}  # module name -> {attribute: value} of watched values
_modules: dict = {}  # module name -> the module object sys.modules held
_fd = None
SOURCES: dict = {}  # the package's source snapshot: module name -> [file path, is package, source]


class SnapshotFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serve ``mitdl_util.*`` from the source snapshot taken when grading began, not from what is on disk now."""

    def __init__(self, sources: dict):
        self.sources = sources  # module name -> [file path, is package, source text]

    def find_spec(self, fullname, path=None, target=None):
        entry = self.sources.get(fullname)
        if entry is None:
            return None
        origin, is_package, _ = entry
        spec = importlib.util.spec_from_loader(fullname, self, origin=origin, is_package=is_package)
        spec.has_location = True
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(origin)]
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        origin, _, source = self.sources[module.__spec__.name]
        exec(compile(source, origin, "exec"), module.__dict__)


def _watched(name: str) -> bool:
    return name.split(".")[0] in WATCHED_ROOTS or name in WATCHED_EXACT


def _tracked(value) -> bool:
    """Functions, classes and modules (what a patch replaces); plain data such as counters changes legitimately."""
    return callable(value) or isinstance(value, types.ModuleType)


def install(results_path: str, preload: list, sources: dict) -> str:
    """Serve `mitdl_util` from the snapshot (the student's imports too, so kit files rewritten on disk change
    nothing), open the results channel, import `preload`, record the baseline; return its digest."""
    global _fd
    import importlib

    SOURCES.update(sources)
    sys.meta_path.insert(0, SnapshotFinder(SOURCES))
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a library that is missing is simply not watched
            pass
    _fd = os.open(results_path, os.O_WRONLY | os.O_APPEND)
    for name, module in list(sys.modules.items()):
        if isinstance(module, types.ModuleType) and _watched(name):
            _modules[name] = module
            try:
                _baseline[name] = {k: v for k, v in vars(module).items() if _tracked(v)}
            except TypeError:
                continue
    return digest()


def digest() -> str:
    """A digest of the baseline (names and object identities): the grader compares it with the first one."""
    h = hashlib.sha256()
    for name in sorted(_modules):
        h.update(f"{name}:{id(_modules[name])};".encode())
        for attr in sorted(_baseline.get(name, {})):
            h.update(f"{attr}={id(_baseline[name][attr])},".encode())
    return h.hexdigest()


def send(payload: dict) -> None:
    """One result line to the grader's file."""
    _write(_fd, (json.dumps(payload, default=str) + "\n").encode("utf-8"))


def _same(old, new) -> bool:
    if old is new:
        return True
    # a lazily loaded module replaced by the real module of the same name is not a patch
    return (isinstance(new, types.ModuleType) and getattr(old, "__name__", None) == new.__name__
            and not isinstance(old, types.FunctionType))


def changes(restore: bool = True) -> list[str]:
    """Every library function, class or module that differs from the baseline, in words; put back if `restore`."""
    found = []
    for name, original in _modules.items():
        live = sys.modules.get(name)
        if live is not original and name in sys.modules:
            found.append(f"`sys.modules[{name!r}]` was replaced by {_kind(live)}")
            if restore:
                sys.modules[name] = original
    for name, attributes in _baseline.items():
        module = _modules[name]
        namespace = module.__dict__
        for attr, value in attributes.items():
            if (name, attr) in ALLOWED_CHANGES:
                continue
            missing = attr not in namespace
            current = namespace.get(attr)
            if not missing and _same(value, current):
                continue
            found.append(f"`{name}.{attr}` was {'deleted' if missing else 'replaced by ' + _kind(current)}")
            if restore:
                try:
                    namespace[attr] = value
                except Exception:  # noqa: BLE001 - reported; the exercise then gets no points
                    found.append(f"`{name}.{attr}` could not be put back")
    return found


def _kind(value) -> str:
    if isinstance(value, types.FunctionType):
        code = value.__code__
        return f"a function from {code.co_filename}"
    return f"{type(value).__name__} object"


# ---------------------------------------------------------------- answers as plain data
def plain(value, depth: int = 0):
    """`value` with every student-defined subclass of a plain type replaced by the base type (see module doc)."""
    import numpy as np

    kind = type(value)
    if depth > MAX_DEPTH or value is None or kind in (bool, int, float, complex, str, bytes):
        return value
    if isinstance(value, np.ndarray):
        base = np.ndarray.view(value, np.ndarray)
        return value if kind is np.ndarray else np.ndarray.copy(base)
    if isinstance(value, np.generic):
        if kind.__module__ == "numpy":
            return value
        base = next(t for t in kind.__mro__ if t.__module__ == "numpy")
        return base(np.generic.item(value))
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int.__add__(value, 0)
    if isinstance(value, float):
        return float.__add__(value, 0.0) if not float.__eq__(value, 0.0) else float.__mul__(value, 1.0)
    if isinstance(value, complex):
        return complex.__add__(value, 0j)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes):
        return bytes.__getitem__(value, slice(None))
    if isinstance(value, list):
        return [plain(v, depth + 1) for v in list.__iter__(value)]
    if isinstance(value, tuple):
        return tuple(plain(v, depth + 1) for v in tuple.__iter__(value))
    if isinstance(value, dict):
        return {plain(k, depth + 1): plain(v, depth + 1) for k, v in dict.items(value)}
    if isinstance(value, (set, frozenset)) and kind not in (set, frozenset):
        return set(plain(v, depth + 1) for v in set.__iter__(value))
    if isinstance(value, types.FunctionType):
        return _plain_function(value)
    return value


def _plain_function(func):
    """The student's function, returning plain data (same name, so messages still name it)."""
    def answer(*args, **kwargs):
        return plain(func(*args, **kwargs))

    answer.__name__ = getattr(func, "__name__", "answer")
    answer.__qualname__ = answer.__name__
    answer.__doc__ = func.__doc__
    answer.__wrapped__ = func  # inspect.signature() shows the student's parameters
    return answer
