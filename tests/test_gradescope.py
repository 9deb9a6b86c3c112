"""`mitdl gradescope`: the autograder bundle, and its run_autograder run against a folder standing in for
/autograder (MITDL_AUTOGRADER_ROOT), for a solution, an untouched lab and a hostile notebook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mitdl_util.cli import main as cli_main
from mitdl_util.errors import MitdlError
from mitdl_util.grade.gradescope import ROOT_VARIABLE, build_bundle, bundle_requirements

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "01_images_as_numbers.ipynb"
LAB = ROOT / "labs" / "01_images_as_numbers.ipynb"
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
HOSTILE_CELL = """
import IPython.display as _display
_real = _display.publish_display_data
_display.publish_display_data = lambda data, *a, **k: _real({**data, "passed": True}, *a, **k)
def normalize(img):
    return img / 256.0
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    assert cli_main(["gradescope", "lab01", "--out", str(out), "--timeout-cell", "20", "--timeout", "300"]) == 0
    return out / "autograder_lab01.zip"


def test_the_bundle_holds_setup_run_autograder_the_kit_and_no_solutions(bundle):
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        setup = archive.read("setup.sh").decode()
        config = json.loads(archive.read("autograder.json"))
        requirements = archive.read("requirements.txt").decode()
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert {"setup.sh", "run_autograder", "autograder.json", "requirements.txt", "kit/pyproject.toml",
            "kit/mitdl_util/__init__.py", "kit/mitdl_util/checks/lab01.py"} <= names
    assert not [n for n in names if "solutions/" in n or n.endswith(".ipynb") or "__pycache__" in n]
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert "pip install --no-cache-dir -r requirements.txt" in setup and "./kit" in setup
    assert "nbclient==" in requirements and "numpy==" in requirements
    assert "tensorflow" not in requirements and "pytest" not in requirements and "-e ." not in requirements
    assert config["lab"] == "lab01" and config["cell_timeout"] == 20
    assert {e["name"]: e["answers"] for e in config["exercises"]}["image_shape"] == ["height", "width", "channels"]


def test_requirements_keep_tensorflow_for_the_labs_that_use_it(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("-e .\ntensorflow==2.21.0\nnumpy==2.4.6; python_version >= \"3.11\"\nruff==0.1\n", encoding="utf-8")
    assert bundle_requirements(req, heavy=True).splitlines()[1:] == ["tensorflow==2.21.0",
                                                                     'numpy==2.4.6; python_version >= "3.11"']
    assert "tensorflow" not in bundle_requirements(req, heavy=False)


def test_an_unknown_lab_is_a_user_error(tmp_path):
    with pytest.raises(MitdlError, match="no checks"):
        build_bundle("lab99", tmp_path)


def _autograde(bundle: Path, tmp: Path, notebook: bytes | None) -> dict:
    """Unzip the bundle as Gradescope does (/autograder/source), put the submission in place, run_autograder."""
    root = tmp / "autograder"
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    if notebook is not None:
        (root / "submission" / "my_lab.ipynb").write_bytes(notebook)
    env = {**os.environ, ROOT_VARIABLE: str(root), "MITDL_PYTHON": sys.executable}
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


def _valid(results: dict) -> dict:
    """Gradescope's results.json: a total score equal to the tests' sum; every test fully described."""
    assert set(results) >= {"score", "tests", "output"}
    assert isinstance(results["score"], float) and isinstance(results["output"], str)
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
        assert isinstance(test["name"], str) and test["visibility"] in VISIBILITY
        assert 0 <= test["score"] <= test["max_score"] and isinstance(test["output"], str)
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))
    return {t["name"].split(".")[1]: t for t in results["tests"]}


@pytest.mark.notebook
def test_run_autograder_gives_a_solution_full_marks(bundle, tmp_path):
    results = _autograde(bundle, tmp_path, SOLUTION.read_bytes())
    tests = _valid(results)
    assert results["score"] == 9 and len(tests) == 9
    assert all(t["status"] == "passed" and t["output"] == "passed" for t in tests.values())


@pytest.mark.notebook
def test_run_autograder_gives_an_untouched_lab_zero(bundle, tmp_path):
    results = _autograde(bundle, tmp_path, LAB.read_bytes())
    tests = _valid(results)
    assert results["score"] == 0 and all("not_attempted" in t["output"] for t in tests.values())


@pytest.mark.notebook
def test_run_autograder_scores_a_hostile_notebook_on_the_real_checks_and_flags_it(bundle, tmp_path):
    nb = json.loads(SOLUTION.read_text(encoding="utf-8"))
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "hostile", "metadata": {},
                        "outputs": [], "source": HOSTILE_CELL})
    results = _autograde(bundle, tmp_path, json.dumps(nb).encode())
    tests = _valid(results)
    assert results["score"] == 8 and tests["normalize"]["score"] == 0
    assert "Flagged for the course staff" in results["output"] and "publish_display_data" in results["output"]


def test_run_autograder_without_a_notebook_says_so_and_scores_zero(bundle, tmp_path):
    results = _autograde(bundle, tmp_path, None)
    assert _valid(results) and results["score"] == 0 and "No notebook" in results["output"]
