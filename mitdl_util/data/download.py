"""Downloads into the cache: pinned sha256, temporary name until verified, retries, resume, safe extraction.

Data that came from the network is never unpickled: arrays are read with ``np.load(..., allow_pickle=False)``
(see :func:`load_npz`), archives are checked member by member before anything is written (:func:`extract_archive`).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import time
import zipfile
from pathlib import Path, PurePosixPath

from .cache import (
    ChecksumError,
    DataUnavailableError,
    UnpinnedHashError,
    UnsafeFileError,
    data_dir,
    is_offline,
    notice,
    sha256_file,
)
from .registry import Dataset, get_dataset

# Tunables, module-level so tests (and impatient users) can change them.
RETRIES = 3
"""Attempts per URL before moving on to the next mirror."""
BACKOFF_S = 1.0
"""First pause between attempts; doubled after each failure."""
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 16


class _IncompleteDownload(Exception):
    """The server closed the connection before sending every byte it announced."""


class _PermanentHTTPError(Exception):
    """A 4xx answer: retrying the same URL will not help."""


def cached_path(name: str | Dataset) -> Path:
    """Where ``name``'s file lives (or will live) in the cache."""
    ds = get_dataset(name)
    if ds.kind != "download" or not ds.filename:
        raise ValueError(f"dataset {ds.name!r} is not downloaded into the cache")
    return data_dir() / ds.filename


def _sidecar(final: Path) -> Path:
    return final.with_name(final.name + ".sha256")


def expected_sha256(ds: Dataset, final: Path | None = None) -> str | None:
    """The pinned hash, else the one recorded when the user opted in to an unpinned download, else None."""
    if ds.sha256:
        return ds.sha256.lower()
    final = final or cached_path(ds)
    side = _sidecar(final)
    if side.is_file():
        return side.read_text().split()[0].strip().lower() or None
    return None


def is_cached(name: str | Dataset) -> bool:
    """True when the file is in the cache and its sha256 is the expected one (rehashes the file)."""
    ds = get_dataset(name)
    final = cached_path(ds)
    expected = expected_sha256(ds, final)
    return final.is_file() and expected is not None and sha256_file(final) == expected


def _how_to_get(ds: Dataset) -> str:
    pin = f" (sha256 {ds.sha256})" if ds.sha256 else ""
    return (
        f"connect to the internet and retry, or download {ds.urls[0]} yourself and put it in "
        f"{data_dir()} as {ds.filename}{pin} (set MITDL_DATA_DIR to use another folder)"
    )


