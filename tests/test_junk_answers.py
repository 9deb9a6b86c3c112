"""Property test: no junk answer makes a check raise. Each check of lab01 gets at least 120 junk answers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mitdl_util.checks import lab01
from mitdl_util.checks.outcomes import STATUSES
from tests.junk import answers

EXAMPLES_PER_CHECK = 120
LAB_EXERCISES = [*lab01.EXERCISES]


@pytest.mark.parametrize("exercise", LAB_EXERCISES, ids=lambda ex: ex.id)
def test_check_survives_junk(exercise):
    """Does every check turn junk (None, NaN, strings, odd arrays, raising functions) into a result?"""
    tried = []

    @settings(max_examples=EXAMPLES_PER_CHECK, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.tuples(*[answers for _ in exercise.params]))
    def throw(junk):
        result = exercise.evaluate(*junk)
        assert result.status in STATUSES
        assert "the check itself failed" not in result.message, result.message
        tried.append(junk)

    throw()
    assert len(tried) >= EXAMPLES_PER_CHECK


def test_at_least_a_thousand_junk_inputs_in_total():
    assert EXAMPLES_PER_CHECK * len(LAB_EXERCISES) >= 1000
