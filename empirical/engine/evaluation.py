"""Evaluation of trained runs (accuracy, LI, DI, NLI, SI, sigma_max(J)) and its cache beside the run store.

Every evaluation is stored as ``<cache>/<regime>/<key>.<kind>-<hash of its spec and the run's weights>.json`` (checksummed) and read back
on the next call.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from empirical.engine.context import Context
from empirical.engine.runs import build_model, dataset_for
from empirical.engine.store import load_json, save_json
from empirical.engine.results import provenance, RunResult, weights_digest
from empirical.measure.attribution import saliency_invariance
from empirical.measure.invariance import INVARIANCE_FORMS, invariance_from_logits, orbit_logits
from empirical.measure.sensitivity import jacobian_sigma_max

__all__ = ["evaluate", "cached_evaluation", "mean_std", "ORBIT_CONSISTENCY"]


# what the "orbit_acc" metric adds (asked for by name, so the default evaluation and its cache are unchanged):
# the share of samples whose whole orbit is classified correctly, the share whose orbit members all get one class,
# and the mean squared norm of the logits f(x) (the scale NLI divides by)
ORBIT_CONSISTENCY = ("orbit_acc", "orbit_agree", "logit_norm2")


@torch.no_grad()
def _orbit_metrics(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rep, chunk: int = 2048,
                   consistency: bool = False) -> dict[str, float]:
    sums = {"acc": 0.0, **{f: 0.0 for f in INVARIANCE_FORMS}}
    extra = dict.fromkeys(ORBIT_CONSISTENCY, 0.0) if consistency else {}
    for s in range(0, len(x), chunk):
        z = orbit_logits(model, x[s:s + chunk], rep)
        sums["acc"] += (z[0].argmax(-1) == y[s:s + chunk]).sum().item()
        for f in INVARIANCE_FORMS:
            sums[f] += invariance_from_logits(z, f).sum().item()
        if consistency:
            pred = z.argmax(-1)  # (|G|, n): the class of every orbit member
            extra["orbit_acc"] += (pred == y[s:s + chunk]).all(0).sum().item()
            extra["orbit_agree"] += (pred == pred[:1]).all(0).sum().item()
            extra["logit_norm2"] += z[0].pow(2).sum(-1).sum().item()
    return {k: v / len(x) for k, v in {**sums, **extra}.items()}


def evaluate(ctx: Context, result: RunResult, split: str = "test", images: torch.Tensor | None = None,
             labels: torch.Tensor | None = None, tag: str = "", metrics: tuple[str, ...] = ("orbit", "SI", "J"),
             ) -> dict[str, Any]:
    """Accuracy, LI, DI, NLI (orbit of every sample), SI and sigma_max(J) (first n samples) of one run; cached.

    By default the run's own ``split`` transformed by its per-sample g; ``images``/``labels`` (with a
    ``tag`` naming them in the cache key) evaluate other data, e.g. a drifted set. ``metrics`` may add
    "orbit_acc" (:data:`ORBIT_CONSISTENCY`, from the same orbit logits); without it nothing changes.
    """
    s = ctx.scale
    spec = {"split": split, "tag": tag, "metrics": list(metrics), "n_saliency": s.n_saliency,
            "n_jacobian": s.n_jacobian, "ig_steps": s.ig_steps, "version": 1}

    def compute() -> dict[str, Any]:
        c = result.config
        ds = dataset_for(ctx, c)
        part = getattr(ds, split)
        x = (part.transformed() if images is None else images).to(ctx.device)
        y = (part.labels if labels is None else labels).to(ctx.device)
        model = build_model(result, ctx.device)
        rep = ds.group
        out: dict[str, Any] = {"key": c.key(), "config": asdict(c), **spec, "n": len(x)}
        if "orbit" in metrics or "orbit_acc" in metrics:
            orbit = _orbit_metrics(model, x, y, rep, consistency="orbit_acc" in metrics)
            out.update({k: v for k, v in orbit.items() if "orbit" in metrics or k in ORBIT_CONSISTENCY})
        if "SI" in metrics:
            n = min(s.n_saliency, len(x))
            si = saliency_invariance(model, x[:n], rep, target=y[:n], baseline=ds.black, steps=s.ig_steps)
            out["SI"] = si.mean().item()
        if "J" in metrics:
            n = min(s.n_jacobian, len(x))
            out["sigma_max_J"] = jacobian_sigma_max(model, x[:n]).mean().item()
        return out

    return cached_evaluation(ctx, result, spec, compute)


def cached_evaluation(ctx: Context, result: RunResult, spec: dict[str, Any], compute: Callable[[], dict[str, Any]],
                      kind: str = "eval") -> dict[str, Any]:
    """``compute()`` for one run, stored as ``<cache>/<key>.<kind>-<hash of spec>.json`` (checksummed) and read
    back on the next call: the one evaluation cache every metric goes through."""
    if result.failed:
        raise ValueError(f"run {result.config.key()} failed ({result.failed}); it has no metrics")
    # keyed by the weights it measures too: a run retrained or replaced never meets the old run's numbers
    keyed = {**spec, "weights": weights_digest(result)}
    h = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:12]
    path = ctx.runs_dir / f"{result.config.key()}.{kind}-{h}.json"
    done = load_json(path)
    if done is not None:
        return done
    out = compute()
    out["provenance"] = {"training": result.provenance, "evaluation": provenance(ctx.device)}
    save_json(out, path)
    return out


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and (population, ddof=0) standard deviation over seeds."""
    v = np.asarray(list(values), dtype=float)
    return float(v.mean()), float(v.std())
