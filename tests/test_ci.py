"""CI runs what the README promises: the README's test command is the last command of .ci/run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)


def test_readme_opens_with_setup_then_test_commands():
    setup, test, colab = readme_commands()[:3]
    assert "pip install -r requirements.txt" in setup and "jupyter lab labs/" in setup
    assert test.strip() == "pytest"
    assert colab.strip() == "nox -s colab-current"


def test_ci_runs_the_readme_test_commands_after_installing_requirements():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line for line in script.splitlines() if line.strip() and not line.startswith("#")]
    assert any("pip install" in line and "-r requirements.txt" in line for line in lines)
    assert [line.strip() for line in lines[-2:]] == [c.strip() for c in readme_commands()[1:3]]


def test_requirements_pin_everything_and_install_the_package():
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert "-e ." in lines
    pins = [ln for ln in lines if ln != "-e ."]
    assert all("==" in ln for ln in pins), [ln for ln in pins if "==" not in ln]
    names = {ln.split("==")[0].lower() for ln in pins}
    assert {"tensorflow", "keras", "opencv-python-headless", "nbval", "hypothesis", "ruff"} <= names
    assert not any(ln.startswith("tf_keras") or ln.startswith("tf-keras") for ln in pins)
    cv = [ln for ln in pins if ln.startswith("opencv-python-headless")][0]
    assert int(cv.split("==")[1].split(".")[0]) < 5, "opencv 5 wheels ship no Haar cascades"
