"""Helper package for the Deep Computer Vision lab kit.

``import mitdl_util as mdl`` is cheap: TensorFlow, OpenCV and matplotlib are imported only by the
functions that need them. Submodules (``mdl.data``, ``mdl.plot``, ``mdl.checks``) load on first use.
"""

from __future__ import annotations

import importlib

from .errors import MitdlError
from .metrics import report
from .mode import FAST, fast_or_full, setup
from .todo import require

__version__ = "0.1.0"
__all__ = ["FAST", "MitdlError", "fast_or_full", "report", "require", "setup", "__version__", "data", "plot", "checks"]

_LAZY_SUBMODULES = {"data", "plot", "checks", "build", "grade"}


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'mitdl_util' has no attribute {name!r}")
