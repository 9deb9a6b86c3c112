"""Write grades: one JSON report per submission, a CSV gradebook and a short Markdown summary for a folder."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

from ..checks.outcomes import PASSED
from .grader import GradeRun, Report


def report_filename(report: Report) -> str:
    """`alice/01_images_as_numbers.ipynb` -> `alice__01_images_as_numbers.json`."""
    stem = report.submission[:-len(".ipynb")] if report.submission.endswith(".ipynb") else report.submission
    return stem.replace("/", "__").replace("\\", "__") + ".json"


def write_json(report: Report, out_dir: Path) -> Path:
    path = Path(out_dir) / report_filename(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def gradebook_columns(reports: list[Report]) -> list[str]:
    """Fixed columns, then one column per exercise id (labs in order, exercises in lab order)."""
    exercise_ids: list[str] = []
    for report in sorted(reports, key=lambda r: r.lab or ""):
        for row in report.exercises:
            if row["exercise"] not in exercise_ids:
                exercise_ids.append(row["exercise"])
    return ["submission", "lab", "score", "max_score", "tampered", "cell_problems", "grader_error", *exercise_ids]


def write_gradebook(reports: list[Report], path: Path) -> Path:
    """One row per submission: points per exercise. No timings, so two runs of the same folder agree byte for byte."""
    columns = gradebook_columns(reports)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for report in reports:
            row = {"submission": report.submission, "lab": report.lab or "", "score": _num(report.score),
                   "max_score": _num(report.max_score), "tampered": "yes" if report.tampered else "",
                   "cell_problems": len(report.cells), "grader_error": report.error or ""}
            row.update({e["exercise"]: _num(e["points"]) for e in report.exercises})
            writer.writerow(row)
    return path


def _num(value: float) -> str:
    return f"{value:g}"


def summary_markdown(run: GradeRun) -> str:
    """A short summary: scores per lab, pass rate per exercise, flagged submissions, grading time."""
    reports = run.reports
    lines = ["# Grading summary", ""]
    times = [r.seconds for r in reports if not r.error]
    timing = (f"; {statistics.mean(times):.1f} s per submission on average (max {max(times):.1f} s)"
              if times else "")
    lines.append(f"{len(reports)} submission(s) graded in {run.seconds:.1f} s with {run.jobs} job(s){timing}. "
                 f"Grade-time seed: {run.seed}.")
    if run.warning:
        lines += ["", f"**Warning:** {run.warning}."]
    for lab in sorted({r.lab for r in reports if r.lab}):
        mine = [r for r in reports if r.lab == lab]
        scores = [r.score for r in mine]
        top = mine[0].max_score
        lines += ["", f"## {lab}", "",
                  f"{len(mine)} submission(s); mean {statistics.mean(scores):.2f} / {top:g}, "
                  f"median {statistics.median(scores):g}, full marks: {sum(s == top for s in scores)}.", "",
                  "| exercise | points | passed | incorrect | not attempted | error |", "|---|---|---|---|---|---|"]
        for index, row in enumerate(mine[0].exercises):
            statuses = [r.exercises[index]["status"] for r in mine]
            counts = [statuses.count(s) for s in (PASSED, "incorrect", "not_attempted", "error")]
            lines.append(f"| {row['exercise']} | {row['max_points']:g} | " + " | ".join(map(str, counts)) + " |")
    flagged = [r for r in reports if r.tampered]
    if flagged:
        lines += ["", "## Tampering", ""]
        lines += [f"- {r.submission}: {'; '.join(r.tampering[:3])}" + (" …" if len(r.tampering) > 3 else "")
                  for r in flagged]
    failed = [r for r in reports if r.error]
    if failed:
        lines += ["", "## Not graded (grader failures)", ""]
        lines += [f"- {r.submission}: {r.error}" for r in failed]
    troubled = [r for r in reports if r.cells and not r.error]
    if troubled:
        lines += ["", "## Cells that failed", ""]
        for r in troubled:
            shown = "; ".join(f"cell {c['cell']} {c['status']}" for c in r.cells[:4])
            lines.append(f"- {r.submission}: {shown}" + (" …" if len(r.cells) > 4 else ""))
    return "\n".join(lines) + "\n"


def write_all(run: GradeRun, out_dir: Path, *, folder_outputs: bool) -> list[Path]:
    """Per-submission JSON; with `folder_outputs`, also gradebook.csv and summary.md. Returns the paths written."""
    out_dir = Path(out_dir)
    written = [write_json(r, out_dir) for r in run.reports]
    if folder_outputs:
        written.append(write_gradebook(run.reports, out_dir / "gradebook.csv"))
        summary = out_dir / "summary.md"
        summary.write_text(summary_markdown(run), encoding="utf-8")
        written.append(summary)
    return written


def result_line(report: Report) -> str:
    """One console line per submission."""
    if report.error:
        return f"✗ {report.submission}: not graded — {report.error}"
    flag = "  ⚠ tampering flagged" if report.tampered else ""
    return f"{report.submission} ({report.lab}): {report.score:g}/{report.max_score:g} in {report.seconds:.1f} s{flag}"
