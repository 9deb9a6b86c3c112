"""`mitdl grade`: clean-run grading on the real checks, hostile notebooks, reports and the gradebook.

The notebook tests grade edited copies of solutions/01 (a TensorFlow-free lab) with short time limits; the hostile
ones are graded together in one run with two jobs (module fixture) to keep the suite fast.
"""

from __future__ import annotations

import ast
import copy
import csv
import json
import time
from pathlib import Path

import pytest

from mitdl_util import notebook
from mitdl_util.cli import main as cli_main
from mitdl_util.errors import MitdlError
from mitdl_util.grade import grade, guard, kernel_side
from mitdl_util.grade.grader import exercise_list, find_submissions, snapshot_sources
from mitdl_util.grade.report import gradebook_columns, report_filename, summary_markdown, write_all
from mitdl_util.grade.score import CellProblem, cell_map, missing_reason

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "01_images_as_numbers.ipynb"
LAB = ROOT / "labs" / "01_images_as_numbers.ipynb"
LAB01_IDS = [f"lab01.{name}" for name in ("image_shape", "invalid_pixel", "num_values", "to_grayscale", "normalize",
                                          "crop", "flip_horizontal", "pixel_agreement", "task_type")]
GRADING = "import os\nif os.environ.get('MITDL_CHECK_SEED'):  # true only while the grader checks\n"


# ---------------------------------------------------------------- building notebooks
def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _edit(nb: dict, needle: str, change) -> None:
    """Apply `change(source) -> source` to the one code cell containing `needle`."""
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and needle in "".join(c["source"])]
    assert len(cells) == 1, f"{needle!r} is in {len(cells)} cells"
    cells[0]["source"] = change("".join(cells[0]["source"]))


def _variant(folder: Path, name: str, edits, base: Path = SOLUTION) -> Path:
    nb = copy.deepcopy(_load(base))
    for needle, change in edits:
        _edit(nb, needle, change)
    path = folder / f"{name}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def _in_function(header: str, code: str):
    """Insert `code` (indented) as the first lines of the function whose docstring follows `header`."""
    def change(source: str) -> str:
        head, _, rest = source.partition(header)
        line, _, body = rest.partition("\n")
        return head + header + line + "\n" + "".join(f"    {c}\n" for c in code.splitlines()) + body
    return change


TAMPER = """
from mitdl_util.checks import diagnostics, engine
from mitdl_util.checks.outcomes import Result
engine.Exercise.evaluate = lambda self, *a, **k: Result(self.id, "passed", "")
engine.Exercise.check = lambda self, *a, **k: Result(self.id, "passed", "")
diagnostics.check_not_stub = lambda *a, **k: None
q.to_grayscale.judge = lambda *a, **k: None
"""

