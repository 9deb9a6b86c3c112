"""`mitdl grade` under attack (issue 15): each attack that once worked is a notebook here, graded for real.

Folders, each graded once per module (lab01, no TensorFlow, short limits):
- `attacks`: slow cells, forged results, lying answers, patched libraries, wrong lab metadata, unreadable files,
  colliding names, dot-named files and symlinks — graded in the bubblewrap sandbox where this machine has one;
- `probe`, twice: with the sandbox and with ``MITDL_SANDBOX=off``: a notebook that looks for solutions/, the
  submissions and output folders, the network, the kit's files, and leaves a detached process behind;
- `in_kernel`: three attacks again with every exercise judged in the kernel (``MITDL_GRADE_JUDGE=kernel``), the
  path of exercises whose answers are live objects.
The closing note's attack table quotes these tests (run with `pytest -s` to see the scores). Slow (notebook
tests, about 115 s on 2 cores in all): the `attacks` folder ~60 s, each `probe` ~13 s, `judged_in_kernel` ~18 s.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from mitdl_util.grade import grade, sandbox
from mitdl_util.grade.report import write_all

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "01_images_as_numbers.ipynb"
@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


HAVE_BWRAP = sandbox.availability()[0] is not None
needs_bwrap = pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap is not installed or cannot sandbox here")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _variant(folder: Path, name: str, edits) -> Path:
    """The lab01 solution with `change(source)` applied to the one code cell containing each needle."""
    nb = copy.deepcopy(_load(SOLUTION))
    for needle, change in edits:
        cells = [c for c in nb["cells"] if c["cell_type"] == "code" and needle in "".join(c["source"])]
        assert len(cells) == 1, f"{needle!r} is in {len(cells)} cells"
        cells[0]["source"] = change("".join(cells[0]["source"]))
    path = folder / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def _tiny(folder: Path, relative: str, cells: list[str], lab: str = "lab01") -> Path:
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
                     "source": source} for i, source in enumerate(cells)],
          "metadata": {"mitdl": {"lab": lab, "notebook": "01_images_as_numbers", "kind": "lab"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


WRONG_NORMALIZE = ("def normalize(img)", lambda s: s.replace("/ 255.0", "/ 256.0"))

FORGE_DISPLAY = """
import IPython.display as _display
_real_publish = _display.publish_display_data
def _forge(data, *args, **kwargs):
    for value in data.values():
        if isinstance(value, dict) and "status" in value:
            value["status"], value["message"] = "passed", ""
    return _real_publish(data, *args, **kwargs)
_display.publish_display_data = _forge
"""

FORGE_CHANNEL = """
import json, os
for _fd in os.listdir("/proc/self/fd"):  # write 'passed' results into every regular file this process has open
    try:
        if not os.path.isfile(os.readlink(f"/proc/self/fd/{_fd}")):
            continue
        for _ex in ("normalize", "crop"):
            os.write(int(_fd), (json.dumps({"nonce": "guess", "name": _ex, "status": "passed"}) + "\\n").encode())
    except OSError:
        pass
"""

FD_GARBAGE = """
import os
for _fd in os.listdir("/proc/self/fd"):  # garbage into every file descriptor: the kernel's sockets too
    try:
        if int(_fd) > 2:
            os.write(int(_fd), b"garbage\\n" * 100)
    except OSError:
        pass
"""

LIARS = """
import numpy as np
class Liar(np.ndarray):
    def astype(self, *args, **kwargs):
        return self
    def __array_ufunc__(self, *args, **kwargs):
        return np.ones((), dtype=bool)
    def __eq__(self, other):
        return True
