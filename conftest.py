"""Test configuration shared by the unit tests and the notebook runs (nbval).

The README's test command needs no environment variables: notebooks always run in FAST mode under pytest, so a
newcomer's run is CI's run. Set before any kernel starts, so kernels inherit it.
"""

import os

os.environ["MITDL_FAST"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
# Solution notebooks run under nbval: a check that does not pass raises there, so the test fails.
os.environ["MITDL_STRICT_CHECKS"] = "1"
