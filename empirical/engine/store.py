"""The run store: every file the suite writes, atomic; cache entries checksummed, verified and locked.

Outputs (tables, figures) are written with :func:`write_bytes` / :func:`write_text` /
:func:`write_json`: a temporary file beside the target, then a rename, so a reader never sees
half a file. Cache entries (trained runs, stack checkpoints, evaluations) are *framed*: one
header line with the SHA-256 of the payload, then the payload. A read whose checksum fails, or
whose payload does not parse, moves the file aside into ``<cache>/corrupt/`` (never deletes
it), logs one line naming it, and answers "absent", so the caller retrains or re-evaluates.
Processes sharing a cache coordinate through one lock file per entry (``filelock``: an OS
lock, released when its process dies, so a killed process never blocks the others).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from theory import atomic

__all__ = ["StoreError", "write_bytes", "write_text", "write_json", "is_entry", "read_entry", "write_entry",
           "save_torch", "load_torch", "save_json", "load_json", "quarantine", "clean_orphans", "entry_lock",
           "check_writable", "merged_output", "combine_provenance"]

log = logging.getLogger("empirical.engine.store")

_MAGIC = b"genuine-invariance store v1 sha256="


class StoreError(OSError):
    """A write failed for a reason the user must fix (disk full, no permission); the message says which."""

    def __str__(self) -> str:  # the sentence alone, without OSError's "[Errno N]" prefix
        return self.strerror or super().__str__()


def _explain(exc: OSError, path: Path) -> StoreError:
    """The OS error of a write as one plain sentence that names the path and the fix."""
    if exc.errno == errno.ENOSPC:
        why = "the disk is full; free some space or point --cache-dir / --out to another disk"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "permission denied (or a read-only file system); choose a writable --cache-dir / --out"
    else:
        why = f"{exc.strerror or exc}; choose another folder for --out / --cache-dir"
    return StoreError(exc.errno, f"cannot write {path}: {why}")


def write_bytes(data: bytes, path: Path) -> Path:
    """Write ``data`` to ``path`` atomically (``theory.atomic``: temporary file, fsync, rename); errors name the fix."""
    try:
        return atomic.write_bytes(data, path)
    except OSError as exc:
        raise _explain(exc, Path(path)) from exc


def write_text(text: str, path: Path) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return write_bytes(text.encode(), path)


def write_json(obj: Any, path: Path) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return write_text(json.dumps(obj, indent=2) + "\n", path)


def check_writable(folder: Path) -> Path:
    """Prove ``folder`` can be written (before hours of work) without creating it, else raise StoreError.

    The folder, or its nearest existing parent, must be a writable folder; writers create what is missing when
    they first write, so a command stopped before its first output leaves no empty folder behind.
    """
    folder = Path(folder)
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise StoreError(errno.ENOTDIR, f"cannot write {folder}: {existing} is a file, not a folder; choose another "
                                        "--out / --cache-dir")
    probe = existing / f".write-probe.{os.getpid()}.tmp"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise _explain(exc, folder) from exc
    return folder


def write_entry(payload: bytes, path: Path) -> Path:
    """Write a cache entry: a header line with the payload's SHA-256, then the payload (atomically)."""
    digest = hashlib.sha256(payload).hexdigest().encode()
    return write_bytes(_MAGIC + digest + b"\n" + payload, path)


def quarantine(path: Path, reason: str) -> Path | None:
    """Move a bad entry into ``corrupt/`` beside it (never delete it) and log one line saying why."""
    path = Path(path)
    dest = path.parent / "corrupt" / f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.{os.getpid()}"
    try:
        dest.parent.mkdir(exist_ok=True)
        os.replace(path, dest)
    except FileNotFoundError:  # another process moved it first
        return None
    log.warning("corrupt cache entry %s (%s): moved to %s; it will be recomputed", path, reason, dest)
    return dest


def is_entry(path: Path) -> bool:
    """Whether the file at ``path`` starts like a cache entry of this store (read-only: nothing is moved)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(_MAGIC)) == _MAGIC
    except OSError:
        return False


def read_entry(path: Path) -> bytes | None:
    """The verified payload of a cache entry; None when absent or corrupt (then moved aside).

    A file without the checksum header is not trusted: it was written by another tool (a plain ``torch.save``,
    an edited JSON) or by a version before entries were checksummed, so nothing vouches for its content.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if not raw.startswith(_MAGIC):
        return _bad(path, "no checksum header: not written by this store" if raw else "empty file")
    head, sep, payload = raw.partition(b"\n")
    if not sep:
        return _bad(path, "truncated header")
    if hashlib.sha256(payload).hexdigest().encode() != head[len(_MAGIC):]:
        return _bad(path, "checksum mismatch: truncated or altered")
    return payload


def _bad(path: Path, reason: str) -> None:
    quarantine(path, reason)
    return None


