"""Grade ONE submission: run its cells in a fresh kernel, then grade every exercise in that kernel.

This runs in a worker process of its own (``python -m mitdl_util.grade.worker``), so nothing the notebook does can
take the grader down. The kernel is started through nbclient with

- its own temporary working directory, ``MPLBACKEND=Agg``, no grade-time seed in its environment;
- an address-space limit (``RLIMIT_AS``, soft = hard, so the notebook cannot raise it) set before ipykernel starts;
- a time limit per student cell (interrupt, then a fresh kernel if it does not stop) and per exercise.

A cell that raises only loses what depends on it. A cell that kills the kernel (``os._exit``, a segfault, the
memory limit) is recorded, and the student's cells are run again in a fresh kernel without it. An exercise whose
check kills the kernel or never stops is marked ``error`` and the remaining exercises are graded in a fresh kernel.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync

from .score import CellMap, CellProblem, ExerciseScore, cell_map, missing_reason, score

MIME = "application/vnd.mitdl.grade+json"
KERNEL_SIDE = "mitdl_util.grade.kernel_side"
MAX_ATTEMPTS = 6  # fresh kernels per submission (each crash or unstoppable cell costs one)
PROBE_SECONDS = 10  # after an interrupt, the kernel must answer within this or it is replaced
GRADING_SLACK = 10  # seconds the client waits beyond an exercise's own alarm before interrupting
HIDDEN_ENV = ("MITDL_CHECK_SEED", "MITDL_STRICT_CHECKS", "JPY_SESSION_NAME")

# Started instead of `python -m ipykernel_launcher ...`: limit the address space, then become the kernel.
_LIMITED_LAUNCHER = (
    "import os, resource, sys\n"
    "limit = int(sys.argv[1])\n"
    "try:\n"
    "    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
    "except (ValueError, OSError):  # e.g. macOS does not enforce RLIMIT_AS\n"
    "    pass\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'ipykernel_launcher', *sys.argv[2:]])\n"
)


@dataclass
class Options:
    lab: str
    seed: int
    cell_timeout: float = 60.0
    timeout: float = 600.0
    memory_bytes: int = 4 * 1024**3
    kernel_name: str = "python3"
    exercises: list[dict] = field(default_factory=list)  # [{"name", "id", "points", "answers"}] in lab order


@dataclass
class Outcome:
    """Everything the worker learned about one submission."""

    exercises: list[ExerciseScore] = field(default_factory=list)
    cells: list[CellProblem] = field(default_factory=list)
    tampering: list[str] = field(default_factory=list)
    kernels: int = 0
    seconds: float = 0.0
    error: str | None = None  # a grader failure (not the student's): the submission could not be graded

    def as_dict(self) -> dict:
        return {
            "exercises": [e.as_dict() for e in self.exercises],
            "cells": [vars(c) for c in self.cells],
            "tampering": self.tampering,
            "kernels": self.kernels,
            "seconds": round(self.seconds, 2),
            "error": self.error,
        }


def make_kernel_manager_class(memory_bytes: int) -> type:
    """An AsyncKernelManager whose kernel process runs under an address-space limit (Linux/macOS)."""

    class LimitedKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            if memory_bytes <= 0 or os.name != "posix":
                return cmd
            if cmd[1:3] != ["-m", "ipykernel_launcher"]:
                return cmd  # an unusual kernel spec: run it unlimited rather than guess
            return [cmd[0], "-c", _LIMITED_LAUNCHER, str(memory_bytes), *cmd[3:]]

    return LimitedKernelManager


class _KernelGone(Exception):
    """The kernel died or stopped answering; the attempt ends and a fresh kernel is needed."""


class _Attempt:
    """One fresh kernel: run the student's cells (minus skipped ones), then grade what is not graded yet."""

    def __init__(self, grading: SubmissionGrading, workdir: str):
        self.g = grading
        env = {k: v for k, v in os.environ.items() if k not in HIDDEN_ENV}
        env.update({"MPLBACKEND": "Agg", "TMPDIR": workdir, "PYTHONDONTWRITEBYTECODE": "1"})
        self.client = NotebookClient(
            nbformat.v4.new_notebook(), kernel_name=grading.options.kernel_name, allow_errors=True,
            interrupt_on_timeout=False, record_timing=False, shutdown_kernel="immediate", startup_timeout=120,
            kernel_manager_class=make_kernel_manager_class(grading.options.memory_bytes),
        )
        self.start_kwargs = {"cwd": workdir, "env": env, "stdout": subprocess.DEVNULL,
                             "stderr": subprocess.DEVNULL, "stdin": subprocess.DEVNULL}

    def run(self) -> bool:
        """True when everything is graded; False when a fresh kernel is needed."""
        with self.client.setup_kernel(**self.start_kwargs):
            try:
                self._student_cells()
                self._grade()
            except _KernelGone:
                return False
        return True

    def _execute(self, source: str, timeout: float) -> nbformat.NotebookNode:
        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells = [cell]
        self.client.timeout = max(1, int(round(timeout)))
        self.client.execute_cell(cell, 0)
        return cell

    def _responsive(self) -> bool:
        """After a timeout: interrupt, and see whether the kernel answers again."""
        try:
            run_sync(self.client.km.interrupt_kernel)()
            self._execute("pass", min(PROBE_SECONDS, max(2.0, self.g.options.cell_timeout)))
        except (CellTimeoutError, DeadKernelError):
            return False
        return True

    def _student_cells(self) -> None:
        g = self.g
        if g.deadline is None:  # the total limit counts from the first kernel being ready, not from its start-up
            g.deadline = time.monotonic() + g.options.timeout
        for index, source in g.code_cells:
            if index in g.skip_cells:
                continue
            left = g.deadline - time.monotonic()
            if left <= 1:
                g.problem(index, "not_run", f"the total time limit of {g.options.timeout:g} s was reached")
                continue
            limit = min(g.options.cell_timeout, left)
            try:
                cell = self._execute(source, limit)
            except CellTimeoutError:
                g.skip_cells.add(index)  # a fresh kernel, if one is needed, does not wait for it again
                if self._responsive():
                    g.problem(index, "timeout", f"it ran longer than {limit:g} s (the time limit per cell)")
                    continue
                g.problem(index, "timeout", f"it ran longer than {limit:g} s and did not stop when interrupted; "
                                            "the notebook was run again without it")
                raise _KernelGone from None
            except DeadKernelError:
                g.problem(index, "kernel_died", "the Python process ended — e.g. `os._exit`, a crash or running "
                                                "out of memory; the notebook was run again without this cell")
                g.skip_cells.add(index)
                raise _KernelGone from None
            for output in cell.outputs:
                if output.output_type == "error":
                    g.problem(index, "error", f"{output.ename}: {_short(output.evalue)}")
                    break

    def _grade(self) -> None:
        g = self.g
        nonce = secrets.token_hex(16)
        handle = f"__mitdl_grader_{nonce}"
        setup = g.setup_code(handle, nonce)
        try:
            cell = self._execute(setup, max(60.0, g.options.cell_timeout))
        except (CellTimeoutError, DeadKernelError):
            g.fail_remaining("the grader could not start in the kernel after the notebook ran (it died or hung)")
            return
        payload = _payload(cell, nonce)
        if payload is None:
            g.fail_remaining("the grader could not start in the kernel after the notebook ran: "
                             + _cell_error(cell))
            return
        g.learn_exercises(payload)
        for info in g.exercise_info:
            name = info["name"]
            if name in g.scores:
                continue
            limit = g.options.cell_timeout
            try:
                cell = self._execute(f"{handle}.emit({name!r});", limit + GRADING_SLACK)
            except CellTimeoutError:
                g.record(name, "error", f"checking `{name}` did not finish within {limit:g} s (the time limit).")
                if not self._responsive():
                    raise _KernelGone from None
                continue
            except DeadKernelError:
                g.record(name, "error", f"the Python process ended while `{name}` was being checked (e.g. "
                                        "`os._exit`, a crash or running out of memory).")
                raise _KernelGone from None
            result = _payload(cell, nonce)
            if result is None:
                g.record(name, "error", f"the grader got no result for `{name}`: {_cell_error(cell)}")
                continue
            g.merge_tampering(result.get("tampering", []))
            if result["status"] == "missing":
                g.record(name, "error", missing_reason(result["missing"], g.cells, g.problems))
            else:
                g.record(name, result["status"], result.get("message", ""), result.get("time", 0.0))


