"""Where the MNIST / Fashion-MNIST IDX files live, and a verified, atomic downloader for them.

Lookup order for a dataset's folder (the first that holds all four files wins):

1. ``data_dir`` (the command-line option ``--data-dir``): its ``<dataset>/`` subfolder, else the folder itself;
2. the environment variable ``INVARIANCE_DATA``, read the same way, but only when no ``data_dir`` is given:
   the option replaces the variable, it does not fall back to it;
3. Debian's ``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``), Fashion-MNIST only;
4. the user cache ``$XDG_CACHE_HOME/genuine-invariance/<dataset>`` (``~/.cache`` when unset).

A named folder (``data_dir``, else ``INVARIANCE_DATA``) must exist: :func:`check_data_dir` raises
:class:`DataError` otherwise, so a typo is reported instead of silently using another copy.

When none holds the files, the official archives are downloaded (mirrors in order) into
``<data_dir or INVARIANCE_DATA>/<dataset>`` when a folder was named, else into the cache. Each file
is streamed into a temporary file in the destination folder, its decompressed content checked
against the SHA-256 below, and only then renamed into place (``theory.atomic``). A download is all or
nothing: on any error, KeyboardInterrupt included, the temporary file, the files fetched by that call
and the folders it created are removed.

A folder may carry ``SHA256SUMS.decompressed`` (``<sha256>  <file name>`` lines, the SHA-256 of each
file's decompressed content): the files it lists are then accepted with those digests as well as the
official ones. That is how a deliberate subset, such as the test fixture ``tests/fixtures/data``,
declares itself; its bytes are still verified, but they are not the official dataset.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Sequence

from theory import atomic

__all__ = [
    "FILES",
    "MIRRORS",
    "SHA256",
    "DEBIAN_FASHION_MNIST",
    "MANIFEST",
    "DOWNLOAD_COMMAND",
    "DataError",
    "DataNotFoundError",
    "DownloadError",
    "canonical_name",
    "cache_dir",
    "how_to_get_data",
    "check_data_dir",
    "candidate_dirs",
    "find_file",
    "accepted_sha256",
    "download",
    "locate",
]

# The four standard files, without the .gz suffix; both "<name>.gz" and "<name>" are accepted on disk.
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

MIRRORS = MappingProxyType({
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
})

# SHA-256 of the decompressed files (from SHA256SUMS.decompressed), so recompressed copies verify too.
SHA256 = MappingProxyType({
    "mnist": MappingProxyType({
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }),
    "fashion-mnist": MappingProxyType({
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    }),
})

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
# A folder's own list of decompressed SHA-256 digests (the format of the shared data's manifest).
MANIFEST = "SHA256SUMS.decompressed"
# The downloader command (``main`` below): locate() downloads whatever the lookup does not find.
DOWNLOAD_COMMAND = "python -m empirical.data.download [--data-dir DIR]"
_ALIASES = MappingProxyType({"mnist": "mnist", "fashion-mnist": "fashion-mnist", "fmnist": "fashion-mnist",
                             "fashion_mnist": "fashion-mnist"})
_CHUNK = 1 << 16


class DataError(ValueError):
    """A data folder is unusable (--data-dir or $INVARIANCE_DATA missing, a bad manifest); the message names the fix."""


class DataNotFoundError(FileNotFoundError):
    """No folder holds the dataset and it could not be downloaded; the message lists every way to provide it."""


class DownloadError(OSError):
    """Every mirror failed for a file (unreachable, HTTP error, truncated, or checksum mismatch)."""


def canonical_name(dataset: str) -> str:
    """'mnist' or 'fashion-mnist' for a dataset name (aliases 'fmnist', 'fashion_mnist'); ValueError otherwise."""
    key = str(dataset).lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown dataset {dataset!r}; known datasets: {', '.join(sorted(_ALIASES))}")
    return _ALIASES[key]


def cache_dir(dataset: str) -> Path:
    """The user cache folder for a dataset: $XDG_CACHE_HOME (or ~/.cache)/genuine-invariance/<dataset>."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "genuine-invariance" / canonical_name(dataset)


def how_to_get_data() -> str:
    """One line on how the data is found and fetched: the lookup order and the download command."""
    cache = cache_dir("mnist").parent
    return (f"the data folder is --data-dir DIR, else $INVARIANCE_DATA (a folder holding mnist/ and "
            f"fashion-mnist/, or the IDX files themselves), else {DEBIAN_FASHION_MNIST} (Debian package "
            f"dataset-fashion-mnist, Fashion-MNIST only), else the user cache {cache}/<dataset>; files missing "
            f"from all of them are downloaded into the named folder or the cache: {DOWNLOAD_COMMAND}")


