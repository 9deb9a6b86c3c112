"""``python -m mitdl_util.grade.worker``: grade one submission in this process (job on stdin, outcome on stdout)."""

from __future__ import annotations

import sys

from .runner import main

if __name__ == "__main__":
    sys.exit(main())
