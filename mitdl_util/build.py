"""`mitdl build`: generate the student labs/ from the instructor solutions/.

Each ``solutions/NN_name.ipynb`` is the single source of ``labs/NN_name.ipynb``. The lab is the solution with

- every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block replaced by a stub that keeps the cell valid Python
  (lines in the block that start with ``# TODO`` stay, with the comment lines right below them that continue
  them): ``raise NotImplementedError("TODO: <def name>")`` inside a
  function, otherwise one ``name = None  # TODO`` line per name the block binds, or ``pass  # TODO``;
- every line ending in ``# SOLUTION`` turned into ``<left-hand side> = None  # TODO``;
- outputs, execution counts and volatile cell metadata removed;
- its "Open in Colab" badge pointing at ``labs/``, its set-up cell installing the helper package from the
  repository configured in ``pyproject.toml`` (``[tool.mitdl] repository``, ``ref``), and the kit's notebook metadata.

The solution itself is rewritten in place only when its badge, install URL, cell ids or notebook metadata are stale.
Errors name the notebook, the cell (numbered from 1, all cell types counted) and the line in that cell (from 1).
Every lab is built in memory first, so an error anywhere writes nothing at all. ``--check`` writes nothing and
fails when any lab or solution differs byte for byte from what the build would write.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import os
import re
import tempfile
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .errors import MitdlError
from .notebook import SETUP_TAG, as_python, bound_names, setup_cells

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
SOLUTION_SUFFIX = "# SOLUTION"
TODO_PREFIX = "# TODO"
PACKAGE = "mitdl_util"
NOTEBOOK_NAME = re.compile(r"^(?P<number>\d{2})_[A-Za-z0-9_]+$")
# Anything that looks like a marker but is not spelled exactly like one is an error, so a typo never leaks an answer.
MARKER_LIKE = re.compile(r"^#+\s*(BEGIN|END)\s+SOLUTION\s*$", re.IGNORECASE)
BADGE = re.compile(
    r"(?P<head>\[!\[[^\]]*\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\()"
    r"(?P<url>[^)\s]*)(?P<tail>\))"
)
INSTALL_SPEC = re.compile(r"mitdl[_-]util\s*@\s*git\+[^\s\"'\\]+")
GITHUB_REPO = re.compile(r"^https://github\.com/(?P<slug>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)$")
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled", "colab", "outputId")
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


class BuildError(MitdlError):
    """A solution notebook or the build configuration cannot be turned into a lab."""


@dataclass(frozen=True)
class RepoConfig:
    """Where the kit lives: ``repository`` is ``https://github.com/OWNER/REPO``, ``ref`` a branch or tag."""

    repository: str
    ref: str = "main"

    @property
    def slug(self) -> str:
        """``OWNER/REPO``."""
        return self.repository.removeprefix("https://github.com/")

    def badge_url(self, folder: str, filename: str) -> str:
        """The Colab URL that opens ``folder/filename`` from this repository."""
        return f"https://colab.research.google.com/github/{self.slug}/blob/{self.ref}/{folder}/{filename}"

    @property
    def install_spec(self) -> str:
        """The pip requirement that installs the helper package from this repository."""
        return f"{PACKAGE} @ git+{self.repository}@{self.ref}"


@dataclass(frozen=True)
class Stale:
    """One file that differs from what the build writes, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class BuildReport:
    """What a build looked at, what was out of date, and what it wrote (nothing when checking)."""

    notebooks: list[str] = field(default_factory=list)
    stale: list[Stale] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every lab and solution already was exactly what the build writes."""
        return not self.stale


# --------------------------------------------------------------------------------------------------------------
# Configuration


def load_config(root: Path) -> RepoConfig:
    """Read ``[tool.mitdl] repository`` and ``ref`` from ``root/pyproject.toml``."""
    pyproject = Path(root) / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BuildError(f"{pyproject} not found; run from the repository root or pass --root") from None
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"{pyproject} is not valid TOML: {exc}") from None
    section = data.get("tool", {}).get("mitdl", {})
    repository = str(section.get("repository", "")).strip().rstrip("/").removesuffix(".git")
    ref = str(section.get("ref", "main")).strip()
    if not GITHUB_REPO.match(repository):
        raise BuildError(
            f'{pyproject}: set `[tool.mitdl] repository = "https://github.com/OWNER/REPO"` '
            f"(Colab badges and the install cell are built from it); found {repository!r}"
        )
    if not ref or any(ch.isspace() for ch in ref):
        raise BuildError(f"{pyproject}: `[tool.mitdl] ref` must be a branch or tag name, found {ref!r}")
    return RepoConfig(repository, ref)


