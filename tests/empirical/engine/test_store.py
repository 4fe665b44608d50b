"""The run store under fault injection: truncate, garble, empty, non-finite, killed writers, full disks, locks."""

import errno
import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from empirical.engine import store
from empirical.engine.config import RunConfig
from empirical.engine.results import load_result, save_result
from empirical.engine.training import train_stack
from tests.empirical.engine.test_training import REP, SMALL, toy_data

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def trained():
    cfg = RunConfig(model="DA", seed=0, **SMALL)
    return cfg, train_stack([cfg], toy_data(), REP)[0]


def corrupt(path: Path, how: str) -> None:
    raw = path.read_bytes()
    if how == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garble":  # flip one bit in the middle of the payload
        i = len(raw) // 2
        path.write_bytes(raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:])


@pytest.mark.parametrize("how", ["truncate", "empty", "garble"])
def test_a_corrupt_run_is_named_moved_aside_and_reported_absent(trained, tmp_path, caplog, how):
    cfg, res = trained
    path = save_result(res, tmp_path)
    corrupt(path, how)
    with caplog.at_level(logging.WARNING, logger="empirical.engine.store"):
        assert load_result(cfg, tmp_path) is None
    assert not path.exists()
    moved = list((tmp_path / "corrupt").iterdir())
    assert len(moved) == 1 and moved[0].name.startswith(path.name)  # kept, never deleted
    assert str(path) in caplog.text and "recomputed" in caplog.text
    save_result(res, tmp_path)  # the retrained run takes its place
    assert load_result(cfg, tmp_path) is not None


def test_a_run_rewritten_without_the_checksum_header_is_refused(trained, tmp_path, caplog):
    # Issue 24.2: a .pt rewritten with plain torch.save (all weights halved) was accepted and re-saved with a
    # fresh checksum. Nothing vouches for a headerless file: it is moved aside and the run is retrained.
    cfg, res = trained
    path = save_result(res, tmp_path)
    payload = torch.load(io.BytesIO(store.read_entry(path)), weights_only=False)
    payload["state_dict"] = {k: v / 2 for k, v in payload["state_dict"].items()}
    torch.save(payload, path)
    with caplog.at_level(logging.WARNING, logger="empirical.engine.store"):
        assert load_result(cfg, tmp_path) is None
    assert not path.exists() and "no checksum header" in caplog.text
    assert len(list((tmp_path / "corrupt").iterdir())) == 1  # kept for inspection, never deleted


def test_an_evaluation_edited_without_the_checksum_header_is_refused(tmp_path):
    # Issue 24.2: an evaluation JSON without the header, SI edited to 0.99, moved a table's SI from 0.22 to 0.64.
    path = store.save_json({"SI": 0.22}, tmp_path / "k.eval-1.json")
    path.write_text('{"SI": 0.99}')
    assert store.load_json(path) is None and not path.exists()


def test_a_run_under_another_configs_name_is_refused(trained, tmp_path):
    cfg, res = trained
    other = RunConfig(model="DA", seed=7, **SMALL)
    save_result(res, tmp_path).rename(tmp_path / f"{other.key()}.pt")
    assert load_result(other, tmp_path) is None


@pytest.mark.parametrize("how", ["truncate", "garble", "not json"])
def test_a_corrupt_json_entry_is_absent(tmp_path, how):
    path = store.save_json({"acc": 0.5}, tmp_path / "k.eval-1.json")
    if how == "not json":
        store.write_entry(b"{not json", path)
    else:
        corrupt(path, how)
    assert store.load_json(path) is None and not path.exists() and len(list((tmp_path / "corrupt").iterdir())) == 1


def test_a_corrupt_checkpoint_restarts_the_stack_from_scratch(tmp_path):
    data = toy_data()
    cfgs = [RunConfig(model="IR", form="LI", nu=0.5, seed=s, **SMALL) for s in (0, 1)]
    straight = train_stack(cfgs, data, REP)
    ckpt = tmp_path / "stack.ckpt"
    train_stack(cfgs, data, REP, checkpoint=ckpt, checkpoint_seconds=0.0)  # leaves a checkpoint (epoch 2 of 3)
    assert ckpt.exists()
    corrupt(ckpt, "garble")
    again = train_stack(cfgs, data, REP, checkpoint=ckpt)
    for a, b in zip(straight, again):
        assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    assert list((tmp_path / "corrupt").iterdir())


def test_orphans_of_dead_writers_are_cleaned_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f".abc.pt.{int(dead.stdout)}.tmp"
    live = tmp_path / f".abc.pt.{os.getpid()}.tmp"
    orphan.write_bytes(b"x")
    live.write_bytes(b"x")
    assert store.clean_orphans(tmp_path) == [orphan]
    assert live.exists() and not orphan.exists()


def test_a_writer_killed_mid_write_leaves_the_old_entry_intact(tmp_path):
    path = store.save_json({"v": 1}, tmp_path / "e.json")
    child = textwrap.dedent(f"""
        import os, signal
        from empirical.engine import store
        os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)  # die between the write and the rename
        store.save_json({{"v": 2}}, {str(path)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", child], cwd=ROOT)
    assert proc.returncode == -signal.SIGKILL
    assert store.load_json(path) == {"v": 1}
    assert len(store.clean_orphans(tmp_path)) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["e.json"]


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "disk is full"), (errno.EACCES, "permission denied"),
                                         (errno.EROFS, "read-only")])
def test_write_errors_say_what_is_wrong(tmp_path, monkeypatch, code, words):
    def fail(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(store.StoreError, match=words) as err:
        store.save_json({"v": 1}, tmp_path / "e.json")
    assert str(tmp_path / "e.json") in str(err.value)
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_check_writable_fails_early_on_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(store.StoreError, match="cannot write"):
        store.check_writable(tmp_path / "f" / "out")


def test_a_lock_held_by_a_killed_process_is_released(tmp_path):
    target = tmp_path / "run.pt"
    child = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from empirical.engine import store
        store.entry_lock(Path({str(target)!r})).acquire()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert subprocess.run([sys.executable, "-c", child], cwd=ROOT).returncode == -signal.SIGKILL
    with store.entry_lock(target).acquire(timeout=5):
        pass


def test_merged_output_keeps_the_other_writers_rows(tmp_path):
    rows = {"rows": lambda r: (r["group"], r["model"])}
    path = tmp_path / "t.json"
    with store.merged_output(path, {"scale": {"e": 1}, "rows": [{"group": "R4", "model": "DA", "v": 1}]}, rows,
                             tmp_path / "locks"):
        pass
    with store.merged_output(path, {"scale": {"e": 1}, "rows": [{"group": "T3", "model": "DA", "v": 2},
                                                                 {"group": "R4", "model": "DA", "v": 3}]}, rows,
                             tmp_path / "locks") as merged:
        assert [(r["group"], r["v"]) for r in merged["rows"]] == [("T3", 2), ("R4", 3)]
    assert len(json.loads(path.read_text())["rows"]) == 2
    with store.merged_output(path, {"scale": {"e": 2}, "rows": [{"group": "F2", "model": "WT"}]}, rows,
                             tmp_path / "locks") as merged:  # another scale: replaced, never mixed
        assert [r["group"] for r in merged["rows"]] == ["F2"]
