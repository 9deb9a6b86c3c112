"""Grade ONE submission: run its cells in a fresh kernel, then judge every exercise — in this worker where its
answers cross as plain data (`judge`), else in the kernel (`kernel_side`).

This runs in a worker process of its own (`grader.WORKER_BOOT`, which imports the kit from the snapshot), so
nothing the notebook does can take the grader down. The kernel is started through nbclient with

- its own temporary working directory, ``MPLBACKEND=Agg``, no grade-time seed in its environment;
- an address-space limit (``RLIMIT_AS``, soft = hard, so the notebook cannot raise it) set before ipykernel starts;
- a time limit per student cell (interrupt, then a fresh kernel if it does not stop) and per exercise;
- inside a bubblewrap sandbox where one works (`sandbox`): own PID namespace, no network, read-only files.

Before the student's first cell a hidden cell installs the `guard` (results channel, library baseline); grader
cells are not stored in the kernel's history. Results come back through a file only this process reads, and a
cell that times out has its output reader cancelled, so it cannot swallow the outputs of later cells.

A cell that raises only loses what depends on it. A cell that kills the kernel (``os._exit``, a segfault, the
memory limit) is recorded, and the student's cells are run again in a fresh kernel without it. An exercise whose
check kills the kernel or never stops is marked ``error`` and the remaining exercises are graded in a fresh kernel.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
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
import zmq
from jupyter_client.channels import HBChannel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync

from .. import notebook
from ..checks.outcomes import ERROR
from . import judge, plaindata, sandbox
from .score import CellMap, CellProblem, ExerciseScore, cell_map, link_costs, missing_reason, score

KERNEL_SIDE = "mitdl_util.grade.kernel_side"
GUARD = "mitdl_util.grade.guard"
PLAINDATA = "mitdl_util.grade.plaindata"
JUDGE_VARIABLE = "MITDL_GRADE_JUDGE"  # "kernel": judge every exercise in the kernel (tests of that path)
MAX_ATTEMPTS = 6  # fresh kernels per submission (each crash or unstoppable cell costs one)
PROBE_SECONDS = 10  # after an interrupt, the kernel must answer within this or it is replaced
MAX_RESULT_BYTES = 512 * 1024**2  # results larger than this at once are not read (the exercise gets none)
SEND_TIMEOUT_MS = 5_000  # a send to the kernel that cannot go out within this means the kernel is unreachable
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
    bwrap: str | None = None  # path of a working bubblewrap: run the kernel in a sandbox
    hidden: list[str] = field(default_factory=list)  # paths the sandboxed kernel must not see
    preload: list[str] = field(default_factory=list)  # libraries the checks use, imported before the student's code


@dataclass
class Outcome:
    """Everything the worker learned about one submission."""

    exercises: list[ExerciseScore] = field(default_factory=list)
    cells: list[CellProblem] = field(default_factory=list)
    tampering: list[str] = field(default_factory=list)
    kernels: int = 0
    seconds: float = 0.0
    leftovers: int = 0  # processes the notebook left behind, killed after its kernel (no sandbox only)
    error: str | None = None  # a grader failure (not the student's): the submission could not be graded

    def as_dict(self) -> dict:
        return {
            "exercises": [e.as_dict() for e in self.exercises],
            "cells": [vars(c) for c in self.cells],
            "tampering": self.tampering,
            "leftovers": self.leftovers,
            "kernels": self.kernels,
            "seconds": round(self.seconds, 2),
            "error": self.error,
        }


def make_kernel_manager_class(memory_bytes: int, room: _Room | None = None) -> type:
    """An AsyncKernelManager whose kernel runs under an address-space limit (Linux/macOS) and, given a `room`
    with bubblewrap, inside the sandbox (connected over Unix sockets, interrupted by a control message)."""

    class LimitedKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            if room is not None and room.bwrap:
                self.transport = "ipc"
                self.ip = str(room.conn / "k")
                self.connection_file = str(room.conn / "kernel.json")

        def client(self, **kwargs):
            client = super().client(**kwargs)
            client.hb_channel_class = _PatientHeartbeat
            return client

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            if cmd[1:3] != ["-m", "ipykernel_launcher"]:
                return cmd  # an unusual kernel spec: run it unlimited rather than guess
            if memory_bytes > 0 and os.name == "posix":
                cmd = [cmd[0], "-c", _LIMITED_LAUNCHER, str(memory_bytes), *cmd[3:]]
            if room is not None and room.bwrap:
                cmd = room.prefix() + cmd
            return cmd

        async def _async_interrupt_kernel(self):
            if room is None or not room.bwrap:
                return await super()._async_interrupt_kernel()
            # a SIGINT to the process group would end bubblewrap itself; ipykernel interrupts itself on request
            self._connect_control_socket()
            self._control_socket.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
            try:
                self.session.send(self._control_socket, self.session.msg("interrupt_request", content={}))
            except zmq.ZMQError:
                pass  # a kernel that cannot be reached is not answering: the caller's probe finds out

        interrupt_kernel = _async_interrupt_kernel

    return LimitedKernelManager


class _PatientHeartbeat(HBChannel):
    """The heartbeat channel, whose pings give up after SEND_TIMEOUT_MS: a cell that broke the kernel's sockets
    would otherwise leave its thread blocked forever, and stopping the channels would never return."""

    def _create_socket(self) -> None:
        super()._create_socket()
        self.socket.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)

    def run(self) -> None:
        try:
            super().run()
        except zmq.ZMQError:
            self._running = False


class _Room:
    """One attempt's folders: `work` (the kernel's cwd and TMPDIR), `conn` (connection file, sockets, results)."""

    def __init__(self, root: str, options: Options):
        self.root = Path(root)
        self.work, self.conn = self.root / "work", self.root / "conn"
        self.work.mkdir()
        self.conn.mkdir()
        self.results = self.conn / "results"
        self.results.write_bytes(b"")
        self.reader = self.results.open("rb")
        self.bwrap = options.bwrap
        self.hidden = [Path(p) for p in options.hidden]
        self.token = secrets.token_hex(12)

    def prefix(self) -> list[str]:
        return sandbox.bwrap_command(self.bwrap, writable=[self.work, self.conn], hidden=self.hidden,
                                     workdir=self.work)

    def read_results(self) -> list[dict]:
        """Result lines written since the last call (malformed lines are dropped; so is everything when more than
        MAX_RESULT_BYTES arrived at once: no answer of a lab is that large)."""
        start, end = self.reader.tell(), os.fstat(self.reader.fileno()).st_size
        if end - start > MAX_RESULT_BYTES:
            self.reader.seek(0, os.SEEK_END)
            return []
        found = []
        for line in self.reader.read().splitlines():
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(value, dict):
                found.append(value)
        return found

    def close(self) -> None:
        self.reader.close()


class _Client(NotebookClient):
    """nbclient, remembering each cell's output reader so a cell that timed out can have its reader cancelled.

    nbclient (0.10/0.11) does not cancel it after a timeout with ``interrupt_on_timeout=False``; left running, it
    takes the next cells' messages off the channel and drops them (their outputs vanish)."""

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        self.output_readers = getattr(self, "output_readers", set())
        self.output_readers.add(asyncio.current_task())
        try:
            return await super()._async_poll_output_msg(parent_msg_id, cell, cell_index)
        finally:
            self.output_readers.discard(asyncio.current_task())

    def cancel_readers(self) -> None:
        readers = [t for t in getattr(self, "output_readers", set()) if not t.done()]
        for task in readers:
            task.cancel()
        if readers:
            run_sync(asyncio.sleep)(0.05)  # let the cancellations happen before the next cell is sent


