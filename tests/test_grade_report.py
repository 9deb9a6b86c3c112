"""Fast unit tests of grading's parts that need no kernel: report names, the class summary and its chart, the
guard's plain data and library baseline, blame for rewritten kit files, and finding every file in a folder."""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest

from mitdl_util.grade import guard
from mitdl_util.grade.grader import GradeRun, Report, Skipped, find_submissions
from mitdl_util.grade.report import (
    exercise_table,
    pass_rate_figure,
    report_filenames,
    summary_markdown,
    write_all,
)
from mitdl_util.grade.runner import Options, SubmissionGrading

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "01_images_as_numbers.ipynb"


def _row(name: str, status: str, message: str = "") -> dict:
    return {"exercise": f"lab01.{name}", "status": status, "message": message,
            "points": 1.0 if status == "passed" else 0.0, "max_points": 1.0, "time_s": 0.0}


def _report(submission: str, statuses: dict[str, tuple[str, str]]) -> Report:
    rows = [_row(name, *value) for name, value in statuses.items()]
    return Report(submission, submission, "lab01", "lab", sum(r["points"] for r in rows), len(rows), rows)


CLASS = [
    _report("s1.ipynb", {"crop": ("passed", ""), "normalize": ("incorrect", "divides by 256 (cell 12)")}),
    _report("s2.ipynb", {"crop": ("passed", ""), "normalize": ("incorrect", "divides by 256 (cell 14)")}),
    _report("s3.ipynb", {"crop": ("error", "raised IndexError"), "normalize": ("passed", "")}),
    _report("s4.ipynb", {"crop": ("passed", ""), "normalize": ("not_attempted", "still the stub")}),
]


def test_report_names_never_collide():
    reports = [_report(name, {"crop": ("passed", "")})
               for name in ("a/b.ipynb", "a__b.ipynb", "A__B.ipynb", "summary.ipynb", "x.ipynb")]
    names = report_filenames(reports)
    assert names == ["a__b.json", "a__b~2.json", "A__B~3.json", "summary~2.json", "x.json"]
    assert len({n.lower() for n in names}) == len(names)


def test_class_summary_gives_the_share_passing_and_the_most_frequent_failures():
    rows = {row["exercise"]: row for row in exercise_table(CLASS)}
    assert rows["lab01.crop"]["share"] == 0.75 and rows["lab01.normalize"]["share"] == 0.25
    # messages that differ only in numbers (cell numbers, values) count as one failure
    assert rows["lab01.normalize"]["failures"][0] == ("divides by 256 (cell 12)", 2)
    assert rows["lab01.normalize"]["failures"][1] == ("still the stub", 1)
    summary = summary_markdown(GradeRun(CLASS, seed=3, seconds=1.0, jobs=1,
                                        skipped=[Skipped("notes.txt", "not a notebook (*.ipynb)")],
                                        sandbox="no sandbox: test"), {"lab01": "summary_lab01.png"})
    assert "| lab01.crop | 1 | 75 % | 3 | 0 | 0 | 1 | 1× raised IndexError |" in summary
    assert "2× divides by 256 (cell 12)<br>1× still the stub" in summary
    assert "![share of submissions passing each exercise of lab01](summary_lab01.png)" in summary
    assert "- notes.txt: not a notebook (*.ipynb)" in summary and "Isolation: no sandbox: test." in summary


def test_the_chart_draws_one_bar_per_exercise_at_its_share():
    fig = pass_rate_figure("lab01", exercise_table(CLASS))
    ax = fig.axes[0]
    bars = sorted(ax.patches, key=lambda bar: -bar.get_y())  # the first exercise at the top
    assert [round(bar.get_width()) for bar in bars] == [75, 25]
    labels = [label.get_text() for label in ax.get_yticklabels()]
    ticks = sorted(zip(ax.get_yticks(), labels, strict=True), reverse=True)
    assert [name for _, name in ticks] == ["crop", "normalize"]  # top to bottom, the lab's order
    assert [bar.get_y() + bar.get_height() / 2 for bar in bars] == [y for y, _ in ticks]
    assert ax.get_xlim() == (0, 100) and "4 submission" in ax.get_title()


