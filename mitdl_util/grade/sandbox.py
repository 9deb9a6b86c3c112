"""Run a submission's kernel inside a bubblewrap sandbox where the OS has one; else say plainly that it does not.

In the sandbox (``bwrap``): the kernel is in its own PID namespace (every process it starts dies with it, even one
started with ``start_new_session=True``), has no network, sees the whole file system read-only except its own
working folder, a private ``/tmp`` and the folder holding its connection sockets, and does not see the submissions
folder, the output folder or ``solutions/`` at all. The kernel talks to the grader over Unix sockets (ZeroMQ
``ipc``), which work across network namespaces.

Without bubblewrap (macOS, Windows, a bare container, or ``MITDL_SANDBOX=off``) kernels run as today, with the
grader's permissions; the grader kills leftover processes it can recognise (Linux) and says in the report that no
sandbox was used.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
from pathlib import Path

SANDBOX_VARIABLE = "MITDL_SANDBOX"  # "off": grade without bubblewrap even where it is installed
ATTEMPT_VARIABLE = "MITDL_GRADE_ATTEMPT"  # in every kernel's environment: how leftover processes are recognised


@functools.lru_cache(maxsize=4)
def _bwrap_works(bwrap: str) -> str | None:
    """None when `bwrap` can start a sandbox here; else why not (e.g. user namespaces are disabled)."""
    try:
        done = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--dev", "/dev",
                               "--proc", "/proc", "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start ({exc})"
    if done.returncode:
        return f"bubblewrap is installed but cannot create a sandbox here ({done.stderr.decode(errors='replace').strip()})"
    return None


def availability() -> tuple[str | None, str]:
    """(path of a working bwrap, or None; one line saying which it is, for the report)."""
    if os.environ.get(SANDBOX_VARIABLE, "").strip().lower() in ("off", "0", "no", "false"):
        return None, f"no sandbox: {SANDBOX_VARIABLE}=off, so kernels ran with the grader's permissions"
    bwrap = shutil.which("bwrap") if os.name == "posix" else None
    if bwrap is None:
        return None, ("no sandbox: bubblewrap (`bwrap`) is not installed, so kernels ran with the grader's "
                      "permissions (install the `bubblewrap` package, or grade in a container)")
    problem = _bwrap_works(bwrap)
    if problem:
        return None, f"no sandbox: {problem}; kernels ran with the grader's permissions"
    return bwrap, "sandbox: bubblewrap (own PID namespace, no network, read-only files, private /tmp)"


def bwrap_command(bwrap: str, *, writable: list[Path], hidden: list[Path], workdir: Path) -> list[str]:
    """The `bwrap ... --` prefix for one kernel: `writable` folders bound read-write, `hidden` paths made empty."""
    cmd = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in _existing(hidden):
        if path.is_dir():
            cmd += ["--tmpfs", str(path), "--remount-ro", str(path)]
        else:
            cmd += ["--ro-bind", "/dev/null", str(path)]
    for path in writable:
        cmd += ["--bind", str(path), str(path)]
    # ipykernel exits when its parent's pid changes; in a PID namespace it always looks changed
    return cmd + ["--chdir", str(workdir), "--unsetenv", "JPY_PARENT_PID", "--"]


def _existing(paths: list[Path]) -> list[Path]:
    """Hidden paths that exist, outermost first, never `/` itself and never a folder holding the kit's code."""
    package = Path(__file__).resolve().parents[1]
    found = []
    for path in sorted({Path(p).resolve() for p in paths}, key=lambda p: len(p.parts)):
        if not path.exists() or path == Path("/") or path in package.parents or path == package:
            continue
        if any(parent in found for parent in path.parents):
            continue
        found.append(path)
    return found


def kill_leftovers(token: str) -> int:
    """SIGKILL every process whose environment carries this attempt's token (Linux; elsewhere nothing). Returns how
    many. This is how the grader ends processes a notebook detached from its kernel when there is no sandbox."""
    proc = Path("/proc")
    if not proc.is_dir():
        return 0
    marker = f"{ATTEMPT_VARIABLE}={token}".encode()
    killed: set[int] = set()
    for _ in range(3):  # a process may fork while being looked for: look again
        found = 0
        for entry in proc.iterdir():
            if not entry.name.isdigit() or int(entry.name) in killed or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0"):
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                except OSError:
                    continue
                killed.add(int(entry.name))
                found += 1
        if not found:
            break
    return len(killed)
