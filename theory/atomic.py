"""Atomic writes: a reader sees the old file or the new one, never half of one (torch-free; the one implementation).

A write goes to a temporary file beside its target, named ``.<target>.<pid>-<n>.tmp``, is flushed to disk
(fsync) and renamed onto the target (``os.replace``, atomic on POSIX). On any error, KeyboardInterrupt
included, the temporary file is removed. A process killed mid-write cannot remove it; the pid in its
name lets :func:`clean_orphans` tell such a leftover from a write in progress and remove it later.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

__all__ = ["Pending", "atomic_write", "write_bytes", "clean_orphans", "is_temporary"]

_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)(?:-\d+)?\.tmp$")  # older writers left no -<n>
_COUNTER = itertools.count()


@dataclass
class Pending:
    """A write in progress: the block writes ``tmp``; ``target`` (changeable until the block ends) receives it."""

    tmp: Path
    target: Path


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Pending]:
    """A temporary path beside ``path`` for the block to write; renamed onto the target when the block succeeds.

    The folder is created if needed; the file ends readable by everyone (0644), as a plain ``open`` makes it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pending = Pending(path.with_name(f".{path.name}.{os.getpid()}-{next(_COUNTER)}.tmp"), path)
    try:
        yield pending
        with open(pending.tmp, "rb+") as fh:  # what the block wrote reaches the disk before the rename
            os.fsync(fh.fileno())
        os.chmod(pending.tmp, 0o644)
        os.replace(pending.tmp, pending.target)
    finally:
        pending.tmp.unlink(missing_ok=True)


def write_bytes(data: bytes, path: str | Path) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_write(path) as w:
        w.tmp.write_bytes(data)
    return Path(path)


def is_temporary(path: str | Path) -> bool:
    """Whether ``path`` is named like a temporary file of :func:`atomic_write`."""
    return _TMP.match(Path(path).name) is not None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_orphans(folder: str | Path) -> list[Path]:
    """Remove the temporary files that killed writers left in ``folder`` (their process is gone); the removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in folder.iterdir():
        m = _TMP.match(p.name)
        if m and not _alive(int(m["pid"])):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed
