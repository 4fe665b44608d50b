"""theory.atomic: the one atomic write; a failed or killed write never leaves half a file or a lasting temporary."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from theory import atomic

ROOT = Path(__file__).resolve().parents[2]


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "f.json"
    atomic.write_bytes(b"old", path)
    atomic.write_bytes(b"new", path)
    assert path.read_bytes() == b"new" and [p.name for p in path.parent.iterdir()] == ["f.json"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_an_error_in_the_block_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "f"
    atomic.write_bytes(b"old", path)
    with pytest.raises(RuntimeError):
        with atomic.atomic_write(path) as w:
            w.tmp.write_bytes(b"half")
            raise RuntimeError("disk went away")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f"]


def test_the_target_can_be_chosen_after_writing(tmp_path):
    with atomic.atomic_write(tmp_path / "data") as w:
        w.tmp.write_bytes(b"\x1f\x8b...")
        w.target = tmp_path / "data.gz"
    assert [p.name for p in tmp_path.iterdir()] == ["data.gz"]


def test_a_killed_writers_temporary_is_removed_and_a_live_ones_kept(tmp_path):
    child = textwrap.dedent(f"""
        import os, signal
        from theory import atomic
        with atomic.atomic_write({str(tmp_path / 'out.json')!r}) as w:
            w.tmp.write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert subprocess.run([sys.executable, "-c", child], cwd=ROOT).returncode == -signal.SIGKILL
    left = [p for p in tmp_path.iterdir()]
    assert len(left) == 1 and atomic.is_temporary(left[0])
    live = tmp_path / f".x.{os.getpid()}-0.tmp"
    live.write_bytes(b"")
    assert atomic.clean_orphans(tmp_path) == left and live.exists() and not left[0].exists()