def fetch(
    name: str | Dataset,
    *,
    force: bool = False,
    allow_unpinned: bool = False,
    retries: int | None = None,
    progress: bool = True,
) -> Path:
    """Return the verified cached file of dataset ``name``, downloading it first when missing or corrupt.

    Raises :class:`UnpinnedHashError` when no sha256 is pinned and ``allow_unpinned`` is False,
    :class:`ChecksumError` when every download had the wrong hash, and :class:`DataUnavailableError` when
    the network could not deliver the file.
    """
    ds = get_dataset(name)
    if ds.kind != "download":
        raise DataUnavailableError(f"`{ds.name}` is not downloaded: it comes from {ds.source}.")
    final = cached_path(ds)
    expected = expected_sha256(ds, final)

    if final.is_file() and not force:
        if expected is None and allow_unpinned:  # a file the user put there themselves: record, don't trust
            digest = sha256_file(final)
            _sidecar(final).write_text(f"{digest}  {final.name}\n")
            notice(f"using {final} WITHOUT a pinned hash (you opted in); its sha256 is {digest}: pin it in "
                   "mitdl_util/data/registry.py")
            return final
        if expected is not None:
            if sha256_file(final) == expected:
                return final
            notice(f"cached {final.name} is corrupt or truncated (sha256 mismatch); fetching it again")
            final.unlink()
    elif final.is_file():
        final.unlink()
        _sidecar(final).unlink(missing_ok=True)
        expected = expected_sha256(ds, final)

    if ds.sha256 is None and not allow_unpinned:
        raise UnpinnedHashError(
            f"`{ds.name}` has no pinned sha256, so the kit will not trust a download of it: pin its hash in "
            f"mitdl_util/data/registry.py, or run `mitdl data fetch {ds.name} --allow-unpinned` to download it "
            "once and print the hash to pin."
        )
    if is_offline():
        raise DataUnavailableError(f"MITDL_OFFLINE is set, so `{ds.name}` cannot be downloaded: unset it, or "
                                   + _how_to_get(ds) + ".")

    part = final.with_name(final.name + ".part")
    retries = RETRIES if retries is None else max(1, retries)
    failures: list[str] = []
    checksum_failed = False
    for url in ds.urls:
        delay = BACKOFF_S
        for attempt in range(1, retries + 1):
            try:
                _stream(url, part, ds, progress=progress)
            except _PermanentHTTPError as exc:
                failures.append(f"{url}: {exc}")
                break
            except Exception as exc:  # network trouble: keep the partial file, retry (with Range) after a pause
                if not _is_network_error(exc):
                    raise
                failures.append(f"{url} (attempt {attempt}): {type(exc).__name__}")
                if attempt < retries:
                    time.sleep(delay)
                    delay *= 2
                continue
            digest = sha256_file(part)
            if expected is not None and digest != expected:
                part.unlink()
                checksum_failed = True
                failures.append(f"{url} (attempt {attempt}): sha256 {digest[:12]}… is not the pinned one")
                if attempt < retries:
                    time.sleep(delay)
                    delay *= 2
                continue
            os.replace(part, final)  # atomic: the final name only ever holds a verified file
            if expected is None:
                _sidecar(final).write_text(f"{digest}  {final.name}\n")
                notice(
                    f"downloaded `{ds.name}` WITHOUT a pinned hash (you opted in); its sha256 is {digest}: "
                    "pin it in mitdl_util/data/registry.py so later downloads are verified"
                )
            if ds.archive:
                extract_archive(final, final.parent / ds.name)
            return final

    if part.exists() and checksum_failed:
        part.unlink()
    detail = failures[-1] if failures else "no URL registered"
    if checksum_failed:
        raise ChecksumError(
            f"every download of `{ds.name}` had the wrong sha256 (last: {detail}); nothing was saved — "
            "report it, or check the registry entry's URL and hash."
        )
    raise DataUnavailableError(f"could not download `{ds.name}` ({detail}): " + _how_to_get(ds) + ".")


def _is_network_error(exc: Exception) -> bool:
    import requests

    return isinstance(exc, (requests.RequestException, _IncompleteDownload, ConnectionError, TimeoutError))


def _stream(url: str, part: Path, ds: Dataset, *, progress: bool) -> None:
    """Download ``url`` into ``part``, resuming from its current length when the server supports ranges."""
    import requests
    from tqdm.auto import tqdm

    offset = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with requests.get(url, stream=True, headers=headers, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)) as resp:
        if resp.status_code == 416:  # our partial file is not a prefix the server recognises: start over
            part.unlink()
            raise _IncompleteDownload("range not satisfiable; restarting")
        if 400 <= resp.status_code < 500:
            raise _PermanentHTTPError(f"HTTP {resp.status_code}")
        resp.raise_for_status()  # 5xx -> requests.HTTPError -> retried
        if offset and resp.status_code != 206:
            offset = 0  # the server ignored the Range header: restart from byte 0
        length = resp.headers.get("Content-Length")
        total = int(length) + offset if length is not None else ds.size_bytes
        with (
            open(part, "ab" if offset else "wb") as fh,
            tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=part.name[:-5],
                 disable=not progress, leave=False) as bar,
        ):
            for chunk in resp.iter_content(CHUNK_BYTES):
                fh.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if length is not None and size != total:
        raise _IncompleteDownload(f"got {size} of {total} bytes")


