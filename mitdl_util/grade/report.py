"""Write grades: one JSON report per submission, a CSV gradebook, and for a folder a Markdown summary with a bar
chart per lab (share of students passing each exercise) next to it."""

from __future__ import annotations

import csv
import json
import re
import statistics
from collections import Counter
from pathlib import Path

from ..checks.outcomes import ERROR, INCORRECT, NOT_ATTEMPTED, PASSED
from .grader import GradeRun, Report
from .score import CELL_NUMBERING

RESERVED = {"gradebook", "summary"}  # names of the folder-wide files


def report_filename(report: Report) -> str:
    """`alice/01_images_as_numbers.ipynb` -> `alice__01_images_as_numbers.json` (see `report_filenames`)."""
    stem = report.submission[:-len(".ipynb")] if report.submission.endswith(".ipynb") else report.submission
    return stem.replace("/", "__").replace("\\", "__") + ".json"


def report_filenames(reports: list[Report]) -> list[str]:
    """One JSON file name per report, never two alike (`a/b.ipynb` and `a__b.ipynb` are `a__b.json` and
    `a__b~2.json`, in path order) and never a folder-wide file's name."""
    names, taken = [], set()
    for report in reports:
        base = report_filename(report)[:-len(".json")]
        name, number = base, 1
        while name.lower() in taken or name.lower() in RESERVED:
            number += 1
            name = f"{base}~{number}"
        taken.add(name.lower())
        names.append(name + ".json")
    return names


def write_json(report: Report, out_dir: Path, filename: str | None = None) -> Path:
    path = Path(out_dir) / (filename or report_filename(report))
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
    return ["submission", "lab", "kind", "score", "max_score", "tampered", "cell_problems", "grader_error",
            *exercise_ids]


def write_gradebook(reports: list[Report], path: Path) -> Path:
    """One row per submission: points per exercise. No timings, so two runs of the same folder agree byte for byte."""
    columns = gradebook_columns(reports)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for report in reports:
            row = {"submission": report.submission, "lab": report.lab or "", "kind": report.kind or "",
                   "score": _num(report.score),
                   "max_score": _num(report.max_score), "tampered": "yes" if report.tampered else "",
                   "cell_problems": len(report.cells), "grader_error": report.error or ""}
            row.update({e["exercise"]: _num(e["points"]) for e in report.exercises})
            writer.writerow(row)
    return path


def _num(value: float) -> str:
    return f"{value:g}"


def exercise_table(reports: list[Report]) -> list[dict]:
    """Per exercise of one lab's reports: counts per status, share passing, the most frequent failure messages."""
    rows = []
    for index, first in enumerate(reports[0].exercises):
        results = [r.exercises[index] for r in reports if index < len(r.exercises)]
        statuses = Counter(row["status"] for row in results)
        failures: Counter = Counter()
        example: dict[str, str] = {}
        for row in results:
            if row["status"] != PASSED and row["message"]:
                key = re.sub(r"\d+", "N", row["message"])  # cell numbers and values differ between notebooks
                failures[key] += 1
                example.setdefault(key, row["message"])
        rows.append({"exercise": first["exercise"], "points": first["max_points"], "count": len(results),
                     "statuses": statuses, "share": statuses[PASSED] / len(results) if results else 0.0,
                     "failures": [(example[k], n) for k, n in failures.most_common(2)]})
    return rows