class SubmissionGrading:
    """State shared by the attempts on one submission."""

    def __init__(self, path: Path, options: Options, sources: dict):
        self.path = path
        self.options = options
        self.sources = sources
        nb = nbformat.read(path, as_version=4)
        self.code_cells = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
        self.cells: CellMap = cell_map(self.code_cells)
        self.problems: dict[int, CellProblem] = {}
        self.skip_cells: set[int] = set()
        self.scores: dict[str, ExerciseScore] = {}
        self.exercise_info: list[dict] = list(options.exercises)
        self.tampering: list[str] = []
        self.deadline: float | None = None

    def problem(self, index: int, status: str, message: str) -> None:
        if index not in self.problems or status == "kernel_died":
            self.problems[index] = CellProblem(index + 1, status, message)

    def learn_exercises(self, payload: dict) -> None:
        names = [info["name"] for info in self.exercise_info]
        if [info["name"] for info in payload["exercises"]] != names:  # cannot happen unless the snapshot is odd
            self.merge_tampering(["the kernel's check module lists different exercises than the grader's"])
        self.merge_tampering(payload.get("tampering", []))

    def merge_tampering(self, items) -> None:
        for item in items:
            if item not in self.tampering:
                self.tampering.append(item)

    def record(self, name: str, status: str, message: str, seconds: float = 0.0) -> None:
        info = next(i for i in self.exercise_info if i["name"] == name)
        self.scores[name] = score(info["id"], status, message, info["points"], seconds)

    def fail_remaining(self, why: str) -> None:
        for info in self.exercise_info:
            if info["name"] not in self.scores:
                self.record(info["name"], "error", why)

    def setup_code(self, handle: str, nonce: str) -> str:
        """The cell that loads the grader into the kernel under one hidden name (nothing else is touched)."""
        config = {"lab": self.options.lab, "seed": self.options.seed, "exercise_timeout": self.options.cell_timeout,
                  "answers": {info["name"]: info["answers"] for info in self.exercise_info}}
        blob = base64.b64encode(zlib.compress(json.dumps(self.sources).encode("utf-8"))).decode("ascii")
        kernel_side = self.sources[KERNEL_SIDE][2]
        return f"""\
def {handle}_setup():
    import base64, json, zlib
    from IPython import get_ipython
    namespace = {{"__name__": "__mitdl_grader__"}}
    exec(compile({kernel_side!r}, "<mitdl grader>", "exec"), namespace)
    sources = json.loads(zlib.decompress(base64.b64decode({blob!r})))
    grader = namespace["Grader"]({config!r}, sources, get_ipython().user_ns)
    setup = grader.setup()
    namespace["publish"](setup, {nonce!r})
    grader.emit = lambda name: namespace["publish"](grader.grade(name), {nonce!r})
    return grader
{handle} = {handle}_setup()
del {handle}_setup
"""


