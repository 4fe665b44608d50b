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
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

__all__ = ["StoreError", "write_bytes", "write_text", "write_json", "read_entry", "write_entry", "save_torch",
           "load_torch", "save_json", "load_json", "quarantine", "clean_orphans", "entry_lock", "check_writable",
           "merged_output"]

log = logging.getLogger("empirical.engine.store")

_MAGIC = b"genuine-invariance store v1 sha256="
_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")


class StoreError(OSError):
    """A write failed for a reason the user must fix (disk full, no permission); the message says which."""


def _explain(exc: OSError, path: Path) -> StoreError:
    """The OS error of a write as one plain sentence that names the path and the fix."""
    if exc.errno == errno.ENOSPC:
        why = "the disk is full; free some space or point --cache-dir / --out to another disk"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "permission denied (or a read-only file system); choose a writable --cache-dir / --out"
    else:
        why = exc.strerror or str(exc)
    return StoreError(exc.errno, f"cannot write {path}: {why}")


def write_bytes(data: bytes, path: Path) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename); errors name the fix."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise _explain(exc, path) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(text: str, path: Path) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return write_bytes(text.encode(), path)


def write_json(obj: Any, path: Path) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return write_text(json.dumps(obj, indent=2) + "\n", path)


def check_writable(folder: Path) -> Path:
    """Create ``folder`` if needed and prove it writable now (before hours of work), else raise StoreError."""
    folder = Path(folder)
    probe = folder / f".write-probe.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
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


def read_entry(path: Path) -> bytes | None:
    """The verified payload of a cache entry; None when absent or corrupt (then moved aside)."""
    return _read(Path(path))[0]


def _read(path: Path) -> tuple[bytes | None, bool]:
    """(payload, legacy). A file without the header was written before entries were checksummed:
    its payload is returned unverified (the typed loaders check it parses, then rewrite it framed)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, False
    if not raw.startswith(_MAGIC):
        return (raw, True) if raw else (_bad(path, "empty file"), False)
    head, sep, payload = raw.partition(b"\n")
    if not sep:
        return _bad(path, "truncated header"), False
    if hashlib.sha256(payload).hexdigest().encode() != head[len(_MAGIC):]:
        return _bad(path, "checksum mismatch: truncated or altered"), False
    return payload, False


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
    payload, legacy = _read(path)
    if payload is None:
        return None
    try:
        obj = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=False)
    except Exception as exc:  # any unpickling failure means the bytes are not what we wrote
        return _bad(path, f"unreadable: {type(exc).__name__}")
    if legacy:
        save_torch(obj, path)
    return obj


def save_json(obj: Any, path: Path) -> Path:
    """Write ``obj`` as a checksummed JSON entry."""
    return write_entry((json.dumps(obj, indent=1) + "\n").encode(), path)


def load_json(path: Path) -> Any | None:
    """The object of a ``save_json`` entry; None when absent or corrupt."""
    path = Path(path)
    payload, legacy = _read(path)
    if payload is None:
        return None
    try:
        obj = json.loads(payload)
    except ValueError as exc:
        return _bad(path, f"unreadable JSON: {exc}")
    if legacy:
        save_json(obj, path)
    return obj


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


@contextlib.contextmanager
def merged_output(path: Path, new: dict[str, Any], rows: dict[str, Callable[[dict], Any]],
                  lock_dir: Path) -> Iterator[dict[str, Any]]:
    """Write the JSON output ``new`` at ``path`` merged with what is there; yields the merged document.

    For each list field in ``rows`` (field -> key of a row), the rows already in the file whose
    key ``new`` does not have are kept, so two commands or processes writing one ``--out`` (e.g.
    ``--groups R4`` and ``--groups T3`` side by side) never drop each other's rows. A file at
    another scale is replaced, never mixed (logged). The lock is held until the block ends, so
    what the caller renders from the merged document (markdown, figures) matches the JSON.
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
        for field, key in rows.items():
            fresh = {key(r) for r in new.get(field, [])}
            kept = [r for r in (old or {}).get(field, []) if key(r) not in fresh]
            merged[field] = kept + list(new.get(field, []))
        write_json(merged, path)
        yield merged


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_orphans(folder: Path) -> list[Path]:
    """Remove the temporary files that killed writers left in ``folder`` (their process is gone)."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        m = _TMP.match(p.name)
        if m and not _alive(int(m["pid"])):
            p.unlink(missing_ok=True)
            removed.append(p)
    if removed:
        log.info("removed %d orphaned temporary file(s) in %s", len(removed), folder)
    return removed
