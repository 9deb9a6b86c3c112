"""Grade many submissions: find them, recognise each one's lab, run a worker process per notebook, collect reports.

The check code is read once, when grading starts, into a snapshot of the package's source files; every kernel
imports the kit from that snapshot (the student's own imports too), so a notebook that rewrites the kit's files on
disk changes nothing for anyone; the worker flags the notebook (and cell) during which the files changed, and at
the end any file still changed is reported as a warning.

Every file under a folder given is accounted for: graded, or listed in `GradeRun.skipped` with the reason.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib
import json
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import notebook
from ..checks.outcomes import ERROR
from ..errors import MitdlError
from ..notebook import answer_names
from . import sandbox
from .runner import GRADING_SLACK, MAX_ATTEMPTS, PROBE_SECONDS, RESULT_PREFIX, Options
from .score import CELL_NUMBERING

LAB_NAME = re.compile(r"^lab\d{2}$")
PACKAGE_DIR = Path(__file__).resolve().parents[1]
SOLUTIONS_DIR = PACKAGE_DIR.parent / "solutions"  # present in a clone of the kit, where instructors grade


@dataclass
class Submission:
    path: Path
    name: str  # how reports call it: the path relative to the folder given, or the file name
    lab: str | None = None
    kind: str | None = None
    problem: str | None = None  # why it cannot be graded at all


@dataclass
class Report:
    """The grade of one submission, as written to its JSON file."""

    submission: str
    notebook: str
    lab: str | None
    kind: str | None
    score: float
    max_score: float
    exercises: list[dict]
    cells: list[dict] = field(default_factory=list)
    tampering: list[str] = field(default_factory=list)
    seed: int | None = None
    seconds: float = 0.0
    kernels: int = 0
    error: str | None = None  # set when the grader could not grade this submission (a grader failure)
    leftovers: int = 0  # processes the notebook left running after its kernel, killed by the grader

    @property
    def tampered(self) -> bool:
        return bool(self.tampering)

    def as_dict(self) -> dict:
        from .. import __version__

        return {
            "submission": self.submission, "notebook": self.notebook, "lab": self.lab, "kind": self.kind,
            "score": self.score, "max_score": self.max_score, "tampered": self.tampered,
            "tampering": self.tampering, "exercises": self.exercises, "cell_numbering": CELL_NUMBERING,
            "cells": self.cells, "seed": self.seed,
            "seconds": self.seconds, "kernels": self.kernels, "leftover_processes": self.leftovers,
            "error": self.error,
            "grader": f"mitdl_util {__version__}",
        }


@dataclass
class Skipped:
    """A file in a folder given that was not graded, and why."""

    name: str
    reason: str


@dataclass
class GradeRun:
    reports: list[Report]
    seed: int
    seconds: float
    jobs: int
    warning: str | None = None  # set when the kit's files changed on disk during the run
    skipped: list[Skipped] = field(default_factory=list)
    sandbox: str = ""  # one line: which sandbox the kernels ran in, or that there was none and why

    @property
    def failures(self) -> list[Report]:
        return [r for r in self.reports if r.error]


# ---------------------------------------------------------------- finding submissions
def find_submissions(paths: list[Path], lab: str | None = None,
                     skipped: list[Skipped] | None = None) -> list[Submission]:
    """Every notebook named or inside a folder named; every other file there goes to `skipped` with its reason
    (dot-named files and folders such as .ipynb_checkpoints, symbolic links, files that are not notebooks)."""
    found: list[Submission] = []
    skipped = [] if skipped is None else skipped
    for path in paths:
        path = Path(path)
        if path.is_dir():
            before = len(found)
            _walk(path, path, found, skipped)
            if len(found) == before:
                raise MitdlError(f"no notebooks (*.ipynb) in {path}")
        elif path.is_file():
            if path.suffix != ".ipynb":
                raise MitdlError(f"{path} is not a notebook (*.ipynb)")
            found.append(Submission(path, path.name))
        else:
            raise MitdlError(f"{path} does not exist")
    counts: dict[str, int] = {}
    for sub in found:
        counts[sub.name] = counts.get(sub.name, 0) + 1
    seen: set[str] = set()
    for sub in found:  # two files with the same name given separately: name them by their folder too
        if counts[sub.name] > 1:
            sub.name = f"{sub.path.resolve().parent.name}/{sub.name}"
        base, number = sub.name, 1
        while sub.name in seen:
            number += 1
            sub.name = f"{base}~{number}"
        seen.add(sub.name)
        _recognise(sub, lab)
    return found


def _walk(folder: Path, top: Path, found: list[Submission], skipped: list[Skipped]) -> None:
    """Depth-first, sorted; symbolic links are listed, never followed (they could point anywhere)."""
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        skipped.append(Skipped(folder.relative_to(top).as_posix() + "/", f"folder not readable ({exc.strerror})"))
        return
    for entry in entries:
        name = entry.relative_to(top).as_posix()
        if entry.is_symlink():
            skipped.append(Skipped(name, "a symbolic link: not followed (copy the file itself into the folder)"))
        elif entry.name.startswith("."):
            what = "folder" if entry.is_dir() else "file"
            skipped.append(Skipped(name + ("/" if entry.is_dir() else ""),
                                   f"a hidden (dot-named) {what}: skipped, e.g. Jupyter's .ipynb_checkpoints"))
        elif entry.is_dir():
            _walk(entry, top, found, skipped)
        elif entry.suffix == ".ipynb" and entry.is_file():
            found.append(Submission(entry, name))
        else:
            skipped.append(Skipped(name, "not a notebook (*.ipynb)"))


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _recognise(sub: Submission, default_lab: str | None) -> None:
    """The lab comes from the notebook's metadata (written by `mitdl build`), never from the file name."""
    try:
        nb = json.loads(sub.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, MemoryError) as exc:
        sub.problem = f"not a readable notebook ({type(exc).__name__}: {_short(str(exc))})"
        return
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        sub.problem = "not a readable notebook (its JSON has no list of cells)"
        return
    metadata = nb.get("metadata", {})
    if not isinstance(metadata, dict):
        sub.problem = f"not a readable notebook (its `metadata` is a {type(metadata).__name__}, not an object)"
        return
    meta = metadata.get("mitdl", {})
    lab = meta.get("lab") if isinstance(meta, dict) else None
    sub.kind = meta.get("kind") if isinstance(meta, dict) else None
    if not lab:
        if default_lab is None:
            sub.problem = ("the notebook has no `metadata.mitdl.lab` (it was not made by `mitdl build`, or the "
                           "metadata was removed); grade it with `--lab labNN`")
            return
        lab = default_lab
    if not isinstance(lab, str) or not LAB_NAME.match(lab) or not (PACKAGE_DIR / "checks" / f"{lab}.py").is_file():
        sub.problem = f"the notebook's lab {lab!r} has no checks in this version of mitdl_util"
        return
    sub.lab = lab