def _named(data_dir: str | Path | None) -> tuple[str, Path] | None:
    """('--data-dir', path) when data_dir is given, else ('INVARIANCE_DATA', path) when set, else None."""
    if data_dir is not None:
        return "--data-dir", Path(data_dir).expanduser()
    env = os.environ.get("INVARIANCE_DATA")
    # An empty variable counts as unset, as the shell convention has it.
    return ("INVARIANCE_DATA", Path(env).expanduser()) if env else None


def check_data_dir(data_dir: str | Path | None) -> None:
    """Raise DataError unless the named data folder (``data_dir``, else $INVARIANCE_DATA) is an existing folder.

    Cheap (no file is read), so a command calls it before any work. Nothing named passes: the lookup
    then uses Debian's folder and the user cache.
    """
    if data_dir is not None and str(data_dir) == "":
        raise DataError(f"--data-dir is empty; pass a folder or leave the option out: {how_to_get_data()}")
    named = _named(data_dir)
    if named is None:
        return
    option, path = named
    if path.is_dir():
        return
    given = f"{option} {path}" if option == "--data-dir" else f"{option}={path}"
    if not path.is_absolute():
        given += f" (that is {path.resolve()})"
    problem = "is not a folder" if path.exists() else "does not exist"
    fix = "pass an existing folder or leave the option out" if option == "--data-dir" else \
        "point it at an existing folder or unset it"
    raise DataError(f"{given} {problem}; {fix} (create the folder first to download into it): {how_to_get_data()}")


