"""The set-up cell's real install path: on a Colab runtime (google.colab importable), its own pip command, run
against a local git repository standing in for GitHub, installs `mitdl_util` and nothing else — none of the
runtime's packages reinstalled, upgraded or downgraded. Shown with pip's `--dry-run --report`.

Run in the Colab profiles (`nox -s colab-current`, see noxfile.py), this proves it for Colab's versions; in the
pinned environment, for requirements.txt. `--no-index --no-build-isolation` keep the test off the network: with no
index, any package the install needed would make it fail, so it can only pass when everything else is preinstalled.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types

import pytest

import mitdl_util
from mitdl_util.build import load_config

from .test_colab import NOTEBOOKS, ROOT, _setup_source

CONFIG = load_config(ROOT)


@pytest.fixture(scope="module")
def local_github(tmp_path_factory):
    """A git repository holding this working tree's tracked files, on branch CONFIG.ref, as GitHub would serve it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path_factory.mktemp("github") / "deep-vision-labs"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", "-c", "init.defaultBranch=" + CONFIG.ref]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], cwd=repo, check=True)
    return repo


def _dry_run_setup_cell(notebook, local_github, report_path, monkeypatch) -> list[list[str]]:
    """Execute the notebook's set-up cell as on Colab, its pip command pointed at the local repository, dry-run."""
    real_run = subprocess.run
    commands = []

    def run(command, *args, **kwargs):
        command = [arg.replace(f"git+{CONFIG.repository}", f"git+file://localhost{local_github}") for arg in command]
        command += ["--dry-run", "--report", str(report_path), "--no-index", "--no-build-isolation"]
        commands.append(command)
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(mitdl_util, "setup", lambda *a, **k: None)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(compile(_setup_source(notebook), f"{notebook.name}:setup", "exec"), {"__name__": "__main__"})
    return commands


def test_setup_cell_installs_only_mitdl_util(local_github, tmp_path, monkeypatch):
    report_path = tmp_path / "pip-report.json"
    commands = _dry_run_setup_cell(NOTEBOOKS[0], local_github, report_path, monkeypatch)
    assert len(commands) == 1 and commands[0][:4] == [sys.executable, "-m", "pip", "install"], commands
    report = json.loads(report_path.read_text(encoding="utf-8"))
    installs = {item["metadata"]["name"]: item["metadata"]["version"] for item in report["install"]}
    print("pip would install:", json.dumps(installs))  # for the closing note: `pytest -s tests/test_colab_install.py`
    assert list(installs) == ["mitdl_util"] or list(installs) == ["mitdl-util"], installs
    assert installs.popitem()[1] == mitdl_util.__version__
    assert report["install"][0]["download_info"]["url"].startswith("file://")
