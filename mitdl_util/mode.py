"""FAST mode, seeding and device detection: the set-up every notebook runs first."""

from __future__ import annotations

import os
import random
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


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and (when installed) Keras/TensorFlow so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import keras
    except ImportError:  # the early labs do not need TensorFlow
        return
    keras.utils.set_random_seed(seed)


def _visible_gpus() -> tuple[str, ...]:
    try:
        import tensorflow as tf
    except ImportError:
        return ()
    return tuple(d.name for d in tf.config.list_physical_devices("GPU"))


def setup(seed: int = 42, *, use_tensorflow: bool = True, quiet: bool = False) -> SetupInfo:
    """Seed everything, detect a GPU and print one line saying how this run is configured."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the lab
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
