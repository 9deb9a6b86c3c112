"""Tests for `mitdl build`: solutions/ -> labs/."""

from __future__ import annotations

import ast
import json
import keyword
from pathlib import Path
from textwrap import dedent

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mitdl_util.build import BEGIN, END, BuildError, RepoConfig, build, load_config, make_lab, strip_solutions
from mitdl_util.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = RepoConfig("https://github.com/acme/vision-labs", "v2")
BADGE_IMG = "https://colab.research.google.com/assets/colab-badge.svg"
OLD_BADGE = (
    f"[![Open In Colab]({BADGE_IMG})](https://colab.research.google.com/github/old/repo/blob/main/x.ipynb)"
)
SETUP = dedent(
    """\
    import subprocess, sys
    if "google.colab" in sys.modules:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",
                               "mitdl_util @ git+https://github.com/old/repo@main"])
    import mitdl_util as mdl"""
)
EXERCISE = dedent(
    """\
    def conv2d(image, kernel):
        ### BEGIN SOLUTION
        # TODO: slide the kernel over the image
        return image * kernel
        ### END SOLUTION

    answer = 42  # SOLUTION"""
)
EXERCISE_LAB = dedent(
    """\
    def conv2d(image, kernel):
        # TODO: slide the kernel over the image
        raise NotImplementedError("TODO: conv2d")

    answer = None  # TODO"""
)


def solution_notebook(*sources: str, badge: bool = True, setup: bool = True) -> nbformat.NotebookNode:
    """A solution notebook: title with badge, tagged set-up cell, then one code cell per source."""
    cells = [new_markdown_cell(f"# A lab\n\n{OLD_BADGE if badge else ''}")]
    if setup:
        cells.append(new_code_cell(SETUP, metadata={"tags": ["setup"]}))
    cells += [new_code_cell(source) for source in sources]
    return new_notebook(
        cells=cells,
        metadata={"kernelspec": {"name": "old", "display_name": "Old"}, "colab": {"name": "x.ipynb"}},
    )


def write_notebook(path: Path, nb: nbformat.NotebookNode) -> Path:
    """Write ``nb`` to ``path`` the way Jupyter would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with a [tool.mitdl] table and one solution, 01_images_as_numbers."""
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.mitdl]\nrepository = "https://github.com/acme/vision-labs"\nref = "v2"\n'
    )
    write_notebook(tmp_path / "solutions" / "01_images_as_numbers.ipynb", solution_notebook(EXERCISE))
    return tmp_path


def read(path: Path) -> nbformat.NotebookNode:
    """Read a notebook."""
    return nbformat.read(str(path), as_version=4)


# ---------------------------------------------------------------------------------------------------------------
# Stubbing one cell: golden cases

