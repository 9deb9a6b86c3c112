"""Mutation testing of the checks: small, typical mistakes are made in each solution's answer, and every one
must be rejected by the exercise's check (or be listed, with a reason, as an acceptable answer).

The answer's source is the solution notebook itself (`solutions/NN_name.ipynb`): the function defined under the
name that a `q.<exercise>.check(<name>)` call passes, or — for a value — the self-contained expression assigned
to that name (`n = 1080 * 1080 * 3  # SOLUTION`). Mutants are made with `ast`: arithmetic and comparison operators
swapped, constants ±1, `axis=None`, slice bounds ±1, a statement dropped, neighbouring arguments swapped, `and`/`or`,
a minus sign dropped, and min/max-style names swapped.

Run `python -m tests.mutation [lab01 ...]` for the kill rate per exercise and lab and every survivor;
tests/test_mutation.py runs the same in the suite.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import linecache
import math
import os
import random
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from mitdl_util import notebook

from .notebook_runner import environment

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261201  # the check's MITDL_CHECK_SEED while mutants are judged (tests/test_check_seeds.py varies it)
CALL_SECONDS = 10  # a mutant that runs longer (an endless loop) is rejected as too slow
MAX_MUTANTS = 80  # per exercise; more are sampled, with a seed fixed per exercise
MAX_MODEL_MUTANTS = 6  # per exercise that builds, calls or trains Keras models (each check costs seconds)


# ================================================================ the answers in the solution notebooks
def notebook_of(lab: str) -> Path:
    """solutions/NN_*.ipynb for labNN."""
    (path,) = sorted((ROOT / "solutions").glob(f"{lab[-2:]}_*.ipynb"))
    return path


@dataclass
class Answer:
    """One exercise's answer in a solution notebook: a function definition or a value's expression."""

    exercise: str  # the exercise's id, "lab02.conv2d"
    kind: str  # "function" or "value"
    source: str  # what is mutated: the `def` (function) or the expression (value)
    make_namespace: object = field(default=dict, repr=False)  # () -> what the source needs (imports, helpers)
    target: str | None = None  # where `source` is a helper the answer calls: the answer's own `def`
    _namespace: dict | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """"lab02.conv2d", or "lab02.conv2d via pad_same" where a helper of the answer is mutated."""
        if self.target is None:
            return self.exercise
        return f"{self.exercise} via {ast.parse(self.source).body[0].name}"

    @property
    def namespace(self) -> dict:
        """Built on first use: imports such as TensorFlow cost seconds."""
        if self._namespace is None:
            self._namespace = self.make_namespace()
        return self._namespace

    def build(self, source: str | None = None):
        """The function (or value) that `source` (default: the solution's own) defines."""
        source = self.source if source is None else source
        filename = _remember(source, self.exercise)
        if self.kind == "value":
            return eval(compile(source, filename, "eval"), dict(self.namespace))  # noqa: S307
        tree = ast.parse(source)
        scope = dict(self.namespace)
        exec(compile(tree, filename, "exec"), scope)  # noqa: S102
        if self.target is not None:  # the answer itself, calling the (mutated) helper defined just above
            tree = ast.parse(self.target)
            exec(compile(tree, _remember(self.target, self.exercise), "exec"), scope)  # noqa: S102
        return scope[tree.body[0].name]


def _remember(source: str, exercise: str) -> str:
    """A file name under which `source` is in linecache, so messages (and TensorFlow's autograph) can quote it."""
    filename = f"<mutant of {exercise} {hash(source) & 0xFFFFFFFF:08x}>"
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    return filename


def _free_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def answers(lab: str) -> dict[str, Answer]:
    """The answers of a lab's solution notebook that mutation testing can take apart, by exercise name."""
    sources = [source for _, source in notebook.code_cells(nbformat.read(notebook_of(lab), as_version=4).cells)]
    trees = notebook.parse_cells(sources)
    check_args = {name: call.args for name, call in notebook.check_calls(sources, lab).items()}
    imports, defs, assigns = {}, {}, {}
    for tree in trees:
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for alias in stmt.names:
                    imports[(alias.asname or alias.name).split(".")[0]] = stmt
            elif isinstance(stmt, ast.FunctionDef):
                defs[stmt.name] = stmt
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                assigns.setdefault(stmt.targets[0].id, stmt)

    def namespace_for(node: ast.AST) -> dict:
        """Imports, helper functions and simple constants that `node` uses, the notebook's way."""
        needed, todo, helpers, statics = set(), list(_free_names(node)), [], []
        while todo:
            name = todo.pop()
            if name in needed:
                continue
            needed.add(name)
            if name in defs and defs[name] is not node:
                helpers.append(defs[name])
                todo += _free_names(defs[name])
            elif name not in imports and name in assigns and _free_names(assigns[name].value) <= set(imports):
                statics.append(assigns[name])
                todo += _free_names(assigns[name].value)
        scope = {"__name__": f"mutation_{lab}"}
        for stmt in {id(imports[n]): imports[n] for n in sorted(needed) if n in imports}.values():
            exec(compile(ast.Module([stmt], []), "<imports>", "exec"), scope)  # noqa: S102
        for stmt in statics + helpers:
            exec(compile(ast.Module([stmt], []), "<notebook>", "exec"), scope)  # noqa: S102
        return scope

    found = {}
    checked = {args[0].id for args in check_args.values() if len(args) == 1 and isinstance(args[0], ast.Name)}
    for name, args in check_args.items():
        if len(args) != 1 or not isinstance(args[0], ast.Name):
            continue
        variable = args[0].id
        if variable in defs:
            found[name] = Answer(f"{lab}.{name}", "function", ast.unparse(defs[variable]),
                                 functools.partial(namespace_for, defs[variable]))
            for helper in sorted(_free_names(defs[variable]) & set(defs) - checked):
                if f"{name} via {helper}" not in found and not any(k.endswith(f" via {helper}") for k in found):
                    found[f"{name} via {helper}"] = Answer(
                        f"{lab}.{name}", "function", ast.unparse(defs[helper]),
                        functools.partial(namespace_for, defs[variable]), target=ast.unparse(defs[variable]))
        elif variable in assigns and _free_names(assigns[variable].value) <= {"np", "math"}:
            found[name] = Answer(f"{lab}.{name}", "value", ast.unparse(assigns[variable].value),
                                 lambda: {"np": np, "math": math})
    return found


# ================================================================ mutants
@dataclass(frozen=True)
class Mutant:
    key: str  # readable and stable while the solution's source does not change: "`+` → `-` in `return a + b`"
    source: str


_BINOP_SWAPS = {ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div, ast.Add], ast.Div: [ast.Mult, ast.FloorDiv],
                ast.FloorDiv: [ast.Div, ast.Mult], ast.Mod: [ast.FloorDiv], ast.Pow: [ast.Mult],
                ast.MatMult: [ast.Mult], ast.BitOr: [ast.BitAnd], ast.BitAnd: [ast.BitOr]}
