"""Downloads into the cache: pinned sha256, temporary name until verified, retries, resume, safe extraction.

Data that came from the network is never unpickled: arrays are read with ``np.load(..., allow_pickle=False)``
(see :func:`load_npz`), archives are checked member by member before anything is written (:func:`extract_archive`).

Under faults: each fetch and each extraction holds a file lock (two notebooks fetching one file take turns), a
fetch gives up after an overall deadline, an extraction never unpacks more than the registry declares, and a full
or read-only disk is one :class:`~mitdl_util.data.cache.CacheWriteError` sentence with no temporary file left.
"""

from __future__ import annotations

import json
import os
import tarfile
import time
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import MitdlError
from .cache import (
    ChecksumError,
    DataUnavailableError,
    UnpinnedHashError,
    UnsafeFileError,
    data_dir,
    disk_full,
    free_bytes,
    is_offline,
    lock,
    megabytes,
    notice,
    remove,
    saving,
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
DEADLINE_S = 1800.0
"""Longest one fetch may take, every attempt and mirror together; ``MITDL_DOWNLOAD_DEADLINE`` (seconds) overrides
it. Half an hour moves the 200 MB LFW archive at 1 Mbit/s; a server trickling a byte a second is given up on."""
UNPACKED_RECORD = ".mitdl-unpacked.json"
"""Written into an extracted folder: the archive's sha256 and every file's size, checked before the folder is used."""


def deadline_s() -> float:
    """The overall deadline of one fetch, in seconds (``MITDL_DOWNLOAD_DEADLINE``, else :data:`DEADLINE_S`)."""
    env = os.environ.get("MITDL_DOWNLOAD_DEADLINE", "").strip()
    if not env:
        return DEADLINE_S
    try:
        value = float(env)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise MitdlError(f"MITDL_DOWNLOAD_DEADLINE={env!r} is not a positive number of seconds: set it to, say, "
                         "3600, or unset it.")
    return value


LOCK_MARGIN_S = 60.0
"""A process waiting for another one's fetch waits its deadline plus this (the other gives up by its deadline)."""


def _lock_wait_s() -> float:
    return deadline_s() + LOCK_MARGIN_S


class _DeadlineExceeded(Exception):
    """The fetch ran past its overall deadline."""


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


def _by_hand(ds: Dataset) -> str:
    pin = f" (sha256 {ds.sha256})" if ds.sha256 else ""
    return (f"download {ds.urls[0]} yourself and put it in {data_dir()} as {ds.filename}{pin} (set MITDL_DATA_DIR "
            "to use another folder)")


def _how_to_get(ds: Dataset) -> str:
    return "connect to the internet and retry, or " + _by_hand(ds)


def _is_verified(ds: Dataset, final: Path) -> str | None:
    """The file's sha256 when it is in the cache and matches the expected hash, else None."""
    expected = expected_sha256(ds, final)
    if expected is None or not final.is_file():
        return None
    digest = sha256_file(final)
    return digest if digest == expected else None


def fetch(
    name: str | Dataset,
    *,
    force: bool = False,
    allow_unpinned: bool = False,
    retries: int | None = None,
    progress: bool = True,
) -> Path:
    """Return the verified cached file of dataset ``name``, downloading it first when missing or corrupt (and
    extracting it when it is an archive).

    Raises :class:`UnpinnedHashError` when no sha256 is pinned and ``allow_unpinned`` is False,
    :class:`ChecksumError` when every download had the wrong hash, :class:`CacheWriteError` when the cache's disk
    is full or read-only, and :class:`DataUnavailableError` when the network could not deliver the file in time.
    """
    ds = get_dataset(name)
    if ds.kind != "download":
        raise DataUnavailableError(f"`{ds.name}` is not downloaded: it comes from {ds.source}.")
    final = cached_path(ds)
    what = f"`{ds.name}` ({final.name})"
    if not force and (digest := _is_verified(ds, final)):  # the usual case: read only, no lock, works read-only
        return _unpacked(ds, final, digest)
    if not force and final.is_file() and expected_sha256(ds, final) is None and allow_unpinned:
        with saving(final.parent, what):  # a file the user put there themselves: record, don't trust
            digest = sha256_file(final)
            _sidecar(final).write_text(f"{digest}  {final.name}\n")
        notice(f"using {final} WITHOUT a pinned hash (you opted in); its sha256 is {digest}: pin it in "
               "mitdl_util/data/registry.py")
        return final
    if ds.sha256 is None and not allow_unpinned:
        raise UnpinnedHashError(
            f"`{ds.name}` has no pinned sha256, so the kit will not trust a download of it: pin its hash in "
            f"mitdl_util/data/registry.py, or run `mitdl data fetch {ds.name} --allow-unpinned` to download it "
            "once and print the hash to pin."
        )
    if is_offline():
        raise DataUnavailableError(f"MITDL_OFFLINE is set, so `{ds.name}` cannot be downloaded: unset it, or "
                                   + _how_to_get(ds) + ".")
    if not force and final.is_file():
        notice(f"cached {final.name} is corrupt or truncated (sha256 mismatch); fetching it again")
    part = final.with_name(final.name + ".part")
    with lock(final, _lock_wait_s(), what), saving(final.parent, what, leftovers=(part,)):
        if not force and (digest := _is_verified(ds, final)):  # another process fetched it while we waited
            return _unpacked(ds, final, digest)
        if final.is_file():
            final.unlink()
            if force and ds.sha256 is None:
                _sidecar(final).unlink(missing_ok=True)
        digest = _download(ds, final, part, retries=RETRIES if retries is None else max(1, retries),
                           progress=progress)
    return _unpacked(ds, final, digest)


def on_colab() -> bool:
    """True inside a Google Colab runtime."""
    import sys

    return "google.colab" in sys.modules


def fetch_where_allowed(name: str, *, download: bool | None, offer: str) -> str | None:
    """Fetch ``name`` when ``download`` is true (``None``: on Colab and not offline). None once the verified file
    is in the cache; otherwise why not: ``offer`` (how to get it) when downloading was not allowed, or the fault
    when it failed. Never raises for a missing network, a wrong hash or a full disk."""
    if download is None:
        download = on_colab() and not is_offline()
    if not download:
        return offer
    try:
        fetch(name)
    except MitdlError as exc:
        return f"{name} could not be downloaded ({exc})"
    return None


def _download(ds: Dataset, final: Path, part: Path, *, retries: int, progress: bool) -> str:
    """Download ``ds`` into ``final`` (through ``part``, renamed only once verified); return its sha256.
    The caller holds the lock and turns disk errors into sentences."""
    expected = expected_sha256(ds, final)
    limit = deadline_s()
    deadline = time.monotonic() + limit
    if ds.size_bytes:
        have = part.stat().st_size if part.is_file() else 0
        if free_bytes(final.parent) < ds.size_bytes - have:
            remove(part)
            raise disk_full(final.parent, f"`{ds.name}` ({final.name})", need=ds.size_bytes)
    failures: list[str] = []
    checksum_failed = False
    try:
        for url in ds.urls:
            delay = BACKOFF_S
            for attempt in range(1, retries + 1):
                try:
                    _stream(url, part, ds, progress=progress, deadline=deadline)
                except _PermanentHTTPError as exc:
                    failures.append(f"{url}: {exc}")
                    break
                except _DeadlineExceeded as exc:
                    raise DataUnavailableError(
                        f"Downloading `{ds.name}` from {url} took longer than its {limit:g} s deadline ({exc}): the "
                        "connection is too slow; run again on a faster network, set MITDL_DOWNLOAD_DEADLINE to allow "
                        "more seconds, or " + _by_hand(ds) + "."
                    ) from None
                except Exception as exc:  # network trouble: keep the partial file, retry (with Range) after a pause
                    if not _is_network_error(exc):
                        raise
                    failures.append(f"{url} (attempt {attempt}): {type(exc).__name__}")
                    if attempt < retries and time.monotonic() + delay < deadline:
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
                return digest
    finally:
        remove(part)  # whatever happened, no partial file stays behind (retries above resume from it)

    detail = failures[-1] if failures else "no URL registered"
    if checksum_failed:
        raise ChecksumError(
            f"every download of `{ds.name}` had the wrong sha256 (last: {detail}); nothing was saved — "
            "report it, or check the registry entry's URL and hash."
        )
    raise DataUnavailableError(f"could not download `{ds.name}` ({detail}): " + _how_to_get(ds) + ".")


def _unpacked(ds: Dataset, final: Path, digest: str | None = None) -> Path:
    """``final``, after making sure an archive is extracted (see :func:`unpack`)."""
    if ds.archive:
        unpack(ds, digest=digest)
    return final


def unpack(name: str | Dataset, *, force: bool = False, digest: str | None = None) -> Path:
    """Extract dataset ``name``'s cached archive into its folder in the cache (bounded by the registry's
    ``unpacked_bytes``); a folder whose record matches is kept as it is unless ``force``."""
    ds = get_dataset(name)
    return extract_archive(cached_path(ds), data_dir() / ds.name, max_bytes=ds.unpacked_bytes, force=force,
                           digest=digest)


def _is_network_error(exc: Exception) -> bool:
    import requests
    import urllib3

    return isinstance(exc, (requests.RequestException, urllib3.exceptions.HTTPError, _IncompleteDownload,
                            ConnectionError, TimeoutError))


def _stream(url: str, part: Path, ds: Dataset, *, progress: bool, deadline: float) -> None:
    """Download ``url`` into ``part``, resuming from its current length when the server supports ranges; raise
    :class:`_DeadlineExceeded` once ``deadline`` (a ``time.monotonic()`` value) has passed."""
    import requests
    from tqdm.auto import tqdm

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _DeadlineExceeded("no time was left for another attempt")
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    timeout = (min(CONNECT_TIMEOUT_S, remaining), min(READ_TIMEOUT_S, remaining))
    with requests.get(url, stream=True, headers=headers, timeout=timeout) as resp:
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
            received = offset
            while chunk := resp.raw.read1(CHUNK_BYTES, decode_content=True):  # returns as bytes arrive
                fh.write(chunk)
                bar.update(len(chunk))
                received += len(chunk)
                if time.monotonic() > deadline:
                    raise _DeadlineExceeded(f"{received} of {total if total else 'unknown'} bytes had arrived")
    size = part.stat().st_size
    if length is not None and size != total:
        raise _IncompleteDownload(f"got {size} of {total} bytes")


def verify_cache(names: list[str] | None = None) -> list[tuple[str, str]]:
    """Re-hash every cached download (or ``names``); remove files whose sha256 is wrong.

    Returns ``(name, status)`` pairs; status is one of "ok", "removed (sha256 mismatch)", "not cached",
    "no hash to check against", or "corrupt (sha256 mismatch) but not removed (...)" on a read-only cache.
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
            try:
                final.unlink()
                status = "removed (sha256 mismatch)"
            except OSError as exc:
                status = f"corrupt (sha256 mismatch) but not removed ({exc.strerror}): delete {final}"
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


def _checked_members(archive: Path) -> int:
    """Check every member of a zip or tar ``archive`` (no absolute path, ``..``, link or device); return the bytes
    its files add up to (as the archive declares them, which is also all that extraction will read)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _check_member_name(info.filename, archive)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise UnsafeFileError(f"{archive.name} has a link member {info.filename!r}; refusing to "
                                          "extract it.")
            return sum(info.file_size for info in zf.infolist())
    if tarfile.is_tarfile(archive):
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
        return sum(m.size for m in members if m.isfile())
    raise UnsafeFileError(f"{archive.name} is neither a zip nor a tar archive: delete it and fetch it again.")


def _extract_all(archive: Path, tmp: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        return
    with tarfile.open(archive) as tf:
        if hasattr(tarfile, "data_filter"):
            tf.extractall(tmp, filter="data")
        else:  # pragma: no cover - Python without extraction filters; members were checked before
            tf.extractall(tmp)


def _file_sizes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != UNPACKED_RECORD}


def _read_record(dest: Path) -> dict | None:
    try:
        record = json.loads((dest / UNPACKED_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("files"), dict) else None


def unpacked_intact(dest: str | os.PathLike, archive_sha256: str | None = None) -> bool:
    """True when ``dest`` was extracted by :func:`extract_archive` (of the archive with ``archive_sha256``, when
    given) and every file it recorded is there with its recorded size."""
    dest = Path(dest)
    record = _read_record(dest)
    if record is None or (archive_sha256 is not None and record.get("sha256") != archive_sha256):
        return False
    for rel, size in record["files"].items():
        try:
            if (dest / rel).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def extract_archive(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    max_bytes: int | None = None,
    force: bool = False,
    digest: str | None = None,
) -> Path:
    """Extract a zip or tar ``archive`` into ``dest`` after checking that no member can land outside it
    (absolute paths, ``..``, symbolic or hard links, devices are refused before anything is written) and that its
    files add up to at most ``max_bytes``. Holds a lock; writes a record (the archive's sha256, each file's size)
    into ``dest``, and keeps a ``dest`` whose record matches unless ``force``. ``digest``: the archive's sha256
    when the caller has just computed it."""
    archive, dest = Path(archive), Path(dest)
    digest = digest or sha256_file(archive)
    if not force and unpacked_intact(dest, digest):  # the usual case: read only, no lock, works read-only
        return dest
    what = f"the files of {archive.name}"
    tmp = dest.with_name(dest.name + ".extracting")
    with lock(dest, _lock_wait_s(), what), saving(dest.parent, what, leftovers=(tmp,)):
        if not force and unpacked_intact(dest, digest):  # another process extracted it while we waited
            return dest
        if dest.exists():
            notice(f"the extracted folder {dest.name} does not match its record (changed, incomplete or from "
                   f"another archive); extracting {archive.name} again")
        remove(tmp)
        total = _checked_members(archive)
        if max_bytes is not None and total > max_bytes:
            raise UnsafeFileError(
                f"{archive.name} would unpack to {megabytes(total)}, more than the {megabytes(max_bytes)} its registry "
                f"entry allows; refusing to extract it: delete {archive} and fetch it again, and report it if it "
                "happens again."
            )
        remove(dest)  # it does not match its record: its space is better used for the new copy
        if free_bytes(dest.parent) < total:
            raise disk_full(dest.parent, what, need=total)
        try:
            _extract_all(archive, tmp)
            root = tmp.resolve()
            for path in root.rglob("*"):  # belt and braces: nothing resolved outside the folder
                if root not in path.resolve().parents and path.resolve() != root:
                    raise UnsafeFileError(f"{archive.name} extracted outside its folder; refusing it.")
            record = {"archive": archive.name, "sha256": digest, "files": _file_sizes(tmp)}
            (tmp / UNPACKED_RECORD).write_text(json.dumps(record, indent=0))
            os.replace(tmp, dest)
        except BaseException:
            remove(tmp)  # no half-extracted folder stays behind, whatever stopped it
            raise
    return dest


__all__ = [
    "ChecksumError", "DataUnavailableError", "UnpinnedHashError", "UnsafeFileError",
    "cached_path", "deadline_s", "expected_sha256", "extract_archive", "fetch", "is_cached", "load_npz", "unpack",
    "unpacked_intact", "verify_cache",
]
