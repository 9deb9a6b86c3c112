"""Reading a notebook's cells as Python without running them: the one parser the build, the grader and the tests use.

- `as_python(source)`: the cell with IPython magics and shell lines (``%``, ``!``) made into ``pass``;
- `bound_names(source)`: the names a cell (or a solution block) binds at its top level;
- `check_calls(sources, lab)`: the ``q.<exercise>.check(...)`` calls and their arguments;
- `setup_cells(cells)`: the code cell(s) tagged ``setup`` (the one that installs the helper package).

Cells may be nbformat nodes or plain dicts from ``json.load``.
"""

from __future__ import annotations

import ast
import re

SETUP_TAG = "setup"
CHECKS_MODULE = "mitdl_util.checks"

_ASSIGNED = re.compile(r"^(?:def|class)\s+(\w+)|^([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*(?:=(?!=)|\+=|-=)",
                       re.MULTILINE)


def cell_source(cell) -> str:
    """A cell's text (nbformat files may store it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def code_cells(cells) -> list[tuple[int, str]]:
    """(position in the notebook from 0, source) of each code cell."""
    return [(index, cell_source(cell)) for index, cell in enumerate(cells) if cell.get("cell_type") == "code"]


def code_cell_numbers(cells) -> dict[int, int]:
    """Position in the notebook (from 0) -> the cell's number among the code cells (from 1, markdown not counted):
    how grade reports name a cell (see grade.score.CELL_NUMBERING)."""
    positions = [index for index, cell in enumerate(cells) if cell.get("cell_type") == "code"]
    return {position: number for number, position in enumerate(positions, start=1)}


def first_line(source: str, limit: int = 60) -> str:
    """The cell's first line that is not blank or a comment (shortened), to find the cell by eye."""
    lines = [line.strip() for line in source.split("\n") if line.strip() and not line.strip().startswith("#")]
    text = lines[0] if lines else source.strip().split("\n")[0] if source.strip() else ""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def setup_cells(cells) -> list[tuple[int, object]]:
    """(position, cell) of the code cells tagged ``setup``."""
    return [(index, cell) for index, cell in enumerate(cells)
            if cell.get("cell_type") == "code" and SETUP_TAG in cell.get("metadata", {}).get("tags", [])]


def as_python(source: str) -> str:
    """``source`` with IPython magics and shell lines (``%``, ``!``) replaced by ``pass``, keeping line numbers."""
    return "\n".join(
        f"{line[: len(line) - len(line.lstrip())]}pass" if line.lstrip().startswith(("%", "!")) else line
        for line in source.split("\n")
    )


def parse_cells(sources) -> list[ast.Module]:
    """The syntax trees of the sources that parse as Python (magics skipped); the others are left out."""
    trees = []
    for source in sources:
        try:
            trees.append(ast.parse(as_python(source)))
        except SyntaxError:
            continue
    return trees


def bound_names(source: str, assigned_only: bool = False) -> list[str]:
    """Names the code binds at its top level, in order: assignments (also inside if/for/with/try), defs, classes,
    imports and loop and ``with`` targets (not with `assigned_only`: what a solution block's stub sets to None), never
    names local to a def, class, lambda or comprehension. Code that does not parse is read line by line
    (``name = ...``, ``def name``), so a cell with a syntax error still says what it meant to define."""
    try:
        tree = ast.parse(as_python(source))
    except SyntaxError:
        names = []
        for match in _ASSIGNED.finditer(source):
            names += [match.group(1)] if match.group(1) else [part.strip() for part in match.group(2).split(",")]
        return list(dict.fromkeys(names))
    names: list[str] = []
    for statement in tree.body:
        _collect(statement, names, assigned_only)
    return list(dict.fromkeys(names))


_LOCAL_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _collect(node: ast.AST, names: list[str], assigned_only: bool) -> None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names.append(node.name)  # names inside its body are local to it
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        if not assigned_only:
            names += [(alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*"]
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        names.append(node.id)
    elif not isinstance(node, _LOCAL_SCOPES):
        skip = ()
        if assigned_only and isinstance(node, (ast.For, ast.AsyncFor)):
            skip = (node.target,)
        elif assigned_only and isinstance(node, ast.withitem):
            skip = (node.optional_vars,)
        for child in ast.iter_child_nodes(node):
            if child not in skip:
                _collect(child, names, assigned_only)


def check_calls(sources, lab: str | None = None) -> dict[str, ast.Call]:
    """Exercise name -> the last ``q.<name>.check(...)`` call in the sources, where ``q`` is what
    ``mitdl_util.checks.<lab>`` (any lab when `lab` is None) was imported as; ``q`` when no such import is found."""
    trees = parse_cells(sources)
    aliases = {alias.asname or alias.name for tree in trees for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module == CHECKS_MODULE
               for alias in node.names if alias.name == lab or (lab is None and alias.name.startswith("lab"))}
    aliases = aliases or {"q"}
    calls = {}
    for tree in trees:
        for node in ast.walk(tree):
            func = node.func if isinstance(node, ast.Call) else None
            if (isinstance(func, ast.Attribute) and func.attr == "check" and isinstance(func.value, ast.Attribute)
                    and isinstance(func.value.value, ast.Name) and func.value.value.id in aliases):
                calls[func.value.attr] = node
    return calls


def dotted(node: ast.expr) -> str | None:
    """``x`` or ``faces.x_test`` (a name and attributes) as text, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def answer_names(call: ast.Call) -> tuple[str, ...] | None:
    """The names a check call passes (``q.x.check(a, data.b)`` -> ("a", "data.b")); None if any argument is not a
    plain name or attribute, or it passes keywords."""
    names = tuple(dotted(arg) for arg in call.args)
    return None if call.keywords or not all(names) else names
