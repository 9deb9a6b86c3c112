"""Hypothesis strategies for junk answers: anything a student might pass to a check by mistake."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

_dtypes = st.sampled_from([np.uint8, np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_,
                           np.complex64])
arrays = hnp.arrays(dtype=_dtypes, shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6))
scalars = st.one_of(st.none(), st.just(...), st.booleans(), st.integers(-(10**12), 10**12),
                    st.floats(allow_nan=True, allow_infinity=True), st.complex_numbers(), st.text(max_size=20))
containers = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.tuples(inner, inner),
                                                           st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                          max_leaves=8)
# Dicts and lists shaped like real answers (lab02's feature-map dict, lists of maps) with junk inside.
answer_shaped = st.one_of(
    st.dictionaries(st.sampled_from(["sharpen", "edge", "strong_edge", "x"]),
                    st.one_of(st.none(), st.integers(), arrays, st.just(np.zeros((254, 254)))), max_size=4),
    st.lists(st.one_of(arrays, st.just(np.zeros((7, 7)))), max_size=4),
)
values = st.one_of(scalars, arrays, containers, answer_shaped, st.just(object()), st.just(np.array([object()])))


@st.composite
def functions(draw):
    """A function that returns junk, raises, or ignores its arguments."""
    kind = draw(st.sampled_from(["returns", "raises", "echo", "shape"]))
    value = draw(values)
    if kind == "returns":
        return lambda *args, **kwargs: value
    if kind == "raises":
        error = draw(st.sampled_from([ValueError, TypeError, ZeroDivisionError, KeyError, MemoryError,
                                      NotImplementedError, RecursionError]))
        def raising(*args, **kwargs):
            raise error("junk")
        return raising
    if kind == "echo":
        return lambda *args, **kwargs: args[0] if args else None
    return lambda *args, **kwargs: np.zeros(np.shape(args[0]) if args else (), dtype=draw(_dtypes))


answers = st.one_of(values, functions())
