"""`mitdl` command line: dispatch only. Each command lives in its own module, which exposes
``add_arguments(parser)`` and ``run(args) -> int``; tests call the typed functions those wrap."""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import MitdlError

# command name -> (module, one-line help). Modules are imported only when the parser is built.
COMMANDS = {
    "build": ("mitdl_util.build", "generate the student labs/ from solutions/"),
    "data": ("mitdl_util.data.cli", "list, fetch and verify the course datasets"),
    "grade": ("mitdl_util.grade", "run submitted notebooks in fresh kernels and grade them on the real checks"),
    "gradescope": ("mitdl_util.grade.gradescope", "build a Gradescope autograder bundle (zip) for one lab"),
    "bench": ("mitdl_util.bench", "run the solutions and write benchmarks/RESULTS.md"),
    "doctor": ("mitdl_util.doctor", "check this machine for the labs and say what to fix first"),
}


def make_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="mitdl", description="Deep Computer Vision lab kit tools.")
    parser.add_argument("--version", action="version", version=f"mitdl_util {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # command not available in this version
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except MitdlError as exc:
        print(f"mitdl {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mitdl: interrupted", file=sys.stderr)
        return 130
