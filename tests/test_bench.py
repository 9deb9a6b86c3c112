"""`mitdl bench`: numbers in the report come from the notebook run itself."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mitdl_util import bench, metrics


def test_report_records_only_when_asked(tmp_path, monkeypatch):
    target = tmp_path / "m.jsonl"
    monkeypatch.delenv(metrics.METRICS_VARIABLE, raising=False)
    assert metrics.report("a", 1.5) is None
    assert not target.exists()
    monkeypatch.setenv(metrics.METRICS_VARIABLE, str(target))
    metrics.report("a", 0.25, "acc")
    metrics.report("a", 0.5, "acc")
    metrics.report("nan", float("nan"))
    assert metrics.read_metrics(target) == {"a": {"value": 0.5, "unit": "acc"}, "nan": {"value": "nan", "unit": ""}}


@pytest.mark.notebook
def test_bench_runs_a_notebook_and_writes_its_reported_numbers(tmp_path):
    (tmp_path / "solutions").mkdir()
    nb = new_notebook(cells=[new_code_cell("import mitdl_util as mdl\nimport numpy as np\n"
                                           "mdl.report('answer', 6 * 7, 'units')\nbig = np.ones(10**7)")])
    nbformat.write(nb, tmp_path / "solutions" / "00_tiny.ipynb")
    results = bench.bench(tmp_path, out_dir=tmp_path / "out")
    (run,) = results["notebooks"]
    assert run["ok"] and run["metrics"]["answer"] == {"value": 42.0, "unit": "units"}
    assert run["peak_rss_mb"] >= 80  # the kernel held an 80 MB array
    assert json.loads((tmp_path / "out" / "results.json").read_text())["notebooks"][0]["notebook"] == "00_tiny.ipynb"
    text = (tmp_path / "out" / "RESULTS.md").read_text()
    assert "| answer | 42 units |" in text and "import mitdl_util" in text


@pytest.mark.notebook
def test_a_failing_notebook_is_reported_not_hidden(tmp_path):
    (tmp_path / "solutions").mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell("raise ValueError('boom')")]),
                   tmp_path / "solutions" / "00_broken.ipynb")
    results = bench.bench(tmp_path, out_dir=tmp_path / "out")
    assert not results["notebooks"][0]["ok"] and "boom" in results["notebooks"][0]["error"]
    assert "failed" in (tmp_path / "out" / "RESULTS.md").read_text()
