"""The pipeline every experiment command shares: CLI options -> run configs -> cached training -> metrics -> JSON.

Each trained run is cached under ``<cache>/<key>.pt`` (the hash of its full configuration)
and each evaluation under ``<cache>/<key>.eval-<hash>.json``; a rerun skips what is done and
an interrupted stack resumes from its checkpoint. All writes are atomic.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from empirical.attribution import saliency_invariance
from empirical.data import TransformingDataset, transforming
from empirical.image_groups import image_group
from empirical.invariance import INVARIANCE_FORMS, invariance_from_logits, orbit_logits
from empirical.models import MLP, WeightTiedMLP
from empirical.sensitivity import jacobian_sigma_max
from empirical.training import RunConfig, RunResult, TrainData, group_stacks, load_result, save_result, train_stack

__all__ = [
    "Scale", "FULL", "QUICK", "add_arguments", "Context", "context_from_args", "dataset_for", "train_all",
    "train_data", "build_model",
    "evaluate", "write_json", "write_text", "mean_std",
]


@dataclass(frozen=True)
class Scale:
    """How big an experiment is: split sizes, epochs, and the samples the costly metrics use."""

    n_train: int
    n_val: int
    n_test: int
    epochs: int
    n_saliency: int  # test samples for SI (integrated gradients over the orbit)
    n_jacobian: int  # test samples for sigma_max(J)
    ig_steps: int
    seeds: int
    nu_grid_stride: int = 1  # tune nu over every k-th grid value (quick runs use a coarse grid)


FULL = Scale(n_train=10_000, n_val=2_000, n_test=50_000, epochs=300, n_saliency=1000, n_jacobian=1000,
             ig_steps=50, seeds=4)
QUICK = Scale(n_train=1000, n_val=300, n_test=1000, epochs=5, n_saliency=32, n_jacobian=64, ig_steps=16, seeds=2,
              nu_grid_stride=3)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every experiment command takes."""
    parser.add_argument("--quick", action="store_true", help="small data and few epochs (minutes on a CPU)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds per configuration (full: 4)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (full: 300)")
    parser.add_argument("--data-dir", default=None, help="folder with MNIST / Fashion-MNIST (else $INVARIANCE_DATA)")
    parser.add_argument("--out", default="paper_figures", help="where figures and tables are written")
    parser.add_argument("--cache-dir", default=None, help="trained-run cache (default: $INVARIANCE_CACHE or runs/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


@dataclass(frozen=True)
class Context:
    """Resolved options of one command invocation."""

    scale: Scale
    device: torch.device
    data_dir: str | None
    out: Path
    cache_dir: Path
    quiet: bool

    def config(self, **kw) -> RunConfig:
        """A RunConfig at this scale."""
        s = self.scale
        return RunConfig(epochs=s.epochs, n_train=s.n_train, n_val=s.n_val, n_test=s.n_test, **kw)


def context_from_args(args: argparse.Namespace) -> Context:
    """Turn parsed options into a Context (the scale with --epochs / --seeds applied)."""
    scale = QUICK if args.quick else FULL
    if args.epochs is not None:
        scale = replace(scale, epochs=args.epochs)
    if args.seeds is not None:
        scale = replace(scale, seeds=args.seeds)
    if scale.epochs < 1 or scale.seeds < 1:
        raise SystemExit("--epochs and --seeds must be at least 1")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cache = Path(args.cache_dir or os.environ.get("INVARIANCE_CACHE") or "runs")
    return Context(scale=scale, device=device, data_dir=args.data_dir, out=Path(args.out), cache_dir=cache,
                   quiet=args.quiet)


@functools.lru_cache(maxsize=4)
def _cached_dataset(data_dir, dataset, group, seed, n_train, n_val, n_test, quiet) -> TransformingDataset:
    return transforming(dataset, group, seed, data_dir=data_dir, n_train=n_train, n_val=n_val, n_test=n_test,
                        quiet=quiet)


def dataset_for(ctx: Context, c: RunConfig, name: str | None = None) -> TransformingDataset:
    """The run's Transforming dataset, or dataset ``name`` built the same way (cached per process)."""
    return _cached_dataset(ctx.data_dir, name or c.dataset, c.group, c.data_seed, c.n_train, c.n_val, c.n_test,
                           ctx.quiet)


def train_data(ds: TransformingDataset, device: torch.device | str) -> TrainData:
    """The device-resident training orbit and validation split of a Transforming dataset."""
    def orbit(split):  # (|G|, N, d): every group element applied to every (untransformed) image
        return split.images.flatten(1)[:, split.perms].transpose(0, 1).contiguous().to(device)

    return TrainData(train_orbit=orbit(ds.train), train_y=ds.train.labels.to(device), val_orbit=orbit(ds.val),
                     val_g=ds.val.g.to(device), val_y=ds.val.labels.to(device))


def train_all(ctx: Context, configs: Iterable[RunConfig]) -> list[RunResult]:
    """Every config trained (from the cache where possible), in the given order."""
    from tqdm.auto import tqdm

    configs = list(dict.fromkeys(configs))
    done = {c: load_result(c, ctx.cache_dir) for c in configs}
    todo = [c for c in configs if done[c] is None]
    stacks = group_stacks(todo)
    if stacks:
        bar = tqdm(total=sum(s[0].epochs for s in stacks), unit="epoch", disable=ctx.quiet, dynamic_ncols=True)
        for i, stack in enumerate(stacks):
            c0 = stack[0]
            bar.set_description(f"stack {i + 1}/{len(stacks)}: {len(stack)} x {c0.model} {c0.group} {c0.dataset}")
            data = train_data(dataset_for(ctx, c0), ctx.device)
            tag = hashlib.sha256("".join(c.key() for c in stack).encode()).hexdigest()[:16]
            ckpt = ctx.cache_dir / f"stack-{tag}.ckpt"
            for res in train_stack(stack, data, image_group(c0.group), progress=bar.update, checkpoint=ckpt):
                save_result(res, ctx.cache_dir)
                done[res.config] = res
            ckpt.unlink(missing_ok=True)
        bar.close()
    return [done[c] for c in configs]


def build_model(result: RunResult, device: torch.device | str = "cpu") -> nn.Module:
    """The trained run as an ``MLP`` or ``WeightTiedMLP`` in eval mode."""
    c = result.config
    classes = result.state_dict[f"layers.{c.depth - 1}.bias"].shape[0]
    kw = dict(in_features=36 * 36, hidden=c.hidden, depth=c.depth, classes=classes, activation=c.activation)
    model = WeightTiedMLP(image_group(c.group), pool=c.pool, **kw) if c.model == "WT" else MLP(**kw)
    model.load_state_dict(result.state_dict)
    return model.to(device).eval()


@torch.no_grad()
def _orbit_metrics(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rep, chunk: int = 2048) -> dict[str, float]:
    sums = {"acc": 0.0, **{f: 0.0 for f in INVARIANCE_FORMS}}
    for s in range(0, len(x), chunk):
        z = orbit_logits(model, x[s:s + chunk], rep)
        sums["acc"] += (z[0].argmax(-1) == y[s:s + chunk]).sum().item()
        for f in INVARIANCE_FORMS:
            sums[f] += invariance_from_logits(z, f).sum().item()
    return {k: v / len(x) for k, v in sums.items()}


def evaluate(ctx: Context, result: RunResult, split: str = "test", images: torch.Tensor | None = None,
             labels: torch.Tensor | None = None, tag: str = "", metrics: tuple[str, ...] = ("orbit", "SI", "J"),
             ) -> dict[str, Any]:
    """Accuracy, LI, DI, NLI (orbit of every sample), SI and sigma_max(J) (first n samples) of one run; cached.

    By default the run's own ``split`` transformed by its per-sample g; ``images``/``labels`` (with a
    ``tag`` naming them in the cache key) evaluate other data, e.g. a drifted set.
    """
    s = ctx.scale
    spec = {"split": split, "tag": tag, "metrics": list(metrics), "n_saliency": s.n_saliency,
            "n_jacobian": s.n_jacobian, "ig_steps": s.ig_steps, "version": 1}
    h = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    path = ctx.cache_dir / f"{result.config.key()}.eval-{h}.json"
    if path.exists():
        return json.loads(path.read_text())
    c = result.config
    ds = dataset_for(ctx, c)
    part = getattr(ds, split)
    x = (part.transformed() if images is None else images).to(ctx.device)
    y = (part.labels if labels is None else labels).to(ctx.device)
    model = build_model(result, ctx.device)
    rep = ds.group
    out: dict[str, Any] = {"key": c.key(), "config": asdict(c), **spec, "n": len(x)}
    if "orbit" in metrics:
        out.update(_orbit_metrics(model, x, y, rep))
    if "SI" in metrics:
        n = min(s.n_saliency, len(x))
        si = saliency_invariance(model, x[:n], rep, target=y[:n], baseline=ds.black, steps=s.ig_steps)
        out["SI"] = si.mean().item()
    if "J" in metrics:
        n = min(s.n_jacobian, len(x))
        out["sigma_max_J"] = jacobian_sigma_max(model, x[:n]).mean().item()
    write_json(out, path)
    return out


def write_text(text: str, path: Path) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json(obj: Any, path: Path) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", path)


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and (population, ddof=0) standard deviation over seeds."""
    v = np.asarray(list(values), dtype=float)
    return float(v.mean()), float(v.std())
