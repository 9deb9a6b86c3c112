"""Gradescope: `mitdl gradescope LAB --out DIR` builds an autograder bundle; in Gradescope's container its
`run_autograder` grades the submission with the same grader as `mitdl grade` and writes `results.json`.

The bundle (`DIR/autograder_<lab>.zip`) holds
- `setup.sh`: installs the pinned requirements (TensorFlow only for labs that use it), bubblewrap where apt can,
  and the kit from `kit/` — the exact package source that built the bundle;
- `run_autograder`: ``python3 -m mitdl_util.grade.gradescope --root /autograder``; the root can be moved with
  ``MITDL_AUTOGRADER_ROOT`` (tests use a temporary folder), the Python with ``MITDL_PYTHON``;
- `autograder.json`: the lab, the limits, and each exercise with its points and the variables it grades (taken
  from the solution when the bundle is built, so solutions/ never goes into the bundle).

Gradescope runs one container per submission: that container is the isolation and the scale.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import stat
import sys
import zipfile
from pathlib import Path

from ..checks.outcomes import PASSED
from ..errors import MitdlError
from .grader import (
    LAB_NAME,
    PACKAGE_DIR,
    exercise_list,
    find_submissions,
    grade,
    preload_for,
    snapshot_sources,
)
from .score import CELL_NUMBERING

ROOT_VARIABLE = "MITDL_AUTOGRADER_ROOT"
DEV_ONLY = {"jupyterlab", "nbval", "pytest", "pytest-timeout", "pytest-xdist", "playwright", "hypothesis", "ruff",
            "nox", "pyyaml"}
HEAVY = {"tensorflow", "keras"}

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when the autograder is uploaded: install the pinned kit.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${{MITDL_PYTHON:-python3}}"
if command -v apt-get >/dev/null; then
    apt-get update -q && apt-get install -y -q --no-install-recommends bubblewrap || true
fi
"$PYTHON" -m pip install --no-cache-dir -r requirements.txt
"$PYTHON" -m pip install --no-cache-dir --no-deps ./kit
"$PYTHON" -c "import mitdl_util; print('installed mitdl_util', mitdl_util.__version__)"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission, write /autograder/results/results.json.
ROOT="${{{root}:-/autograder}}"
exec "${{MITDL_PYTHON:-python3}}" -m mitdl_util.grade.gradescope --root "$ROOT" \\
    --config "$(dirname "$0")/autograder.json"
"""


# ---------------------------------------------------------------- building the bundle
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lab", metavar="LAB", help="the lab to grade, e.g. lab01")
    parser.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                        help="where autograder_<lab>.zip goes (default: here)")
    from . import add_limit_arguments

    add_limit_arguments(parser)


def run(args: argparse.Namespace) -> int:
    path = build_bundle(args.lab, args.out, cell_timeout=args.timeout_cell, timeout=args.timeout,
                        memory_gb=args.memory)
    print(f"autograder for {args.lab}: {path} — upload it under Configure Autograder → Zip file upload")
    return 0


def build_bundle(lab: str, out_dir: Path, *, cell_timeout: float = 60.0, timeout: float = 600.0,
                 memory_gb: float = 4.0, requirements: Path | None = None) -> Path:
    """Write `out_dir/autograder_<lab>.zip`; return its path."""
    from .. import __version__

    if not LAB_NAME.match(lab) or not (PACKAGE_DIR / "checks" / f"{lab}.py").is_file():
        raise MitdlError(f"there are no checks for {lab!r} in this version of mitdl_util (labs: lab01 … lab05)")
    config = {"lab": lab, "kit_version": __version__, "cell_timeout": cell_timeout, "timeout": timeout,
              "memory_gb": memory_gb, "exercises": exercise_list(lab)}
    heavy = "tensorflow" in preload_for(lab, snapshot_sources())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"autograder_{lab}.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        _add(bundle, "setup.sh", SETUP_SH.format(), executable=True)
        _add(bundle, "run_autograder", RUN_AUTOGRADER.format(root=ROOT_VARIABLE), executable=True)
        _add(bundle, "autograder.json", json.dumps(config, indent=2) + "\n")
        _add(bundle, "requirements.txt", bundle_requirements(requirements or PACKAGE_DIR.parent / "requirements.txt",
                                                             heavy=heavy))
        for file in _kit_files():
            bundle.write(file, "kit/" + file.relative_to(PACKAGE_DIR.parent).as_posix())
    path.write_bytes(buffer.getvalue())
    return path


