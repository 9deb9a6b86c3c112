"""`mitdl grade`: execute submitted notebooks in fresh kernels and grade them on the real checks.

``grade(paths, ...)`` is the typed function (tests call it); ``add_arguments``/``run`` are the thin CLI wrapper.
Modules: `grader` (find submissions, snapshot the check code, a worker process per notebook), `runner` (one
notebook in one worker: kernel, limits, retries), `judge` and `plaindata` (checks that run in the worker, on
plain data), `sandbox` (bubblewrap, or none and why), `guard` and `kernel_side` (the code run inside the kernel
before and after the student's cells), `score` (points and reasons), `report` (JSON, CSV gradebook, Markdown
summary and charts), `gradescope` (the autograder bundle).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .grader import GradeRun, Report, grade

__all__ = ["GradeRun", "Report", "add_arguments", "grade", "run"]


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """--timeout-cell, --timeout and --memory: the limits `mitdl grade` and the Gradescope bundle share."""
    parser.add_argument("--timeout-cell", type=float, default=60.0, metavar="S",
                        help="time limit per student cell, and per exercise when grading (default 60)")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="S",
                        help="time limit for running all of a notebook's cells (default 600)")
    parser.add_argument("--memory", type=float, default=4.0, metavar="GB",
                        help="address-space limit of each notebook's kernel, in GB; 0 = none (default 4)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="a submitted notebook, or a folder of them (searched recursively)")
    add_limit_arguments(parser)
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="notebooks graded at once (default 1)")
    parser.add_argument("--out", type=Path, default=Path("grades"), metavar="DIR",
                        help="where reports go (default ./grades)")
    parser.add_argument("--seed", type=int, default=None,
                        help="grade-time seed for the random cases (default: a fresh random one, recorded)")
    parser.add_argument("--lab", default=None, metavar="labNN",
                        help="lab of notebooks that lack the kit's metadata (metadata wins when present)")


def run(args: argparse.Namespace) -> int:
    """Grade, write the reports, print one line per submission; 1 if any notebook could not be graded."""
    from .report import result_line, write_all

    result = grade(args.paths, cell_timeout=args.timeout_cell, timeout=args.timeout, memory_gb=args.memory,
                   jobs=args.jobs, seed=args.seed, lab=args.lab, progress=sys.stderr.isatty(), hide=[args.out])
    folder = len(result.reports) > 1 or any(p.is_dir() for p in args.paths)
    written = write_all(result, args.out, folder_outputs=folder)
    for report in result.reports:
        print(result_line(report))
    for skipped in result.skipped:
        print(f"– {skipped.name}: not graded — {skipped.reason}")
    print(f"reports: {args.out}/ ({len(written)} file(s)); seed {result.seed}; {result.seconds:.1f} s")
    print(result.sandbox)
    if result.warning:
        print(f"mitdl grade: warning: {result.warning}", file=sys.stderr)
    return 1 if result.failures else 0
