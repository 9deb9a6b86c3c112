"""Seed sweep: no verdict may depend on the check's seed. Every solution and every known-wrong answer of the labs'
tables (SOLUTIONS and WRONG in tests/test_labNN.py) gets the same verdict — passed, or incorrect with the message
that names its mistake — under each of many MITDL_CHECK_SEED values (the seed `mitdl grade` draws per run)."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

from mitdl_util.checks import engine
from tests.exercise_tables import MODEL_CHECKS, TABLES

SEEDS = range(25)
MODEL_SEEDS = range(4)  # each evaluation of a Keras-model check costs seconds

for _lab in ("lab01", "lab02", "lab03", "lab04", "lab05"):
    importlib.import_module(f"tests.test_{_lab}")  # fills TABLES

ROWS: dict[str, list[tuple[str, tuple, str, str]]] = {}  # exercise id -> (row id, answers, status, fragment)
for _q, _solutions, _wrong in TABLES.values():
    for _name, _answers in _solutions.items():
        ROWS.setdefault(getattr(_q, _name).id, []).append(("solution", _answers, "passed", ""))
    for _name, _answers, _fragment in _wrong:
        ROWS.setdefault(getattr(_q, _name).id, []).append((_fragment, _answers, "incorrect", _fragment))
EXERCISES = {ex.id: ex for q, _, _ in TABLES.values() for ex in q.EXERCISES}


def test_every_lab_is_swept():
    assert set(TABLES) == {"lab01", "lab02", "lab03", "lab04", "lab05"}
    assert sum(len(rows) for rows in ROWS.values()) >= 200


@pytest.mark.parametrize("exercise_id", sorted(ROWS))
def test_verdicts_do_not_depend_on_the_seed(exercise_id, monkeypatch):
    """Does each table row of this exercise get its expected verdict under every seed?"""
    exercise = EXERCISES[exercise_id]
    seeds = MODEL_SEEDS if exercise_id in MODEL_CHECKS else SEEDS
    failures = []
    for row, answers, status, fragment in ROWS[exercise_id]:
        wrong_seeds = []
        for seed in seeds:
            monkeypatch.setenv(engine.SEED_VARIABLE, str(seed))
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                result = exercise.evaluate(*answers)
            if result.status != status or fragment not in result.message:
                wrong_seeds.append((seed, result.status, result.message[:160]))
        if wrong_seeds:
            failures.append(f"{row!r}: expected {status}, but under seeds {[s for s, *_ in wrong_seeds]}: "
                            f"{wrong_seeds[0][1]} — {wrong_seeds[0][2]}")
    assert not failures, f"{exercise_id}: verdicts that depend on the seed:\n  " + "\n  ".join(failures)


def test_the_seed_really_changes_the_cases(monkeypatch):
    """The sweep means something only if different seeds give different random cases."""
    exercise = EXERCISES["lab02.conv2d"]
    shapes = set()
    for seed in range(5):
        monkeypatch.setenv(engine.SEED_VARIABLE, str(seed))
        shapes.add(tuple(np.shape(case.args[0]) for case in exercise.cases(engine.case_rng())))
    assert len(shapes) > 1
