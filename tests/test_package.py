"""The package itself: fast import without heavy libraries, FAST mode, seeding, the CLI entry point."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import mitdl_util as mdl

IMPORT_PROBE = """
import sys, time
start = time.perf_counter()
import mitdl_util
elapsed = time.perf_counter() - start
heavy = sorted(m for m in ("tensorflow", "keras", "cv2", "matplotlib", "skimage", "sklearn", "requests")
               if m in sys.modules)
print(elapsed, ",".join(heavy))
"""


def test_import_is_fast_and_light():
    """Does `import mitdl_util` stay clear of TensorFlow, OpenCV and matplotlib, and take well under a second?"""
    times = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True).stdout
        elapsed, heavy = out.strip().split(" ") if " " in out.strip() else (out.strip(), "")
        assert heavy == "", f"import mitdl_util imported {heavy}"
        times.append(float(elapsed))
    assert min(times) < 0.3, f"import took {min(times):.3f} s"


def test_lazy_submodules_load_on_first_use():
    assert mdl.plot.show_image is not None
    assert mdl.checks.Result is not None


def test_fast_or_full(monkeypatch):
    monkeypatch.setattr(mdl.mode, "FAST", True)
    assert mdl.mode.fast_or_full(1, 10) == 1
    monkeypatch.setattr(mdl.mode, "FAST", False)
    assert mdl.mode.fast_or_full(1, 10) == 10


def test_setup_seeds_numpy_and_says_how_it_runs(capsys):
    info = mdl.setup(seed=3, use_tensorflow=False)
    first = np.random.rand(3)
    mdl.setup(seed=3, use_tensorflow=False)
    assert np.array_equal(first, np.random.rand(3))
    out = capsys.readouterr().out
    assert "seed 3" in out and info.seed == 3


def test_cli_version(capsys):
    from mitdl_util.cli import main

    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert mdl.__version__ in capsys.readouterr().out


def test_console_script_is_installed():
    out = subprocess.run(["mitdl", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "build" in out.stdout