_NOT_COMMUTATIVE = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult)
_CMP_SWAPS = {ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt, ast.GtE], ast.Gt: [ast.GtE, ast.Lt],
              ast.GtE: [ast.Gt, ast.LtE], ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq], ast.Is: [ast.IsNot],
              ast.IsNot: [ast.Is], ast.In: [ast.NotIn], ast.NotIn: [ast.In]}
_NAME_SWAPS = {"min": "max", "max": "min", "minimum": "maximum", "maximum": "minimum", "argmax": "argmin",
               "argmin": "argmax", "ceil": "floor", "floor": "ceil", "any": "all", "all": "any",
               "reduce_sum": "reduce_mean", "reduce_mean": "reduce_sum", "sum": "mean", "mean": "sum"}


def _replacements(node: ast.AST, slot: str, parent: ast.AST) -> list[ast.AST]:
    """The mutated versions of `node` (which sits in the field `slot` of `parent`)."""
    out = []
    if isinstance(node, ast.BinOp):
        out += [ast.BinOp(node.left, op(), node.right) for op in _BINOP_SWAPS.get(type(node.op), [])]
        if isinstance(node.op, _NOT_COMMUTATIVE):
            out.append(ast.BinOp(node.right, node.op, node.left))
    elif isinstance(node, ast.AugAssign):
        out += [ast.AugAssign(node.target, op(), node.value) for op in _BINOP_SWAPS.get(type(node.op), [])]
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for new in _CMP_SWAPS.get(type(op), []):
                ops = list(node.ops)
                ops[i] = new()
                out.append(ast.Compare(node.left, ops, node.comparators))
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        out += [ast.Constant(node.value + 1), ast.Constant(node.value - 1)]
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        out.append(ast.Constant(not node.value))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        out.append(node.operand)
    elif isinstance(node, ast.BoolOp):
        out.append(ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(), node.values))
    elif isinstance(node, ast.Name) and node.id in _NAME_SWAPS and isinstance(node.ctx, ast.Load):
        out.append(ast.Name(_NAME_SWAPS[node.id], ast.Load()))
    elif isinstance(node, ast.Attribute) and node.attr in _NAME_SWAPS:
        out.append(ast.Attribute(node.value, _NAME_SWAPS[node.attr], node.ctx))
    elif isinstance(node, ast.Slice):
        for bound, missing in (("lower", 1), ("upper", -1)):
            value = getattr(node, bound)
            if value is None:
                out.append(_with(node, bound, ast.Constant(missing)))
            elif not isinstance(value, ast.Constant):  # constants are already moved by ±1
                out += [_with(node, bound, ast.BinOp(value, op(), ast.Constant(1))) for op in (ast.Add, ast.Sub)]
    elif isinstance(node, ast.Call):
        args = node.args
        for i in range(len(args) - 1):
            if not any(isinstance(a, ast.Starred) for a in args[i:i + 2]) and ast.dump(args[i]) != ast.dump(args[i + 1]):
                swapped = list(args)
                swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
                out.append(ast.Call(node.func, swapped, node.keywords))
    elif isinstance(node, ast.keyword) and node.arg == "axis":
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):
            out.append(ast.keyword("axis", ast.Constant(None)))
    if isinstance(node, ast.stmt) and slot in ("body", "orelse") and not _is_docstring(node) \
            and not isinstance(node, ast.Pass) and not isinstance(parent, ast.Module):
        out.append(ast.Pass())
    return out