def _add(bundle: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    bundle.writestr(info, text)


def _kit_files() -> list[Path]:
    """The package source and what installs it: pyproject.toml and README.md (its readme), never solutions/."""
    root = PACKAGE_DIR.parent
    files = [root / "pyproject.toml", root / "README.md"]
    files += sorted(p for p in PACKAGE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                    and p.suffix not in (".pyc", ".pyo"))
    return [f for f in files if f.is_file()]


def bundle_requirements(requirements: Path, *, heavy: bool) -> str:
    """The kit's pinned requirements without the editable install and development tools (and without
    TensorFlow/Keras for a lab whose checks do not use them)."""
    kept = ["# pinned runtime requirements of mitdl_util (from the kit's requirements.txt)"]
    for line in Path(requirements).read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#") or text.startswith("-e") or text.startswith("--"):
            continue
        name = re.split(r"[=<>;\[ ]", text, maxsplit=1)[0].lower()
        if name in DEV_ONLY or (name in HEAVY and not heavy):
            continue
        kept.append(text)
    return "\n".join(kept) + "\n"


# ---------------------------------------------------------------- inside Gradescope's container
def autograde(root: Path, config: dict) -> dict:
    """Grade `root/submission` for `config["lab"]`; write and return `root/results/results.json`."""
    lab, exercises = config["lab"], config["exercises"]
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    chosen = _choose(root / "submission", lab, notes)
    report = None
    if chosen is not None:
        run = grade([chosen], cell_timeout=config["cell_timeout"], timeout=config["timeout"],
                    memory_gb=config["memory_gb"], lab=lab, exercises={lab: exercises}, hide=[results_dir])
        report = run.reports[0]
        notes.append(run.sandbox)
        if report.lab != lab:
            notes.insert(0, f"This notebook is for {report.lab}, but this assignment is {lab}: submit the "
                            f"{lab} notebook.")
            report = None
    results = gradescope_results(report, exercises, notes)
    (results_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
    return results


def _choose(folder: Path, lab: str, notes: list[str]) -> Path | None:
    """The notebook to grade: the one for this lab (by its metadata), else the only notebook there is."""
    try:
        found = find_submissions([folder], lab)
    except MitdlError:
        notes.insert(0, "No notebook (*.ipynb) was found in your submission: upload your lab's .ipynb file.")
        return None
    mine = [s for s in found if s.lab == lab and not s.problem] or found
    if len(mine) > 1:
        notes.append(f"Your submission holds {len(mine)} notebooks; {mine[0].name} was graded.")
    return mine[0].path


def gradescope_results(report, exercises: list[dict], notes: list[str]) -> dict:
    """Gradescope's results format: total score, one test per exercise (name, score, max_score, output, ...)."""
    rows = {row["exercise"]: row for row in (report.exercises if report else [])}
    tests = []
    for info in exercises:
        row = rows.get(info["id"])
        passed = bool(row) and row["status"] == PASSED
        tests.append({
            "name": info["id"], "score": float(row["points"]) if row else 0.0, "max_score": float(info["points"]),
            "status": "passed" if passed else "failed",
            "output": ("passed" if passed else f"{row['status']}: {row['message']}") if row else "not graded",
            "visibility": "visible",
        })
    output = list(notes)
    if report is not None:
        if report.error:
            output.insert(0, f"The grader could not grade everything: {report.error}")
        if report.tampering:
            output.append("Flagged for the course staff (the score above is what the real checks gave): "
                          + "; ".join(report.tampering[:5]))
        if report.cells:
            output.append(f"Cells that did not run cleanly ({CELL_NUMBERING}):")
        for cell in report.cells[:10]:
            starts = f" (`{cell['starts']}`)" if cell.get("starts") else ""
            output.append(f"cell {cell['cell']}{starts}: {cell['status']} — {cell['message']}")
    return {"score": round(sum(t["score"] for t in tests), 4), "output": "\n".join(o for o in output if o),
            "tests": tests, "visibility": "visible", "stdout_visibility": "hidden"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mitdl_util.grade.gradescope",
                                     description="Grade one Gradescope submission (run by run_autograder).")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_VARIABLE, "/autograder")))
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text(encoding="utf-8"))
    results = autograde(args.root, config)
    print(f"score {results['score']:g} / {sum(t['max_score'] for t in results['tests']):g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