GOLDEN = [
    (
        "function body becomes a raise naming the def",
        """\
        def relu(x):
            ### BEGIN SOLUTION
            return np.maximum(x, 0)
            ### END SOLUTION
        """,
        """\
        def relu(x):
            raise NotImplementedError("TODO: relu")
        """,
    ),
    (
        "nested indentation: the nearest enclosing def, at the block's own indentation",
        """\
        class Model:
            def call(self, x):
                for layer in self.layers:
                    if layer.trainable:
                        ### BEGIN SOLUTION
                        x = layer(x)
                        ### END SOLUTION
                return x
        """,
        """\
        class Model:
            def call(self, x):
                for layer in self.layers:
                    if layer.trainable:
                        raise NotImplementedError("TODO: call")
                return x
        """,
    ),
    (
        "an inner def is the enclosing one",
        """\
        def outer():
            def inner(y):
                ### BEGIN SOLUTION
                return y
                ### END SOLUTION
            return inner
        """,
        """\
        def outer():
            def inner(y):
                raise NotImplementedError("TODO: inner")
            return inner
        """,
    ),
    (
        "TODO lines in the block stay, in order, before the stub",
        """\
        def iou(a, b):
            ### BEGIN SOLUTION
            # TODO: intersection rectangle
            x1 = max(a[0], b[0])
            # TODO: divide by the union
            return 0.0
            ### END SOLUTION
        """,
        """\
        def iou(a, b):
            # TODO: intersection rectangle
            # TODO: divide by the union
            raise NotImplementedError("TODO: iou")
        """,
    ),
    (
        "a TODO comment keeps its continuation lines; a later comment and the answer go",
        """\
        def iou(a, b):
            ### BEGIN SOLUTION
            # TODO: the intersection is itself a box; clamp its sides at 0. Then divide
            # its area by the union's area (area_a + area_b - intersection).
            #   Boxes are (x1, y1, x2, y2).
            x1 = max(a[0], b[0])
            # the answer's own comment: the union is never negative
            return 0.0
            ### END SOLUTION
        """,
        """\
        def iou(a, b):
            # TODO: the intersection is itself a box; clamp its sides at 0. Then divide
            # its area by the union's area (area_a + area_b - intersection).
            #   Boxes are (x1, y1, x2, y2).
            raise NotImplementedError("TODO: iou")
        """,
    ),
    (
        "top-level block binding several names, tuple targets, a def and a class",
        """\
        ### BEGIN SOLUTION
        # TODO: load the photo
        height, (width, channels) = 4, (5, 3)
        maps: dict = {}
        maps["edge"] = 1
        total = 0
        total += 1
        def helper(): pass
        class Net: pass
        ### END SOLUTION
        print(height)
        """,
        """\
        # TODO: load the photo
        height = None  # TODO
        width = None  # TODO
        channels = None  # TODO
        maps = None  # TODO
        total = None  # TODO
        helper = None  # TODO
        Net = None  # TODO
        print(height)
        """,
    ),
    (
        "names bound inside top-level if/for/with count, loop variables and calls do not",
        """\
        ### BEGIN SOLUTION
        for i in range(3):
            if i:
                best = i
        with open("f") as handle:
            text = handle.read()
        ### END SOLUTION
        """,
        """\
        best = None  # TODO
        text = None  # TODO
        """,
    ),
    (
        "a top-level block that binds no name becomes pass",
        """\
        ### BEGIN SOLUTION
        model.fit(x, y, epochs=5)
        ### END SOLUTION
        """,
        """\
        pass  # TODO
        """,
    ),
    (
        "an indented block outside any def binds its names at its indentation",
        """\
        if True:
            ### BEGIN SOLUTION
            n = 3 * 1080 * 1080
            ### END SOLUTION
        """,
        """\
        if True:
            n = None  # TODO
        """,
    ),
    (
        "# SOLUTION lines keep their left-hand side, at any indentation",
        """\
        num_values = 1080 * 1080 * 3  # SOLUTION
        row, col = 1, 2  # SOLUTION
        a = b = 0  # SOLUTION
        def f():
            scale: float = 0.5  # SOLUTION
            return scale
        """,
        """\
        num_values = None  # TODO
        row, col = None  # TODO
        a = b = None  # TODO
        def f():
            scale: float = None  # TODO
            return scale
        """,
    ),
    (
        "cells without markers are unchanged, magics included",
        """\
        %matplotlib inline
        x = 1  # not a solution
        """,
        """\
        %matplotlib inline
        x = 1  # not a solution
        """,
    ),
]


@pytest.mark.parametrize("solution, lab", [case[1:] for case in GOLDEN], ids=[case[0] for case in GOLDEN])
def test_strip_solutions_golden(solution: str, lab: str) -> None:
    """Does each solution cell become exactly the expected lab cell?"""
    assert strip_solutions(dedent(solution), "cell") == dedent(lab)


@pytest.mark.parametrize("solution", [case[1] for case in GOLDEN], ids=[case[0] for case in GOLDEN])
def test_every_stubbed_cell_parses(solution: str) -> None:
    """Is every stubbed golden cell valid Python (magic lines aside)?"""
    lab = strip_solutions(dedent(solution), "cell")
    ast.parse("\n".join(line for line in lab.split("\n") if not line.startswith("%")))
    assert BEGIN not in lab and END not in lab


def _todo_comments(source: str) -> list[list[str]]:
    """Each TODO comment inside the solution blocks of a cell: its first line and the comment lines below it."""
    comments, inside, current = [], False, None
    for line in source.split("\n"):
        stripped = line.strip()
        inside = (inside or stripped == BEGIN) and stripped != END
        if inside and stripped.startswith("# TODO"):
            current = [line]
            comments.append(current)
        elif inside and current is not None and stripped.startswith("#"):
            current.append(line)
        else:
            current = None
    return comments


