"""Stacks on executors: a process pool gives the same bits as one process; submitit runs the grid; a dead
worker's stack resumes from its checkpoint."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from empirical.engine import executors
from empirical import table1
from empirical.engine.context import Context
from empirical.engine.runs import train_all
from empirical.engine.store import load_torch
from empirical.engine.results import load_result
from tests.empirical.test_cli import TINY
from tests.fixtures import FIXTURE_DATA

ROOT = Path(__file__).resolve().parents[3]


LONG = dict(scale=replace(TINY, epochs=100), checkpoint_seconds=0.0)  # long enough to be killed mid-stack


def ctx_at(cache: Path, executor=None, **kw) -> Context:
    return Context(scale=TINY, device=torch.device("cpu"), data_dir=str(FIXTURE_DATA), out=cache / "out",
                   cache_dir=cache, quiet=True, executor=executor, **kw)


def same_runs(a: Context, b: Context) -> int:
    """The .pt files of both caches hold the same bits; returns how many runs were compared."""
    names = sorted(p.name for p in a.runs_dir.glob("*.pt"))
    assert names == sorted(p.name for p in b.runs_dir.glob("*.pt"))
    for name in names:
        sa, sb = load_torch(a.runs_dir / name)["state_dict"], load_torch(b.runs_dir / name)["state_dict"]
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name
    return len(names)


def test_two_workers_give_the_bits_of_one(tmp_path):
    # Table 1 on two groups: with workers the groups' nu searches run side by side (empirical.paper.grid.concurrently)
    one = ctx_at(tmp_path / "one")
    two = ctx_at(tmp_path / "two", executors.make_executor("local", 2))
    t1, t2 = table1.table1(one, ("R4", "F2")), table1.table1(two, ("R4", "F2"))
    assert t1["rows"] == t2["rows"] and t1["tuning"] == t2["tuning"]
    assert same_runs(one, two) >= 10  # the tuning runs and WT, DA, IR of both groups


def test_submitit_runs_the_grid(tmp_path):
    submitit = pytest.importorskip("submitit")
    debug = ctx_at(tmp_path / "debug", submitit.AutoExecutor(folder=str(tmp_path / "logs"), cluster="debug"))
    table = table1.table1(debug, ("R4",))
    assert {r["model"] for r in table["rows"]} == {"WT", "DA", "IR"}
    # the local cluster runs each job as a process of its own, as SLURM would on a node
    local = ctx_at(tmp_path / "local", executors.make_executor("submitit", folder=tmp_path / "logs2", cluster="local"))
    cfg = local.config(model="DA", seed=5)
    assert train_all(local, [cfg])[0].config == cfg and load_result(cfg, local.runs_dir) is not None


def test_a_killed_worker_loses_only_its_stack_and_a_rerun_resumes_it(tmp_path):
    # A command trains two long stacks on two workers; one worker is killed once its stack has a checkpoint.
    # The command fails with one line; the rerun resumes that stack and ends with the bits of a straight run.
    script = textwrap.dedent("""
        import sys
        from dataclasses import replace
        from pathlib import Path
        from empirical import cli
        from empirical.engine import executors, runs
        from tests.empirical.engine.test_executors import LONG, ctx_at
        ctx = replace(ctx_at(Path(sys.argv[1]), executors.make_executor("local", 2)), **LONG)
        cfgs = [ctx.config(model="IR", form="LI", nu=0.5, seed=s) for s in (0, 1)]
        main = cli.command(lambda argv: runs.train_all(ctx, cfgs) and 0)
        sys.exit(main([]))
    """)
    cache = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", script, str(cache)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(list(cache.glob("*/stack-*.ckpt"))) < 2 and time.time() < deadline:  # both stacks are under way
        time.sleep(0.1)
    assert len(list(cache.glob("*/stack-*.ckpt"))) == 2, "the stacks wrote no checkpoints"
    children = subprocess.run(["pgrep", "-f", "-P", str(proc.pid), "spawn_main"], capture_output=True,
                              text=True).stdout.split()
    assert len(children) == 2, children  # the two workers (not the resource tracker)
    os.kill(int(children[0]), signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "a worker process died" in err and "rerun" in err
    # issue 24.9: the count named the stacks left *after* the dead one (0) and the pool's semaphores leaked
    assert re.search(r"died with [12] stack\(s\) unfinished", err), err
    assert "resource_tracker" not in err, err
    ckpts = list(cache.glob("*/stack-*.ckpt"))
    assert ckpts  # the dead worker's checkpoint is there to resume from
    resumed_ctx = replace(ctx_at(cache), **LONG)
    cfgs = [resumed_ctx.config(model="IR", form="LI", nu=0.5, seed=s) for s in (0, 1)]
    resumed = train_all(resumed_ctx, cfgs)
    straight = train_all(replace(ctx_at(tmp_path / "straight"), scale=LONG["scale"]), cfgs)
    for a, b in zip(resumed, straight):
        assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
        assert a.history == b.history


def test_any_concurrent_futures_executor_runs_the_stacks(tmp_path):
    # What a Dask Client.get_executor() offers: submit() and futures; a thread pool stands in for it here.
    from concurrent.futures import ThreadPoolExecutor

    from empirical.cli import default_context

    with ThreadPoolExecutor(1) as pool:
        ctx = default_context(["--cache-dir", str(tmp_path), "--data-dir", str(FIXTURE_DATA)], executor=pool,
                              scale=TINY, quiet=True)
        cfgs = [ctx.config(model="DA", seed=s) for s in (0, 1)]
        assert [r.config for r in train_all(ctx, cfgs)] == cfgs
    assert all(load_result(c, ctx.runs_dir) is not None for c in cfgs)