def test_a_submitted_solution_notebook_is_named_in_the_summary_and_the_gradebook(tmp_path):
    copied = _report("copied.ipynb", {"crop": ("passed", "")})
    copied.kind = "solution"
    run = GradeRun([*CLASS, copied], seed=3, seconds=1.0, jobs=1)
    assert "## Solution notebooks submitted" in summary_markdown(run) and "- copied.ipynb" in summary_markdown(run)
    write_all(run, tmp_path, folder_outputs=True)
    rows = (tmp_path / "gradebook.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("submission,lab,kind,") and rows[-1].startswith("copied.ipynb,lab01,solution,")


def test_cells_are_numbered_as_code_cells_and_quoted_by_their_first_line(tmp_path):
    """An instructor finds the cell in JupyterLab: the Nth code cell (markdown not counted), and its first line."""
    from mitdl_util.grade.score import CELL_NUMBERING, missing_reason

    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"mitdl": {"lab": "lab01", "kind": "lab"}}, "cells": [
        {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": "# Lab 1"},
        {"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "import numpy as np"},
        {"cell_type": "markdown", "id": "m2", "metadata": {}, "source": "Now crop."},
        {"cell_type": "code", "id": "c2", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "# crop the image\ndef crop(img):\n    return img[1:]"},
    ]}
    path = tmp_path / "s.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    grading = SubmissionGrading(path, Options(lab="lab01", seed=1), {})
    grading.problem(3, "error", "NameError: x")
    problem = grading.problems[3]
    assert (problem.cell, problem.starts) == (2, "def crop(img):")
    assert "cell 2, which defines it, raised NameError" in missing_reason(["crop"], grading.cells, grading.problems)
    grading.problems.clear()
    assert "cell 2 should define it" in missing_reason(["crop"], grading.cells, grading.problems)
    report = _report("s.ipynb", {"crop": ("error", "`crop` is not defined")})
    report.cells = [vars(problem)]
    summary = summary_markdown(GradeRun([report], seed=1, seconds=1.0, jobs=1))
    assert "- s.ipynb: cell 2 (`def crop(img):`) error (demo cell, no points)" in summary
    assert f"Numbering: {CELL_NUMBERING}." in summary and report.as_dict()["cell_numbering"] == CELL_NUMBERING


def test_failed_cells_name_the_exercise_they_cost_or_say_they_cost_nothing():
    from mitdl_util.grade.score import CellProblem, ExerciseScore, link_costs

    problems = [CellProblem(12, "timeout", "too slow"), CellProblem(20, "error", "NameError")]
    scores = [ExerciseScore("lab01.normalize", "error", "`normalize` is not defined: cell 12, which defines it, "
                            "was stopped", 0.0, 1.0, 0.0),
              ExerciseScore("lab01.crop", "passed", "", 1.0, 1.0, 0.0)]
    link_costs(problems, scores)
    assert [p.costs for p in problems] == [["lab01.normalize"], []]
    report = _report("s.ipynb", {"normalize": ("error", scores[0].message)})
    report.cells = [vars(p) for p in problems]
    summary = summary_markdown(GradeRun([report], seed=1, seconds=1.0, jobs=1))
    assert "cell 12 timeout (cost: normalize); cell 20 error (demo cell, no points)" in summary


def test_write_all_puts_the_chart_next_to_the_summary(tmp_path):
    written = write_all(GradeRun(CLASS, seed=3, seconds=1.0, jobs=1), tmp_path, folder_outputs=True)
    names = {p.name for p in written}
    assert {"summary.md", "summary_lab01.png", "gradebook.csv", "s1.json"} <= names
    assert (tmp_path / "summary_lab01.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- the guard, in this process
def test_plain_turns_lying_subclasses_into_base_types():
    class Liar(np.ndarray):
        def astype(self, *args, **kwargs):
            return self

    class LyingInt(int):
        def __eq__(self, other):
            return True
        __hash__ = int.__hash__

    class LyingDict(dict):
        def items(self):
            return [("a", "lie")]

    liar = np.arange(3).view(Liar)
    assert type(guard.plain(liar)) is np.ndarray and guard.plain(liar).tolist() == [0, 1, 2]
    assert type(guard.plain(LyingInt(4))) is int and guard.plain(LyingInt(4)) != 5
    value = guard.plain(LyingDict(a=LyingInt(1), b=[liar]))
    assert type(value) is dict and type(value["a"]) is int and type(value["b"][0]) is np.ndarray
    assert type(guard.plain(np.float64(2.5))) is np.float64

    def student(img):
        """docs"""
        return img.view(Liar)

    wrapped = guard.plain(student)
    assert wrapped.__name__ == "student" and type(wrapped(np.zeros(2))) is np.ndarray


def test_the_baseline_sees_replaced_functions_objects_and_modules_and_puts_them_back(tmp_path, monkeypatch):
    import builtins
    import sys

    results = tmp_path / "results"
    results.write_bytes(b"")
    monkeypatch.setattr(guard, "_baseline", {})
    monkeypatch.setattr(guard, "_modules", {})
    meta_path = list(sys.meta_path)
    try:
        first = guard.install(str(results), ["numpy"], {})
        assert guard.changes() == [] and guard.digest() == first
        real_isclose, real_sum, real_numpy = np.isclose, builtins.sum, sys.modules["numpy"]
        namespace = {}
        exec(compile("def sum(*a, **k):\n    return 0\n", np.__file__, "exec"), namespace)
        np.isclose = types.SimpleNamespace()  # not even callable any more
        builtins.sum = namespace["sum"]  # a function that claims to be NumPy's code
        sys.modules["numpy"] = types.SimpleNamespace()
        found = " ".join(guard.changes(restore=True))
        assert "`numpy.isclose` was replaced by SimpleNamespace object" in found
        assert f"`builtins.sum` was replaced by a function from {np.__file__}" in found
        assert "`sys.modules['numpy']` was replaced by SimpleNamespace object" in found
        assert np.isclose is real_isclose and builtins.sum is real_sum and sys.modules["numpy"] is real_numpy
        guard.send({"nonce": "n", "ok": True})
        assert json.loads(results.read_text(encoding="utf-8")) == {"nonce": "n", "ok": True}
    finally:
        sys.meta_path[:] = meta_path
        if guard._fd is not None:
            import os

            os.close(guard._fd)
            guard._fd = None


# ---------------------------------------------------------------- blame and files
def test_a_notebook_that_rewrites_kit_files_is_blamed_not_the_next(tmp_path):
    kit = tmp_path / "kit.py"
    kit.write_text("X = 1\n", encoding="utf-8")
    sources = {"mitdl_util.fake": [str(kit), False, "X = 1\n"], "mitdl_util.grade.guard": ["g", False, ""],
               "mitdl_util.grade.kernel_side": ["k", False, ""]}
    options = Options(lab="lab01", seed=1)
    culprit = SubmissionGrading(LAB, options, sources)
    culprit.check_kit_files(3)
    assert culprit.tampering == []
    kit.write_text("X = 2  # rewritten by a notebook\n", encoding="utf-8")
    position = sorted(culprit.numbers)[2]  # the third code cell
    culprit.check_kit_files(position)
    assert culprit.tampering == [f"cell 3 rewrote files of the kit on disk ({kit})"]
    innocent = SubmissionGrading(LAB, options, sources)  # graded next, with the file still rewritten
    innocent.check_kit_files(0)
    assert innocent.tampering == []


def test_every_file_in_the_folder_is_found_or_listed(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.ipynb").write_bytes(LAB.read_bytes())
    (tmp_path / "b.ipynb").write_text(json.dumps({"cells": [], "metadata": []}), encoding="utf-8")
    (tmp_path / "c.ipynb").write_text("[" * 200_000, encoding="utf-8")
    (tmp_path / ".d.ipynb").write_bytes(LAB.read_bytes())
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / "e.ipynb").symlink_to(LAB)
    (tmp_path / "f.csv").write_text("x", encoding="utf-8")
    skipped: list[Skipped] = []
    found = {s.name: s for s in find_submissions([tmp_path], skipped=skipped)}
    assert set(found) == {"sub/a.ipynb", "b.ipynb", "c.ipynb"}
    assert found["sub/a.ipynb"].lab == "lab01" and found["sub/a.ipynb"].problem is None
    assert "`metadata` is a list" in found["b.ipynb"].problem
    assert "RecursionError" in found["c.ipynb"].problem
    assert {s.name for s in skipped} == {".d.ipynb", ".ipynb_checkpoints/", "e.ipynb", "f.csv"}


@pytest.mark.parametrize("text", ["", "null", "[]", '{"cells": 3}', '{"cells": [], "metadata": {"mitdl": []}}'])
def test_odd_json_is_a_reason_not_a_traceback(tmp_path, text):
    (tmp_path / "x.ipynb").write_text(text, encoding="utf-8")
    sub = find_submissions([tmp_path])[0]
    assert sub.problem and sub.lab is None


# ---------------------------------------------------------------- plain data across the kernel boundary
def test_plain_data_round_trips_and_refuses_live_objects():
    from mitdl_util.grade import plaindata

    class Liar(np.ndarray):
        def tobytes(self, *args, **kwargs):
            return b"lie"

    value = ({"a": [1, 2**70, float("nan"), -0.0, 1 + 2j], 3: (b"x", {4})},
             np.arange(6, dtype=np.int16).reshape(2, 3), np.array(["light", "dark"]), np.float32(1.5), None, True,
             np.arange(3.0).view(Liar))
    back = plaindata.decode(json.loads(json.dumps(plaindata.encode(value))))
    assert back[0]["a"][:2] == [1, 2**70] and np.isnan(back[0]["a"][2]) and back[0]["a"][4] == 1 + 2j
    assert back[0][3] == (b"x", {4})
    assert back[1].dtype == np.int16 and back[1].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert back[2].tolist() == ["light", "dark"] and type(back[3]) is np.float32 and back[4:6] == (None, True)
    assert type(back[6]) is np.ndarray and back[6].tolist() == [0.0, 1.0, 2.0]  # read through the base type
    for live in (np.array([object()]), object(), lambda: 1, type("Model", (), {})()):
        with pytest.raises(plaindata.CannotCross):
            plaindata.encode(live)
    with pytest.raises(ValueError):
        plaindata.decode({"$a": ["|O", [1], ""]})  # an object array never crosses back


def test_arrays_changed_in_place_in_the_kernel_are_changed_in_the_worker():
    from mitdl_util.grade import plaindata
    from mitdl_util.grade.judge import copy_back

    numbers, words = np.zeros(3), np.array(["a", "b"])
    copy_back((numbers, words, 5), [plaindata.encode(np.ones(3)), plaindata.encode(np.array(["a", "b"])), None])
    assert numbers.tolist() == [1.0, 1.0, 1.0] and words.tolist() == ["a", "b"]


def test_results_too_large_to_be_an_answer_are_not_read(tmp_path, monkeypatch):
    from mitdl_util.grade import runner

    room = runner._Room(str(tmp_path), Options(lab="lab01", seed=1))
    try:
        with room.results.open("ab") as out:
            out.write(json.dumps({"nonce": "a", "result": "x" * 100}).encode() + b"\n")
        monkeypatch.setattr(runner, "MAX_RESULT_BYTES", 50)
        assert room.read_results() == []
        with room.results.open("ab") as out:
            out.write(b'{"nonce": "b"}\nnot json\n[1]\n')
        assert room.read_results() == [{"nonce": "b"}]  # later lines are read; malformed ones dropped
    finally:
        room.close()
