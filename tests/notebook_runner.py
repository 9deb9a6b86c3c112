"""Run a notebook in a fresh kernel and collect what each code cell printed or raised (used by the tests)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient


@dataclass
class CellRun:
    index: int
    source: str
    text: str = ""
    errors: list[tuple[str, str]] = field(default_factory=list)


@contextlib.contextmanager
def environment(**changes: str | None):
    """Environment variables set (a value) or removed (None) while the block runs, then put back as they were."""
    saved = {key: os.environ.get(key) for key in changes}
    for key, value in changes.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_notebook(path: Path, *, env: dict[str, str] | None = None, timeout: int = 600) -> list[CellRun]:
    """Execute every cell (errors allowed) with extra environment variables; return the code cells' outputs."""
    nb = nbformat.read(path, as_version=4)
    with environment(**(env or {})):
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(path.parent.parent)}}).execute()
    runs = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        run = CellRun(index, cell.source)
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                run.text += output.text
            elif output.output_type == "error":
                run.errors.append((output.ename, output.evalue))
        runs.append(run)
    return runs