# ---------------------------------------------------------------- the snapshot of the kit's code
def snapshot_sources(package_dir: Path = PACKAGE_DIR) -> dict[str, list]:
    """Module name -> [file path, is package, source] for every .py file of the package, read now."""
    sources = {}
    for file in sorted(package_dir.rglob("*.py")):
        parts = list(file.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        sources[".".join(parts)] = [str(file), is_package, file.read_text(encoding="utf-8")]
    return sources


def changed_on_disk(sources: dict[str, list]) -> list[str]:
    changed = []
    for origin, _, source in sources.values():
        try:
            now = Path(origin).read_bytes()
        except OSError:
            now = b""
        if hashlib.sha256(now).digest() != hashlib.sha256(source.encode("utf-8")).digest():
            changed.append(origin)
    return changed


def exercise_list(lab: str, solutions_dir: Path | None = None) -> list[dict]:
    """Each exercise of the lab: name, id, points and the notebook variables to pass as its answers.

    Which variables: the module's ``ANSWERS = {"exercise": ("variable", ...)}`` where it declares one; else the
    arguments the lab's solution notebook passes to ``q.<exercise>.check(...)`` (the call every student copy
    has); else the exercise's ``params`` (for a function exercise, the function's name).
    """
    module = importlib.import_module(f"mitdl_util.checks.{lab}")
    declared = getattr(module, "ANSWERS", {}) or {}
    unknown = set(declared) - {ex.name for ex in module.EXERCISES}
    if unknown:
        raise MitdlError(f"mitdl_util.checks.{lab}.ANSWERS names no exercise {sorted(unknown)}")
    from_solution = solution_answers(lab, SOLUTIONS_DIR if solutions_dir is None else solutions_dir)
    return [{"name": ex.name, "id": ex.id, "points": ex.points,
             "answers": list(declared.get(ex.name) or from_solution.get(ex.name) or ex.params)}
            for ex in module.EXERCISES]


def solution_answers(lab: str, solutions_dir: Path) -> dict[str, tuple[str, ...]]:
    """Exercise -> the names the lab's solution passes to its check (`x` or `data.x`; other calls are skipped)."""
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if nb.get("metadata", {}).get("mitdl", {}).get("lab") == lab:
            return check_calls([source for _, source in notebook.code_cells(nb.get("cells", []))], lab)
    return {}


def check_calls(sources: list[str], lab: str) -> dict[str, tuple[str, ...]]:
    """`q.name.check(a, b)` -> {"name": ("a", "b")}, where `q` is what `mitdl_util.checks.<lab>` was imported as;
    calls that pass anything but names (`x` or `data.x`) are skipped."""
    found = {name: answer_names(call) for name, call in notebook.check_calls(sources, lab).items()}
    return {name: names for name, names in found.items() if names}


# ---------------------------------------------------------------- running
def grade(paths: list[Path], *, cell_timeout: float = 60.0, timeout: float = 600.0, memory_gb: float = 4.0,
          jobs: int = 1, seed: int | None = None, lab: str | None = None, progress: bool = False,
          hide: list[Path] = (), exercises: dict[str, list[dict]] | None = None) -> GradeRun:
    """Grade every notebook in `paths` (files or folders); one report per notebook, in path order.

    `hide`: more paths the sandboxed kernels must not see (the output folder); the folders graded and
    solutions/ are always hidden. `exercises`: lab -> `exercise_list(lab)` computed elsewhere (Gradescope).
    """
    if jobs < 1:
        raise MitdlError("--jobs must be at least 1")
    if cell_timeout <= 0 or timeout <= 0:
        raise MitdlError("time limits must be positive")
    skipped: list[Skipped] = []
    submissions = find_submissions(paths, lab, skipped)
    seed = secrets.randbits(62) if seed is None else int(seed)
    sources = snapshot_sources()
    labs = sorted({s.lab for s in submissions if s.lab})
    exercises = {name: (exercises or {}).get(name) or exercise_list(name) for name in labs}
    memory_bytes = int(memory_gb * 1024**3) if memory_gb and memory_gb > 0 else 0
    bwrap, sandbox_line = sandbox.availability()
    hidden = [str(Path(p).resolve()) for p in [*paths, *hide, SOLUTIONS_DIR]]
    start = time.monotonic()
    reports: dict[str, Report] = {}

    local = threading.local()
    workers: list[Worker] = []

    def work(sub: Submission) -> Report:
        if sub.problem:
            return Report(sub.name, str(sub.path), sub.lab, sub.kind, 0.0, 0.0, [], seed=seed, error=sub.problem)
        options = Options(lab=sub.lab, seed=seed, cell_timeout=cell_timeout, timeout=timeout,
                          memory_bytes=memory_bytes, exercises=exercises[sub.lab], bwrap=bwrap, hidden=hidden,
                          preload=preload_for(sub.lab, sources))
        if not hasattr(local, "worker"):
            local.worker = Worker(sources)
            workers.append(local.worker)
        return build_report(sub, local.worker.grade(sub.path, options), exercises[sub.lab], seed)

    bar = _progress_bar(len(submissions), progress)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(work, sub): sub for sub in submissions}
            for future in concurrent.futures.as_completed(futures):
                reports[futures[future].name] = future.result()
                bar.update(1)
    finally:
        bar.close()
        for worker in workers:
            worker.stop()
    changed = changed_on_disk(sources)
    warning = None
    if changed:
        warning = (f"files of mitdl_util changed on disk while grading ({', '.join(changed)}). Every notebook was "
                   "graded with the kit as read at the start; if you did not edit these files, the notebooks "
                   "flagged for it rewrote them: restore them (git)")
    ordered = [reports[s.name] for s in submissions if s.name in reports]
    return GradeRun(ordered, seed, round(time.monotonic() - start, 2), jobs, warning, skipped, sandbox_line)


