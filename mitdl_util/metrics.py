"""Numbers a notebook measures (accuracies, timings), recorded for the benchmark report.

A notebook calls ``mdl.report("cnn_test_accuracy", acc)``; when ``MITDL_METRICS_FILE`` is set (by
``mitdl bench``), each call appends one JSON line there, so the report's numbers come from the run itself.
"""

from __future__ import annotations

import json
import math
import numbers
import os

METRICS_VARIABLE = "MITDL_METRICS_FILE"


def report(name: str, value, unit: str = "") -> None:
    """Record a measured number under `name` for `mitdl bench` (nothing is shown in the notebook)."""
    path = os.environ.get(METRICS_VARIABLE)
    if path:
        number = float(value) if isinstance(value, numbers.Number) or hasattr(value, "__float__") else value
        if isinstance(number, float) and not math.isfinite(number):
            number = str(number)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"name": name, "value": number, "unit": unit}) + "\n")


def read_metrics(path: str | os.PathLike) -> dict[str, dict]:
    """The metrics a run recorded: name -> {"value", "unit"} (the last value wins)."""
    metrics: dict[str, dict] = {}
    if not os.path.exists(path):
        return metrics
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                entry = json.loads(line)
                metrics[entry["name"]] = {"value": entry["value"], "unit": entry.get("unit", "")}
    return metrics