def grade_submission(path: Path, options: Options, sources: dict) -> Outcome:
    """Run and grade one notebook; never raises for anything the notebook does."""
    start = time.monotonic()
    grading = SubmissionGrading(path, options, sources)
    outcome = Outcome()
    completed = False
    for _ in range(MAX_ATTEMPTS):
        outcome.kernels += 1
        with tempfile.TemporaryDirectory(prefix="mitdl-grade-", ignore_cleanup_errors=True) as workdir:
            if _Attempt(grading, workdir).run():
                completed = True
                break
    if not completed:
        grading.fail_remaining(f"not graded: the kernel died {MAX_ATTEMPTS} times")
    order = [info["name"] for info in grading.exercise_info]
    outcome.exercises = [grading.scores[name] for name in order if name in grading.scores]
    outcome.cells = [grading.problems[i] for i in sorted(grading.problems)]
    outcome.tampering = grading.tampering
    outcome.seconds = time.monotonic() - start
    return outcome


def _payload(cell, nonce: str) -> dict | None:
    """The last grader display carrying this run's nonce (the notebook's own code cannot know the nonce)."""
    found = None
    for output in cell.get("outputs", []):
        data = output.get("data", {}) if output.get("output_type") in ("display_data", "execute_result") else {}
        blob = data.get(MIME)
        if isinstance(blob, str):
            try:
                blob = json.loads(blob)
            except ValueError:
                continue
        if isinstance(blob, dict) and blob.get("nonce") == nonce:
            found = blob
    return found


def _cell_error(cell) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.ename}: {_short(output.evalue)}"
    return "no output"


def _short(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


RESULT_PREFIX = "MITDL-GRADE-RESULT "


def main() -> int:
    """Worker loop: the first stdin line is the source snapshot; then one job (JSON) per line, one result line each.

    Student code never runs in this process (only in the kernels it starts), so one worker grades many
    submissions in turn; the grader replaces a worker that stops answering.
    """
    sources = json.loads(sys.stdin.readline())
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            outcome = grade_submission(Path(job["notebook"]), Options(**job["options"]), sources)
        except Exception as exc:  # noqa: BLE001 - a grader bug: report it as this submission's failure
            outcome = Outcome(error=f"the grader failed: {type(exc).__name__}: {exc}")
        sys.stdout.write(RESULT_PREFIX + json.dumps(outcome.as_dict()) + "\n")
        sys.stdout.flush()
    return 0
