"""Environment matrix: the labs in the environments students actually have.

    nox -s colab-current        # Colab's current runtime: Python 3.13, TensorFlow 2.20, NumPy 2.1, OpenCV 5
    nox -s colab-2026.07        # past runtime Colab still offers: Python 3.12, NumPy 2.0
    nox -s colab-2026.04        # oldest runtime offered: TensorFlow 2.19, OpenCV 4.13 (the floor in pyproject.toml)
    nox -s pinned-3.10 pinned-3.12 pinned-3.13   # requirements.txt on the other Pythons the kit supports
    nox -l                      # list them

A Colab session installs exactly the runtime's versions (envs/colab-*.txt, made by envs/make_profiles.py from the
package lists Colab publishes), then the kit with nothing else (as the set-up cell does), then the test tools Colab
lacks (constrained to the runtime's versions). Each session runs PROFILE_TESTS: every solution in FAST mode with
strict checks, every untouched lab, the set-up cell's real pip install (dry run), lab 05's face baselines and
lab 04's outside test on LFW and the Olivetti faces.
Interpreters: pyenv's (`pyenv prefix X.Y`), else `pythonX.Y` on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
ENVS = ROOT / "envs"
PROFILE_TESTS = ["solutions", "tests/test_notebooks.py", "tests/test_colab.py", "tests/test_colab_install.py",
                 "tests/test_face_baseline.py", "tests/test_doctor.py", "tests/test_package.py",
                 "tests/test_outside_lfw_olivetti.py"]  # lab 04's outside test as Colab runs it (no faces-ccby)
TEST_TOOLS = ("nbval", "pytest-xdist", "pytest-timeout", "hypothesis")  # not on Colab; versions from requirements.txt
SUPPORTED_PYTHONS = ("3.10", "3.12", "3.13")  # besides the default 3.11, which the README's `pytest` uses

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["colab-current"]


def interpreter(version: str) -> str:
    """The path of a working Python `version`: pyenv's, else one on PATH (pyenv's shims may name versions that are
    installed but not active, so each candidate is asked for its version); nox reports a missing one itself."""
    candidates = []
    try:
        prefix = subprocess.run(["pyenv", "prefix", version], capture_output=True, text=True, check=True).stdout
        candidates.append(str(Path(prefix.strip()) / "bin" / f"python{version}"))
    except (OSError, subprocess.CalledProcessError):
        pass
    candidates.append(shutil.which(f"python{version}") or "")
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return version


def profile_python(name: str) -> str:
    first = (ENVS / f"colab-{name}.txt").read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# python: "), f"envs/colab-{name}.txt must start with '# python: X.Y'"
    return first.removeprefix("# python: ").strip()


def pinned_test_tools() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    pins = [line.strip() for line in lines if line.split("==")[0].strip().lower() in TEST_TOOLS]
    assert {pin.split("==")[0] for pin in pins} == set(TEST_TOOLS), f"requirements.txt must pin {TEST_TOOLS}"
    return pins  # with their environment markers, which pip evaluates


def run_profile_tests(session: nox.Session) -> None:
    session.run("python", "-c", "import sys, numpy, tensorflow, keras, cv2; print('profile:', sys.version.split()[0], "
                "'tensorflow', tensorflow.__version__, 'keras', keras.__version__, 'numpy', numpy.__version__, "
                "'opencv', cv2.__version__)", env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    session.run("pytest", *PROFILE_TESTS, *session.posargs)


def colab_session(name: str):
    @nox.session(name=f"colab-{name}", python=interpreter(profile_python(name)))
    def session(session: nox.Session) -> None:
        profile, constraints = ENVS / f"colab-{name}.txt", ENVS / f"colab-{name}-constraints.txt"
        session.install("-r", str(profile), "-c", str(constraints))
        # The kit as the set-up cell installs it: its dependencies must already be satisfied by the runtime.
        session.install("-e", ".", "-c", str(profile), "-c", str(constraints))
        session.install(*pinned_test_tools(), "-c", str(profile), "-c", str(constraints))
        run_profile_tests(session)

    return session


for _name in ("current", "2026.07", "2026.04"):
    globals()[f"colab_{_name.replace('.', '_')}"] = colab_session(_name)


def pinned_session(version: str):
    @nox.session(name=f"pinned-{version}", python=interpreter(version))
    def session(session: nox.Session) -> None:
        session.install("-r", "requirements.txt")
        run_profile_tests(session)

    return session


for _version in SUPPORTED_PYTHONS:
    globals()[f"pinned_{_version.replace('.', '_')}"] = pinned_session(_version)
