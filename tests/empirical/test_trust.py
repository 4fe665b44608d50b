"""Issue 24: numbers that cannot change silently (run regimes, evaluations tied to their weights, merged provenance)
and promises kept on bad input (one line, nothing left behind)."""

import argparse
import gzip
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from empirical import table1
from empirical.cli import add_arguments, context_from_args
from empirical.engine import store
from empirical.engine.context import Context, Scale
from empirical.engine.evaluation import evaluate
from empirical.engine.runs import train_all
from empirical.engine.results import load_result, regime, regime_of, result_path, save_result, weights_digest
from tests.fixtures import FIXTURE_DATA

ROOT = Path(__file__).resolve().parents[2]
TINY = Scale(n_train=200, n_val=50, n_test=100, epochs=2, n_saliency=4, n_jacobian=4, ig_steps=4, seeds=1)


def tiny_ctx(cache: Path, **kw) -> Context:
    return Context(scale=TINY, device=torch.device("cpu"), data_dir=str(FIXTURE_DATA), out=cache / "out",
                   cache_dir=cache, quiet=True, **kw)


def test_a_stacked_run_never_stands_in_for_an_exact_one(tmp_path):
    # Issue 24.1: table1 --stack 4 then --stack 1 on one cache trained nothing the second time and read the
    # stacked runs' bits as the exact ones. Each regime now has its own folder, and a run of another regime found
    # under an exact run's name is not reused.
    stacked, exact = tiny_ctx(tmp_path, stack=2), tiny_ctx(tmp_path, stack=1)
    cfgs = [exact.config(model="IR", form="LI", nu=0.5, seed=s) for s in (0, 1)]
    a = train_all(stacked, cfgs)
    assert stacked.runs_dir != exact.runs_dir and "stacked" in stacked.regime and "exact" in exact.regime
    b = train_all(exact, cfgs)
    assert all(load_result(c, exact.runs_dir, exact.regime) is not None for c in cfgs)
    assert [r.provenance["stack"] for r in a] == [[c.key() for c in cfgs]] * 2
    assert all(r.provenance["stack"] == [r.config.key()] for r in b)
    # a stacked run copied under the exact run's name is refused by its recorded provenance
    save_result(a[0], exact.runs_dir)
    assert load_result(cfgs[0], exact.runs_dir, exact.regime) is None
    assert result_path(cfgs[0], exact.runs_dir).exists()  # refused, not deleted


def test_a_run_trained_alone_on_two_threads_never_stands_in_for_an_exact_one(tmp_path):
    # Its bits differ from the one-thread run's (README, Reproducibility), so a cache entry that records two threads,
    # whether in the regime's folder or in the flat layout of older caches, is not reused: the run is trained again.
    ctx = tiny_ctx(tmp_path)
    cfg = ctx.config(model="DA", seed=0)
    res = train_all(ctx, [cfg])[0]
    two = replace(res, provenance={**res.provenance, "threads": 2})
    save_result(two, ctx.runs_dir)
    assert load_result(cfg, ctx.runs_dir, ctx.regime) is None
    result_path(cfg, ctx.runs_dir).rename(result_path(cfg, tmp_path))  # the flat layout, adopted only if exact
    again = train_all(ctx, [cfg])[0]  # trained again (an adopted entry would record 2 threads), to the same bits
    assert again.provenance["threads"] == 1 and weights_digest(again) == weights_digest(res)
    assert load_result(cfg, ctx.runs_dir, ctx.regime).provenance["threads"] == 1


def test_regime_names_engine_device_mode_and_torch():
    assert regime("cpu", 1).endswith(f"cpu-exact-torch{torch.__version__}")
    assert "cpu-stacked" in regime("cpu", 4) and "cuda-stacked" in regime("cuda", 1)
    prov = {"engine": 2, "device": "cpu", "torch": torch.__version__, "stack": ["k"], "threads": 1}
    assert regime_of(prov) == regime("cpu", 1) and regime_of({**prov, "stack": ["k", "j"]}) == regime("cpu", 2)
    assert "cpu-alone-2-threads" in regime_of({**prov, "threads": 2}) and regime_of({**prov, "threads": None}) == ""


def test_a_cache_from_before_regimes_is_adopted_not_retrained(tmp_path):
    ctx = tiny_ctx(tmp_path)
    cfg = ctx.config(model="DA", seed=0)
    res = train_all(ctx, [cfg])[0]
    result_path(cfg, ctx.runs_dir).rename(result_path(cfg, tmp_path))  # the flat layout of older caches
    again = train_all(ctx, [cfg])[0]
    assert again.seconds == res.seconds and result_path(cfg, ctx.runs_dir).exists()
    assert not result_path(cfg, tmp_path).exists()


def test_an_evaluation_is_tied_to_the_weights_it_measured(tmp_path):
    # Issue 24.3: after the weights changed, the old evaluation was reused.
    ctx = tiny_ctx(tmp_path)
    res = train_all(ctx, [ctx.config(model="DA", seed=0)])[0]
    first = evaluate(ctx, res, metrics=("orbit",))
    assert evaluate(ctx, res, metrics=("orbit",)) == first  # read back
    changed = replace(res, state_dict={k: v * 0.5 for k, v in res.state_dict.items()})
    second = evaluate(ctx, changed, metrics=("orbit",))
    assert second["LI"] != first["LI"]


