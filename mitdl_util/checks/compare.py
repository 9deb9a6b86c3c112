"""How a `FunctionExercise` compares the student's output with the reference's output: `compare=` takes one of
these small strategy objects, or any callable with the same signature,

    comparison(got, expected, name, case) -> None     # raises Incorrect on a miss; `name` is the student's function

so an exercise whose output is of its own kind (a pair, a dict, random samples) needs a function, not a subclass.
`validate=` adds checks that need no reference: `validator(got, case) -> None`, also raising Incorrect.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import diagnostics


@dataclass(frozen=True)
class Arrays:
    """An array of real numbers: same shape (never broadcast), dtype (`dtype`: "float32", a kind such as "float",
    "integer", "bool", or None for any), no extra NaN, values within `value_range`, then equal within tolerance."""

    rtol: float = 1e-5
    atol: float = 1e-6
    dtype: str | None = None
    value_range: tuple[float, float] | None = None

    def __call__(self, got, expected, name: str, case) -> None:
        diagnostics.compare_arrays(got, expected, name, case.label, rtol=self.rtol, atol=self.atol, dtype=self.dtype,
                                   value_range=self.value_range)


@dataclass(frozen=True)
class Numbers:
    """One number (a whole number when `integer`), equal within tolerance."""

    rtol: float = 1e-6
    atol: float = 1e-6
    integer: bool = False

    def __call__(self, got, expected, name: str, case) -> None:
        diagnostics.compare_numbers(got, expected, name, case.label, rtol=self.rtol, atol=self.atol,
                                    integer=self.integer)


@dataclass(frozen=True)
class Models:
    """A Keras model, layer by layer through public API (see `models.compare_models`)."""

    def __call__(self, got, expected, name: str, case) -> None:
        from .models import compare_models

        compare_models(got, expected, name, case.label)


@dataclass(frozen=True)
class Unchecked:
    """No comparison with a reference: the exercise's validators decide (e.g. "any FCN with these properties")."""

    def __call__(self, got, expected, name: str, case) -> None:
        return None


def from_output(output: str, *, rtol: float, atol: float, dtype: str | None = None,
                value_range: tuple[float, float] | None = None):
    """The strategy that the older spelling `output="array" | "number" | "integer" | "model" | "any"` names."""
    if output == "array":
        return Arrays(rtol, atol, dtype, value_range)
    if output in ("number", "integer"):
        return Numbers(rtol, atol, integer=output == "integer")
    if output == "model":
        return Models()
    if output == "any":
        return Unchecked()
    raise ValueError(f"output must be 'array', 'number', 'integer', 'model' or 'any', not {output!r}; "
                     "or pass compare= (see mitdl_util.checks.compare)")


__all__ = ["Arrays", "Models", "Numbers", "Unchecked", "from_output"]
