"""FAST mode, seeding and device detection: the set-up every notebook runs first."""

from __future__ import annotations

import contextlib
import os
import random
import sys
from dataclasses import dataclass

import numpy as np

FAST: bool = os.environ.get("MITDL_FAST", "").strip().lower() in {"1", "true", "yes", "on"}
"""True when ``MITDL_FAST=1``: small data and few epochs (CI, the test suite). Read once at import."""


def fast_or_full(fast, full):
    """Return ``fast`` in FAST mode and ``full`` otherwise (sizes and epochs only, never code paths)."""
    return fast if FAST else full


@dataclass(frozen=True)
class SetupInfo:
    seed: int
    fast: bool
    gpus: tuple[str, ...]

    @property
    def device(self) -> str:
        return f"GPU ({', '.join(self.gpus)})" if self.gpus else "CPU (no GPU found)"


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what C++ code writes straight to file descriptor 2 (TensorFlow's start-up log lines, which ignore
    TF_CPP_MIN_LOG_LEVEL) while importing TensorFlow; Python exceptions still propagate and show."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real stderr (some embedded consoles): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and (when installed) Keras/TensorFlow so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        with quiet_native_stderr():
            import keras
    except ImportError:  # the early labs do not need TensorFlow
        return
    keras.utils.set_random_seed(seed)


def _visible_gpus() -> tuple[str, ...]:
    try:
        with quiet_native_stderr():
            import tensorflow as tf

            return tuple(d.name for d in tf.config.list_physical_devices("GPU"))
    except ImportError:
        return ()


def setup(seed: int = 42, *, use_tensorflow: bool = True, quiet: bool = False) -> SetupInfo:
    """Seed everything, detect a GPU and print one line saying how this run is configured."""
    # TensorFlow's C++ start-up lines (oneDNN notes, "failed call to cuInit" on a CPU machine) are noise for a
    # student; Python-level errors still show. Must be set before TensorFlow is first imported.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if use_tensorflow:
        set_seed(seed)
        gpus = _visible_gpus()
    else:
        random.seed(seed)
        np.random.seed(seed)
        gpus = ()
    info = SetupInfo(seed=seed, fast=FAST, gpus=gpus)
    if not quiet:
        mode = "FAST mode (small data, few epochs)" if FAST else "full mode"
        print(f"mitdl_util ready · {mode} · seed {seed} · {info.device if use_tensorflow else 'no TensorFlow needed'}")
    return info
