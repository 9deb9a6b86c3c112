"""`mitdl doctor`: reports what is installed and names the first thing to fix."""

from __future__ import annotations

import importlib.metadata as metadata
import re

import pytest

from mitdl_util import doctor
from mitdl_util.cli import main


def test_healthy_machine_reports_versions_and_no_problem(capsys):
    assert main(["doctor", "--no-gpu"]) == 0
    out = capsys.readouterr().out
    for name in ("mitdl_util", "tensorflow", "keras", "opencv", "lab 05 baseline", "mode", "data cache"):
        assert name in out
    assert "Everything the labs need is here." in out


def test_missing_package_is_named_first(monkeypatch):
    real = metadata.version

    def fake_version(name):
        if name == "mlxtend":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(doctor.metadata, "version", fake_version)
    report = doctor.diagnose(check_gpu=False)
    assert report.problems[0].startswith("mlxtend is missing")
    assert "pip install -r requirements.txt" in report.problems[0]
    assert "First thing to fix: mlxtend is missing" in report.render()


def test_opencv_5_is_fine_and_lab05_says_which_baseline_it_gets(monkeypatch):
    """OpenCV 5 (Colab's current runtime) has no Haar cascade: not a problem, lab 05 uses scikit-image's LBP one."""
    monkeypatch.setattr("mitdl_util.face_baseline._haar_file", lambda: None)
    report = doctor.diagnose(check_gpu=False)
    assert not report.problems, report.problems
    assert dict(report.lines)["lab 05 baseline"].startswith("scikit-image LBP cascade")


@pytest.mark.parametrize("version, fragment", [
    ((3, 14), "Python 3.14 is newer than TensorFlow supports (it has no wheels for 3.14 yet): install Python 3.13"),
    ((3, 9), "Python 3.9 is too old"),
])
def test_unsupported_python_gets_one_sentence_saying_what_to_do(version, fragment):
    message = doctor.unsupported_python(version)
    assert message.startswith(fragment) and message.count(". ") == 0 and message.endswith(".")


@pytest.mark.parametrize("version", [(3, 10), (3, 11), (3, 12), (3, 13)])
def test_the_pythons_tensorflow_supports_are_fine(version):
    assert doctor.unsupported_python(version) is None


def test_pyproject_requires_the_pythons_doctor_supports(repo_root):
    """pyproject's requires-python, doctor's range and the nox matrix name the same Pythons."""
    requires = re.search(r'^requires-python = "([^"]+)"', (repo_root / "pyproject.toml").read_text(), re.M)[1]
    (low, high) = doctor.SUPPORTED_PYTHON
    assert requires == f">={low[0]}.{low[1]},<{high[0]}.{high[1] + 1}"


def test_unwritable_cache_is_reported(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MITDL_DATA_DIR", str(blocker / "cache"))
    report = doctor.diagnose(check_gpu=False)
    assert any("MITDL_DATA_DIR" in p for p in report.problems)