class _KernelGone(Exception):
    """The kernel died or stopped answering; the attempt ends and a fresh kernel is needed."""


class _Attempt:
    """One fresh kernel: install the guard, run the student's cells (minus skipped ones), then grade."""

    def __init__(self, grading: SubmissionGrading, room: _Room):
        self.g = grading
        self.room = room
        options = grading.options
        env = {k: v for k, v in os.environ.items() if k not in HIDDEN_ENV}
        env.update({"MPLBACKEND": "Agg", "TMPDIR": str(room.work), "PYTHONDONTWRITEBYTECODE": "1",
                    "IPYTHONDIR": str(room.work / ".ipython"), "MPLCONFIGDIR": str(room.work / ".matplotlib"),
                    sandbox.ATTEMPT_VARIABLE: room.token, "MITDL_CHECK_TIMEOUT": f"{options.cell_timeout:g}"})
        self.client = _Client(
            nbformat.v4.new_notebook(), kernel_name=options.kernel_name, allow_errors=True,
            interrupt_on_timeout=False, record_timing=False, shutdown_kernel="immediate", startup_timeout=120,
            kernel_manager_class=make_kernel_manager_class(options.memory_bytes, room),
        )
        self.start_kwargs = {"cwd": str(room.work), "env": env, "stdout": subprocess.DEVNULL,
                             "stderr": subprocess.DEVNULL, "stdin": subprocess.DEVNULL}

    def run(self) -> bool:
        """True when everything is graded; False when a fresh kernel is needed."""
        try:
            with self.client.setup_kernel(**self.start_kwargs):
                try:
                    self._limit_sends()
                    self._install_guard()
                    self._student_cells()
                    self._grade()
                except _KernelGone:
                    return False
        finally:
            self.g.leftovers += sandbox.kill_leftovers(self.room.token)
        return True

    def _limit_sends(self) -> None:
        """A kernel whose sockets a cell broke (e.g. by writing into their file descriptors) must not make the
        grader wait forever to send it the next cell: sends give up after SEND_TIMEOUT_MS."""
        kc = self.client.kc
        for channel in (kc.shell_channel, kc.control_channel, kc.stdin_channel):
            socket = getattr(channel, "socket", None)
            if socket is not None:
                socket.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)

    def _execute(self, source: str, timeout: float, *, grader: bool = False) -> nbformat.NotebookNode:
        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells = [cell]
        self.client.timeout = max(1, int(round(timeout)))
        try:
            self.client.execute_cell(cell, 0, store_history=not grader)
        except zmq.ZMQError as exc:
            self.client.cancel_readers()
            raise DeadKernelError(f"the kernel stopped answering ({exc})") from None
        except BaseException:
            self.client.cancel_readers()
            raise
        return cell

    def _call(self, source: str, timeout: float) -> tuple[nbformat.NotebookNode, list[dict]]:
        """Run a grader cell; the result lines it sent with its own nonce (a fresh one per cell)."""
        nonce = secrets.token_hex(16)
        cell = self._execute(source.replace("__NONCE__", nonce), timeout, grader=True)
        return cell, [r for r in self.room.read_results() if r.get("nonce") == nonce]

    def _responsive(self) -> bool:
        """After a timeout: interrupt, and see whether the kernel answers again."""
        try:
            run_sync(self.client.km.interrupt_kernel)()
            self._execute("pass", min(PROBE_SECONDS, max(2.0, self.g.options.cell_timeout)), grader=True)
        except (CellTimeoutError, DeadKernelError):
            return False
        return True

    def _install_guard(self) -> None:
        """Before any student cell: the guard; a kernel where it cannot start grades nothing (a grader failure)."""
        g = self.g
        try:
            cell, lines = self._call(g.guard_code(str(self.room.results)), 120)
        except (CellTimeoutError, DeadKernelError):
            g.fail_remaining("the grader could not start in a fresh kernel (it died or hung before the notebook ran)")
            return
        if len(lines) != 1 or not lines[0].get("digest"):
            g.fail_remaining("the grader could not start in a fresh kernel: " + _cell_error(cell))
            return
        g.digest = lines[0]["digest"]

    def _student_cells(self) -> None:
        g = self.g
        if len(g.scores) == len(g.exercise_info):
            return
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
                    g.problem(index, "timeout", f"it ran longer than {limit:g} s (the time limit per cell) and "
                                                "was interrupted")
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
            if not self.room.bwrap:  # in the sandbox the files are read-only: a change is not this notebook's
                g.check_kit_files(index)

    def _grade(self) -> None:
        g = self.g
        if len(g.scores) == len(g.exercise_info):
            return
        handle = f"__mitdl_grader_{secrets.token_hex(8)}"
        try:
            cell, lines = self._call(g.setup_code(handle), max(60.0, g.options.cell_timeout))
        except (CellTimeoutError, DeadKernelError):
            g.fail_remaining("the grader could not start in the kernel after the notebook ran (it died or hung)")
            return
        if len(lines) != 1 or "exercises" not in lines[0]:
            g.interfered(lines, "the grader could not start in the kernel after the notebook ran: "
                         + _cell_error(cell))
            return
        payload = lines[0]
        if payload.get("digest") != g.digest:
            g.merge_tampering(["the grader's record of the libraries (taken before the notebook ran) was changed"])
            g.fail_remaining("not graded: the notebook changed the grader's own records")
            return
        g.learn_exercises(payload)
        for info in g.exercise_info:
            name = info["name"]
            if name in g.scores:
                continue
            if self._judge_in_worker(handle, info):
                continue
            limit = g.options.cell_timeout
            try:
                cell, lines = self._call(f"{handle}.emit({name!r}, '__NONCE__');", limit + GRADING_SLACK)
            except CellTimeoutError:
                g.record(name, ERROR, f"checking `{name}` did not finish within {limit:g} s (the time limit).")
                if not self._responsive():
                    raise _KernelGone from None
                continue
            except DeadKernelError:
                g.record(name, ERROR, f"the Python process ended while `{name}` was being checked (e.g. "
                                        "`os._exit`, a crash or running out of memory).")
                raise _KernelGone from None
            if len(lines) > 1:
                g.merge_tampering([f"{len(lines)} results arrived for `{name}` (only the grader sends one): "
                                   "the notebook forged results"])
                g.record(name, ERROR, f"more than one result arrived for `{name}`; it gets no points.")
                continue
            if not lines:
                g.record(name, ERROR, f"the grader got no result for `{name}`: {_cell_error(cell)}")
                continue
            result = lines[0]
            g.merge_tampering(result.get("tampering", []))
            if result.get("status") == "missing":
                g.record(name, ERROR, missing_reason(result.get("missing", []), g.cells, g.problems))
            else:
                g.record(name, str(result.get("status")), str(result.get("message", "")),
                         float(result.get("time", 0.0) or 0.0))


    # -- judging in the worker: the check runs here, only the student's functions run in the kernel
    def _judge_in_worker(self, handle: str, info: dict) -> bool:
        """Judge one exercise in this process when its answers cross as plain data; False: judge it in the kernel.

        The kernel only sends the answers and the return values of the student's functions; the reference, the
        cases and the comparison never leave this process, so nothing in the kernel can change a verdict."""
        g, name = self.g, info["name"]
        if os.environ.get(JUDGE_VARIABLE, "").strip().lower() == "kernel":
            return False
        exercise = judge.worker_exercise(g.options.lab, name)
        if exercise is None:
            return False
        limit = g.options.cell_timeout
        try:
            cell, lines = self._call(f"{handle}.emit_answers({name!r}, '__NONCE__');", limit + GRADING_SLACK)
        except CellTimeoutError:
            if not self._responsive():
                raise _KernelGone from None
            return False
        except DeadKernelError:
            raise _KernelGone from None
        if len(lines) != 1 or not isinstance(lines[0].get("values"), list):
            return False  # the kernel-side path reports what went wrong
        g.merge_tampering(lines[0].get("tampering", []))
        if lines[0].get("missing"):
            g.record(name, ERROR, missing_reason(list(lines[0]["missing"]), g.cells, g.problems), judged="worker")
            return True
        values, functions = [], []
        for tree in lines[0]["values"]:
            if isinstance(tree, dict) and set(tree) == {"$f"}:
                functions.append(judge.RemoteFunction(self, handle, str(tree["$f"]), time.monotonic() + limit))
                values.append(functions[-1])
            elif isinstance(tree, dict) and set(tree) == {"$o"}:
                return False  # a live object (a model, a class): only the kernel can judge it
            else:
                try:
                    values.append(plaindata.decode(tree))
                except (ValueError, TypeError, KeyError, RecursionError):
                    return False
        start = time.perf_counter()
        try:
            result = judge.evaluate_quietly(exercise, values, g.options.seed)
        except judge.Fallback:
            return False
        except judge.KernelDiedInCall:
            g.record(name, ERROR, f"the Python process ended while `{name}` was being checked (e.g. "
                                    "`os._exit`, a crash or running out of memory).")
            raise _KernelGone from None
        if any(f.unresponsive for f in functions):
            g.record(name, ERROR, f"checking `{name}` did not finish within {limit:g} s (the time limit), and "
                                    "the kernel did not stop when interrupted.")
            raise _KernelGone from None
        g.record(name, str(result.status), str(result.message), time.perf_counter() - start, judged="worker")
        return True


