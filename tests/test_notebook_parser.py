"""mitdl_util.notebook: the one reading of cells as Python that the build, the grader and the tests share."""

from __future__ import annotations

import ast

from mitdl_util import notebook


def test_magics_and_shell_lines_become_pass_keeping_line_numbers():
    source = "%matplotlib inline\nx = 1\nif x:\n    !ls\n    y = 2"
    python = notebook.as_python(source)
    assert python == "pass\nx = 1\nif x:\n    pass\n    y = 2"
    ast.parse(python)


def test_bound_names_in_order_and_scope():
    source = ("import numpy as np\nimport os.path\nfrom a import b as c\nfrom d import *\nx, (y, *z) = 1, (2, 3)\n"
              "for i in range(2):\n    w = i\nwith open('f') as f:\n    pass\n"
              "def g(img):\n    local = 1\nclass K:\n    attr = 2\nn += 1\nsquares = [k * k for k in range(3)]\n"
              "h = lambda v: v\nif (m := 3):\n    pass\n")
    assert notebook.bound_names(source) == ["np", "os", "c", "x", "y", "z", "i", "w", "f", "g", "K", "n",
                                            "squares", "h", "m"]


def test_assigned_only_leaves_out_imports_and_loop_targets():
    """What a solution block's stub sets to None: its answers, not its loop variables or imports."""
    source = "import numpy as np\nfor i, kernel in items:\n    total += i\nwith a() as f:\n    out = f\n"
    assert notebook.bound_names(source, assigned_only=True) == ["total", "out"]


def test_bound_names_of_code_that_does_not_parse():
    assert notebook.bound_names("def to_grayscale(img):\n    return (1 +\n") == ["to_grayscale"]
    assert notebook.bound_names("height, width = img.shape[:2\n") == ["height", "width"]
    assert notebook.bound_names("%matplotlib inline\nx = 1\n") == ["x"]


def test_check_calls_follow_the_import_alias():
    sources = ["from mitdl_util.checks import lab02 as checks\n%matplotlib inline\nchecks.conv2d.check(conv2d)",
               "checks.feature_maps.check(maps, data.x, scale=2)\nq.other.check(x)",
               "this cell (does not parse"]
    calls = notebook.check_calls(sources, "lab02")
    assert sorted(calls) == ["conv2d", "feature_maps"]  # q.other is not lab02's
    assert notebook.answer_names(calls["conv2d"]) == ("conv2d",)
    assert notebook.answer_names(calls["feature_maps"]) is None  # a keyword: not plain answers
    assert [ast.unparse(a) for a in calls["feature_maps"].args] == ["maps", "data.x"]
    assert sorted(notebook.check_calls(["q.a.check(x)", "q.b.check(f(x))"])) == ["a", "b"]  # default alias q
    assert notebook.answer_names(notebook.check_calls(["q.b.check(f(x))"])["b"]) is None
    assert notebook.check_calls(["from mitdl_util.checks import lab01 as q1\nq.a.check(x)"], "lab01") == {}


def test_cells_from_json_or_nbformat():
    cells = [{"cell_type": "markdown", "source": "# Lab"},
             {"cell_type": "code", "source": ["!pip install x\n", "import mitdl_util"],
              "metadata": {"tags": [notebook.SETUP_TAG]}},
             {"cell_type": "code", "source": "x = 1", "metadata": {}}]
    assert notebook.code_cells(cells) == [(1, "!pip install x\nimport mitdl_util"), (2, "x = 1")]
    assert [index for index, _ in notebook.setup_cells(cells)] == [1]
    import nbformat

    node = nbformat.from_dict({"cells": cells})
    assert [index for index, _ in notebook.setup_cells(node.cells)] == [1]
