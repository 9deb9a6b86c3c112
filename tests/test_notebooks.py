"""Notebook-wide rules: committed without outputs, and every untouched lab runs to 'not attempted' everywhere.

The solutions themselves are executed by nbval (see pyproject.toml: `--nbval-lax` over solutions/), with
MITDL_STRICT_CHECKS=1 so that a check that does not pass fails the run.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from tests.notebook_runner import run_notebook

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
CHECK_CALL = re.compile(r"\bq\.\w+\.check\(")


@pytest.mark.parametrize("path", SOLUTIONS + LABS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_notebook_has_no_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; strip them (mitdl build does for labs)"


def test_every_solution_has_a_lab():
    assert SOLUTIONS, "no solution notebooks found"
    assert [p.name for p in SOLUTIONS] == [p.name for p in LABS]


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_lab_code_cells_parse(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            ast.parse("".join(cell["source"]), filename=f"{path.name} cell {index}")


def _allowed_error(name: str, value: str) -> bool:
    """Untouched exercises may raise their own stub, or fail on a `None` stub; nothing else."""
    return (name == "NotImplementedError" and "TODO" in value) or "NoneType" in value or "None" in value.split()


@pytest.mark.notebook
@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_untouched_lab_reports_not_attempted(path):
    runs = run_notebook(path, env={"MITDL_STRICT_CHECKS": "0", "MITDL_FAST": "1"})
    check_runs = [r for r in runs if CHECK_CALL.search(r.source)]
    assert check_runs, f"{path.name} has no check cells"
    first_check = check_runs[0].index
    for run in runs:
        if run.index < first_check:
            assert not run.errors, f"{path.name} cell {run.index} fails before the first check: {run.errors}"
        for name, value in run.errors:
            assert _allowed_error(name, value), f"{path.name} cell {run.index}: unexpected {name}: {value}"
    for run in check_runs:
        statuses = re.findall(r"^(\S+) lab\d\d\.\w+: (.+?)(?: — |$)", run.text, flags=re.M)
        assert statuses, f"{path.name} cell {run.index} printed no check result: {run.text!r}"
        assert all(status == "not attempted" for _, status in statuses), f"{path.name} cell {run.index}: {run.text}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", [p for p in SOLUTIONS if "load_faces" in p.read_text(encoding="utf-8")],
                         ids=lambda p: p.name)
def test_solution_runs_without_the_shared_faces(path, tmp_path):
    """A student on Colab or a laptop has no ../shared/datasets: the face labs must fall back and still pass."""
    runs = run_notebook(path, env={"MITDL_LOCAL_DATA": str(tmp_path), "MITDL_STRICT_CHECKS": "1", "MITDL_FAST": "1"})
    errors = [(run.index, run.errors) for run in runs if run.errors]
    assert not errors, f"{path.name} without faces-ccby: {errors}"
    assert "lfw" in "".join(run.text for run in runs).lower(), "the fallback data was not announced"