def test_merging_keeps_each_rows_provenance(tmp_path):
    # Issue 24.4: rows kept from an older file (engine 1, cuda, torch 2.4) were restamped with the new run's.
    path, locks = tmp_path / "table1.json", tmp_path / "locks"
    old_prov = {"code": "old", "engine": 1, "torch": "2.4.0", "device": "cuda", "threads": 1, "stack": []}
    new_prov = {"code": "new", "engine": 2, "torch": "2.13.0", "device": "cpu", "threads": 1, "stack": []}
    store.write_json({"scale": 1, "provenance": old_prov, "rows": [{"g": "R4", "v": 1}]}, path)
    with store.merged_output(path, {"scale": 1, "provenance": new_prov, "rows": [{"g": "T3", "v": 2}]},
                             {"rows": lambda r: r["g"]}, locks) as merged:
        pass
    rows = {r["g"]: r for r in merged["rows"]}
    assert rows["R4"]["provenance"] == old_prov and rows["T3"]["provenance"] == new_prov
    top = merged["provenance"]
    assert top["engine"] == 1 and "cuda" in top["device"] and "2.4.0" in top["torch"] and "old" in top["code"]
    # the same command again on its own rows: one provenance, as before
    with store.merged_output(path, {"scale": 1, "provenance": new_prov, "rows": [{"g": "R4", "v": 3}]},
                             {"rows": lambda r: r["g"]}, locks) as merged:
        pass
    assert merged["provenance"] == new_prov


def bad_copy(tmp_path: Path, how: str) -> Path:
    """The fixture data with one MNIST file damaged ``how``."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(FIXTURE_DATA, data)
    f = data / "mnist" / "train-labels-idx1-ubyte.gz"
    raw = f.read_bytes()
    if how == "truncated":
        f.write_bytes(raw[: len(raw) // 2])
    elif how == "crc":  # a flipped byte in the deflate stream
        f.write_bytes(raw[:20] + bytes([raw[20] ^ 0xFF]) + raw[21:])
    elif how == "empty":
        f.write_bytes(b"")
    elif how == "one pixel":  # valid gzip, content changed: the checksum catches it
        g = data / "mnist" / "train-images-idx3-ubyte.gz"
        x = bytearray(gzip.decompress(g.read_bytes()))
        x[400] ^= 1
        g.write_bytes(gzip.compress(bytes(x)))
    elif how == "short labels":
        y = gzip.decompress(raw)
        f.write_bytes(gzip.compress(y[:8] + y[9:]))  # one label fewer than the header says
    return data


@pytest.mark.parametrize("how", ["truncated", "crc", "empty", "one pixel", "short labels", "subset at --quick"])
def test_bad_data_is_one_line_and_leaves_nothing_behind(tmp_path, capsys, how):
    # Issue 24.6 and 24.9: 60-79 lines of traceback; runs stopped by bad data left locks/ and an empty --out.
    data = FIXTURE_DATA if how == "subset at --quick" else bad_copy(tmp_path, how)
    cache, out = tmp_path / "cache", tmp_path / "out"
    code = table1.main(["--quick", "--quiet", "--groups", "R4", "--data-dir", str(data), "--cache-dir", str(cache),
                        "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "--data-dir" in err or "download" in err  # names the fix
    assert not cache.exists() and not out.exists()


def test_an_unwritable_out_names_the_fix_and_creates_no_cache(tmp_path, capsys):
    # Issue 24.9: --out /proc/x named no fix and left an empty --cache-dir; a file as --cache-dir said "File exists".
    cache = tmp_path / "cache"
    with pytest.raises(SystemExit) as e:
        table1.main(["--quick", "--out", "/proc/x", "--cache-dir", str(cache)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and "choose another" in err and not cache.exists()
    (tmp_path / "afile").write_text("")
    with pytest.raises(SystemExit):
        table1.main(["--quick", "--cache-dir", str(tmp_path / "afile")])
    err = capsys.readouterr().err.strip()
    assert "is a file, not a folder" in err and "Errno" not in err


def test_a_killed_writers_temporary_file_in_out_is_removed_by_the_next_command(tmp_path):
    # Issue 24.8: a '.table1.json.<pid>.tmp' left in --out by a killed writer was never removed.
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = out / f".table1.json.{int(dead.stdout)}.tmp"
    orphan.write_text("{half")
    context_from_args(add_arguments(argparse.ArgumentParser()).parse_args(
        ["--quick", "--out", str(out), "--cache-dir", str(tmp_path / "c")]))
    assert not orphan.exists()


def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
    # Issue 24.9: Ctrl-C printed a 64-line traceback.
    script = textwrap.dedent("""
        import os, signal, sys, time
        from empirical import cli
        # as in a terminal: a process started in the background by a non-interactive shell inherits SIGINT ignored
        signal.signal(signal.SIGINT, signal.default_int_handler)
        @cli.command
        def main(argv):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        sys.exit(main([]))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "rerun" in proc.stderr


def test_the_code_version_is_dirty_for_changed_code_not_for_rewritten_outputs(tmp_path):
    # Each command rewrites paper_figures/; before, the second command of a regeneration stamped its outputs
    # '+dirty' because the first had rewritten a committed output.
    from empirical.engine.results import code_version

    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    (tmp_path / "paper_figures").mkdir()
    (tmp_path / "paper_figures" / "table1.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-qm", "c"]):
        subprocess.run([*git, *cmd], check=True, capture_output=True)
    clean = code_version(tmp_path)
    assert len(clean) == 12 and "dirty" not in clean
    (tmp_path / "paper_figures" / "table1.json").write_text('{"rows": []}')
    code_version.cache_clear()
    assert code_version(tmp_path) == clean
    (tmp_path / "code.py").write_text("x = 2\n")
    code_version.cache_clear()
    assert code_version(tmp_path) == clean + "+dirty"
    code_version.cache_clear()