class LyingInt(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
class LyingDict(dict):
    def __getitem__(self, key):
        return {"president": "classification", "steering_angle": "regression", "age": "regression",
                "digit": "classification", "tumour": "classification"}[key]
"""
LYING_NORMALIZE = """
def normalize(img):
    return np.zeros(np.shape(img), np.float32).view(Liar)
"""

PATCHES = """
import builtins, sys
import numpy as np
_always = type("Always", (), {"__call__": lambda self, *a, **k: np.True_})()
np.isclose = _always
namespace = {}
exec(compile("def sum(*args, **kwargs):\\n    return 0\\n", np.__file__, "exec"), namespace)
builtins.sum = namespace["sum"]
class Proxy:
    def __getattr__(self, name):
        return getattr(np, name)
sys.modules["numpy"] = Proxy()
"""

FORGE_GUARD = """
import sys, types
for _module in list(sys.modules.values()):  # find the grader's channel and mark every result passed
    _send = getattr(_module, "send", None)
    if isinstance(_module, types.ModuleType) and callable(_send) and hasattr(_module, "digest"):
        _module.send = lambda payload, _send=_send: _send({**payload, "status": "passed", "message": ""})
"""

LIAR_EDITS = [("from mitdl_util.checks import lab01 as q", lambda s: s + "\n" + LIARS),
              ("def normalize(img)", lambda s: s + "\n" + LYING_NORMALIZE),
              ("n = 1080 * 1080 * 3", lambda s: s + "\nn = LyingInt(7)"),
              ("q.task_type.check(answers)", lambda s: "answers = LyingDict()\n" + s)]

SLOW_LAST = "import time\nwhile True:\n    time.sleep(0.01)\n"


@pytest.fixture(scope="module")
def attacks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks")
    _variant(folder, "slow_loop", [("def normalize(img)", lambda s: "while True:\n    pass\n" + s)])
    _variant(folder, "slow_sleep", [("def normalize(img)", lambda s: "import time\ntime.sleep(3600)\n" + s)])
    _variant(folder, "slow_last", [("q.progress()", lambda s: SLOW_LAST + s)])
    _variant(folder, "forge_display", [("from mitdl_util.checks import lab01 as q", lambda s: s + FORGE_DISPLAY),
                                       WRONG_NORMALIZE])
    _variant(folder, "forge_channel", [("q.task_type.check(answers)", lambda s: FORGE_CHANNEL + s),
                                       WRONG_NORMALIZE])
    _variant(folder, "forge_guard", [("from mitdl_util.checks import lab01 as q", lambda s: s + FORGE_GUARD),
                                     WRONG_NORMALIZE])
    _variant(folder, "fd_garbage", [("q.task_type.check(answers)", lambda s: FD_GARBAGE + s)])
    _variant(folder, "liars", LIAR_EDITS)
    _variant(folder, "patches", [("from mitdl_util.checks import lab01 as q", lambda s: s + PATCHES),
                                 WRONG_NORMALIZE])
    claims_lab02 = _load(SOLUTION)
    claims_lab02["metadata"]["mitdl"]["lab"] = "lab02"
    (folder / "claims_lab02.ipynb").write_text(json.dumps(claims_lab02), encoding="utf-8")
    # unreadable files beside good ones
    broken = _load(SOLUTION)
    broken["metadata"] = []
    (folder / "metadata_list.ipynb").write_text(json.dumps(broken), encoding="utf-8")
    (folder / "deep.ipynb").write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    (folder / "not_json.ipynb").write_text("{ this is not JSON", encoding="utf-8")
    # names that once collided, hidden and linked files, a file that is not a notebook
    _tiny(folder, "a/b.ipynb", ["n = 1080 * 1080 * 3"])
    _tiny(folder, "a__b.ipynb", ["n = 1080 * 1080"])
    _tiny(folder, ".hidden.ipynb", ["n = 1"])
    (folder / "linked.ipynb").symlink_to(SOLUTION)
    (folder / "linked_folder").symlink_to(ROOT / "solutions", target_is_directory=True)
    (folder / "notes.txt").write_text("not a notebook", encoding="utf-8")
    out = tmp_path_factory.mktemp("attacks_out")
    start = time.monotonic()
    run = grade([folder], cell_timeout=6, timeout=120, memory_gb=3, jobs=2, seed=99, hide=[out])
    wall = time.monotonic() - start
    write_all(run, out, folder_outputs=True)
    by_name = {r.submission.removesuffix(".ipynb"): r for r in run.reports}
    print(f"\nattacks graded in {wall:.1f} s ({run.sandbox})")
    for name, report in sorted(by_name.items()):  # the closing note quotes these lines (pytest -s)
        print(f"{name}: {report.score:g}/{report.max_score:g}, {report.kernels} kernel(s), "
              f"error={report.error}, tampering={report.tampering[:4]}")
    return run, by_name, out


def _status(report) -> dict[str, str]:
    return {row["exercise"].split(".")[1]: row["status"] for row in report.exercises}


def _failed(report) -> set[str]:
    return {name for name, status in _status(report).items() if status != "passed"}


# ---------------------------------------------------------------- an honest slow cell costs only its exercise
@pytest.mark.notebook
@pytest.mark.parametrize("name", ["slow_loop", "slow_sleep"])
def test_a_cell_that_times_out_costs_only_its_exercise_in_the_same_kernel(attacks, name):
    report = attacks[1][name]
    assert _failed(report) == {"normalize"} and report.score == 8, report.exercises
    assert report.kernels == 1  # interrupted, not replaced: later cells' outputs (and the grader's) still arrive
    timed_out = [c for c in report.cells if c["status"] == "timeout"]
    assert len(timed_out) == 1 and "interrupted" in timed_out[0]["message"]
    assert timed_out[0]["costs"] == ["lab01.normalize"]  # the summary links the cell to the exercise it cost


@pytest.mark.notebook
def test_a_loop_in_the_last_cell_costs_nothing(attacks):
    report = attacks[1]["slow_last"]
    assert report.score == 9 and report.kernels == 1, report.exercises
    assert [(c["status"], c["costs"]) for c in report.cells] == [("timeout", [])]  # a demo cell, no points


# ---------------------------------------------------------------- no notebook can forge a grade
@pytest.mark.notebook
def test_a_forged_display_gets_the_real_score_and_is_flagged(attacks):
    report = attacks[1]["forge_display"]
    assert _failed(report) == {"normalize"} and report.score == 8
    assert any("IPython" in item and "publish_display_data" in item for item in report.tampering), report.tampering


@pytest.mark.notebook
def test_results_written_into_the_kernels_files_are_ignored(attacks):
    report = attacks[1]["forge_channel"]
    assert _failed(report) == {"normalize"} and report.score == 8


@pytest.mark.notebook
def test_a_patched_results_channel_cannot_pass_an_exercise_judged_in_the_worker(attacks):
    report = attacks[1]["forge_guard"]
    assert _failed(report) == {"normalize"} and report.score == 8, report.exercises
    assert {row["judged"] for row in report.exercises} == {"worker"}


@pytest.fixture(scope="module")
def judged_in_kernel(tmp_path_factory, monkeypatch_module):
    """The path for live objects (Keras models, classes): every exercise judged in the kernel, on lab01."""
    folder = tmp_path_factory.mktemp("in_kernel")
    _variant(folder, "forge_display", [("from mitdl_util.checks import lab01 as q", lambda s: s + FORGE_DISPLAY),
                                       WRONG_NORMALIZE])
    _variant(folder, "patches", [("from mitdl_util.checks import lab01 as q", lambda s: s + PATCHES),
                                 WRONG_NORMALIZE])
    _variant(folder, "liars", LIAR_EDITS)
    monkeypatch_module.setenv("MITDL_GRADE_JUDGE", "kernel")
    run = grade([folder], cell_timeout=6, timeout=120, memory_gb=3, jobs=2, seed=98)
    return {r.submission.removesuffix(".ipynb"): r for r in run.reports}


@pytest.mark.notebook
def test_in_the_kernel_too_forged_patched_and_lying_answers_get_the_real_score(judged_in_kernel):
    assert {row["judged"] for r in judged_in_kernel.values() for row in r.exercises} == {"kernel"}
    assert _failed(judged_in_kernel["forge_display"]) == {"normalize"}
    assert any("publish_display_data" in t for t in judged_in_kernel["forge_display"].tampering)
    assert _failed(judged_in_kernel["patches"]) == {"normalize"}
    assert len(judged_in_kernel["patches"].tampering) >= 3
    assert _failed(judged_in_kernel["liars"]) == {"normalize", "num_values", "task_type"}


@pytest.mark.notebook
def test_garbage_written_into_the_kernels_sockets_costs_that_cell_not_the_grader(attacks):
    report = attacks[1]["fd_garbage"]
    assert report.error is None and report.score >= 8, report.exercises
    assert report.seconds < 90


@pytest.mark.notebook
def test_lying_subclasses_are_judged_as_plain_data(attacks):
    report = attacks[1]["liars"]
    assert _failed(report) == {"normalize", "num_values", "task_type"}, report.exercises
    assert report.score == 6


@pytest.mark.notebook
def test_patched_libraries_are_flagged_put_back_and_buy_nothing(attacks):
    report = attacks[1]["patches"]
    assert _failed(report) == {"normalize"} and report.score == 8, report.exercises
    text = " ".join(report.tampering)
    assert "numpy.isclose` was replaced by Always object" in text
    assert "builtins.sum` was replaced by a function from" in text
    assert "sys.modules['numpy']` was replaced by Proxy object" in text


@pytest.mark.notebook
def test_a_lab01_notebook_claiming_lab02_is_graded_as_lab02_without_false_flags(attacks):
    report = attacks[1]["claims_lab02"]
    assert report.lab == "lab02" and report.error is None
    assert not [t for t in report.tampering if "deleted" in t], report.tampering


# ---------------------------------------------------------------- every file accounted for
@pytest.mark.notebook
def test_unreadable_notebooks_are_listed_and_the_rest_graded(attacks):
    run, by_name, out = attacks
    assert "metadata" in by_name["metadata_list"].error
    assert "RecursionError" in by_name["deep"].error
    assert "not a readable notebook" in by_name["not_json"].error
    assert by_name["slow_last"].score == 9  # graded beside them
    summary = (out / "summary.md").read_text(encoding="utf-8")
    for name in ("metadata_list.ipynb", "deep.ipynb", "not_json.ipynb"):
        assert f"- {name}:" in summary


@pytest.mark.notebook
def test_colliding_names_get_two_reports(attacks):
    run, by_name, out = attacks
    reports = {json.loads(p.read_text(encoding="utf-8"))["submission"]: p.name for p in out.glob("a__b*.json")}
    assert reports == {"a/b.ipynb": "a__b.json", "a__b.ipynb": "a__b~2.json"}
    assert by_name["a/b"].exercises != by_name["a__b"].exercises  # each report holds its own notebook


@pytest.mark.notebook
def test_hidden_files_links_and_other_files_are_listed_with_a_reason(attacks):
    run, by_name, out = attacks
    skipped = {s.name: s.reason for s in run.skipped}
    assert "hidden" in skipped[".hidden.ipynb"]
    assert "symbolic link" in skipped["linked.ipynb"] and "symbolic link" in skipped["linked_folder"]
    assert "not a notebook" in skipped["notes.txt"]
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert all(f"- {name}:" in summary for name in skipped)


# ---------------------------------------------------------------- the room: sandbox, and without one
class _Listener:
    """A TCP server on 127.0.0.1 that counts connections (does the kernel reach the network?)."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self.server.close()


_DETACHED = """\
import pathlib, time
time.sleep(4)
for path in pathlib.Path({out!r}).glob("*"):
    path.write_text("rewritten")
time.sleep(3600)
"""


def _probe_cells(folder: Path, out: Path, port: int, marker: str) -> list[str]:
    victim = folder / "victim.txt"
    return [
        "import os, socket, subprocess, sys\nfrom pathlib import Path\nimport mitdl_util\n"
        "kit = Path(mitdl_util.__file__).resolve().parents[1]",
        "if list((kit / 'solutions').glob('*.ipynb')):\n    raise RuntimeError('PROBE saw solutions/')",
        f"if os.path.exists({str(folder)!r}) and os.listdir({str(folder)!r}):\n"
        "    raise RuntimeError('PROBE saw the submissions folder')",
        f"if os.path.exists({str(out)!r}) and os.listdir({str(out)!r}):\n"
        "    raise RuntimeError('PROBE saw the output folder')",
        f"Path({str(victim)!r}).write_text('overwritten')\nraise RuntimeError('PROBE overwrote a submission')",
        "probe = kit / 'mitdl_util' / '_probe_written.txt'\nprobe.write_text('x')\nprobe.unlink()\n"
        "raise RuntimeError('PROBE wrote into the kit')",
        f"socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
        "raise RuntimeError('PROBE reached the network')",
        # a detached process that outlives the kernel unless something kills it, then rewrites the reports
        f"subprocess.Popen([sys.executable, '-c', {_DETACHED.format(out=str(out))!r}, {marker!r}],\n"
        "                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)",
    ]


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.fixture(scope="module", params=["bubblewrap", "no sandbox"])
def probe(request, tmp_path_factory):
    if request.param == "bubblewrap" and not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed or cannot sandbox here")
    folder = tmp_path_factory.mktemp("probe")
    out = tmp_path_factory.mktemp("probe_out")
    (out / "earlier.json").write_text("{}", encoding="utf-8")  # a report from an earlier run
    (folder / "victim.txt").write_text("a file of another student", encoding="utf-8")
    listener, marker = _Listener(), f"mitdl-probe-{uuid.uuid4().hex}"
    _tiny(folder, "probe.ipynb", _probe_cells(folder, out, listener.port, marker))
    saved = os.environ.get(sandbox.SANDBOX_VARIABLE)
    os.environ[sandbox.SANDBOX_VARIABLE] = "on" if request.param == "bubblewrap" else "off"
    try:
        run = grade([folder], cell_timeout=10, timeout=60, memory_gb=3, seed=5, hide=[out])
    finally:
        if saved is None:
            os.environ.pop(sandbox.SANDBOX_VARIABLE)
        else:
            os.environ[sandbox.SANDBOX_VARIABLE] = saved
    write_all(run, out, folder_outputs=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    time.sleep(6)  # longer than the detached process waits before it rewrites the reports
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    alive = _processes_with(marker)
    listener.close()
    errors = " ".join(c["message"] for c in run.reports[0].cells)
    print(f"\nprobe ({request.param}): {run.sandbox}; cell errors: {errors}; leftovers killed: "
          f"{run.reports[0].leftovers}")
    return {"mode": request.param, "run": run, "errors": errors, "listener": listener, "before": before,
            "after": after, "alive": alive, "victim": (folder / "victim.txt").read_text(encoding="utf-8")}


@pytest.mark.notebook
def test_detached_processes_die_with_the_kernel_and_the_output_stays_as_written(probe):
    assert probe["alive"] == [], f"{probe['mode']}: a process the notebook detached is still running"
    assert probe["after"] == probe["before"]
    assert "earlier.json" in probe["after"]


@pytest.mark.notebook
def test_the_sandbox_hides_the_folders_blocks_writes_and_the_network(probe):
    errors, run = probe["errors"], probe["run"]
    if probe["mode"] == "bubblewrap":
        assert run.sandbox.startswith("sandbox: bubblewrap")
        assert "PROBE" not in errors, errors  # saw no folder, wrote nothing, reached nothing
        assert re.search(r"Read-only file system: '[^']*victim\.txt'", errors), errors  # another student's file
        # the kit's folder: read-only, or out of sight altogether where the checkout lives under /tmp (private there)
        assert re.search(r"(Read-only file system|No such file or directory): '[^']*_probe_written\.txt'", errors), errors
        assert not (ROOT / "mitdl_util" / "_probe_written.txt").exists()
        assert "Connection refused" in errors and probe["listener"].connections == 0
        assert probe["victim"] == "a file of another student"
    else:  # as today: all of it works, and the report says that there was no sandbox
        assert run.sandbox.startswith("no sandbox: MITDL_SANDBOX=off")
        for what in ("saw solutions/", "saw the submissions folder", "saw the output folder",
                     "overwrote a submission", "wrote into the kit", "reached the network"):
            assert f"PROBE {what}" in errors
        assert probe["listener"].connections == 1
        assert run.reports[0].leftovers >= 1  # the detached process, killed when its kernel stopped


def test_without_bwrap_on_the_path_grading_says_there_is_no_sandbox(monkeypatch, tmp_path):
    monkeypatch.delenv(sandbox.SANDBOX_VARIABLE, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    path, line = sandbox.availability()
    assert path is None and line.startswith("no sandbox: bubblewrap (`bwrap`) is not installed")
    monkeypatch.setenv(sandbox.SANDBOX_VARIABLE, "off")
    assert sandbox.availability()[1].startswith("no sandbox: MITDL_SANDBOX=off")
