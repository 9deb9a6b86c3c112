"""Property test: no junk answer makes any check raise or crash inside the checker.

Every exercise of every lab gets JUNK_PER_CHECK junk answers (None, NaN, strings, odd arrays, nested containers,
functions that return junk or raise); checks that build or train Keras models get fewer, as each costs seconds.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mitdl_util.checks import lab01, lab02, lab03, lab04, lab05
from mitdl_util.checks.outcomes import STATUSES
from tests.exercise_tables import MODEL_CHECKS
from tests.junk import answers

JUNK_PER_CHECK = 120
JUNK_PER_MODEL_CHECK = 12
EXERCISES = [ex for lab in (lab01, lab02, lab03, lab04, lab05) for ex in lab.EXERCISES]


def examples_for(exercise) -> int:
    return JUNK_PER_MODEL_CHECK if exercise.id in MODEL_CHECKS else JUNK_PER_CHECK


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda ex: ex.id)
def test_check_survives_junk(exercise):
    """Does every check turn junk into a result with a status, and never blame itself?"""
    tried = []

    @settings(max_examples=examples_for(exercise), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.tuples(*[answers for _ in exercise.params]))
    def throw(junk):
        result = exercise.evaluate(*junk)
        assert result.status in STATUSES
        assert "the check itself failed" not in result.message, result.message
        tried.append(junk)

    throw()
    assert len(tried) >= examples_for(exercise)


def test_lab01_alone_gets_at_least_a_thousand_junk_answers():
    assert sum(examples_for(ex) for ex in lab01.EXERCISES) >= 1000


def test_model_check_names_are_real_exercises():
    assert MODEL_CHECKS <= {ex.id for ex in EXERCISES}