def _find_root(path: Path) -> Path:
    """The nearest folder at or above ``path`` whose pyproject.toml has a ``[tool.mitdl]`` table."""
    for folder in [Path(path).resolve(), *Path(path).resolve().parents]:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.mitdl]" in pyproject.read_text(encoding="utf-8"):
            return folder
    raise BuildError(f"no pyproject.toml with a [tool.mitdl] table above {path}")


# --------------------------------------------------------------------------------------------------------------
# Stubbing one cell


def _indent_of(line: str) -> str:
    """The leading whitespace of ``line``."""
    return line[: len(line) - len(line.lstrip())]


def _enclosing_def(lines: list[str], indent: str) -> str | None:
    """Name of the nearest ``def`` that encloses a line at ``indent`` placed after ``lines``, if any."""
    threshold = len(indent)
    for line in reversed(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or len(_indent_of(line)) >= threshold:
            continue
        match = re.match(r"(?:async\s+)?def\s+([A-Za-z_]\w*)", stripped)
        if match:
            return match.group(1)
        threshold = len(_indent_of(line))
        if threshold == 0:
            return None
    return None


def _block_stub(before: list[str], block: list[str], indent: str, where: str, begin_line: int) -> list[str]:
    """The lines that replace one solution block: a raise inside a def, else ``name = None  # TODO`` lines."""
    if indent:
        function = _enclosing_def(before, indent)
        if function is not None:
            return [f'{indent}raise NotImplementedError("TODO: {function}")']
    code = textwrap.dedent(as_python("\n".join(block)))
    try:
        ast.parse(code)
    except SyntaxError as exc:
        raise BuildError(
            f"{where}, line {begin_line}: the solution block does not parse on its own ({exc.msg}), so the build "
            "cannot tell which names it defines; put whole statements between the markers"
        ) from None
    names = bound_names(code, assigned_only=True)
    if not names:
        return [f"{indent}pass  # TODO"]
    return [f"{indent}{name} = None  # TODO" for name in names]


def _solution_line_stub(line: str, where: str, number: int) -> str:
    """``<indent><lhs> = None  # TODO`` for a one-line assignment that ends in ``# SOLUTION``."""
    stripped = line.strip()
    try:
        tree = ast.parse(stripped)
    except SyntaxError:
        tree = None
    statement = tree.body[0] if tree is not None and len(tree.body) == 1 else None
    if isinstance(statement, ast.Assign):
        lhs = " = ".join(ast.get_source_segment(stripped, target) or "" for target in statement.targets)
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        lhs = f"{ast.get_source_segment(stripped, statement.target)}: {ast.unparse(statement.annotation)}"
    else:
        raise BuildError(
            f"{where}, line {number}: `{SOLUTION_SUFFIX}` marks a one-line assignment such as "
            f"`answer = 42  {SOLUTION_SUFFIX}`, but this line is `{stripped}`; use `{BEGIN}` / `{END}` for other code"
        )
    return f"{_indent_of(line)}{lhs} = None  # TODO"


def strip_solutions(source: str, where: str) -> str:
    """Return a code cell's source with its solution blocks and ``# SOLUTION`` lines replaced by stubs.

    ``where`` names the cell in error messages, e.g. ``"solutions/02_convolution_filters.ipynb, cell 7"``.
    """
    lines = source.split("\n")
    out: list[str] = []
    block: list[str] = []
    begin: tuple[int, str] | None = None  # (line number, indentation) of the open BEGIN marker
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if MARKER_LIKE.match(stripped) and stripped not in (BEGIN, END):
            canonical = BEGIN if "BEGIN" in stripped.upper() else END
            raise BuildError(
                f"{where}, line {number}: write the marker `{stripped}` exactly as `{canonical}`"
            )
        if stripped == BEGIN:
            if begin is not None:
                raise BuildError(
                    f"{where}, line {number}: `{BEGIN}` inside the solution block opened on line {begin[0]}; "
                    f"close that one with `{END}` first (blocks do not nest)"
                )
            begin, block, todo = (number, _indent_of(line)), [], False
        elif stripped == END:
            if begin is None:
                raise BuildError(f"{where}, line {number}: `{END}` without a `{BEGIN}` above it")
            out += _block_stub(lines[: begin[0] - 1], block, begin[1], where, begin[0])
            begin = None
        elif begin is not None:
            block.append(line)
            # A `# TODO` comment stays whole: the comment lines right below it continue it.
            todo = stripped.startswith(TODO_PREFIX) or (todo and stripped.startswith("#"))
            if todo:
                out.append(line)
        elif line.rstrip().endswith(SOLUTION_SUFFIX):
            out.append(_solution_line_stub(line, where, number))
        else:
            out.append(line)
    if begin is not None:
        raise BuildError(f"{where}, line {begin[0]}: `{BEGIN}` is never closed with `{END}`")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------------------
# Steps. Each takes (notebook, context) and changes the notebook in place; make_lab works on a copy.


@dataclass(frozen=True)
class Context:
    """What the steps need to know about the notebook being built."""

    name: str  # NN_name
    kind: str  # "lab" | "solution"
    config: RepoConfig
    display: str  # the solution's path as shown in errors, e.g. "solutions/01_images_as_numbers.ipynb"

    def where(self, index: int) -> str:
        """How errors name cell ``index`` (0-based) of the solution."""
        return f"{self.display}, cell {index + 1}"


Step = Callable[[nbformat.NotebookNode, Context], None]


def ensure_cell_ids(nb: nbformat.NotebookNode, ctx: Context) -> None:
    """Give cells without a valid, unique id a deterministic one (nbformat 4.5), keeping existing ids."""
    nb.nbformat, nb.nbformat_minor = 4, max(5, nb.get("nbformat_minor", 0))
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        cell_id = cell.get("id")
        if (
            not isinstance(cell_id, str)
            or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", cell_id)
            or cell_id in seen
        ):
            salt = 0
            while True:
                cell_id = hashlib.sha1(f"{ctx.name}:{index}:{salt}".encode()).hexdigest()[:8]
                if cell_id not in seen:
                    break
                salt += 1
            cell["id"] = cell_id
        seen.add(cell_id)


def clear_solutions(nb: nbformat.NotebookNode, ctx: Context) -> None:
    """Replace solution blocks and ``# SOLUTION`` lines in code cells by stubs; refuse markers elsewhere."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, ctx.where(index))
            continue
        for number, line in enumerate(cell.source.split("\n"), start=1):
            if MARKER_LIKE.match(line.strip()):
                raise BuildError(
                    f"{ctx.where(index)}, line {number}: solution markers only work in code cells, "
                    f"this is a {cell.cell_type} cell"
                )


def check_code_parses(nb: nbformat.NotebookNode, ctx: Context) -> None:
    """Every code cell must parse as Python (IPython magic and shell lines are skipped)."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.source.lstrip().startswith("%%"):
            continue  # a cell magic's body need not be Python
        try:
            ast.parse(as_python(cell.source))
        except SyntaxError as exc:
            raise BuildError(
                f"{ctx.where(index)}, line {exc.lineno}: the {ctx.kind}'s code does not parse ({exc.msg}); "
                "stubs replace whole statements, so keep markers around complete statements"
            ) from None


def clear_outputs(nb: nbformat.NotebookNode, ctx: Context) -> None:
    """Remove outputs and execution counts from code cells."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def clean_cell_metadata(nb: nbformat.NotebookNode, ctx: Context) -> None:
    """Drop volatile cell metadata (timings, collapsed/scrolled state, Colab's view state); keep tags and the rest."""
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)


def set_badge(nb: nbformat.NotebookNode, ctx: Context) -> None:
    """Point every "Open in Colab" badge at this notebook's own path; a notebook must have one."""
    url = ctx.config.badge_url("labs" if ctx.kind == "lab" else "solutions", f"{ctx.name}.ipynb")
    found = False
    for cell in nb.cells:
        if cell.cell_type == "markdown" and BADGE.search(cell.source):
            cell.source = BADGE.sub(lambda m: f"{m['head']}{url}{m['tail']}", cell.source)
            found = True
    if not found:
        raise BuildError(
            f'{ctx.display}: no "Open in Colab" badge; add a markdown cell with '
            f"`[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})`"
        )


def set_install_url(nb: nbformat.NotebookNode, ctx: Context) -> None:
    """Make the set-up cell(s) install the helper package from the configured repository and ref."""
    setup = setup_cells(nb.cells)
    if not setup:
        raise BuildError(
            f"{ctx.display}: no set-up cell; tag the code cell that installs the helper package with "
            f'`{SETUP_TAG}` (cell metadata "tags": ["{SETUP_TAG}"])'
        )
    for index, cell in setup:
        if not INSTALL_SPEC.search(cell.source):
            raise BuildError(
                f"{ctx.where(index)}: the set-up cell must install `{ctx.config.install_spec}` "
                "(the build keeps that URL in sync with pyproject.toml)"
            )
        cell.source = INSTALL_SPEC.sub(lambda m: ctx.config.install_spec, cell.source)


def set_notebook_metadata(nb: nbformat.NotebookNode, ctx: Context) -> None:
    """Replace the notebook metadata by the kit's: kernel, Colab GPU runtime, and which lab this is."""
    number = NOTEBOOK_NAME.match(ctx.name)["number"]  # type: ignore[index]  # checked in _context
    nb.metadata = nbformat.from_dict(
        {
            "kernelspec": dict(KERNELSPEC),
            "language_info": {"name": "python"},
            "accelerator": "GPU",
            "colab": {"provenance": [], "gpuType": "T4"},
            "mitdl": {"lab": f"lab{number}", "notebook": ctx.name, "kind": ctx.kind},
        }
    )


# Ordering rules:
# - ensure_cell_ids runs on the solution, before the lab is copied from it, so a lab keeps its solution's ids.
# - set_badge and set_install_url fail on a notebook without a badge or set-up cell, so a solution that lacks
#   one is reported before any lab work.
SOLUTION_STEPS: list[Step] = [
    ensure_cell_ids,
    set_badge,
    set_install_url,
    set_notebook_metadata,
]
# - the lab starts from the normalized solution (SOLUTION_STEPS already ran), so ids and the install URL carry over.
# - clear_solutions before check_code_parses: what must parse is the stubbed code the student gets.
# - clear_solutions before set_install_url: a set-up cell may not hide its install line in a solution block.
# - set_badge after SOLUTION_STEPS' set_badge: the lab's badge replaces the solution's URL by the labs/ one.
# - set_notebook_metadata last, so nothing after it can drop the kit's keys.
LAB_STEPS: list[Step] = [
    clear_solutions,
    check_code_parses,
    clear_outputs,
    clean_cell_metadata,
    set_badge,
    set_install_url,
    set_notebook_metadata,
]


# --------------------------------------------------------------------------------------------------------------
# Notebooks


def _context(path: Path, kind: str, config: RepoConfig | None) -> Context:
    """The context for building from the solution at ``path``."""
    path = Path(path)
    name = path.name.removesuffix(".ipynb")
    display = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    if not NOTEBOOK_NAME.match(name):
        raise BuildError(
            f"{display}: solution notebooks are named NN_name.ipynb, e.g. 01_images_as_numbers.ipynb"
        )
    return Context(name, kind, config or load_config(_find_root(path.parent)), display)


def _apply(nb: nbformat.NotebookNode, steps: Iterable[Step], ctx: Context) -> nbformat.NotebookNode:
    """A copy of ``nb`` with ``steps`` applied in order."""
    nb = copy.deepcopy(nb)
    for step in steps:
        step(nb, ctx)
    return nb


def make_solution(
    solution_nb: nbformat.NotebookNode, path: Path, config: RepoConfig | None = None
) -> nbformat.NotebookNode:
    """The solution as the build keeps it: cell ids, badge, install URL and notebook metadata up to date."""
    return _apply(solution_nb, SOLUTION_STEPS, _context(path, "solution", config))


def make_lab(
    solution_nb: nbformat.NotebookNode, path: Path, config: RepoConfig | None = None
) -> nbformat.NotebookNode:
    """The student lab built from ``solution_nb`` read from ``path`` (``config`` defaults to the repo's pyproject)."""
    solution_ctx = _context(path, "solution", config)
    solution = _apply(solution_nb, SOLUTION_STEPS, solution_ctx)
    lab_ctx = Context(solution_ctx.name, "lab", solution_ctx.config, solution_ctx.display)
    return _apply(solution, LAB_STEPS, lab_ctx)


def serialize(nb: nbformat.NotebookNode) -> bytes:
    """The exact bytes the build writes for ``nb`` (nbformat's JSON, sorted keys, one trailing newline)."""
    return (nbformat.writes(nb, version=4) + "\n").encode("utf-8")


def read_notebook(path: Path, display: str) -> nbformat.NotebookNode:
    """Read and validate a notebook, turning format problems into a BuildError."""
    try:
        nb = nbformat.reads(Path(path).read_text(encoding="utf-8"), as_version=4)
        nbformat.validate(nb)
    except (OSError, ValueError, nbformat.ValidationError) as exc:
        raise BuildError(f"{display}: not a valid notebook ({str(exc).splitlines()[0]})") from None
    return nb


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _select(solutions: list[Path], notebooks: Iterable[str], root: Path) -> list[Path]:
    """The solutions named by ``notebooks`` (paths, file names or NN_name stems)."""
    by_name = {path.name.removesuffix(".ipynb"): path for path in solutions}
    chosen: list[Path] = []
    for given in notebooks:
        name = Path(given).name.removesuffix(".ipynb")
        if name not in by_name:
            raise BuildError(
                f"no solution notebook {given!r}; expected one of solutions/NN_name.ipynb under {root}"
            )
        if by_name[name] not in chosen:
            chosen.append(by_name[name])
    return chosen


def build(root: Path, check: bool = False, notebooks: Iterable[str] | None = None) -> BuildReport:
    """Build labs/ from solutions/ under ``root`` (only ``notebooks`` if given); with ``check``, write nothing."""
    root = Path(root)
    notebooks = list(notebooks or [])
    config = load_config(root)
    solutions_dir = root / "solutions"
    if not solutions_dir.is_dir():
        raise BuildError(f"no solutions/ folder under {root}; run from the repository root or pass --root")
    solutions = sorted(solutions_dir.glob("*.ipynb"))
    selected = _select(solutions, notebooks, root) if notebooks else solutions

    report = BuildReport()
    pending: list[tuple[Path, bytes]] = []
    for path in selected:  # everything in memory first: an error anywhere writes nothing
        display = f"solutions/{path.name}"
        original = read_notebook(path, display)
        solution = make_solution(original, path, config)
        lab = make_lab(solution, path, config)
        report.notebooks.append(display)
        if solution != original:
            report.stale.append(
                Stale(display, "badge, install URL, cell ids or notebook metadata out of date")
            )
            pending.append((path, serialize(solution)))
        lab_path = root / "labs" / path.name
        lab_bytes = serialize(lab)
        if not lab_path.exists():
            report.stale.append(Stale(f"labs/{path.name}", "missing"))
            pending.append((lab_path, lab_bytes))
        elif lab_path.read_bytes() != lab_bytes:
            report.stale.append(
                Stale(f"labs/{path.name}", f"differs from what `mitdl build` makes of {display}")
            )
            pending.append((lab_path, lab_bytes))
    if not notebooks:
        names = {path.name for path in solutions}
        report.orphans = sorted(
            f"labs/{p.name}" for p in (root / "labs").glob("*.ipynb") if p.name not in names
        )
        report.stale += [
            Stale(orphan, "no solution builds it; delete it or add its solution") for orphan in report.orphans
        ]
    if not check:
        for path, data in pending:
            _write(path, data)
            report.written.append(path.relative_to(root).as_posix())
    return report


# --------------------------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``mitdl build``."""
    parser.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="solutions to build (default: all)")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any lab or solution is stale"
    )
    parser.add_argument(
        "--root", type=Path, default=Path("."), help="repository root (default: current folder)"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``mitdl build``: print what was written or, with --check, what is stale."""
    report = build(args.root, check=args.check, notebooks=args.notebooks or None)
    if args.check:
        for stale in report.stale:
            print(f"stale: {stale}")
        if report.stale:
            print(f"{len(report.stale)} file(s) out of date; run `mitdl build` and commit the result")
            return 1
        print(f"labs up to date ({len(report.notebooks)} notebook(s))")
        return 0
    for path in report.written:
        print(f"wrote {path}")
    for orphan in report.orphans:
        print(f"warning: {orphan} has no solution; delete it or add its solution")
    if not report.written:
        print(f"labs up to date ({len(report.notebooks)} notebook(s))")
    return 0
