"""Colab readiness, simulated: the set-up cell installs the pinned helper (and nothing else) when `google.colab` is
loaded, does nothing locally, and fails loudly when the install fails; badges and metadata fit Colab."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import mitdl_util
from mitdl_util import notebook
from mitdl_util.build import load_config

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "labs").glob("*.ipynb"))
CONFIG = load_config(ROOT)  # the one place the repository is configured: [tool.mitdl] in pyproject.toml


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _setup_source(path: Path) -> str:
    cells = notebook.setup_cells(_cells(path))
    assert len(cells) == 1, f"{path.name} needs exactly one cell tagged '{notebook.SETUP_TAG}'"
    return notebook.cell_source(cells[0][1])


def _run_setup(path: Path, monkeypatch, on_colab: bool, returncode: int = 0) -> list[list[str]]:
    calls = []

    def fake_run(command, *args, **kwargs):
        calls.append(list(command))
        return subprocess.CompletedProcess(command, returncode)

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(mitdl_util, "setup", lambda *a, **k: None)  # seeding is tested elsewhere
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(_setup_source(path), f"{path.name}:setup", "exec"), {"__name__": "__main__"})
    return calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_setup_cell_installs_only_the_pinned_helper_on_colab(path, monkeypatch):
    calls = _run_setup(path, monkeypatch, on_colab=True)
    assert len(calls) == 1, calls
    command = calls[0]
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    packages = [arg for arg in command[4:] if not arg.startswith("-")]
    assert packages == [CONFIG.install_spec]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_setup_cell_installs_nothing_locally(path, monkeypatch):
    assert _run_setup(path, monkeypatch, on_colab=False) == []


@pytest.mark.parametrize("path", NOTEBOOKS[:1], ids=lambda p: p.name)
def test_failed_install_fails_loudly(path, monkeypatch):
    with pytest.raises(RuntimeError, match="Installing mitdl_util failed"):
        _run_setup(path, monkeypatch, on_colab=True, returncode=1)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_badge_points_at_the_notebook_itself(path):
    text = "".join("".join(c["source"]) for c in _cells(path) if c["cell_type"] == "markdown")
    urls = re.findall(r"\]\((https://colab\.research\.google\.com/github/[^)]+)\)", text)
    assert urls == [CONFIG.badge_url(path.parent.name, path.name)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_metadata_fits_colab_and_has_no_widgets(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert nb["metadata"]["accelerator"] == "GPU"
    assert nb["metadata"]["mitdl"]["kind"] == path.parent.name.rstrip("s")
    source = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "ipywidgets" not in source and "widgets" not in json.dumps(nb["metadata"])
    assert not re.search(r"^\s*[!%]", source, flags=re.M), "no shell escapes or magics in notebooks"