def save_torch(obj: Any, path: Path) -> Path:
    """Serialize ``obj`` with ``torch.save`` in memory, then write it as a checksummed entry."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return write_entry(buf.getvalue(), path)


def load_torch(path: Path, map_location: str | torch.device = "cpu") -> Any | None:
    """The object of a ``save_torch`` entry; None when absent or corrupt."""
    path = Path(path)
    payload = read_entry(path)
    if payload is None:
        return None
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=False)
    except Exception as exc:  # any unpickling failure means the bytes are not what we wrote
        return _bad(path, f"unreadable: {type(exc).__name__}")


def save_json(obj: Any, path: Path) -> Path:
    """Write ``obj`` as a checksummed JSON entry."""
    return write_entry((json.dumps(obj, indent=1) + "\n").encode(), path)


def load_json(path: Path) -> Any | None:
    """The object of a ``save_json`` entry; None when absent or corrupt."""
    path = Path(path)
    payload = read_entry(path)
    if payload is None:
        return None
    try:
        return json.loads(payload)
    except ValueError as exc:
        return _bad(path, f"unreadable JSON: {exc}")


def entry_lock(path: Path, folder: Path | None = None):
    """An inter-process lock for the file at ``path`` (a ``filelock.FileLock`` in ``folder``, default ``locks/``
    beside it; a lock of a file outside the cache is named by the hash of its absolute path)."""
    from filelock import FileLock

    path = Path(path)
    if folder is None:
        folder, name = path.parent / "locks", path.name
    else:
        name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16] + "-" + path.name
    Path(folder).mkdir(parents=True, exist_ok=True)
    return FileLock(str(Path(folder) / f"{name}.lock"))


def combine_provenance(parts: dict[str, dict | None]) -> dict:
    """One provenance for an output assembled from ``parts`` (name -> its provenance): the common one; else the
    oldest engine, each part's code named, and every other field that differs listing its values; {} (unknown)
    when any part recorded none."""
    provs = list(parts.values())
    if not provs or not all(p and "engine" in p for p in provs):
        return {}
    if all(p == provs[0] for p in provs):
        return dict(provs[0])
    out = {}
    for k in dict.fromkeys(k for p in provs for k in p):
        values = list(dict.fromkeys(json.dumps(p.get(k), sort_keys=True) for p in provs))
        out[k] = provs[0].get(k) if len(values) == 1 else ", ".join(json.loads(v) if isinstance(json.loads(v), str)
                                                                     else v for v in values)
    codes = {p.get("code", "?") for p in provs}
    named = ", ".join(f"{n} {p.get('code', '?')}" for n, p in parts.items())
    return {**out, "engine": min(p["engine"] for p in provs), "code": codes.pop() if len(codes) == 1 else named}


@contextlib.contextmanager
def merged_output(path: Path, new: dict[str, Any], rows: dict[str, Callable[[dict], Any]],
                  lock_dir: Path) -> Iterator[dict[str, Any]]:
    """Write the JSON output ``new`` at ``path`` merged with what is there; yields the merged document.

    For each list field in ``rows`` (field -> key of a row), the rows already in the file whose
    key ``new`` does not have are kept, so two commands or processes writing one ``--out`` (e.g.
    ``--groups R4`` and ``--groups T3`` side by side) never drop each other's rows. A file at
    another scale is replaced, never mixed (logged). Every row carries the provenance of the command that wrote
    it, and the document's provenance combines them (``combine_provenance``: the oldest engine wins), so rows
    kept from an older file are never restamped. The lock is held until the block ends, so what the caller
    renders from the merged document (markdown, figures) matches the JSON.
    """
    path = Path(path)
    with entry_lock(path, lock_dir):
        try:
            old = json.loads(path.read_text())
        except FileNotFoundError:
            old = None
        except ValueError:
            log.warning("%s is not valid JSON; it is replaced", path)
            old = None
        if old is not None and old.get("scale") != new.get("scale"):
            log.warning("%s held results at another scale; replaced by this run's", path)
            old = None
        merged = dict(new)
        sources: dict[str, dict | None] = {}
        for field, key in rows.items():
            # each row carries the provenance of the run that wrote it: a kept row keeps its own
            fresh = [{**r, "provenance": r.get("provenance", new.get("provenance"))} for r in new.get(field, [])]
            names = {key(r) for r in fresh}
            kept = [{**r, "provenance": r.get("provenance", old.get("provenance"))}
                    for r in (old or {}).get(field, []) if key(r) not in names]
            merged[field] = kept + fresh
            sources.update({f"{field} {key(r)}": r["provenance"] for r in merged[field]})
        if sources and "provenance" in new:
            merged["provenance"] = combine_provenance(sources)
        write_json(merged, path)
        yield merged


def clean_orphans(folder: Path) -> list[Path]:
    """Remove the temporary files that killed writers left in ``folder`` (their process is gone); log how many."""
    removed = atomic.clean_orphans(folder)
    if removed:
        log.info("removed %d orphaned temporary file(s) in %s", len(removed), folder)
    return removed
