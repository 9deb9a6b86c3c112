"""What a cell says when it needs the answer of a TODO cell that is not done yet.

A lab cell that uses an earlier answer starts with ``mdl.require(name=name)``: while ``name`` is still the stub
(``None``), the cell stops with one sentence naming the variable, instead of a raw ``TypeError`` or
``AttributeError`` about ``NoneType`` further down.
"""

from __future__ import annotations

from .errors import MitdlError

NEXT_STEP = "build it in the TODO cell above first, then run this cell again"


class TodoNotDone(MitdlError):
    """A cell needs a value that a TODO cell above has not built yet."""


def require(**values) -> None:
    """Raise `TodoNotDone` naming the first of ``values`` that is still a stub (None or ``...``)."""
    for name, value in values.items():
        if value is None or value is Ellipsis:
            raise TodoNotDone(f"`{name}` is still None: {NEXT_STEP}.")
