"""Training orchestration: every run of a grid trained once, through the store's locks, or read from the cache.

Each trained run is cached under ``<cache>/<key>.pt`` (the hash of its full configuration); an interrupted
stack resumes from its checkpoint. Entries are checksummed and locked by ``empirical.engine.store``:
processes sharing a cache never train one configuration twice.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from dataclasses import replace
from typing import Iterable

import torch
from torch import nn

from empirical.data.transforming import TransformingDataset, transforming
from empirical.engine.context import Context
from empirical.engine.executors import run_jobs
from empirical.engine.threads import threads
from empirical.engine.store import StoreError, clean_orphans, entry_lock
from empirical.engine.config import RunConfig
from empirical.engine.results import load_result, result_path, RunResult, save_result
from empirical.engine.training import build_network, group_stacks, train_stack, TrainData
from empirical.measure.image_groups import image_group

__all__ = ["dataset_for", "train_data", "train_all", "build_model"]

log = logging.getLogger("empirical")


@functools.lru_cache(maxsize=4)
def _cached_dataset(data_dir, dataset, group, seed, n_train, n_val, n_test, quiet, split="draw"
                    ) -> TransformingDataset:
    return transforming(dataset, group, seed, data_dir=data_dir, n_train=n_train, n_val=n_val, n_test=n_test,
                        quiet=quiet, split=split)


def dataset_for(ctx: Context, c: RunConfig, name: str | None = None) -> TransformingDataset:
    """The run's Transforming dataset, or dataset ``name`` built the same way (cached per process)."""
    return _cached_dataset(ctx.data_dir, name or c.dataset, c.group, c.data_seed, c.n_train, c.n_val, c.n_test,
                           ctx.quiet, c.split)


def train_data(ds: TransformingDataset, device: torch.device | str) -> TrainData:
    """The device-resident training orbit and validation split of a Transforming dataset."""
    def orbit(split):  # (|G|, N, d): every group element applied to every (untransformed) image
        return split.images.flatten(1)[:, split.perms].transpose(0, 1).contiguous().to(device)

    return TrainData(train_orbit=orbit(ds.train), train_y=ds.train.labels.to(device), val_orbit=orbit(ds.val),
                     val_g=ds.val.g.to(device), val_y=ds.val.labels.to(device))


def _train_locked(ctx: Context, configs: list[RunConfig], bar) -> dict[RunConfig, RunResult]:
    """Train the configs whose lock this process holds; a stack's checkpoint is keyed by its runs."""
    done = {}
    exact = ctx.device.type == "cpu" and ctx.stack == 1
    for i, stack in enumerate(stacks := group_stacks(configs, ctx.stack)):
        c0 = stack[0]
        bar.set_description(f"stack {i + 1}/{len(stacks)}: {len(stack)} x {c0.model} {c0.group} {c0.dataset}")
        data = train_data(dataset_for(ctx, c0), ctx.device)
        tag = hashlib.sha256("".join(c.key() for c in stack).encode()).hexdigest()[:16]
        ckpt = ctx.runs_dir / f"stack-{tag}.ckpt"
        with threads(1 if exact else None):  # one thread: the bits do not depend on the machine
            results = train_stack(stack, data, image_group(c0.group), progress=bar.update, checkpoint=ckpt,
                                  checkpoint_seconds=ctx.checkpoint_seconds)
        for res in results:
            save_result(res, ctx.runs_dir)
            done[res.config] = res
            c = res.config
            cpu = "" if res.cpu_seconds is None else f", {res.cpu_seconds:.1f} CPU s"
            log.log(logging.WARNING if res.failed else logging.INFO, "trained run %s (%s%s %s seed %d) in %.1f s%s%s",
                    c.key(), c.model, f"-{c.form} nu={c.nu:g}" if c.form else "", c.group, c.seed, res.seconds, cpu,
                    f": FAILED, {res.failed}" if res.failed else "")
        ckpt.unlink(missing_ok=True)
    return done


