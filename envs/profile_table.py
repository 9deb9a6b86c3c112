"""Summarize a profile run per notebook: pass/fail and seconds, from pytest's JUnit XML.

    nox -s colab-current -- --junitxml=build/colab-current.xml
    python envs/profile_table.py build/colab-current.xml [more.xml ...]

A solution's time is the sum of its cells (nbval runs each cell as a test item); an untouched lab's is its
`test_untouched_lab_reports_not_attempted` item; everything else is summed under "other tests".
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path


def rows(path: Path) -> dict[str, list]:
    """name -> [passed, failed, seconds]."""
    table: dict[str, list] = defaultdict(lambda: [0, 0, 0.0])
    for case in ET.parse(path).getroot().iter("testcase"):
        where, name = case.get("classname", ""), case.get("name", "")
        if match := re.search(r"untouched_lab_reports_not_attempted\[(\d\d_\w+)\.ipynb\]", name):
            key = "lab " + match[1] + " (untouched)"
        elif match := re.search(r"without_the_shared_faces\[(\d\d_\w+)\.ipynb\]", name):
            key = "solution " + match[1] + " without faces-ccby"
        elif match := re.search(r"solutions[./](\d\d_\w+)\.ipynb", where + " " + name):
            key = "solution " + match[1]
        else:
            key = "other tests"
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        entry = table[key]
        entry[1 if failed else 0] += 0 if skipped else 1
        entry[2] += float(case.get("time", 0))
    return table


def main(paths: list[str]) -> int:
    for path in map(Path, paths):
        print(f"\n{path.stem}\n\n| what | result | seconds |\n|---|---|---|")
        for key, (passed, failed, seconds) in sorted(rows(path).items()):
            result = "pass" if not failed else f"FAIL ({failed} of {passed + failed})"
            print(f"| {key} | {result} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
