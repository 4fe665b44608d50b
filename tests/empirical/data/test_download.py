"""Data folder lookup and the downloader, against a local HTTP server on 127.0.0.1 serving generated IDX files."""

import gzip
import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from empirical.data import download as dl
from empirical.data import idx

RNG = np.random.default_rng(0)
# Small stand-ins for the four files: raw IDX content and the SHA-256 of that content.
CONTENT = {
    name: idx.encode_idx(RNG.integers(0, 256, (5, 3, 3) if "images" in name else (5,), dtype=np.uint8))
    for name in dl.FILES
}
SUMS = {name: hashlib.sha256(raw).hexdigest() for name, raw in CONTENT.items()}
GZ = {name: gzip.compress(raw, compresslevel=9, mtime=0) for name, raw in CONTENT.items()}


class Server:
    """A local HTTP server: routes map a path to (status, body, declared Content-Length or None)."""

    def __init__(self):
        self.routes, self.requests = {}, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                outer.requests.append(self.path)
                status, body, length = outer.routes.get(self.path, (404, b"not found", None))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def serve(self, mirror, files, status=200, length=None):
        """Serve ``files`` (name -> .gz bytes) under /<mirror>/<name>.gz; returns the mirror's base URL."""
        for name, body in files.items():
            self.routes[f"/{mirror}/{name}.gz"] = (status, body, length)
        return f"{self.url}/{mirror}/"


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture
def unreachable():
    """A base URL on a 127.0.0.1 port nobody listens on (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No INVARIANCE_DATA, the cache and the Debian folder inside tmp_path."""
    monkeypatch.delenv("INVARIANCE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(dl, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    return tmp_path


def write_files(folder: Path, names=dl.FILES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.gz").write_bytes(GZ[name])
    return folder


def test_download_verifies_and_leaves_only_the_files(server, tmp_path):
    base = server.serve("m1", GZ)
    dest = dl.download("mnist", tmp_path / "d", mirrors=[base], checksums=SUMS, quiet=True)
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.gz" for n in dl.FILES)
    for name in dl.FILES:
        np.testing.assert_array_equal(idx.read_idx(dest / f"{name}.gz", sha256=SUMS[name]),
                                      idx.decode_idx(CONTENT[name]))
    before = len(server.requests)
    dl.download("mnist", dest, mirrors=[base], checksums=SUMS, quiet=True)
    assert len(server.requests) == before  # present files are not fetched again


def test_recompressed_copy_verifies(server, tmp_path):
    other = {n: gzip.compress(raw, compresslevel=1, mtime=12345) for n, raw in CONTENT.items()}
    assert all(other[n] != GZ[n] for n in dl.FILES)
    dest = dl.download("mnist", tmp_path, mirrors=[server.serve("m", other)], checksums=SUMS, quiet=True)
    assert all((dest / f"{n}.gz").read_bytes() == other[n] for n in dl.FILES)


def test_404_on_first_mirror_falls_over_to_second(server, tmp_path):
    first = f"{server.url}/gone/"
    second = server.serve("m2", GZ)
    dl.download("mnist", tmp_path, mirrors=[first, second], checksums=SUMS, quiet=True)
    assert server.requests[:2] == [f"/gone/{dl.FILES[0]}.gz", f"/m2/{dl.FILES[0]}.gz"]
    assert len(list(tmp_path.iterdir())) == len(dl.FILES)


@pytest.mark.parametrize("fault", ["checksum", "truncated-gzip", "short-body"])
def test_bad_file_raises_and_leaves_nothing(server, tmp_path, fault):
    name = dl.FILES[1]
    if fault == "checksum":
        corrupt = gzip.compress(CONTENT[name][:-1] + bytes([CONTENT[name][-1] ^ 1]))
        base, expect = server.serve("m", {name: corrupt}), "checksum mismatch"
    elif fault == "truncated-gzip":
        base, expect = server.serve("m", {name: GZ[name][:-10]}), "Compressed file ended"
    else:  # the server announces more bytes than it sends, then closes the connection
        base = server.serve("m", {name: GZ[name][:-10]}, length=len(GZ[name]))
        expect = f"truncated transfer: received {len(GZ[name]) - 10} of {len(GZ[name])} bytes"
    with pytest.raises(dl.DownloadError, match=expect) as err:
        dl.download("mnist", tmp_path / "d", mirrors=[base], checksums={name: SUMS[name]}, quiet=True)
    assert f"{base}{name}.gz" in str(err.value)
    assert list(tmp_path.iterdir()) == []  # the folder the downloader created is gone too


def test_corrupt_first_mirror_falls_over_to_second(server, tmp_path):
    name = dl.FILES[0]
    bad = server.serve("bad", {name: gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x00")})
    good = server.serve("good", GZ)
    dl.download("mnist", tmp_path, mirrors=[bad, good], checksums={name: SUMS[name]}, quiet=True)
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.gz"]


def test_interrupt_mid_download_leaves_nothing(server, tmp_path, monkeypatch):
    def interrupted(response, fh, bar):
        fh.write(response.read(10))
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "_stream", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dl.download("mnist", tmp_path, mirrors=[server.serve("m", GZ)], checksums=SUMS, quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_progress_bar_unless_quiet(server, tmp_path, capsys):
    base = server.serve("m", GZ)
    name = dl.FILES[3]
    dl.download("mnist", tmp_path / "a", mirrors=[base], checksums={name: SUMS[name]}, quiet=False)
    assert name in capsys.readouterr().err
    dl.download("mnist", tmp_path / "b", mirrors=[base], checksums={name: SUMS[name]}, quiet=True)
    assert capsys.readouterr().err == ""


def test_lookup_order(isolated, monkeypatch):
    explicit = write_files(isolated / "explicit" / "mnist")
    env = write_files(isolated / "env")  # files directly in the folder
    cache = write_files(isolated / "cache" / "genuine-invariance" / "mnist")
    monkeypatch.setenv("INVARIANCE_DATA", str(env))
    assert dl.locate("mnist", isolated / "explicit", download_missing=False) == explicit
    assert dl.locate("mnist", None, download_missing=False) == env
    (isolated / "empty").mkdir()
    # The option replaces the variable: an existing folder without the files falls through to the cache.
    assert dl.locate("mnist", isolated / "empty", download_missing=False) == cache
    monkeypatch.delenv("INVARIANCE_DATA")
    assert dl.locate("mnist", download_missing=False) == cache
    (explicit / f"{dl.FILES[2]}.gz").unlink()  # an incomplete folder is skipped
    assert dl.locate("mnist", isolated / "explicit", download_missing=False) == cache


LOOKUP_ORDER = ["--data-dir", "$INVARIANCE_DATA", "dataset-fashion-mnist", "genuine-invariance", "downloaded",
                "python -m empirical.data.download"]


def test_missing_data_dir_raises_even_when_the_variable_is_set(isolated, monkeypatch, server):
    monkeypatch.setenv("INVARIANCE_DATA", str(write_files(isolated / "env" / "mnist").parent))
    missing = isolated / "does" / "not" / "exist"
    for call in (lambda: dl.check_data_dir(missing),
                 lambda: dl.locate("mnist", missing, download_missing=False),
                 lambda: dl.locate("mnist", missing, mirrors=[server.serve("m", GZ)], checksums=SUMS, quiet=True)):
        with pytest.raises(dl.DataError) as err:
            call()
        msg = str(err.value)
        assert "\n" not in msg and msg.startswith(f"--data-dir {missing} does not exist; ")
        assert all(way in msg for way in LOOKUP_ORDER + [str(dl.DEBIAN_FASHION_MNIST)]), msg
    assert isinstance(err.value, ValueError) and not missing.exists() and server.requests == []


def test_check_data_dir(isolated, monkeypatch):
    dl.check_data_dir(None)  # nothing named: Debian's folder and the cache are used
    dl.check_data_dir(isolated)
    a_file = isolated / "file"
    a_file.write_text("")
    with pytest.raises(dl.DataError, match=f"^--data-dir {a_file} is not a folder; "):
        dl.check_data_dir(str(a_file))
    with pytest.raises(dl.DataError, match="^--data-dir is empty"):
        dl.check_data_dir("")
    monkeypatch.chdir(isolated)
    with pytest.raises(dl.DataError, match=f"^--data-dir nowhere \\(that is {isolated / 'nowhere'}\\) does not"):
        dl.check_data_dir("nowhere")
    monkeypatch.setenv("INVARIANCE_DATA", str(isolated / "gone"))
    with pytest.raises(dl.DataError, match=f"^INVARIANCE_DATA={isolated / 'gone'} does not exist; point it at"):
        dl.check_data_dir(None)
    with pytest.raises(dl.DataError, match="INVARIANCE_DATA="):
        dl.locate("mnist", download_missing=False)
    dl.check_data_dir(isolated)  # the option replaces the variable, so its folder is not checked
    monkeypatch.setenv("INVARIANCE_DATA", "")  # empty counts as unset
    dl.check_data_dir(None)


def test_failed_download_leaves_no_folder_behind(isolated, monkeypatch):
    def offline(*args, **kwargs):
        raise dl.urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(dl.urllib.request, "urlopen", offline)
    with pytest.raises(dl.DataNotFoundError, match="network is unreachable"):
        dl.locate("mnist", quiet=True)
    assert not (isolated / "cache").exists()  # not even the cache root the downloader created
    (isolated / "named").mkdir()
    with pytest.raises(dl.DataNotFoundError):
        dl.locate("mnist", isolated / "named", quiet=True)
    assert list((isolated / "named").iterdir()) == []  # the named folder stays, its new subfolder goes


def test_download_is_all_or_nothing(server, tmp_path):
    base = server.serve("m", {n: GZ[n] for n in dl.FILES[:2]})  # the third file is missing on the mirror
    with pytest.raises(dl.DownloadError, match=dl.FILES[2]):
        dl.download("mnist", tmp_path / "a" / "b", mirrors=[base], checksums=SUMS, quiet=True)
    assert list(tmp_path.iterdir()) == []
    kept = write_files(tmp_path / "c", dl.FILES[:1])  # files already there are not the downloader's to remove
    with pytest.raises(dl.DownloadError):
        dl.download("mnist", kept, mirrors=[base], checksums=SUMS, quiet=True)
    assert [p.name for p in kept.iterdir()] == [f"{dl.FILES[0]}.gz"]


def test_manifest_declares_a_subset(tmp_path):
    name = dl.FILES[0]
    official = dl.SHA256["mnist"][name]
    assert dl.accepted_sha256(tmp_path, "mnist", name) == (official,)
    (tmp_path / dl.MANIFEST).write_text(f"{'A' * 64}  {name}\n\n{'b' * 64}  mnist/{dl.FILES[1]}\n")
    assert dl.accepted_sha256(tmp_path, "mnist", name) == (official, "a" * 64)
    assert dl.accepted_sha256(tmp_path, "mnist", dl.FILES[1]) == (dl.SHA256["mnist"][dl.FILES[1]], "b" * 64)
    assert dl.accepted_sha256(tmp_path, "fmnist", dl.FILES[1]) == (dl.SHA256["fashion-mnist"][dl.FILES[1]],)
    assert dl.accepted_sha256(tmp_path, "mnist", dl.FILES[2]) == (dl.SHA256["mnist"][dl.FILES[2]],)
    (tmp_path / dl.MANIFEST).write_text(f"{name}\n")
    with pytest.raises(dl.DataError, match="line 1 is not '<64 hex digits>  <file name>'"):
        dl.accepted_sha256(tmp_path, "mnist", name)


def test_debian_folder_for_fashion_mnist_only(isolated):
    debian = write_files(isolated / "debian")
    assert dl.candidate_dirs("fmnist")[-2:] == [debian, dl.cache_dir("fashion-mnist")]
    assert dl.locate("fashion-mnist", download_missing=False) == debian
    assert debian not in dl.candidate_dirs("mnist")


def test_locate_downloads_into_the_named_folder_once(isolated, server):
    base = server.serve("m", GZ)
    (isolated / "data").mkdir()  # a named folder must exist; its <dataset>/ subfolder is created
    folder = dl.locate("mnist", isolated / "data", mirrors=[base], checksums=SUMS, quiet=True)
    assert folder == isolated / "data" / "mnist" and len(list(folder.iterdir())) == len(dl.FILES)
    n = len(server.requests)
    assert dl.locate("mnist", isolated / "data", mirrors=[base], checksums=SUMS, quiet=True) == folder
    assert len(server.requests) == n
    cached = dl.locate("mnist", mirrors=[base], checksums=SUMS, quiet=True)  # nothing named: the cache
    assert cached == isolated / "cache" / "genuine-invariance" / "mnist"


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_offline_error_lists_every_way(isolated, unreachable, dataset):
    with pytest.raises(dl.DataNotFoundError) as err:
        dl.locate(dataset, mirrors=[unreachable], quiet=True, timeout=5)
    msg = str(err.value)
    cache = dl.cache_dir(dataset)
    for way in ["--data-dir", "INVARIANCE_DATA", str(cache), unreachable, "download failed", "network"]:
        assert way in msg, way
    assert ("dataset-fashion-mnist" in msg) == (dataset == "fashion-mnist")
    assert not (isolated / "cache").exists()  # no empty folder left behind, not even the cache root
    with pytest.raises(dl.DataNotFoundError, match="downloading is switched off"):
        dl.locate(dataset, download_missing=False)


def test_names_and_cache_folder(monkeypatch, tmp_path):
    assert dl.canonical_name("FMNIST") == "fashion-mnist" and dl.canonical_name("mnist") == "mnist"
    with pytest.raises(ValueError, match="unknown dataset 'kmnist'; known datasets: .*fashion-mnist"):
        dl.canonical_name("kmnist")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert dl.cache_dir("mnist") == tmp_path / "genuine-invariance" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert dl.cache_dir("fmnist") == tmp_path / "home" / ".cache" / "genuine-invariance" / "fashion-mnist"


def test_official_constants():
    assert set(dl.MIRRORS) == set(dl.SHA256) == {"mnist", "fashion-mnist"}
    assert dl.MIRRORS["mnist"][0].startswith("https://ossci-datasets.s3.amazonaws.com/mnist/")
    for sums in dl.SHA256.values():
        assert set(sums) == set(dl.FILES) and all(len(h) == 64 and int(h, 16) >= 0 for h in sums.values())
