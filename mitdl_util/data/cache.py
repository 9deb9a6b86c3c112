"""Where data lives (cache and shared local folders), how it is checked, and the data layer's errors."""

from __future__ import annotations

import hashlib
import os
import sys
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


def data_dir() -> Path:
    """The cache folder: ``$MITDL_DATA_DIR``, else the user's cache directory (``platformdirs``)."""
    env = os.environ.get("MITDL_DATA_DIR", "").strip()
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("mitdl_util", appauthor=False)) / "datasets"
    path.mkdir(parents=True, exist_ok=True)
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