class SubmissionGrading:
    """State shared by the attempts on one submission."""

    def __init__(self, path: Path, options: Options, sources: dict):
        self.path = path
        self.options = options
        self.sources = sources
        nb = nbformat.read(path, as_version=4)
        self.code_cells = [(i, c.source) for i, c in enumerate(nb.cells)
                           if c.cell_type == "code" and isinstance(c.source, str) and c.source.strip()]
        self.numbers = notebook.code_cell_numbers(nb.cells)  # how reports name a cell: see score.CELL_NUMBERING
        self.cells: CellMap = cell_map(self.code_cells, self.numbers)
        self.problems: dict[int, CellProblem] = {}
        self.skip_cells: set[int] = set()
        self.scores: dict[str, ExerciseScore] = {}
        self.exercise_info: list[dict] = list(options.exercises)
        self.tampering: list[str] = []
        self.deadline: float | None = None
        self.digest: str | None = None
        self.leftovers = 0
        self.kit_state = kit_file_state(sources)
        self.guard_name = f"_{secrets.token_hex(12)}"  # where the guard lives in the kernel: not a fixed name
        self.blob = base64.b64encode(zlib.compress(json.dumps(sources).encode("utf-8"))).decode("ascii")

    def problem(self, index: int, status: str, message: str) -> None:
        if index not in self.problems or status == "kernel_died":
            source = dict(self.code_cells).get(index, "")
            self.problems[index] = CellProblem(self.cells.number(index), status, message, notebook.first_line(source))

    def learn_exercises(self, payload: dict) -> None:
        names = [info["name"] for info in self.exercise_info]
        if [info.get("name") for info in payload.get("exercises", [])] != names:  # only if the snapshot is odd
            self.merge_tampering(["the kernel's check module lists different exercises than the grader's"])
        self.merge_tampering(payload.get("tampering", []))

    def merge_tampering(self, items) -> None:
        for item in items if isinstance(items, list) else []:
            item = _short(str(item), 400)
            if item not in self.tampering:
                self.tampering.append(item)

    def interfered(self, lines: list[dict], why: str) -> None:
        if len(lines) > 1:
            self.merge_tampering(["more than one grader set-up result arrived: the notebook forged results"])
            why = "not graded: the notebook forged the grader's results"
        self.fail_remaining(why)

    def record(self, name: str, status: str, message: str, seconds: float = 0.0, judged: str = "kernel") -> None:
        info = next(i for i in self.exercise_info if i["name"] == name)
        self.scores[name] = score(info["id"], status, message, info["points"], seconds, judged)

    def fail_remaining(self, why: str) -> None:
        for info in self.exercise_info:
            if info["name"] not in self.scores:
                self.record(info["name"], ERROR, why)

    def check_kit_files(self, index: int) -> None:
        """After each student cell: did the kit's files change on disk while it ran? Then this notebook is flagged
        (not the next one: every kernel imports the kit from the snapshot, so later notebooks are not affected)."""
        now = kit_file_state(self.sources)
        changed = [path for path, digest in now.items() if self.kit_state.get(path) != digest]
        self.kit_state = now
        if changed:
            self.merge_tampering([f"cell {self.cells.number(index)} rewrote files of the kit on disk ({', '.join(changed[:3])}"
                                  f"{' …' if len(changed) > 3 else ''})"])

    def guard_code(self, results_path: str) -> str:
        """The hidden first cell: the guard, in a private namespace with a copy of today's builtins."""
        guard, plain = self.sources[GUARD], self.sources[PLAINDATA]
        return f"""\
def __mitdl_guard_setup():
    import base64, builtins, json, sys, types, zlib
    module = types.ModuleType({self.guard_name!r})
    module.__dict__["__builtins__"] = dict(vars(builtins))
    exec(compile({guard[2]!r}, {guard[0]!r}, "exec"), module.__dict__)
    plaindata = types.ModuleType("__mitdl_plaindata__")
    plaindata.__dict__["__builtins__"] = module.__dict__["__builtins__"]
    exec(compile({plain[2]!r}, {plain[0]!r}, "exec"), plaindata.__dict__)
    module.plaindata = plaindata
    sys.modules[{self.guard_name!r}] = module
    sources = json.loads(zlib.decompress(base64.b64decode({self.blob!r})))
    digest = module.install({results_path!r}, {self.options.preload!r}, sources)
    module.send({{"nonce": "__NONCE__", "digest": digest}})
__mitdl_guard_setup()
del __mitdl_guard_setup
"""

    def setup_code(self, handle: str) -> str:
        """The cell that loads the grader into the kernel under one hidden name (nothing else is touched)."""
        config = {"lab": self.options.lab, "seed": self.options.seed, "exercise_timeout": self.options.cell_timeout,
                  "answers": {info["name"]: info["answers"] for info in self.exercise_info}}
        origin, _, kernel_side = self.sources[KERNEL_SIDE]
        return f"""\
def {handle}_setup():
    import sys
    from IPython import get_ipython
    guard = sys.modules.get({self.guard_name!r})
    namespace = {{"__name__": "__mitdl_grader__", "__builtins__": guard.__dict__["__builtins__"]}}
    exec(compile({kernel_side!r}, {origin!r}, "exec"), namespace)
    grader = namespace["Grader"]({config!r}, guard.SOURCES, get_ipython().user_ns, guard)
    guard.send({{"nonce": "__NONCE__", **grader.setup()}})
    grader.emit = lambda name, nonce: guard.send({{"nonce": nonce, **grader.grade(name)}})
    grader.emit_answers = lambda name, nonce: guard.send({{"nonce": nonce, **grader.answers(name)}})
    grader.emit_call = lambda name, blob, nonce: guard.send({{"nonce": nonce, **grader.call(name, blob)}})
    return grader
{handle} = {handle}_setup()
del {handle}_setup
"""