def _with(node, name, value):
    new = copy.copy(node)
    setattr(new, name, value)
    return new


def _is_docstring(node) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _slots(tree: ast.AST):
    """(parent, field, index or None, child) for every child node, in a fixed order."""
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if isinstance(value, ast.AST):
                yield parent, name, None, value
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        yield parent, name, i, item


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _statement_of(tree: ast.AST, target: ast.AST) -> ast.stmt | None:
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and any(n is target for n in ast.walk(node)):
            best = node  # ast.walk is breadth-first: the last match is the innermost statement
    return best


def _header(stmt: ast.stmt) -> str:
    """A statement as one line: compound statements by their first line only."""
    text = ast.unparse(stmt).splitlines()[0]
    return text


def mutants(source: str, mode: str = "exec") -> list[Mutant]:
    """Every mutant of `source` (a function definition, or an expression with mode="eval")."""
    tree = ast.parse(source, mode=mode)
    original = ast.unparse(tree)
    slots = list(_slots(tree))
    made, seen = [], {}
    for position, (parent, name, _, child) in enumerate(slots):
        for number, _ in enumerate(_replacements(child, name, parent)):
            fresh = ast.parse(source, mode=mode)
            f_parent, f_name, f_index, f_child = list(_slots(fresh))[position]
            new = _replacements(f_child, f_name, f_parent)[number]
            if f_index is None:
                setattr(f_parent, f_name, new)
            else:
                getattr(f_parent, f_name)[f_index] = new
            ast.fix_missing_locations(fresh)
            mutated = ast.unparse(fresh)
            if mutated == original:
                continue
            if isinstance(new, ast.Pass):
                key = f"drop `{_short(_header(child))}`"
            else:
                old_text, new_text = ast.unparse(child), ast.unparse(new)
                if isinstance(child, ast.keyword):
                    old_text, new_text = f"{child.arg}={ast.unparse(child.value)}", f"axis={ast.unparse(new.value)}"
                key = f"`{_short(old_text, 50)}` → `{_short(new_text, 50)}`"
                stmt = _statement_of(tree, child)
                if stmt is not None and not isinstance(stmt, ast.FunctionDef) and _header(stmt) != old_text:
                    key += f" in `{_short(_header(stmt))}`"
                elif isinstance(stmt, ast.FunctionDef) and any(child is d for d in ast.walk(stmt.args)):
                    key += " in the signature"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key += f" (#{seen[key]})"
            made.append(Mutant(key, mutated))
    return made


