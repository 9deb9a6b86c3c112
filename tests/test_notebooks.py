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

from mitdl_util import notebook
from mitdl_util.todo import NEXT_STEP
from tests.notebook_runner import run_notebook

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
LABS = sorted((ROOT / "labs").glob("*.ipynb"))


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
    """Untouched exercises may raise their own stub ("TODO: conv2d"); a cell that needs an answer still missing says
    so with `mdl.require` ("... build it in the TODO cell above first ..."). Nothing else: no raw NoneType errors."""
    return (name == "NotImplementedError" and "TODO" in value) or (name == "TodoNotDone" and NEXT_STEP in value)


def test_require_names_the_missing_answer():
    import mitdl_util as mdl
    from mitdl_util.todo import TodoNotDone

    mdl.require(maps={"edge": 1}, n=0)  # done: nothing happens
    with pytest.raises(TodoNotDone, match=rf"`x_maps` is still None: {NEXT_STEP}"):
        mdl.require(maps={}, x_maps=None)


def test_allowed_errors_are_only_the_todo_ones():
    assert _allowed_error("TodoNotDone", f"`maps` is still None: {NEXT_STEP}.")
    assert _allowed_error("NotImplementedError", "TODO: conv2d")
    assert not _allowed_error("TypeError", "unsupported format string passed to NoneType.__format__")
    assert not _allowed_error("AttributeError", "'NoneType' object has no attribute 'compile'")


FAST_OR_FULL = re.compile(r"fast_or_full\(\s*([0-9_.]+)\s*,\s*([0-9_.]+)\s*\)")


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_fast_mode_never_asks_for_more_than_full_mode(path):
    """`mdl.fast_or_full(fast, full)`: FAST mode is the small one (issue 14: CNN_EPOCHS gave FAST 12 and full 10)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for fast, full in FAST_OR_FULL.findall("".join(cell["source"])):
            assert float(fast) <= float(full), f"{path.name}: fast_or_full({fast}, {full})"
            assert float(fast) != float(full), f"{path.name}: fast_or_full({fast}, {full}) — write the number once"


@pytest.mark.notebook
@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_untouched_lab_reports_not_attempted(path):
    runs = run_notebook(path, env={"MITDL_STRICT_CHECKS": "0", "MITDL_FAST": "1"})
    check_runs = [r for r in runs if notebook.check_calls([r.source])]
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