def kit_file_state(sources: dict) -> dict[str, bytes]:
    """Path -> SHA-256 of each of the package's files now (b"" for one that cannot be read)."""
    state = {}
    for origin, _, _ in sources.values():
        try:
            state[origin] = hashlib.sha256(Path(origin).read_bytes()).digest()
        except OSError:
            state[origin] = b""
    return state


def grade_submission(path: Path, options: Options, sources: dict) -> Outcome:
    """Run and grade one notebook; never raises for anything the notebook does."""
    start = time.monotonic()
    grading = SubmissionGrading(path, options, sources)
    outcome = Outcome()
    completed = False
    for _ in range(MAX_ATTEMPTS):
        outcome.kernels += 1
        with tempfile.TemporaryDirectory(prefix="mitdl-grade-", ignore_cleanup_errors=True) as root:
            room = _Room(root, options)
            try:
                completed = _Attempt(grading, room).run()
            finally:
                room.close()
            if completed:
                break
    if not completed:
        grading.fail_remaining(f"not graded: the kernel died {MAX_ATTEMPTS} times")
    order = [info["name"] for info in grading.exercise_info]
    outcome.exercises = [grading.scores[name] for name in order if name in grading.scores]
    outcome.cells = [grading.problems[i] for i in sorted(grading.problems)]
    link_costs(outcome.cells, outcome.exercises)
    outcome.tampering = grading.tampering
    outcome.leftovers = grading.leftovers
    outcome.seconds = time.monotonic() - start
    return outcome


def _cell_error(cell) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.ename}: {_short(output.evalue)}"
    return "no output"


def _short(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


RESULT_PREFIX = "MITDL-GRADE-RESULT "


def main(sources: dict | None = None) -> int:
    """Worker loop: the source snapshot (the first stdin line, unless given); then one job (JSON) per line, one
    result line each.

    Student code never runs in this process (only in the kernels it starts), so one worker grades many
    submissions in turn; the grader replaces a worker that stops answering.
    """
    if sources is None:
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
