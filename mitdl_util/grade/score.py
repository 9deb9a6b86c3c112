"""Turn what the kernel reported into scored exercises: points, and a reason for every exercise that failed.

Which cell defines which name is read from the notebook's source (no execution), so that an exercise whose answer
is missing can say why: the cell that defines it raised, timed out, killed the kernel or does not parse.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..checks.outcomes import ERROR, PASSED, STATUSES
from ..notebook import bound_names

CELL_NUMBERING = ("cell N is the notebook's Nth code cell from the top (markdown cells are not counted, empty code "
                  "cells are), which is the [N] JupyterLab shows after Restart Kernel and Run All Cells while no "
                  "cell above it is empty or fails; `starts` quotes the cell's first line of code")


@dataclass
class CellProblem:
    """A student cell that did not run cleanly. `cell` counts the code cells from 1 (see CELL_NUMBERING)."""

    cell: int
    status: str  # "error" | "timeout" | "kernel_died" | "not_run"
    message: str
    starts: str = ""  # the cell's first line of code, to find it by eye
    costs: list[str] = field(default_factory=list)  # exercises lost because of this cell (empty: a demo cell)


@dataclass
class ExerciseScore:
    exercise: str
    status: str
    message: str
    points: float
    max_points: float
    time_s: float  # seconds the check took
    judged: str = "kernel"  # where the check ran: "worker" (plain data only) or "kernel" (live objects)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class CellMap:
    """Names bound at the top level of each code cell (index = position in the notebook, from 0), and the number
    reports give each cell (see CELL_NUMBERING; position + 1 where no numbers are given)."""

    bound: dict[int, set[str]] = field(default_factory=dict)
    numbers: dict[int, int] = field(default_factory=dict)

    def number(self, index: int) -> int:
        return self.numbers.get(index, index + 1)

    def cells_binding(self, name: str) -> list[int]:
        return [index for index, names in sorted(self.bound.items()) if name in names]


def cell_map(cells: list[tuple[int, str]], numbers: dict[int, int] | None = None) -> CellMap:
    return CellMap({index: set(bound_names(source)) for index, source in cells}, dict(numbers or {}))


def missing_reason(names: list[str], cells: CellMap, problems: dict[int, CellProblem]) -> str:
    """Why the answer(s) `names` do not exist in the kernel after the student's cells ran (one sentence per cause)."""
    causes: dict[str, list[str]] = {}
    for name in names:
        binding = cells.cells_binding(name.split(".")[0])
        failed = [problems[i] for i in binding if i in problems]
        if not binding:
            cause = "no cell of the notebook defines {it}"
        elif failed:
            cause = f"cell {failed[-1].cell}, which defines {{it}}, {_problem_words(failed[-1])}"
        else:
            cause = (f"cell {', '.join(str(cells.number(i)) for i in binding)} should define {{it}}; "
                     "was it deleted by a later cell?")
        causes.setdefault(cause, []).append(name)
    sentences = []
    for cause, group in causes.items():
        listed = ", ".join(f"`{n}`" for n in group)
        verb, it = ("is", "it") if len(group) == 1 else ("are", "them")
        sentences.append(f"{listed} {verb} not defined: {cause.format(it=it)}.")
    return " ".join(sentences)


def _problem_words(problem: CellProblem) -> str:
    if problem.status == "timeout":
        return f"was stopped: {problem.message}"
    if problem.status == "kernel_died":
        return f"made the kernel die ({problem.message})"
    if problem.status == "not_run":
        return f"was not run ({problem.message})"
    return f"raised {problem.message}"


def link_costs(problems: list[CellProblem], scores: list[ExerciseScore]) -> None:
    """Fill each failed cell's `costs`: the exercises whose answer it should have defined (see missing_reason)."""
    for problem in problems:
        marker = f"cell {problem.cell}, which defines"
        problem.costs = [s.exercise for s in scores if s.status != PASSED and marker in s.message]


def score(exercise_id: str, status: str, message: str, max_points: float, time_s: float,
          judged: str = "kernel") -> ExerciseScore:
    """Points are all or nothing: the exercise's declared points when it passed, else 0."""
    if status not in STATUSES:
        status, message = ERROR, f"unknown status {status!r}: {message}"
    return ExerciseScore(exercise_id, status, message, float(max_points) if status == PASSED else 0.0,
                         float(max_points), round(float(time_s), 4), judged)
