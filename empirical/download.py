"""Where the MNIST / Fashion-MNIST IDX files live, and a verified, atomic downloader for them.

Lookup order for a dataset's folder (the first that holds all four files wins):

1. ``data_dir`` (the command-line option ``--data-dir``): its ``<dataset>/`` subfolder, else the folder itself;
2. the environment variable ``INVARIANCE_DATA``, read the same way (``/work/shared/data`` has this layout);
3. Debian's ``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``), Fashion-MNIST only;
4. the user cache ``$XDG_CACHE_HOME/genuine-invariance/<dataset>`` (``~/.cache`` when unset).

When none holds the files, the official archives are downloaded (mirrors in order) into
``<data_dir or INVARIANCE_DATA>/<dataset>`` when a folder was named, else into the cache. Each file
is streamed into a temporary file in the destination folder, its decompressed content checked
against the SHA-256 below, and only then renamed into place (``os.replace``); on any error,
KeyboardInterrupt included, the temporary file is removed, so nothing partial is ever left.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Sequence

__all__ = [
    "FILES",
    "MIRRORS",
    "SHA256",
    "DEBIAN_FASHION_MNIST",
    "DataNotFoundError",
    "DownloadError",
    "canonical_name",
    "cache_dir",
    "candidate_dirs",
    "find_file",
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
_ALIASES = MappingProxyType({"mnist": "mnist", "fashion-mnist": "fashion-mnist", "fmnist": "fashion-mnist",
                             "fashion_mnist": "fashion-mnist"})
_CHUNK = 1 << 16


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


def _explicit(data_dir: str | Path | None) -> list[Path]:
    named = [data_dir, os.environ.get("INVARIANCE_DATA") or None]
    return [Path(d).expanduser() for d in named if d is not None and str(d) != ""]


def candidate_dirs(dataset: str, data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for a dataset, in order (see the module docstring)."""
    name = canonical_name(dataset)
    out: list[Path] = []
    for root in _explicit(data_dir):
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

    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest)
    try:
        with os.fdopen(fd, "wb") as fh, urllib.request.urlopen(url, timeout=timeout) as response:
            total = response.headers.get("Content-Length")
            with tqdm(total=int(total) if total else None, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=name, disable=quiet, leave=False) as bar:
                received = _stream(response, fh, bar)
        if total and received != int(total):  # a connection closed early ends the stream without an error
            raise DownloadError(f"truncated transfer: received {received} of {total} bytes")
        digest = _decompressed_sha256(Path(tmp))
        if digest != sha256:
            raise DownloadError(f"checksum mismatch: SHA-256 of the decompressed content is {digest}, "
                                f"expected {sha256}")
        with open(tmp, "rb") as fh:
            target = dest / (f"{name}.gz" if fh.read(2) == b"\x1f\x8b" else name)
        os.replace(tmp, target)
        return target
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    dest.mkdir(parents=True, exist_ok=True)
    for file, sha in checksums.items():
        if find_file(dest, file) is not None:
            continue
        failures = []
        for base in mirrors:
            url = f"{base}{file}.gz"
            try:
                _fetch_one(url, dest, file, sha.lower(), quiet, timeout)
                break
            except (urllib.error.URLError, http.client.HTTPException, OSError, EOFError, zlib.error) as err:
                failures.append(f"  {url}: {err}")
        else:
            raise DownloadError(f"could not download {file} for {name} into {dest}:\n" + "\n".join(failures))
    return dest


def _complete(folder: Path, names) -> bool:
    return all(find_file(folder, n) is not None for n in names)


def locate(dataset: str, data_dir: str | Path | None = None, *, download_missing: bool = True,
           quiet: bool = False, mirrors: Sequence[str] | None = None,
           checksums: Mapping[str, str] | None = None, timeout: float = 30.0) -> Path:
    """The folder holding the four IDX files of ``dataset``: searched, else downloaded (DataNotFoundError if neither)."""
    name = canonical_name(dataset)
    names = tuple(checksums) if checksums is not None else FILES
    searched = candidate_dirs(name, data_dir)
    for folder in searched:
        if _complete(folder, names):
            return folder
    explicit = _explicit(data_dir)
    dest = explicit[0] / name if explicit else cache_dir(name)
    reason = "downloading is switched off"
    if download_missing:
        try:
            return download(name, dest, mirrors=mirrors, checksums=checksums, quiet=quiet, timeout=timeout)
        except (DownloadError, OSError) as err:
            reason = f"the download failed: {err}"
            if dest.is_dir() and not any(dest.iterdir()):
                dest.rmdir()  # leave no empty folder behind
    ways = [
        "  - pass --data-dir DIR (a folder holding the files, or holding a '{0}/' subfolder with them)",
        "  - set the environment variable INVARIANCE_DATA=DIR (same layout)",
    ]
    if name == "fashion-mnist":
        ways.append(f"  - install Debian's package: sudo apt install dataset-fashion-mnist (-> {DEBIAN_FASHION_MNIST})")
    ways += [f"  - put the files into the cache folder {cache_dir(name)}",
             "  - connect to the network and run again: the files are downloaded from "
             + ", ".join(MIRRORS[name] if mirrors is None else mirrors)]
    files = ", ".join(f"{n}.gz" for n in names)
    raise DataNotFoundError(
        f"{name}: none of these folders holds all of {files}:\n"
        + "\n".join(f"  {f}" for f in searched)
        + f"\nand {reason}\nProvide the data in one of these ways:\n" + "\n".join(w.format(name) for w in ways))