def pass_rate_figure(lab: str, rows: list[dict]):
    """A horizontal bar per exercise: the share of the lab's submissions that passed it (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 0.4 * len(rows) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    names = [row["exercise"].split(".", 1)[-1] for row in rows]
    shares = [100 * row["share"] for row in rows]
    positions = list(range(len(rows)))[::-1]  # the lab's first exercise at the top
    ax.barh(positions, shares, color="#4C72B0")
    ax.set_yticks(positions, names)
    ax.set_xlim(0, 100)
    ax.set_xlabel("submissions that passed (%)")
    ax.set_title(f"{lab}: {rows[0]['count'] if rows else 0} submission(s)")
    for y, share in zip(positions, shares, strict=True):
        ax.text(min(share + 1, 88), y, f"{share:.0f} %", va="center", fontsize=8)
    return fig


def summary_markdown(run: GradeRun, charts: dict[str, str] | None = None) -> str:
    """The class summary: scores per lab, per exercise the share passing and the most frequent failures, flagged
    submissions, and every file that was not graded, with the reason."""
    reports = run.reports
    lines = ["# Grading summary", ""]
    times = [r.seconds for r in reports if not r.error]
    timing = (f"; {statistics.mean(times):.1f} s per submission on average (max {max(times):.1f} s)"
              if times else "")
    lines.append(f"{len(reports)} notebook(s) graded in {run.seconds:.1f} s with {run.jobs} job(s){timing}. "
                 f"Grade-time seed: {run.seed}.")
    if run.sandbox:
        lines += ["", f"Isolation: {run.sandbox}."]
    if run.warning:
        lines += ["", f"**Warning:** {run.warning}."]
    for lab in sorted({r.lab for r in reports if r.lab and r.exercises}):
        mine = [r for r in reports if r.lab == lab and r.exercises]
        scores = [r.score for r in mine]
        top = mine[0].max_score
        lines += ["", f"## {lab}", "",
                  f"{len(mine)} submission(s); mean {statistics.mean(scores):.2f} / {top:g}, "
                  f"median {statistics.median(scores):g}, full marks: {sum(s == top for s in scores)}.", ""]
        if charts and lab in charts:
            lines += [f"![share of submissions passing each exercise of {lab}]({charts[lab]})", ""]
        lines += ["| exercise | points | passing | passed | incorrect | not attempted | error | most frequent failures |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in exercise_table(mine):
            counts = " | ".join(str(row["statuses"][s]) for s in (PASSED, INCORRECT, NOT_ATTEMPTED, ERROR))
            failures = "<br>".join(f"{n}× {_cell_text(message)}" for message, n in row["failures"]) or "—"
            lines.append(f"| {row['exercise']} | {row['points']:g} | {100 * row['share']:.0f} % | {counts} | "
                         f"{failures} |")
    solutions = [r for r in reports if r.kind == "solution"]
    if solutions:
        lines += ["", "## Solution notebooks submitted", "",
                  "These notebooks carry the metadata of the instructor's solution (`kind: solution`), not of a "
                  "student lab:", ""]
        lines += [f"- {r.submission}" for r in solutions]
    flagged = [r for r in reports if r.tampered]
    if flagged:
        lines += ["", "## Tampering", ""]
        lines += [f"- {r.submission}: {'; '.join(r.tampering[:3])}" + (" …" if len(r.tampering) > 3 else "")
                  for r in flagged]
    leftover = [r for r in reports if r.leftovers]
    if leftover:
        lines += ["", "## Processes left running", ""]
        lines += [f"- {r.submission}: {r.leftovers} process(es) still running after its kernel stopped were killed"
                  for r in leftover]
    failed = [r for r in reports if r.error]
    if failed or run.skipped:
        lines += ["", "## Not graded", ""]
        lines += [f"- {r.submission}: {r.error}" for r in failed]
        lines += [f"- {s.name}: {s.reason}" for s in run.skipped]
    troubled = [r for r in reports if r.cells and not r.error]
    if troubled:
        lines += ["", "## Cells that failed", "", f"Numbering: {CELL_NUMBERING}.", ""]
        for r in troubled:
            shown = "; ".join(f"{_cell_name(c)} {c['status']} ({_costs(c)})" for c in r.cells[:4])
            lines.append(f"- {r.submission}: {shown}" + (" …" if len(r.cells) > 4 else ""))
    return "\n".join(lines) + "\n"


def _cell_name(cell: dict) -> str:
    """How the summary names a failed cell: its number and, where known, its first line of code."""
    starts = _cell_text(cell.get("starts", ""), 60).replace("`", "'")
    return f"cell {cell['cell']} (`{starts}`)" if starts else f"cell {cell['cell']}"


def _costs(cell: dict) -> str:
    costs = [e.split(".", 1)[-1] for e in cell.get("costs", [])]
    return f"cost: {', '.join(costs)}" if costs else "demo cell, no points"


def _cell_text(message: str, limit: int = 160) -> str:
    text = " ".join(message.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def write_all(run: GradeRun, out_dir: Path, *, folder_outputs: bool) -> list[Path]:
    """Per-submission JSON; with `folder_outputs`, also gradebook.csv, summary.md and one chart per lab
    (summary_<lab>.png). Returns the paths written."""
    out_dir = Path(out_dir)
    written = [write_json(r, out_dir, name) for r, name in zip(run.reports, report_filenames(run.reports), strict=True)]
    if folder_outputs:
        written.append(write_gradebook(run.reports, out_dir / "gradebook.csv"))
        charts = {}
        for lab in sorted({r.lab for r in run.reports if r.lab and r.exercises}):
            rows = exercise_table([r for r in run.reports if r.lab == lab and r.exercises])
            chart = out_dir / f"summary_{lab}.png"
            pass_rate_figure(lab, rows).savefig(chart, dpi=100)
            charts[lab] = chart.name
            written.append(chart)
        summary = out_dir / "summary.md"
        summary.write_text(summary_markdown(run, charts), encoding="utf-8")
        written.append(summary)
    return written


def result_line(report: Report) -> str:
    """One console line per submission."""
    if report.error:
        return f"✗ {report.submission}: not graded — {report.error}"
    flag = "  ⚠ tampering flagged" if report.tampered else ""
    return f"{report.submission} ({report.lab}): {report.score:g}/{report.max_score:g} in {report.seconds:.1f} s{flag}"