def preload_for(lab: str, sources: dict) -> list[str]:
    """Libraries the lab's checks use, imported (and recorded by the guard) before the student's first cell."""
    source = sources.get(f"mitdl_util.checks.{lab}", ["", False, ""])[2]
    heavy = ["tensorflow", "keras"] if "tensorflow" in source or "keras" in source or ".models" in source else []
    return ["numpy", "numpy.linalg", "numpy.random", *heavy]


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="grading", unit="notebook", disable=not enabled or total < 2, file=sys.stderr)


# The worker's first line on stdin is the source snapshot; it imports the whole kit (its own grading code too) from
# it, so a worker started after a notebook rewrote files on disk still runs the code read when grading began.
WORKER_BOOT = """\
import importlib.abc, importlib.util, json, os, sys
sys.path[:] = [p for p in sys.path if p not in ("", ".")]
SOURCES = json.loads(sys.stdin.readline())
class SnapshotFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        entry = SOURCES.get(name)
        if entry is None:
            return None
        spec = importlib.util.spec_from_loader(name, self, origin=entry[0], is_package=entry[1])
        spec.has_location = True
        if entry[1]:
            spec.submodule_search_locations = [os.path.dirname(entry[0])]
        return spec
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        origin, _, source = SOURCES[module.__spec__.name]
        exec(compile(source, origin, "exec"), module.__dict__)
sys.meta_path.insert(0, SnapshotFinder())
from mitdl_util.grade.runner import main
sys.exit(main(SOURCES))
"""


