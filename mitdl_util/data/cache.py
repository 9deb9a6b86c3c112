"""Where data lives (cache and shared local folders), how it is checked, and the data layer's errors."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import MitdlError


class DataUnavailableError(MitdlError):
    """Neither the network nor a fallback could provide the data."""


class ChecksumError(MitdlError):
    """A file's sha256 differs from the pinned one."""


class UnpinnedHashError(MitdlError):
    """A dataset has no pinned sha256 and the user did not opt in to an unverified download."""


class UnsafeFileError(MitdlError):
    """A downloaded file would need unpickling, or an archive member would land outside the cache."""


class CacheWriteError(DataUnavailableError):
    """The cache cannot take a file: its disk is full, or the folder is read-only. Loaders with an offline
    fallback catch it like any other :class:`DataUnavailableError`."""

    def __init__(self, message: str, short: str, advice: str):
        super().__init__(message)
        self.short = short  # for a loader's one-line notice: what happened ("/x is read-only") ...
        self.advice = advice  # ... and what to do ("set MITDL_DATA_DIR to a writable folder")


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}


def megabytes(n: int) -> str:
    """``n`` bytes as a short human-readable size."""
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"


def free_bytes(folder: Path) -> int:
    """Free space on the disk that holds ``folder`` (or its nearest existing parent)."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def disk_full(folder: Path, what: str, need: int | None = None) -> CacheWriteError:
    """The error for "``what`` does not fit in ``folder``"."""
    sizes = f" (it needs {megabytes(need)}, {megabytes(free_bytes(folder))} are free)" if need else ""
    return CacheWriteError(
        f"The disk holding {folder} is full, so {what} could not be saved{sizes}: free space there, or set "
        "MITDL_DATA_DIR to a folder on a disk with room, and run again.",
        short=f"no space left in {folder}", advice="free space there or set MITDL_DATA_DIR",
    )


def read_only(folder: Path, what: str) -> CacheWriteError:
    """The error for "``folder`` cannot be written"."""
    return CacheWriteError(
        f"{folder} is read-only, so {what} could not be saved: set MITDL_DATA_DIR to a writable folder, and run "
        "again.",
        short=f"{folder} is read-only", advice="set MITDL_DATA_DIR to a writable folder",
    )


def as_cache_error(exc: OSError, folder: Path, what: str) -> CacheWriteError | None:
    """A disk-full or read-only ``exc`` as the kit's one-sentence error; None for any other OSError."""
    if exc.errno in _DISK_FULL:
        return disk_full(folder, what)
    if exc.errno in _READ_ONLY:
        return read_only(folder, what)
    return None


def remove(path: Path) -> None:
    """Delete a file or folder if it is there (best effort: used while cleaning up after a failure)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


@contextmanager
def saving(folder: Path, what: str, *, leftovers: tuple[Path, ...] = ()) -> Iterator[None]:
    """Turn a disk-full or read-only error inside the block into a :class:`CacheWriteError` about ``what``,
    after deleting ``leftovers`` (temporary files the block may have left half-written)."""
    try:
        yield
    except OSError as exc:
        for path in leftovers:
            remove(path)
        error = as_cache_error(exc, Path(folder), what)
        if error is None:
            raise
        raise error from None


@contextmanager
def lock(path: Path, timeout: float, what: str) -> Iterator[None]:
    """Hold an inter-process lock on ``path`` for the block (a ``filelock.FileLock`` in the ``.locks`` folder
    beside it), so two notebooks fetching one file take turns. Says so once when another process holds it, and
    waits up to ``timeout`` s."""
    import filelock

    folder = Path(path).parent
    with saving(folder, what):
        (folder / ".locks").mkdir(parents=True, exist_ok=True)
        file_lock = filelock.FileLock(str(folder / ".locks" / (Path(path).name + ".lock")))
        try:
            file_lock.acquire(timeout=0)
        except filelock.Timeout:
            notice(f"another process is already fetching {what}; waiting for it (up to {timeout:g} s)")
            try:
                file_lock.acquire(timeout=timeout)
            except filelock.Timeout:
                raise DataUnavailableError(
                    f"Another process has been fetching {what} for over {timeout:g} s (it holds "
                    f"{file_lock.lock_file}): wait for it to finish or stop it, and run again."
                ) from None
    try:
        yield
    finally:
        file_lock.release()


def data_dir() -> Path:
    """The cache folder: ``$MITDL_DATA_DIR``, else the user's cache directory (``platformdirs``)."""
    env = os.environ.get("MITDL_DATA_DIR", "").strip()
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("mitdl_util", appauthor=False)) / "datasets"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in _READ_ONLY:
            raise CacheWriteError(
                f"The data cache {path} cannot be created (the folder above it is read-only): set MITDL_DATA_DIR "
                "to a writable folder, and run again.", short=f"{path} cannot be created (read-only)",
                advice="set MITDL_DATA_DIR to a writable folder") from None
        error = as_cache_error(exc, path, "the data cache folder")
        if error is None:
            raise
        raise error from None
    return path


def is_offline() -> bool:
    """True when ``MITDL_OFFLINE`` asks the kit not to use the network."""
    return os.environ.get("MITDL_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _repo_roots() -> list[Path]:
    roots = []
    package_root = Path(__file__).resolve().parents[2]  # <repo>/mitdl_util/data/cache.py -> <repo>
    if (package_root / "pyproject.toml").is_file():
        roots.append(package_root)
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if (candidate / "pyproject.toml").is_file() or (candidate / ".git").exists():
            roots.append(candidate)
            break
    return roots


def local_data_dirs() -> list[Path]:
    """Folders that may hold local datasets: ``$MITDL_LOCAL_DATA`` alone when set, else ``../shared/datasets``
    beside the project (found from the package's location, then from the working directory)."""
    env = os.environ.get("MITDL_LOCAL_DATA", "").strip()
    if env:
        return [Path(env).expanduser()]
    dirs: list[Path] = []
    for root in _repo_roots():
        candidate = root.parent / "shared" / "datasets"
        if candidate not in dirs:
            dirs.append(candidate)
    return dirs


def find_local(folder: str) -> Path | None:
    """The first local-data folder named ``folder`` that exists, or None."""
    for base in local_data_dirs():
        if (base / folder).is_dir():
            return base / folder
    return None


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def notice(message: str) -> None:
    """Print the one-line notice that says which data source is in use."""
    print(f"mitdl data: {message}", file=sys.stdout, flush=True)
