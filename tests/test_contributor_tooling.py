"""Contributor tooling stays wired to the real commands."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_pre_commit_strips_outputs_lints_and_checks_the_build():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {"nbstripout", "ruff", "nbqa-ruff", "mitdl-build-check"} <= set(hooks)
    assert hooks["mitdl-build-check"]["entry"] == "mitdl build --check"


def test_github_workflow_runs_the_ci_script():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = workflow["jobs"]["test"]["steps"]
    assert any(step.get("run") == "bash .ci/run" for step in steps)


def test_contributing_covers_the_steps():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    for step in ("Edit the solution", "Declare the exercise", "known-wrong answers", "mitdl build", "pytest"):
        assert step in text