class Worker:
    """A worker process (`WORKER_BOOT`) that grades one notebook at a time.

    The notebook's code runs only in the kernels the worker starts, never in the worker itself. A worker that
    crashes or does not answer within the hard limit is killed (with its process group) and replaced.
    """

    def __init__(self, sources: dict):
        self.sources_line = (json.dumps(sources) + "\n").encode("utf-8")
        self.process: subprocess.Popen | None = None

    def _start(self) -> None:
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen([sys.executable, "-c", WORKER_BOOT], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=_read_lines, args=(self.process.stdout, self.lines), daemon=True).start()
        self.process.stdin.write(self.sources_line)
        self.process.stdin.flush()

    def grade(self, path: Path, options: Options) -> dict:
        """The worker's outcome for one notebook; a worker failure becomes {"error": ...}, never a raise."""
        job = (json.dumps({"notebook": str(path), "options": vars(options)}) + "\n").encode("utf-8")
        try:
            if self.process is None or self.process.poll() is not None:
                self._start()
            self.process.stdin.write(job)
            self.process.stdin.flush()
        except OSError as exc:
            self.stop()
            return {"error": f"the grading worker could not be started or reached ({exc})"}
        per_exercise = options.cell_timeout + GRADING_SLACK + PROBE_SECONDS
        limit = options.timeout + len(options.exercises) * per_exercise + MAX_ATTEMPTS * (120 + PROBE_SECONDS)
        deadline = time.monotonic() + limit
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                return {"error": f"grading took longer than {limit:.0f} s and was stopped"}
            if line is None:
                tail = self._log_tail()
                self.stop()
                return {"error": f"the grading worker failed: {tail or 'no message'}"}
            if line.startswith(RESULT_PREFIX):
                return json.loads(line[len(RESULT_PREFIX):])

    def _log_tail(self) -> str:
        try:
            self.log.seek(0)
            text = self.log.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        return " ".join(text.strip().splitlines()[-3:])[-500:]

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        try:
            process.stdin.close()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (OSError, AttributeError):
                process.kill()
            process.wait()
        self.log.close()


def _read_lines(stream, lines: queue.Queue) -> None:
    for raw in stream:
        lines.put(raw.decode("utf-8", "replace"))
    lines.put(None)


def build_report(sub: Submission, outcome: dict, exercises: list[dict], seed: int) -> Report:
    """Every exercise of the lab appears, in lab order; one the worker could not grade is an error."""
    graded = {e["exercise"]: e for e in outcome.get("exercises", [])}
    error = outcome.get("error")
    rows = []
    for info in exercises:
        row = graded.get(info["id"]) or {
            "exercise": info["id"], "status": ERROR, "message": f"not graded: {error or 'no result'}",
            "points": 0.0, "max_points": float(info["points"]), "time_s": 0.0}
        rows.append(row)
    return Report(
        submission=sub.name, notebook=str(sub.path), lab=sub.lab, kind=sub.kind,
        score=round(sum(r["points"] for r in rows), 4), max_score=float(sum(i["points"] for i in exercises)),
        exercises=rows, cells=outcome.get("cells", []), tampering=list(outcome.get("tampering", [])), seed=seed,
        seconds=float(outcome.get("seconds", 0.0)), kernels=int(outcome.get("kernels", 0)), error=error,
        leftovers=int(outcome.get("leftovers", 0)),
    )
