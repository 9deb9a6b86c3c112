"""`mitdl doctor`: reports what is installed and names the first thing to fix."""

from __future__ import annotations

import importlib.metadata as metadata

from mitdl_util import doctor
from mitdl_util.cli import main


def test_healthy_machine_reports_versions_and_no_problem(capsys):
    assert main(["doctor", "--no-gpu"]) == 0
    out = capsys.readouterr().out
    for name in ("mitdl_util", "tensorflow", "keras", "opencv-python-headless", "mode", "data cache"):
        assert name in out
    assert "Everything the labs need is here." in out


def test_missing_package_and_opencv_5_are_named_first(monkeypatch):
    real = metadata.version

    def fake_version(name):
        if name == "mlxtend":
            raise metadata.PackageNotFoundError(name)
        if name == "opencv-python-headless":
            return "5.0.0.93"
        return real(name)

    monkeypatch.setattr(doctor.metadata, "version", fake_version)
    report = doctor.diagnose(check_gpu=False)
    assert report.problems[0].startswith("mlxtend is missing")
    assert "pip install -r requirements.txt" in report.problems[0]
    assert any("no Haar cascades" in p for p in report.problems)
    assert "First thing to fix: mlxtend is missing" in report.render()


def test_unwritable_cache_is_reported(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MITDL_DATA_DIR", str(blocker / "cache"))
    report = doctor.diagnose(check_gpu=False)
    assert any("MITDL_DATA_DIR" in p for p in report.problems)