def _train_job(ctx: Context, configs: list[RunConfig]) -> list[str]:
    """A worker's job: train one stack through the store's locks (in the worker's process); its keys."""
    return [r.config.key() for r in train_all(replace(ctx, executor=None, quiet=True), configs)]


def _load(ctx: Context, c: RunConfig) -> RunResult | None:
    """The cached run of ``c`` in this context's regime; a run of that regime left by a cache from before regimes
    (``<cache>/<key>.pt``) is moved into the regime's folder first, so no finished run is trained again."""
    res = load_result(c, ctx.runs_dir, ctx.regime)
    old = result_path(c, ctx.cache_dir)
    if res is None and old.exists() and (res := load_result(c, ctx.cache_dir, ctx.regime)) is not None:
        save_result(res, ctx.runs_dir)
        old.unlink(missing_ok=True)
    return res


def train_all(ctx: Context, configs: Iterable[RunConfig]) -> list[RunResult]:
    """Every config trained (from the cache where possible), in the given order.

    Each run is locked while it trains: a run another process is training is waited for and
    loaded, never trained twice; a run whose trainer died (its lock is released by the OS) is
    trained here, resuming from its stack's checkpoint when the stack is the same. With
    ``ctx.executor`` the stacks train as jobs there (``empirical.engine.executors``) and are read back.
    """
    from filelock import Timeout
    from tqdm.auto import tqdm

    configs = list(dict.fromkeys(configs))
    clean_orphans(ctx.runs_dir)
    done = {c: _load(ctx, c) for c in configs}
    todo = [c for c in configs if done[c] is None]
    for c in {(c.dataset, c.group, c.data_seed, c.n_train, c.n_val, c.n_test, c.split): c for c in todo}.values():
        dataset_for(ctx, c)  # bad or too little data stops the command here, before any lock or checkpoint exists
    bar = tqdm(total=sum(c.epochs for c in todo), unit="run-epoch", disable=ctx.quiet or not todo,
               dynamic_ncols=True)
    if ctx.executor is not None and todo:
        stacks = group_stacks(todo, ctx.stack)
        bar.set_description(f"{len(stacks)} stack(s) on {type(ctx.executor).__name__}")
        job_ctx = replace(ctx, executor=None)
        run_jobs(ctx.executor, _train_job, [(job_ctx, s) for s in stacks],
                 on_done=lambda i: bar.update(sum(c.epochs for c in stacks[i])))
        for c in todo:
            done[c] = _load(ctx, c)
            if done[c] is None:
                raise StoreError(0, f"run {c.key()} was trained by a worker but its file is missing in {ctx.runs_dir}"
                                    "; is the cache folder shared with the workers?")
            log.info("trained run %s (worker)", c.key())
        todo = []
    while todo:
        with contextlib.ExitStack() as held:
            mine, others = [], []
            for c in todo:
                lock = entry_lock(result_path(c, ctx.runs_dir))
                try:
                    held.enter_context(lock.acquire(timeout=0))
                    mine.append(c)
                except Timeout:
                    others.append(c)
            for c in mine:  # another process may have finished it between our first look and the lock
                done[c] = _load(ctx, c)
            done.update(_train_locked(ctx, [c for c in mine if done[c] is None], bar))
        for c in others:
            log.info("waiting for run %s: another process is training it", c.key())
            with entry_lock(result_path(c, ctx.runs_dir)):
                done[c] = _load(ctx, c)
        todo = [c for c in others if done[c] is None]
    bar.close()
    return [done[c] for c in configs]


def build_model(result: RunResult, device: torch.device | str = "cpu") -> nn.Module:
    """The trained run as its architecture's module (``MLP`` / ``WeightTiedMLP`` for the mlp) in eval mode."""
    c = result.config
    # every registered architecture ends with a Linear head, whose bias is the state dict's last entry
    classes = next(reversed(result.state_dict.values())).shape[0]
    group = image_group(c.group) if c.model == "WT" else None
    model = build_network(c, group, classes=classes, in_features=36 * 36)
    model.load_state_dict(result.state_dict)
    return model.to(device).eval()