# ================================================================ judging the mutants
@dataclass
class Verdict:
    mutant: Mutant
    status: str  # the check's status for the mutant
    message: str
    outputs: str  # against the solution's on the check's own cases: "same", "close" (within the check's
    #              tolerance), "different", or "unknown" (the check has no cases to compare on)

    @property
    def killed(self) -> bool:
        return self.status != "passed"


@contextlib.contextmanager
def quiet():
    """No warnings, NumPy floating-point chatter, TensorFlow log lines or prints from mutants."""
    import logging

    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    with warnings.catch_warnings(), np.errstate(all="ignore"), open(os.devnull, "w") as null, \
            contextlib.redirect_stdout(null):
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            logger.setLevel(level)


@contextlib.contextmanager
def check_seed(seed: int, timeout: float | None = CALL_SECONDS):
    """MITDL_CHECK_SEED (and MITDL_CHECK_TIMEOUT) set while the block runs."""
    changes = {"MITDL_CHECK_SEED": str(seed), "MITDL_STRICT_CHECKS": None}
    if timeout:
        changes["MITDL_CHECK_TIMEOUT"] = str(timeout)
    with environment(**changes):
        yield


def _reseed():
    random.seed(0)
    np.random.seed(0)
    if "tensorflow" in sys.modules:
        import keras

        keras.utils.set_random_seed(0)


def _outputs(exercise, func, cases) -> list:
    from mitdl_util.checks.engine import time_limit

    outputs = []
    for case in cases:
        _reseed()
        try:
            with time_limit(CALL_SECONDS):
                outputs.append(func(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs)))
        except BaseException as exc:  # noqa: BLE001 - a mutant may raise anything; its output is "it raised"
            if isinstance(exc, KeyboardInterrupt) and not _is_time_limit(exc):
                raise
            outputs.append(("raised", type(exc).__name__))
    return outputs


def _is_time_limit(exc) -> bool:
    from mitdl_util.checks.engine import TimeLimitExceeded

    return isinstance(exc, TimeLimitExceeded)


def _plain(value):
    """A value as plain, comparable data: tensors as arrays, Keras models as their layers' public facts."""
    if hasattr(value, "numpy") and callable(value.numpy):
        value = value.numpy()
    if type(value).__name__ in ("Sequential", "Functional", "Model") and hasattr(value, "layers"):
        from mitdl_util.checks.models import layer_summary

        return ("model", [tuple(sorted(map(str, layer_summary(layer).items()))) for layer in value.layers])
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_plain(v) for v in value])
    if isinstance(value, dict):
        return ("dict", sorted((str(k), _plain(v)) for k, v in value.items()))
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return ("nan",)
    if isinstance(value, np.generic):
        return ("scalar", value.dtype.str, value.item())
    return (type(value).__name__, value)


def relate(got: list, expected: list, rtol: float, atol: float) -> str:
    """"same" (equal, dtypes included), "close" (equal within rtol/atol, dtypes aside) or "different"."""
    if _plain(got) == _plain(expected):
        return "same"
    return "close" if _close(got, expected, rtol, atol) else "different"


