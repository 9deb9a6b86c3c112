"""`mitdl bench`: run every solution notebook (FAST by default, `--full` for the real lab) and write
benchmarks/RESULTS.md and results.json — wall time, peak memory and every number the notebooks report with
`mdl.report(...)`, plus the package's import time. The numbers come from the run, never from typing."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from .errors import MitdlError
from .metrics import METRICS_VARIABLE, read_metrics


def run_one(notebook: Path, *, full: bool, timeout: int) -> dict:
    """Execute one notebook in a fresh kernel in THIS process; return time, the kernel's peak RSS and metrics."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    with tempfile.TemporaryDirectory() as tmp:
        metrics_file = Path(tmp) / "metrics.jsonl"
        os.environ[METRICS_VARIABLE] = str(metrics_file)
        os.environ["MITDL_FAST"] = "0" if full else "1"
        os.environ["MITDL_STRICT_CHECKS"] = "1"
        os.environ.setdefault("MPLBACKEND", "Agg")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        nb = nbformat.read(notebook, as_version=4)
        error = None
        start = time.perf_counter()
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(notebook.parent.parent)}}).execute()
        except CellExecutionError as exc:
            error = str(exc).strip().splitlines()[-1][:300]
        wall = time.perf_counter() - start
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel, reaped at shutdown
        return {"notebook": notebook.name, "mode": "full" if full else "fast", "wall_s": round(wall, 1),
                "peak_rss_mb": round(peak_kb / 1024), "ok": error is None, "error": error,
                "metrics": read_metrics(metrics_file)}


def import_time(repeats: int = 5) -> float:
    """Seconds to `import mitdl_util` in a fresh interpreter (best of `repeats`)."""
    probe = "import time; t = time.perf_counter(); import mitdl_util; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(repeats)]
    return min(runs)


def test_suite_time(root: Path) -> dict:
    """Wall time of the README's test command (`pytest`) in `root`."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=root, capture_output=True, text=True)
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    return {"wall_s": round(time.perf_counter() - start, 1), "exit_code": done.returncode, "summary": summary}


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    gpu = "none"
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True)
        gpu = out.stdout.strip().replace("\n", ", ") or "none"
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
            "cores": os.cpu_count(), "memory_gb": memory_gb, "gpu": gpu}


def bench(root: Path, *, full: bool = False, notebooks: list[str] | None = None, with_tests: bool = False,
          timeout: int = 3600, out_dir: Path | None = None) -> dict:
    """Run the solutions (each in its own process) and write RESULTS.md + results.json; return the results."""
    solutions = sorted((root / "solutions").glob("*.ipynb"))
    if notebooks:
        solutions = [p for p in solutions if any(p.stem.startswith(n) or p.name == n for n in notebooks)]
    if not solutions:
        raise MitdlError(f"no solution notebooks found under {root / 'solutions'}; run from the repository root.")
    runs = []
    for path in solutions:
        print(f"running {path.name} ({'full' if full else 'FAST'}) ...", flush=True)
        cmd = [sys.executable, "-m", "mitdl_util.bench", "--run-one", str(path), "--timeout", str(timeout)]
        done = subprocess.run(cmd + (["--full"] if full else []), capture_output=True, text=True, cwd=root)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            runs.append({"notebook": path.name, "ok": False, "error": (done.stderr.strip().splitlines() or ["?"])[-1]})
        else:
            runs.append(json.loads(lines[-1]))
        print(f"  {runs[-1].get('wall_s', '?')} s, ok={runs[-1]['ok']}", flush=True)
    results = {"generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "command": "mitdl bench" + (" --full" if full else "") + (" --with-tests" if with_tests else ""),
               "machine": machine(), "import_time_s": round(import_time(), 3), "notebooks": runs}
    if with_tests:
        results["test_suite"] = test_suite_time(root)
    out_dir = out_dir or root / "benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "_full" if full else ""
    (out_dir / f"results{suffix}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / f"RESULTS{suffix}.md").write_text(render_markdown(results))
    return results


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# Benchmark results", "",
        f"Generated by `{results['command']}` on {results['generated']}; do not edit by hand.", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GiB RAM, GPU: {m['gpu']}; "
        f"Python {m['python']} on {m['platform']}.", "",
        f"`import mitdl_util`: {results['import_time_s'] * 1000:.0f} ms (best of 5).", "",
    ]
    if "test_suite" in results:
        t = results["test_suite"]
        lines += [f"Test suite (`pytest`): {t['wall_s']} s, exit code {t['exit_code']} ({t['summary']}).", ""]
    lines += ["| notebook | mode | ok | wall (s) | peak RSS (MB) |", "|---|---|---|---|---|"]
    for run in results["notebooks"]:
        lines.append(f"| {run['notebook']} | {run.get('mode', '?')} | {'yes' if run['ok'] else 'NO'} | "
                     f"{run.get('wall_s', '')} | {run.get('peak_rss_mb', '')} |")
    for run in results["notebooks"]:
        if run.get("error"):
            lines += ["", f"{run['notebook']} failed: `{run['error']}`"]
        if run.get("metrics"):
            lines += ["", f"## {run['notebook']}", "", "| metric | value |", "|---|---|"]
            for name, entry in run["metrics"].items():
                unit = f" {entry['unit']}" if entry.get("unit") else ""
                lines.append(f"| {name} | {_fmt(entry['value'])}{unit} |")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="*", help="notebook names or NN prefixes (default: all solutions)")
    parser.add_argument("--full", action="store_true", help="full mode (the real lab) instead of FAST")
    parser.add_argument("--with-tests", action="store_true", help="also time the whole test suite")
    parser.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: here)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: ROOT/benchmarks)")


def run(args: argparse.Namespace) -> int:
    results = bench(args.root, full=args.full, notebooks=args.notebooks, with_tests=args.with_tests,
                    timeout=args.timeout, out_dir=args.out)
    out = args.out or args.root / "benchmarks"
    print(f"wrote {out / ('RESULTS_full.md' if args.full else 'RESULTS.md')}")
    return 0 if all(r["ok"] for r in results["notebooks"]) else 1


def _main_one(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m mitdl_util.bench")
    parser.add_argument("--run-one", type=Path, required=True)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--timeout", type=int, default=3600)
    args = parser.parse_args(argv)
    print(json.dumps(run_one(args.run_one, full=args.full, timeout=args.timeout)))
    return 0


if __name__ == "__main__":
    if "--run-one" in sys.argv:
        raise SystemExit(_main_one(sys.argv[1:]))
    from .cli import main

    raise SystemExit(main(["bench", *sys.argv[1:]]))
