"""The GPU path: every solution in full mode on a GPU. Not part of the default run (see pyproject's `-m "not gpu"`).

Run on a machine with an NVIDIA GPU:  pytest -m gpu -n 0 tests/test_gpu.py
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.notebook_runner import run_notebook

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def gpu_visible() -> bool:
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi, "-L"], capture_output=True).returncode == 0


@pytest.mark.gpu
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_runs_in_full_mode_on_the_gpu(path):
    if not gpu_visible():
        pytest.skip("no NVIDIA GPU visible (nvidia-smi -L failed)")
    runs = run_notebook(path, env={"MITDL_FAST": "0", "MITDL_STRICT_CHECKS": "1"}, timeout=3600)
    errors = [(run.index, run.errors) for run in runs if run.errors]
    assert not errors, errors
    setup_text = runs[0].text
    assert "GPU (" in setup_text, f"the set-up cell did not see the GPU: {setup_text!r}"