def _close(a, b, rtol, atol) -> bool:
    a, b = (v.numpy() if hasattr(v, "numpy") and callable(v.numpy) else v for v in (a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y, rtol, atol) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(map(str, a)) == set(map(str, b)) and all(
            _close(v, {str(k): w for k, w in b.items()}[str(k)], rtol, atol) for k, v in a.items())
    try:
        x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return _plain(a) == _plain(b)
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=max(rtol, 1e-7), atol=max(atol, 1e-9),
                                                   equal_nan=True))


def is_model_exercise(exercise) -> bool:
    from tests.exercise_tables import MODEL_CHECKS

    return exercise.id in MODEL_CHECKS


def judge(exercise, answer: Answer, seed: int = SEED, limit: int | None = None) -> list[Verdict]:
    """Run the exercise's check on every (or a sample of `limit`) mutant of its solution answer."""
    from mitdl_util.checks.engine import FunctionExercise

    found = mutants(answer.source, mode="eval" if answer.kind == "value" else "exec")
    limit = limit or (MAX_MODEL_MUTANTS if is_model_exercise(exercise) else MAX_MUTANTS)
    if len(found) > limit:
        found = sorted(random.Random(exercise.id).sample(found, limit), key=found.index)
    verdicts = []
    with quiet(), check_seed(seed):
        solution = answer.build()
        cases = None
        if isinstance(exercise, FunctionExercise) and answer.kind == "function":
            cases = exercise.cases(np.random.default_rng(seed))
            expected = _outputs(exercise, solution, cases)
        for mutant in found:
            try:
                candidate = answer.build(mutant.source)
            except Exception as exc:  # noqa: BLE001 - a mutant that cannot even be built is as good as rejected
                verdicts.append(Verdict(mutant, "error", f"could not be built: {exc}", "different"))
                continue
            result = exercise.evaluate(candidate)
            if answer.kind == "value":
                relation = relate([candidate], [solution], 0, 0)
            elif cases is not None and result.status == "passed":
                relation = relate(_outputs(exercise, candidate, cases), expected,
                                  getattr(exercise, "rtol", 0), getattr(exercise, "atol", 0))
            else:
                relation = "unknown"
            verdicts.append(Verdict(mutant, result.status, result.message, relation))
    return verdicts


def matches(key: str, pattern: str) -> bool:
    """Is the mutant `key` the pattern, where `*` in the pattern stands for any text?"""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), key) is not None


def lab_modules():
    import importlib

    return {f"lab0{n}": importlib.import_module(f"mitdl_util.checks.lab0{n}") for n in range(1, 6)}


def all_answers() -> list[tuple[object, Answer]]:
    """(exercise, answer) for every exercise whose solution answer can be mutated, in lab order."""
    pairs = []
    for lab, module in lab_modules().items():
        found = answers(lab)
        for ex in module.EXERCISES:  # the answer, then any helper of it that no check tests by itself
            pairs += [(ex, answer) for key, answer in found.items() if key.split(" via ")[0] == ex.name]
    return pairs


def kill_rate(verdicts: list[Verdict]) -> tuple[int, int]:
    return sum(v.killed for v in verdicts), len(verdicts)


def main(argv: list[str]) -> int:
    from tests.test_mutation import ACCEPTED

    labs = argv or list(lab_modules())
    totals = {}
    for exercise, answer in all_answers():
        lab = exercise.id.split(".")[0]
        if lab not in labs:
            continue
        verdicts = judge(exercise, answer)
        killed, total = kill_rate(verdicts)
        k, t = totals.get(lab, (0, 0))
        totals[lab] = (k + killed, t + total)
        print(f"{answer.label:<32} {killed:>3}/{total:<3} killed")
        for v in verdicts:
            if not v.killed:
                listed = any(matches(v.mutant.key, pattern) for pattern in ACCEPTED.get(answer.label, {}))
                print(f"    survivor ({v.outputs} outputs{', listed' if listed else ''}): {v.mutant.key}")
    for lab, (killed, total) in totals.items():
        print(f"{lab}: {killed}/{total} mutants killed ({killed / max(total, 1):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