def candidate_dirs(dataset: str, data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for a dataset, in order (see the module docstring)."""
    name = canonical_name(dataset)
    out: list[Path] = []
    named = _named(data_dir)
    if named is not None:
        root = named[1]
        out += [root / name, root]
    if name == "fashion-mnist":
        out.append(DEBIAN_FASHION_MNIST)
    out.append(cache_dir(name))
    return out


def find_file(folder: str | Path, name: str) -> Path | None:
    """``folder/name.gz`` or ``folder/name`` when it is a file (the compressed copy preferred), else None."""
    for candidate in (Path(folder) / f"{name}.gz", Path(folder) / name):
        if candidate.is_file():
            return candidate
    return None


def accepted_sha256(folder: str | Path, dataset: str, name: str) -> tuple[str, ...]:
    """The digests the decompressed content of file ``name`` in ``folder`` may have: the official one, then
    the one ``folder/SHA256SUMS.decompressed`` lists for it, if any (a declared subset such as the fixture)."""
    dataset = canonical_name(dataset)
    official = SHA256[dataset][name]
    manifest = Path(folder) / MANIFEST
    if not manifest.is_file():
        return (official,)
    listed = {}
    for number, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        digest = parts[0].lower() if parts else ""
        if len(parts) != 2 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise DataError(f"{manifest}: line {number} is not '<64 hex digits>  <file name>'; fix the line "
                            f"or delete the file to require the official checksums")
        # The shared data's manifest names files as '<dataset>/<file>': skip the other dataset's lines.
        prefix, _, file = parts[1].lstrip("*").rpartition("/")
        if prefix in ("", dataset):
            listed[file.removesuffix(".gz")] = digest
    return (official,) if listed.get(name, official) == official else (official, listed[name])


def _decompressed_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _stream(response, fh, bar) -> int:
    """Copy the HTTP response body into the open file ``fh``, advancing the progress bar; returns the byte count."""
    count = 0
    for block in iter(lambda: response.read(_CHUNK), b""):
        fh.write(block)
        bar.update(len(block))
        count += len(block)
    return count


def _fetch_one(url: str, dest: Path, name: str, sha256: str, quiet: bool, timeout: float) -> Path:
    from tqdm.auto import tqdm  # only needed when actually downloading

    with atomic.atomic_write(dest / name) as pending, open(pending.tmp, "wb") as fh, \
            urllib.request.urlopen(url, timeout=timeout) as response:
        total = response.headers.get("Content-Length")
        with tqdm(total=int(total) if total else None, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=name, disable=quiet, leave=False) as bar:
            received = _stream(response, fh, bar)
        fh.close()
        if total and received != int(total):  # a connection closed early ends the stream without an error
            raise DownloadError(f"truncated transfer: received {received} of {total} bytes")
        digest = _decompressed_sha256(pending.tmp)
        if digest != sha256:
            raise DownloadError(f"checksum mismatch: SHA-256 of the decompressed content is {digest}, "
                                f"expected {sha256}")
        with open(pending.tmp, "rb") as head:
            if head.read(2) == b"\x1f\x8b":
                pending.target = dest / f"{name}.gz"
    return pending.target


def download(dataset: str, dest: str | Path, *, mirrors: Sequence[str] | None = None,
             checksums: Mapping[str, str] | None = None, quiet: bool = False, timeout: float = 30.0) -> Path:
    """Download the files of ``dataset`` missing from ``dest`` (mirrors in order), verified and atomic; returns dest.

    ``mirrors`` (base URLs ending in '/') and ``checksums`` (file name -> SHA-256 of the decompressed
    content; its keys are the files fetched) default to the official ``MIRRORS`` and ``SHA256``.
    """
    name = canonical_name(dataset)
    mirrors = tuple(MIRRORS[name] if mirrors is None else mirrors)
    checksums = dict(SHA256[name] if checksums is None else checksums)
    if not mirrors:
        raise ValueError("download needs at least one mirror URL")
    dest = Path(dest)
    created = _make_dirs(dest)
    fetched: list[Path] = []
    try:
        for file, sha in checksums.items():
            if find_file(dest, file) is not None:
                continue
            failures = []
            for base in mirrors:
                url = f"{base}{file}.gz"
                try:
                    fetched.append(_fetch_one(url, dest, file, sha.lower(), quiet, timeout))
                    break
                except (urllib.error.URLError, http.client.HTTPException, OSError, EOFError, zlib.error) as err:
                    failures.append(f"  {url}: {err}")
            else:
                raise DownloadError(f"could not download {file} for {name} into {dest}:\n" + "\n".join(failures))
    except BaseException:
        # All or nothing: a dataset with some of its files would be found incomplete and confuse the next run.
        for path in fetched:
            path.unlink(missing_ok=True)
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:  # not empty: something else wrote into it meanwhile, so it is not ours to remove
                pass
        raise
    return dest


def _make_dirs(dest: Path) -> list[Path]:
    """Create ``dest`` and its missing parents; returns the folders this call created, outermost first."""
    missing = []
    folder = dest
    while not folder.is_dir():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    created = []
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                if not folder.is_dir():
                    raise
                continue  # created concurrently by someone else: not ours to remove
            created.append(folder)
    except BaseException:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return created


def _complete(folder: Path, names) -> bool:
    return all(find_file(folder, n) is not None for n in names)


def locate(dataset: str, data_dir: str | Path | None = None, *, download_missing: bool = True,
           quiet: bool = False, mirrors: Sequence[str] | None = None,
           checksums: Mapping[str, str] | None = None, timeout: float = 30.0) -> Path:
    """The folder holding the four IDX files of ``dataset``: searched, else downloaded (DataNotFoundError if neither).

    DataError first when ``data_dir`` (else $INVARIANCE_DATA) names a folder that does not exist.
    """
    name = canonical_name(dataset)
    check_data_dir(data_dir)
    names = tuple(checksums) if checksums is not None else FILES
    searched = candidate_dirs(name, data_dir)
    for folder in searched:
        if _complete(folder, names):
            return folder
    named = _named(data_dir)
    dest = named[1] / name if named is not None else cache_dir(name)
    reason = "downloading is switched off"
    if download_missing:
        try:
            return download(name, dest, mirrors=mirrors, checksums=checksums, quiet=quiet, timeout=timeout)
        except (DownloadError, OSError) as err:  # download() has removed whatever it wrote
            reason = f"the download failed: {err}"
    ways = ["pass --data-dir DIR (a folder holding the files, or a '{0}/' subfolder with them)",
            "set INVARIANCE_DATA=DIR (same layout)"]
    if name == "fashion-mnist":
        ways.append(f"install Debian's dataset-fashion-mnist (-> {DEBIAN_FASHION_MNIST})")
    ways += [f"put the files into {cache_dir(name)}",
             "connect to the network to download them from " + ", ".join(MIRRORS[name] if mirrors is None else mirrors)]
    # one line: the command prints it as its whole error
    raise DataNotFoundError(f"{name}: no folder holds its 4 IDX files (looked in {', '.join(map(str, searched))}) "
                            f"and {reason}; " + "; or ".join(w.format(name) for w in ways))