@pytest.mark.parametrize("solution", sorted((REPO_ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.stem)
def test_labs_keep_every_todo_comment_whole(solution: Path) -> None:
    """Does each lab carry each TODO comment of its solution whole, continuation lines included (lab 05's TODOs
    once stopped mid-sentence)?"""
    lab = nbformat.read(REPO_ROOT / "labs" / solution.name, as_version=4)
    lab_cells = {cell.get("id"): cell.source for cell in lab.cells}
    found = 0
    for cell in nbformat.read(solution, as_version=4).cells:
        for comment in _todo_comments(cell.source) if cell.cell_type == "code" else []:
            found += 1
            assert "\n".join(comment) in lab_cells[cell.get("id")], comment
    assert found


BAD_MARKERS = [
    ("x = 1\n### BEGIN SOLUTION\ny = 2\n", 2, "is never closed with `### END SOLUTION`"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", 2, "blocks do not nest"),
    ("x = 1\n\n### END SOLUTION\n", 3, "without a `### BEGIN SOLUTION`"),
    ("x = 1\nprint(x)  # SOLUTION\n", 2, "one-line assignment"),
    ("x += 1  # SOLUTION\n", 1, "one-line assignment"),
    ("# BEGIN SOLUTION\nx = 1\n", 1, "exactly as `### BEGIN SOLUTION`"),
    ("### BEGIN SOLUTION\nx = (1,\n### END SOLUTION\n", 1, "does not parse on its own"),
]


@pytest.mark.parametrize("source, line, message", BAD_MARKERS)
def test_bad_markers_name_cell_and_line(source: str, line: int, message: str) -> None:
    """Does a malformed marker raise a BuildError that names the cell and the line?"""
    with pytest.raises(BuildError, match=rf"^solutions/01_x\.ipynb, cell 4, line {line}: .*{message}"):
        strip_solutions(source, "solutions/01_x.ipynb, cell 4")


# ---------------------------------------------------------------------------------------------------------------
# Building a repository


def test_build_writes_lab(repo: Path) -> None:
    """Does build() write labs/NN_name.ipynb with the stubbed exercise?"""
    report = build(repo)
    lab = read(repo / "labs" / "01_images_as_numbers.ipynb")
    assert report.written == ["solutions/01_images_as_numbers.ipynb", "labs/01_images_as_numbers.ipynb"]
    assert lab.cells[2].source == EXERCISE_LAB
    assert lab.cells[1].source == SETUP.replace(
        "git+https://github.com/old/repo@main", "git+https://github.com/acme/vision-labs@v2"
    )


def test_outputs_counts_and_volatile_metadata_are_stripped(repo: Path) -> None:
    """Does the lab lose outputs, execution counts and volatile cell metadata, but keep tags and ids?"""
    nb = solution_notebook(EXERCISE)
    cell = nb.cells[2]
    cell.outputs = [new_output("stream", text="hello\n")]
    cell.execution_count = 7
    cell.metadata = {
        "tags": ["exercise"],
        "collapsed": True,
        "scrolled": True,
        "execution": {"iopub.status.idle": "2024-01-01T00:00:00Z"},
        "ExecuteTime": {"end": "x"},
        "editable": False,
    }
    path = write_notebook(repo / "solutions" / "01_images_as_numbers.ipynb", nb)
    solution_ids = [c.id for c in read(path).cells]
    build(repo)
    lab = read(repo / "labs" / "01_images_as_numbers.ipynb")
    assert lab.cells[2].outputs == [] and lab.cells[2].execution_count is None
    assert lab.cells[2].metadata == {"tags": ["exercise"], "editable": False}
    assert [c.id for c in lab.cells] == solution_ids


def test_badge_and_install_url_come_from_config(repo: Path) -> None:
    """Do the badges point at each notebook's own path and the install cell at the configured repo and ref?"""
    build(repo)
    lab = read(repo / "labs" / "01_images_as_numbers.ipynb")
    solution = read(repo / "solutions" / "01_images_as_numbers.ipynb")
    colab = "https://colab.research.google.com/github/acme/vision-labs/blob/v2"
    assert f"]({colab}/labs/01_images_as_numbers.ipynb)" in lab.cells[0].source
    assert f"]({colab}/solutions/01_images_as_numbers.ipynb)" in solution.cells[0].source
    for nb in (lab, solution):
        assert '"mitdl_util @ git+https://github.com/acme/vision-labs@v2"' in nb.cells[1].source
        assert "old/repo" not in json.dumps(nb)


def test_notebook_metadata_is_set(repo: Path) -> None:
    """Do both notebooks carry the kernel, Colab GPU runtime and the mitdl lab id, and nothing else?"""
    build(repo)
    for folder, kind in (("labs", "lab"), ("solutions", "solution")):
        metadata = read(repo / folder / "01_images_as_numbers.ipynb").metadata
        assert metadata == {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "accelerator": "GPU",
            "colab": {"provenance": [], "gpuType": "T4"},
            "mitdl": {"lab": "lab01", "notebook": "01_images_as_numbers", "kind": kind},
        }


def test_build_is_deterministic_and_idempotent(repo: Path) -> None:
    """Does a second build write nothing and leave every byte as the first build wrote it?"""
    build(repo)
    files = {p: p.read_bytes() for p in repo.rglob("*.ipynb")}
    report = build(repo)
    assert report.written == [] and report.stale == []
    assert {p: p.read_bytes() for p in repo.rglob("*.ipynb")} == files
    assert files[repo / "labs" / "01_images_as_numbers.ipynb"].endswith(b"}\n")


def test_fresh_solution_is_not_rewritten(repo: Path) -> None:
    """Is an up-to-date solution left alone even when its JSON is formatted differently?"""
    build(repo)
    path = repo / "solutions" / "01_images_as_numbers.ipynb"
    reformatted = json.dumps(json.loads(path.read_text()), indent=2)
    path.write_text(reformatted)
    report = build(repo)
    assert path.read_text() == reformatted
    assert report.written == []


def test_solution_without_cell_ids_gets_deterministic_ids(repo: Path) -> None:
    """Does a notebook in format 4.4 (no cell ids) get the same ids on every build, shared by its lab?"""
    path = repo / "solutions" / "01_images_as_numbers.ipynb"
    data = json.loads(path.read_text())
    data["nbformat_minor"] = 4
    for cell in data["cells"]:
        del cell["id"]
    path.write_text(json.dumps(data))
    build(repo, check=False)
    first = path.read_bytes()
    path.write_text(json.dumps(data))
    build(repo)
    assert path.read_bytes() == first
    lab = read(repo / "labs" / "01_images_as_numbers.ipynb")
    assert [c.id for c in lab.cells] == [c.id for c in read(path).cells]


def test_round_trip_every_block_becomes_a_stub(repo: Path) -> None:
    """Does every BEGIN block of a multi-exercise solution become a stub, with no solution code left?"""
    sources = [
        "def a(x):\n    ### BEGIN SOLUTION\n    secret_a = 1\n    return secret_a\n    ### END SOLUTION\n",
        "### BEGIN SOLUTION\nsecret_b = 2\n### END SOLUTION\nq.check(secret_b)\n",
        "for i in range(2):\n    def c():\n        ### BEGIN SOLUTION\n        return 'secret_c'\n        ### END SOLUTION\n",
        "secret_d = 4  # SOLUTION\n",
    ]
    write_notebook(repo / "solutions" / "02_convolution_filters.ipynb", solution_notebook(*sources))
    build(repo)
    solution = read(repo / "solutions" / "02_convolution_filters.ipynb")
    lab = read(repo / "labs" / "02_convolution_filters.ipynb")
    blocks = sum(c.source.count(BEGIN) for c in solution.cells)
    stubs = sum(c.source.count("NotImplementedError") + c.source.count("= None  # TODO") for c in lab.cells)
    assert blocks == 3 and stubs == 4
    text = "\n".join(c.source for c in lab.cells)
    assert (
        "return secret_a" not in text and "= 2" not in text and "'secret_c'" not in text and "= 4" not in text
    )
    assert BEGIN not in text and END not in text
    for cell in lab.cells:
        if cell.cell_type == "code":
            ast.parse(cell.source)


def test_make_lab_is_pure(repo: Path) -> None:
    """Does make_lab leave the solution notebook it is given unchanged?"""
    path = repo / "solutions" / "01_images_as_numbers.ipynb"
    solution = read(path)
    before = json.dumps(solution, sort_keys=True)
    lab = make_lab(solution, path, CONFIG)
    assert json.dumps(solution, sort_keys=True) == before
    assert lab.metadata["mitdl"]["kind"] == "lab"


def test_make_lab_reads_config_from_the_repository(repo: Path) -> None:
    """Without a config, does make_lab find the repository's pyproject.toml above the notebook?"""
    path = repo / "solutions" / "01_images_as_numbers.ipynb"
    lab = make_lab(read(path), path)
    assert "acme/vision-labs/blob/v2/labs/01_images_as_numbers.ipynb" in lab.cells[0].source


def test_only_named_notebooks_are_built(repo: Path) -> None:
    """Does naming notebooks build just those (by path, file name or stem)?"""
    write_notebook(repo / "solutions" / "02_convolution_filters.ipynb", solution_notebook("x = 1"))
    report = build(repo, notebooks=["02_convolution_filters"])
    assert report.notebooks == ["solutions/02_convolution_filters.ipynb"]
    assert not (repo / "labs" / "01_images_as_numbers.ipynb").exists()
    assert build(repo, notebooks=["solutions/01_images_as_numbers.ipynb"]).notebooks == [
        "solutions/01_images_as_numbers.ipynb"
    ]
    with pytest.raises(BuildError, match="no solution notebook '99_nope'"):
        build(repo, notebooks=["99_nope"])


# ---------------------------------------------------------------------------------------------------------------
# Errors: named precisely, and nothing written


ERROR_NOTEBOOKS = [
    (solution_notebook("x = 1", "y = 2\n### BEGIN SOLUTION\nz = 3\n"), r"cell 4, line 2: .*never closed"),
    (solution_notebook("### BEGIN SOLUTION\n  ### BEGIN SOLUTION\n"), r"cell 3, line 2: .*do not nest"),
    (solution_notebook("x = 1\n### END SOLUTION\n"), r"cell 3, line 2: .*without a"),
    (solution_notebook("print(1)  # SOLUTION\n"), r"cell 3, line 1: .*one-line assignment"),
    (
        solution_notebook("x = [\n    ### BEGIN SOLUTION\n    1,\n    ### END SOLUTION\n]\n"),
        r"cell 3, line \d: .*parse",
    ),
    (solution_notebook("x = 1", badge=False), r"no \"Open in Colab\" badge"),
    (solution_notebook("x = 1", setup=False), r"no set-up cell; tag"),
]


@pytest.mark.parametrize("nb, message", ERROR_NOTEBOOKS)
def test_errors_name_notebook_and_write_nothing(repo: Path, nb: nbformat.NotebookNode, message: str) -> None:
    """Does a bad solution raise an error naming it, leave existing labs untouched and write no other lab?"""
    build(repo)
    lab = repo / "labs" / "01_images_as_numbers.ipynb"
    lab.write_text("hand-made, must survive")
    write_notebook(repo / "solutions" / "02_convolution_filters.ipynb", nb)
    write_notebook(repo / "solutions" / "03_cnn_classification.ipynb", solution_notebook("x = 1"))
    bad_before = (repo / "solutions" / "02_convolution_filters.ipynb").read_bytes()
    with pytest.raises(BuildError, match=rf"^solutions/02_convolution_filters\.ipynb(, |: ).*{message}"):
        build(repo)
    assert lab.read_text() == "hand-made, must survive"
    assert not (repo / "labs" / "03_cnn_classification.ipynb").exists()
    assert (repo / "solutions" / "02_convolution_filters.ipynb").read_bytes() == bad_before


def test_setup_cell_must_install_the_package(repo: Path) -> None:
    """Is a set-up cell that does not install mitdl_util from git an error naming its cell?"""
    nb = solution_notebook("x = 1")
    nb.cells[1].source = "import mitdl_util"
    write_notebook(repo / "solutions" / "01_images_as_numbers.ipynb", nb)
    with pytest.raises(
        BuildError, match=r"^solutions/01_images_as_numbers\.ipynb, cell 2: the set-up cell must"
    ):
        build(repo)


def test_markers_in_markdown_are_an_error(repo: Path) -> None:
    """Is a marker in a markdown cell refused rather than leaked into the lab?"""
    nb = solution_notebook("x = 1")
    nb.cells.append(new_markdown_cell("Answer:\n### BEGIN SOLUTION\nIt is 3.\n### END SOLUTION"))
    write_notebook(repo / "solutions" / "01_images_as_numbers.ipynb", nb)
    with pytest.raises(BuildError, match=r"cell 4, line 2: solution markers only work in code cells"):
        build(repo)


@pytest.mark.parametrize(
    "table, message",
    [
        ("", "set `\\[tool.mitdl\\] repository"),
        ('[tool.mitdl]\nrepository = "https://gitlab.com/a/b"\n', "https://github.com/OWNER/REPO"),
        ('[tool.mitdl]\nrepository = "https://github.com/a/b"\nref = "my branch"\n', "ref"),
        ("[tool.mitdl\n", "not valid TOML"),
    ],
)
def test_bad_config_is_an_error(tmp_path: Path, table: str, message: str) -> None:
    """Is a missing or malformed [tool.mitdl] table reported with what to write?"""
    (tmp_path / "pyproject.toml").write_text(table)
    with pytest.raises(BuildError, match=message):
        load_config(tmp_path)


def test_config_accepts_dot_git_and_defaults_ref(tmp_path: Path) -> None:
    """Does the config tolerate a trailing .git or slash and default ref to main?"""
    (tmp_path / "pyproject.toml").write_text('[tool.mitdl]\nrepository = "https://github.com/a/b.git"\n')
    assert load_config(tmp_path) == RepoConfig("https://github.com/a/b", "main")


def test_badly_named_solution_is_an_error(repo: Path) -> None:
    """Is a solution not named NN_name.ipynb refused?"""
    write_notebook(repo / "solutions" / "scratch.ipynb", solution_notebook("x = 1"))
    with pytest.raises(BuildError, match=r"^solutions/scratch\.ipynb: .*NN_name"):
        build(repo)


# ---------------------------------------------------------------------------------------------------------------
# --check


def test_check_passes_when_in_sync(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Does --check exit 0 after a build?"""
    assert main(["build", "--root", str(repo)]) == 0
    assert "wrote labs/01_images_as_numbers.ipynb" in capsys.readouterr().out
    assert main(["build", "--check", "--root", str(repo)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_reports_missing_lab_and_stale_solution_and_writes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before any build, does --check name the missing lab and the stale solution, exit 1, and write nothing?"""
    solution = repo / "solutions" / "01_images_as_numbers.ipynb"
    before = solution.read_bytes()
    assert main(["build", "--check", "--root", str(repo)]) == 1
    out = capsys.readouterr().out
    assert "labs/01_images_as_numbers.ipynb: missing" in out
    assert "solutions/01_images_as_numbers.ipynb: badge" in out
    assert solution.read_bytes() == before and not (repo / "labs").exists()


def test_check_names_hand_edited_lab(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """After a lab is edited by hand, does --check exit 1 and name it?"""
    build(repo)
    lab = repo / "labs" / "01_images_as_numbers.ipynb"
    nb = read(lab)
    nb.cells[2].source += "\nanswer = 42"
    nbformat.write(nb, str(lab))
    assert main(["build", "--check", "--root", str(repo)]) == 1
    out = capsys.readouterr().out
    assert "labs/01_images_as_numbers.ipynb: differs" in out and "run `mitdl build`" in out


def test_check_names_lab_after_solution_changes(repo: Path) -> None:
    """After a solution changes, does build(check=True) report its lab as stale?"""
    build(repo)
    path = repo / "solutions" / "01_images_as_numbers.ipynb"
    nb = read(path)
    nb.cells.append(new_code_cell("extra = 1  # SOLUTION"))
    nbformat.write(nb, str(path))
    report = build(repo, check=True)
    assert [str(s.path) for s in report.stale] == ["labs/01_images_as_numbers.ipynb"]
    assert report.written == []


def test_check_names_stale_badge_in_solution(repo: Path) -> None:
    """Is a solution whose badge points elsewhere reported, and rewritten by the next build?"""
    build(repo)
    path = repo / "solutions" / "01_images_as_numbers.ipynb"
    nb = read(path)
    nb.cells[0].source = f"# A lab\n\n{OLD_BADGE}"
    nbformat.write(nb, str(path))
    assert [s.path for s in build(repo, check=True).stale] == ["solutions/01_images_as_numbers.ipynb"]
    assert build(repo).written == ["solutions/01_images_as_numbers.ipynb"]
    assert build(repo, check=True).ok


def test_check_names_orphan_lab(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Is a lab without a solution reported by --check and warned about (not deleted) by a build?"""
    build(repo)
    orphan = repo / "labs" / "09_old.ipynb"
    orphan.write_text("{}")
    assert main(["build", "--check", "--root", str(repo)]) == 1
    assert "labs/09_old.ipynb: no solution" in capsys.readouterr().out
    assert main(["build", "--root", str(repo)]) == 0
    assert "warning: labs/09_old.ipynb has no solution" in capsys.readouterr().out
    assert orphan.exists()


def test_cli_prints_errors_on_one_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Does the CLI print a build error as one line naming notebook, cell and line, and exit 2?"""
    write_notebook(repo / "solutions" / "01_images_as_numbers.ipynb", solution_notebook("### BEGIN SOLUTION"))
    assert main(["build", "--root", str(repo)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "mitdl build: solutions/01_images_as_numbers.ipynb, cell 3, line 1: "
        "`### BEGIN SOLUTION` is never closed with `### END SOLUTION`\n"
    )


def test_cli_without_solutions_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Run outside a repository, does the CLI say what to do instead of crashing?"""
    (tmp_path / "pyproject.toml").write_text('[tool.mitdl]\nrepository = "https://github.com/a/b"\n')
    assert main(["build", "--root", str(tmp_path)]) == 2
    assert "no solutions/ folder" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
# The real repository


def test_real_repository_labs_are_in_sync() -> None:
    """Are the committed labs and solutions exactly what `mitdl build` writes?"""
    if not list((REPO_ROOT / "solutions").glob("*.ipynb")):
        pytest.skip("no solution notebooks yet")
    report = build(REPO_ROOT, check=True)
    assert report.stale == [], "run `mitdl build` and commit: " + "; ".join(map(str, report.stale))


# ---------------------------------------------------------------------------------------------------------------
# Properties

IDENTIFIERS = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))


@settings(max_examples=60, deadline=None)
@given(names=st.lists(IDENTIFIERS, min_size=1, max_size=5), depth=st.integers(0, 3), in_def=st.booleans())
def test_any_block_becomes_a_parsing_stub(names: list[str], depth: int, in_def: bool) -> None:
    """For blocks at any depth, does the stub parse and bind each name once (or raise inside a def)?"""
    header = ["def exercise():"] if in_def else []
    header += [f"{'    ' * (level + in_def)}if True:" for level in range(depth)]
    indent = "    " * (depth + in_def)
    body = [f"{indent}{name} = {i}" for i, name in enumerate(names)]
    source = "\n".join([*header, f"{indent}{BEGIN}", *body, f"{indent}{END}", ""])
    lab = strip_solutions(source, "cell")
    ast.parse(lab)
    if in_def:
        assert lab.count('raise NotImplementedError("TODO: exercise")') == 1
    else:
        unique = list(dict.fromkeys(names))
        assert lab.split("\n")[depth:-1] == [f"{indent}{name} = None  # TODO" for name in unique]


def test_magics_and_shell_lines_do_not_break_the_parse_check(repo: Path) -> None:
    """Do `%` and `!` lines and cell magics pass the lab's parse check?"""
    nb = solution_notebook("%%bash\necho hi", "if True:\n    !pip list\nx = 1  # SOLUTION")
    write_notebook(repo / "solutions" / "01_images_as_numbers.ipynb", nb)
    build(repo)
    lab = read(repo / "labs" / "01_images_as_numbers.ipynb")
    assert lab.cells[3].source == "if True:\n    !pip list\nx = None  # TODO"