HOSTILE = {
    # one wrong answer: normalize divides by 256
    "wrong": [("def normalize(img)", lambda s: s.replace("/ 255.0", "/ 256.0"))],
    # a top-level infinite loop; a loop that swallows the interrupt; a function that loops only when graded
    "loop": [("def normalize(img)", lambda s: "while True:\n    pass\n" + s),
             ("def crop(img", lambda s: "while True:\n    try:\n        while True:\n            pass\n"
                                        "    except BaseException:\n        pass\n" + s),
             ("def pixel_agreement(a, b)", _in_function("def pixel_agreement(a, b):", GRADING + "    while True:\n"
                                                                                        "        pass"))],
    # a cell that ends the kernel, and a function that ends it only while being graded
    "crash": [("def crop(img", lambda s: "import os\nos._exit(1)\n" + s),
              ("def to_grayscale(img)", _in_function("def to_grayscale(img):", GRADING + "    os._exit(3)"))],
    "memory": [("def normalize(img)", lambda s: "big = np.ones(10 * 1024**3, dtype=np.uint8)  # 10 GB\n" + s)],
    "syntax": [("def to_grayscale(img)", lambda s: s.replace("img[..., 2])", "img[..., 2]"))],
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Solution, untouched lab, tampered lab and the hostile variants, graded in one run with two jobs."""
    folder = tmp_path_factory.mktemp("submissions")
    for name, edits in HOSTILE.items():
        _variant(folder, name, edits)
    _variant(folder, "tamper", [("from mitdl_util.checks import lab01 as q", lambda s: s + "\n" + TAMPER)], base=LAB)
    (folder / "solution.ipynb").write_bytes(SOLUTION.read_bytes())
    (folder / "untouched.ipynb").write_bytes(LAB.read_bytes())
    start = time.monotonic()
    run = grade([folder], cell_timeout=5, timeout=120, memory_gb=2, jobs=2, seed=1234)
    run.wall = time.monotonic() - start
    by_name = {r.submission.removesuffix(".ipynb"): r for r in run.reports}
    for name, report in sorted(by_name.items()):  # the closing note quotes these lines (pytest -s)
        print(f"\n{name}: {report.score:g}/{report.max_score:g} in {report.seconds:.1f} s, "
              f"{report.kernels} kernel(s), tampering={report.tampering}")
        for row in report.exercises:
            if row["status"] != "passed":
                print(f"    {row['exercise']}: {row['status']} — {row['message']}")
    return run, by_name


def _status(report) -> dict[str, str]:
    return {row["exercise"].split(".")[1]: row["status"] for row in report.exercises}


def _message(report, name: str) -> str:
    return next(row["message"] for row in report.exercises if row["exercise"] == f"lab01.{name}")


# ---------------------------------------------------------------- the notebook tests
@pytest.mark.notebook
def test_solution_scores_full_marks(hostile):
    report = hostile[1]["solution"]
    assert (report.score, report.max_score) == (9, 9), report.exercises
    assert [row["exercise"] for row in report.exercises] == LAB01_IDS
    assert not report.tampered and report.error is None and report.kind == "solution"


@pytest.mark.notebook
def test_untouched_lab_scores_zero_with_every_exercise_not_attempted(hostile):
    report = hostile[1]["untouched"]
    assert report.score == 0 and set(_status(report).values()) == {"not_attempted"}
    assert not report.tampered and report.kind == "lab"


@pytest.mark.notebook
def test_one_wrong_exercise_loses_exactly_its_points(hostile):
    report = hostile[1]["wrong"]
    assert report.score == 9 - 1
    assert [n for n, s in _status(report).items() if s != "passed"] == ["normalize"]
    assert _status(report)["normalize"] == "incorrect"
    assert "256" in _message(report, "normalize")  # the known mistake's message


@pytest.mark.notebook
def test_infinite_loops_are_stopped_and_the_rest_is_graded(hostile):
    report = hostile[1]["loop"]
    status = _status(report)
    assert {n for n, s in status.items() if s != "passed"} == {"normalize", "crop", "flip_horizontal",
                                                                "pixel_agreement"}
    assert all(status[n] == "error" for n in ("normalize", "crop", "flip_horizontal"))
    assert "ran longer than 5 s" in _message(report, "normalize")
    assert "did not stop when interrupted" in _message(report, "crop")
    # the check's own time limit (MITDL_CHECK_TIMEOUT, set by the grader) stops the function being checked
    assert status["pixel_agreement"] in ("incorrect", "error") and "5 s" in _message(report, "pixel_agreement")
    assert report.score == 5 and report.seconds < 90


@pytest.mark.notebook
def test_kernel_crashes_are_survived(hostile):
    report = hostile[1]["crash"]
    status = _status(report)
    assert {n for n, s in status.items() if s != "passed"} == {"to_grayscale", "crop", "flip_horizontal"}
    assert "made the kernel die" in _message(report, "crop")
    assert "process ended while `to_grayscale` was being checked" in _message(report, "to_grayscale")
    assert report.score == 6 and report.kernels >= 3
    assert any(c["status"] == "kernel_died" for c in report.cells)


@pytest.mark.notebook
def test_a_10_gb_allocation_hits_the_memory_limit(hostile):
    report = hostile[1]["memory"]
    assert [n for n, s in _status(report).items() if s != "passed"] == ["normalize"]
    assert "MemoryError" in _message(report, "normalize") and report.score == 8


@pytest.mark.notebook
def test_a_syntax_error_loses_only_what_depends_on_it(hostile):
    report = hostile[1]["syntax"]
    assert [n for n, s in _status(report).items() if s != "passed"] == ["to_grayscale"]
    assert "SyntaxError" in _message(report, "to_grayscale") and report.score == 8


@pytest.mark.notebook
def test_patched_checks_are_scored_on_the_real_checks_and_flagged(hostile):
    report = hostile[1]["tamper"]
    assert report.score == 0 and set(_status(report).values()) == {"not_attempted"}
    assert report.tampered
    text = " ".join(report.tampering)
    assert "engine.Exercise" in text and "evaluate" in text and "check_not_stub" in text
    assert "lab01.to_grayscale" in text and "judge" in text


@pytest.mark.notebook
def test_reports_gradebook_and_summary(hostile, tmp_path):
    run, by_name = hostile
    written = write_all(run, tmp_path, folder_outputs=True)
    assert {p.name for p in written} >= {"solution.json", "gradebook.csv", "summary.md"}
    data = json.loads((tmp_path / "solution.json").read_text(encoding="utf-8"))
    assert data["lab"] == "lab01" and data["seed"] == 1234 and data["score"] == 9
    assert set(data["exercises"][0]) == {"exercise", "status", "message", "points", "max_points", "time_s", "judged"}
    assert {row["judged"] for row in data["exercises"]} == {"worker"}  # lab01's answers are all plain data
    rows = list(csv.DictReader((tmp_path / "gradebook.csv").open(encoding="utf-8")))
    assert [r["submission"] for r in rows] == sorted(r["submission"] for r in rows)
    assert {r["submission"]: r["score"] for r in rows}["wrong.ipynb"] == "8"
    assert {r["submission"]: r["tampered"] for r in rows}["tamper.ipynb"] == "yes"
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "## lab01" in summary and "tamper.ipynb" in summary and "per submission" in summary
    assert not run.failures


def _small_submission(folder: Path, number: int) -> Path:
    """A short lab01 notebook; bit k of `number` makes answer k wrong, so the 20 differ."""
    answers = [
        ("height, width, channels = 300, 451, 3", "height, width, channels = 451, 300, 3"),
        ("n = 1080 * 1080 * 3", "n = 1080 * 1080"),
        ("def flip_horizontal(img):\n    return img[:, ::-1]", "def flip_horizontal(img):\n    return img[::-1]"),
        ("def pixel_agreement(a, b):\n    return float(np.mean(np.asarray(a) == np.asarray(b)))",
         "def pixel_agreement(a, b):\n    return float(np.sum(np.asarray(a) == np.asarray(b)))"),
    ]
    cells = ["import numpy as np"] + [wrong if number >> k & 1 else right for k, (right, wrong) in enumerate(answers)]
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
                     "source": source} for i, source in enumerate(cells)],
          "metadata": {"mitdl": {"lab": "lab01", "notebook": "01_images_as_numbers", "kind": "lab"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = folder / f"student{number:02d}" / "01_images_as_numbers.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


@pytest.mark.notebook
def test_twenty_submissions_same_gradebook_with_one_or_two_jobs(tmp_path, capsys):
    folder = tmp_path / "class"
    for number in range(20):
        _small_submission(folder, number)
    books = []
    for jobs in (2, 1):
        out = tmp_path / f"out{jobs}"
        code = cli_main(["grade", str(folder), "--jobs", str(jobs), "--seed", "7", "--out", str(out)])
        assert code == 0, (out / "summary.md").read_text(encoding="utf-8") if (out / "summary.md").exists() else code
        books.append((out / "gradebook.csv").read_text(encoding="utf-8"))
        assert len(list(out.glob("student*.json"))) == 20 and (out / "summary.md").exists()
    assert books[0] == books[1]
    rows = list(csv.DictReader(books[0].splitlines()))
    assert rows[0]["submission"] == "student00/01_images_as_numbers.ipynb" and rows[0]["score"] == "4"
    assert rows[15]["score"] == "0" and rows[0]["lab01.to_grayscale"] == "0"  # not in these notebooks
    printed = capsys.readouterr().out
    assert "student19/01_images_as_numbers.ipynb (lab01)" in printed


# ---------------------------------------------------------------- fast unit tests
def test_lab_comes_from_metadata_not_the_file_name(tmp_path):
    """Is a lab01 notebook named like lab 02 still graded as lab01, and one without metadata refused?"""
    renamed = tmp_path / "02_convolution_filters.ipynb"
    renamed.write_bytes(LAB.read_bytes())
    bare = _load(LAB)
    bare["metadata"].pop("mitdl")
    (tmp_path / "bare.ipynb").write_text(json.dumps(bare), encoding="utf-8")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "x.ipynb").write_bytes(LAB.read_bytes())
    subs = {s.name: s for s in find_submissions([tmp_path])}
    assert set(subs) == {"02_convolution_filters.ipynb", "bare.ipynb"}
    assert subs["02_convolution_filters.ipynb"].lab == "lab01"
    assert subs["bare.ipynb"].lab is None and "--lab" in subs["bare.ipynb"].problem
    assert [s.lab for s in find_submissions([tmp_path / "bare.ipynb"], lab="lab01")] == ["lab01"]


def test_bad_paths_are_user_errors(tmp_path):
    with pytest.raises(MitdlError, match="does not exist"):
        find_submissions([tmp_path / "nope.ipynb"])
    with pytest.raises(MitdlError, match="no notebooks"):
        find_submissions([tmp_path])


def test_an_unknown_lab_is_reported_not_run(tmp_path):
    nb = _load(LAB)
    nb["metadata"]["mitdl"]["lab"] = "../../evil"
    (tmp_path / "x.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    run = grade([tmp_path])
    assert run.failures and "has no checks" in run.reports[0].error


def test_answers_come_from_answers_then_the_solution_then_params(monkeypatch, tmp_path):
    """Which variables are graded: the module's ANSWERS, else the solution's check call, else the params."""
    from mitdl_util.checks import lab01

    by_name = {e["name"]: e for e in exercise_list("lab01")}
    assert by_name["image_shape"]["answers"] == ["height", "width", "channels"]
    assert by_name["to_grayscale"]["answers"] == ["to_grayscale"]
    assert sum(e["points"] for e in by_name.values()) == 9
    renamed = _load(SOLUTION)
    _edit(renamed, "q.num_values.check(n)", lambda s: "n_values = n\nq.num_values.check(n_values)")
    (tmp_path / "01.ipynb").write_text(json.dumps(renamed), encoding="utf-8")
    assert {e["name"]: e for e in exercise_list("lab01", tmp_path)}["num_values"]["answers"] == ["n_values"]
    assert {e["name"]: e for e in exercise_list("lab01", tmp_path / "none")}["num_values"]["answers"] == ["n"]
    monkeypatch.setattr(lab01, "ANSWERS", {"num_values": ("count",)}, raising=False)
    assert {e["name"]: e for e in exercise_list("lab01", tmp_path)}["num_values"]["answers"] == ["count"]
    monkeypatch.setattr(lab01, "ANSWERS", {"nope": ("x",)}, raising=False)
    with pytest.raises(MitdlError, match="nope"):
        exercise_list("lab01")


def _check_calls(path: Path) -> dict[str, list[str]]:
    calls = notebook.check_calls([source for _, source in notebook.code_cells(_load(path)["cells"])])
    return {name: [ast.unparse(arg) for arg in call.args] for name, call in calls.items()}


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.name)
def test_grader_finds_the_same_answers_the_solution_checks(path):
    """Does the grader look up, for each exercise, the variables the solution passes to its check?"""
    lab = _load(path).get("metadata", {}).get("mitdl", {}).get("lab")
    if lab is None:
        pytest.skip(f"{path.name} has no kit metadata yet (run `mitdl build`)")
    if not (ROOT / "mitdl_util" / "checks" / f"{lab}.py").exists():
        pytest.skip(f"no checks for {lab} yet")
    import importlib

    grader = {e["name"]: e["answers"] for e in exercise_list(lab)}
    calls = _check_calls(path)
    unknown = sorted(set(calls) - set(grader))
    assert not unknown, f"{path.name} checks {unknown}, which mitdl_util.checks.{lab} does not declare"
    assert {name: grader[name] for name in calls} == calls
    declared = getattr(importlib.import_module(f"mitdl_util.checks.{lab}"), "ANSWERS", {}) or {}
    stale = {name: names for name, names in declared.items() if name in calls and list(names) != calls[name]}
    assert not stale, f"mitdl_util.checks.{lab}.ANSWERS disagrees with {path.name}'s check calls: {stale}"


def test_bound_names_per_cell():
    source = "import numpy as np\nfrom a import b as c\nx, (y, z) = 1, (2, 3)\nfor i in range(2):\n    w = i\n" \
             "def f(img):\n    local = 1\nclass K:\n    attr = 2\nn += 1\n"
    assert set(cell_map([(0, source)]).bound[0]) == {"np", "c", "x", "y", "z", "i", "w", "f", "K", "n"}
    assert cell_map([(0, "def to_grayscale(img):\n    return (1 +\n")]).bound[0] == {"to_grayscale"}
    assert cell_map([(0, "height, width = img.shape[:2\n")]).bound[0] == {"height", "width"}
    assert "x" in cell_map([(0, "%matplotlib inline\nx = 1\n")]).bound[0]


def test_missing_answers_name_the_cell_and_the_reason():
    cells = cell_map([(3, "def normalize(img):\n    return img"), (5, "n = 1")])
    problems = {3: CellProblem(4, "timeout", "it ran longer than 5 s (the time limit per cell)")}
    text = missing_reason(["normalize"], cells, problems)
    assert "cell 4" in text and "ran longer than 5 s" in text
    assert "no cell of the notebook defines it" in missing_reason(["crop"], cells, problems)


def test_fingerprints_see_monkeypatches_but_not_a_second_import():
    """Are two imports of the same check source equal, and a replaced method or judge different?"""
    sources = snapshot_sources()
    first, second = _fresh_lab01(sources), _fresh_lab01(sources)
    assert kernel_side.compare_modules("lab01", first, second) == []
    first.to_grayscale.evaluate(lambda img: None)  # checking changes nothing that counts
    first.to_grayscale.judge = lambda *a: None
    first.normalize.reference = lambda img: img
    found = " ".join(kernel_side.compare_modules("lab01", first, second))
    assert "to_grayscale` was changed (its `judge`)" in found and "normalize" in found and "EXERCISES" not in found


def _fresh_lab01(sources):
    import importlib
    import sys

    saved = {n: m for n, m in sys.modules.items() if n.startswith("mitdl_util.checks")}
    finder = guard.SnapshotFinder(sources)
    try:
        for name in saved:
            del sys.modules[name]
        sys.meta_path.insert(0, finder)
        return importlib.import_module("mitdl_util.checks.lab01")
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n.startswith("mitdl_util.checks")]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_report_names_and_gradebook_columns():
    from mitdl_util.grade.grader import GradeRun, Report

    row = {"exercise": "lab01.crop", "status": "passed", "message": "", "points": 1.0, "max_points": 1.0, "time_s": 0}
    report = Report("alice/01_images_as_numbers.ipynb", "x", "lab01", "lab", 1, 1, [row])
    assert report_filename(report) == "alice__01_images_as_numbers.json"
    assert gradebook_columns([report])[-1] == "lab01.crop"
    assert "1 submission(s)" in summary_markdown(GradeRun([report], seed=1, seconds=1.0, jobs=1))


def test_cli_parses_the_documented_options():
    from mitdl_util.cli import make_parser

    args = make_parser().parse_args(["grade", "subs/", "--timeout-cell", "5", "--timeout", "100", "--memory", "2",
                                     "--jobs", "2", "--out", "o"])
    assert (args.timeout_cell, args.timeout, args.memory, args.jobs, str(args.out)) == (5, 100, 2, 2, "o")
