"""The one place that turns check outcomes into text for the notebook."""

from __future__ import annotations

from collections.abc import Sequence

from .outcomes import ERROR, INCORRECT, NOT_ATTEMPTED, PASSED, Result

SYMBOLS = {PASSED: "✅", INCORRECT: "❌", NOT_ATTEMPTED: "⏳", ERROR: "⚠️"}
LABELS = {PASSED: "passed", INCORRECT: "incorrect", NOT_ATTEMPTED: "not attempted", ERROR: "error"}


def result_line(result: Result) -> str:
    """One line: symbol, exercise, status and (unless passed) why."""
    text = f"{SYMBOLS[result.status]} {result.exercise}: {LABELS[result.status]}"
    return f"{text} — {result.message}" if result.message else text


def show(result: Result) -> None:
    print(result_line(result))


def hint_line(exercise: str, number: int, total: int, text: str) -> str:
    last = " (that was the last hint)" if number == total else ""
    return f"💡 {exercise} hint {number}/{total}: {text}{last}"


def progress_table(lab: str, rows: Sequence[tuple[str, Result | None]]) -> str:
    """A small table of a lab's exercises and their last outcome."""
    done = sum(1 for _, r in rows if r is not None and r)
    width = max((len(name) for name, _ in rows), default=0)
    lines = [f"{lab}: {done}/{len(rows)} exercises passed"]
    for name, result in rows:
        if result is None:
            lines.append(f"  ·  {name:<{width}}  not checked yet")
        else:
            lines.append(f"  {SYMBOLS[result.status]} {name:<{width}}  {LABELS[result.status]}")
    return "\n".join(lines)