def verify_cache(names: list[str] | None = None) -> list[tuple[str, str]]:
    """Re-hash every cached download (or ``names``); remove files whose sha256 is wrong.

    Returns ``(name, status)`` pairs; status is one of "ok", "removed (sha256 mismatch)", "not cached",
    "no hash to check against".
    """
    from .registry import REGISTRY

    results = []
    for name in names or [n for n, d in REGISTRY.items() if d.kind == "download"]:
        ds = get_dataset(name)
        if ds.kind != "download":
            results.append((ds.name, f"not cached ({ds.kind}: {ds.source})"))
            continue
        final = cached_path(ds)
        expected = expected_sha256(ds, final)
        if not final.is_file():
            status = "not cached"
        elif expected is None:
            status = "no hash to check against"
        elif sha256_file(final) == expected:
            status = "ok"
        else:
            final.unlink()
            status = "removed (sha256 mismatch)"
        results.append((ds.name, status))
    return results


# --- reading downloaded files safely -------------------------------------------------------------------------


def load_npz(path: str | os.PathLike) -> dict:
    """Read every array of a ``.npz``/``.npy`` file without ever unpickling (object arrays are refused)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except AttributeError:  # a plain .npy: np.load returned an array, which is not a context manager
        pass
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise UnsafeFileError(f"{Path(path).name} contains pickled objects, which the kit never loads: "
                                  "delete it and fetch the dataset again.") from None
        raise
    try:
        return {"arr_0": np.load(path, allow_pickle=False)}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise UnsafeFileError(f"{Path(path).name} contains pickled objects, which the kit never loads: "
                                  "delete it and fetch the dataset again.") from None
        raise


def _check_member_name(name: str, archive: Path) -> None:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeFileError(f"{archive.name} has an absolute member path {name!r}; refusing to extract it.")
    if ".." in pure.parts:
        raise UnsafeFileError(f"{archive.name} has a member {name!r} that climbs out with '..'; refusing to "
                              "extract it.")


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a zip or tar ``archive`` into ``dest`` after checking that no member can land outside it
    (absolute paths, ``..``, symbolic or hard links, devices are refused before anything is written)."""
    archive, dest = Path(archive), Path(dest)
    tmp = dest.with_name(dest.name + ".extracting")
    if tmp.exists():
        shutil.rmtree(tmp)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _check_member_name(info.filename, archive)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise UnsafeFileError(f"{archive.name} has a link member {info.filename!r}; refusing to "
                                          "extract it.")
            zf.extractall(tmp)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for m in members:
                _check_member_name(m.name, archive)
                if m.issym() or m.islnk():
                    raise UnsafeFileError(f"{archive.name} has a link member {m.name!r} -> {m.linkname!r}; "
                                          "refusing to extract it.")
                if not (m.isfile() or m.isdir()):
                    raise UnsafeFileError(f"{archive.name} has a special member {m.name!r}; refusing to "
                                          "extract it.")
            if hasattr(tarfile, "data_filter"):
                tf.extractall(tmp, members=members, filter="data")
            else:  # pragma: no cover - Python without extraction filters; members were checked above
                tf.extractall(tmp, members=members)
    else:
        raise UnsafeFileError(f"{archive.name} is neither a zip nor a tar archive: delete it and fetch it again.")
    root = tmp.resolve()
    for path in root.rglob("*"):  # belt and braces: nothing resolved outside the folder
        if root not in path.resolve().parents and path.resolve() != root:
            shutil.rmtree(tmp)
            raise UnsafeFileError(f"{archive.name} extracted outside its folder; refusing it.")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return dest


__all__ = [
    "ChecksumError", "DataUnavailableError", "UnpinnedHashError", "UnsafeFileError",
    "cached_path", "expected_sha256", "extract_archive", "fetch", "is_cached", "load_npz", "verify_cache",
]
