"""The readings of ``empirical.paper.readings`` on trained runs: one cached evaluation per run and kind (issue 14).

Each function evaluates one run on its own test split under every reading of one metric and stores the
result through ``empirical.engine.evaluation.cached_evaluation`` (kind ``si-readings``, ``orbit-readings``,
``jacobian-readings``, ``si-fragility``), so that ``python -m empirical.conventions`` reruns in seconds.
SI uses the first ``n_saliency`` test samples, each transformed by its own g, with Table 1's IG steps,
exactly as ``empirical.engine.evaluation.evaluate`` does; LI and DI every test sample's orbit; sigma_max(J) the first
``n_jacobian``.
"""

from __future__ import annotations

from typing import Any

import torch

from empirical.paper import readings as rd
from empirical.engine.architectures import build
from empirical.engine.threads import threads
from empirical.engine.context import Context
from empirical.engine.evaluation import cached_evaluation
from empirical.engine.runs import build_model, dataset_for
from empirical.measure.image_groups import orbit
from empirical.measure.invariance import orbit_logits
from empirical.engine.models import parameter_count
from empirical.engine.results import RunResult

__all__ = ["SUBSETS", "parameter_counts", "si_product", "orbit_readings", "jacobian_product", "fragility"]

SUBSETS = 5  # disjoint test subsets of n_saliency samples for SI's spread
_VERSION = 2  # bump when a cached reading evaluation changes its content


def parameter_counts() -> dict[int, int]:
    """Trainable parameters of the paper's MLP with five linear layers (depth 5, ours) and five hidden ones (depth 6)."""
    return {d: parameter_count(build("mlp", depth=d)) for d in (5, 6)}


def _threads_for(ctx: Context):
    """One torch thread on a CPU while the readings compute: they are many small tensor ops, which a second
    thread slows down when the other core is busy (measured 25x for one run's SI product); else as it was."""
    return threads(1 if ctx.device.type == "cpu" else None)


def _baselines(ctx: Context, result: RunResult) -> dict[str, Any]:
    """The IG baselines of SI's readings: ds.black, 0.0 and the training set's group-averaged mean image."""
    ds = dataset_for(ctx, result.config)
    mean = orbit(ds.group, ds.train.images.mean(0, keepdim=True)).mean(0)  # (1, 1, H, W): P_G of the mean image
    return {"black": ds.black, "zero": 0.0, "mean": mean.to(ctx.device)}


def _saliency_inputs(ctx: Context, result: RunResult, subset: int = 0):
    """(model, ds, x, y): test subset ``subset`` of n_saliency samples, each transformed by its g (Table 1's SI)."""
    ds = dataset_for(ctx, result.config)
    n = ctx.scale.n_saliency
    x = ds.test.transformed()[subset * n:(subset + 1) * n].to(ctx.device)
    y = ds.test.labels[subset * n:(subset + 1) * n].to(ctx.device)
    return build_model(result, ctx.device), ds, x, y


def si_product(ctx: Context, result: RunResult) -> dict[str, Any]:
    """Mean SI over the first n_saliency test samples under every reading of ``readings.SI_CHOICES`` (cached)."""
    s = ctx.scale
    spec = {"n_saliency": s.n_saliency, "ig_steps": s.ig_steps, "version": _VERSION,
            "choices": {c: [str(o) for o in opts] for c, opts in rd.SI_CHOICES.items()}}

    def compute() -> dict[str, Any]:
        model, ds, x, y = _saliency_inputs(ctx, result)
        si = rd.si_readings(model, x, ds.group, y, _baselines(ctx, result), s.ig_steps)
        # the product in readings.product() order: 1296 numbers per run, keyed once in the output
        return {"key": result.config.key(), **spec, "n": len(x),
                "SI": [si[rd.reading_key(r)].mean().item() for r in rd.product()]}

    with _threads_for(ctx):
        return cached_evaluation(ctx, result, spec, compute, kind="si-readings")


def orbit_readings(ctx: Context, result: RunResult, chunk: int = 2048) -> dict[str, Any]:
    """Mean LI and DI over every test sample's orbit under every reduction of ``readings.REDUCTIONS`` (cached)."""
    spec = {"split": "test", "n_test": ctx.scale.n_test, "version": _VERSION}

    @torch.no_grad()
    def compute() -> dict[str, Any]:
        ds = dataset_for(ctx, result.config)
        x = ds.test.transformed().to(ctx.device)
        model = build_model(result, ctx.device)
        sums: dict[str, float] = {}
        for lo in range(0, len(x), chunk):
            for k, v in rd.invariance_readings(orbit_logits(model, x[lo:lo + chunk], ds.group)).items():
                sums[k] = sums.get(k, 0.0) + v.sum().item()
        return {"key": result.config.key(), **spec, "n": len(x), "order": ds.group.order,
                **{k: v / len(x) for k, v in sums.items()}}

    with _threads_for(ctx):
        return cached_evaluation(ctx, result, spec, compute, kind="orbit-readings")


def jacobian_product(ctx: Context, result: RunResult) -> dict[str, Any]:
    """sigma_max(J) over the first n_jacobian test samples under every reading of ``readings.JACOBIAN_CHOICES``."""
    spec = {"n_jacobian": ctx.scale.n_jacobian, "version": _VERSION}

    def compute() -> dict[str, Any]:
        ds = dataset_for(ctx, result.config)
        x = ds.test.transformed()[:ctx.scale.n_jacobian].to(ctx.device)
        per_sample = rd.jacobian_readings(build_model(result, ctx.device), x, ds.std)
        return {"key": result.config.key(), **spec, "n": len(x), "std": ds.std,
                "sigma": {f"{k}/{how}": rd.aggregate(v, how) for k, v in per_sample.items()
                          for how in rd.JACOBIAN_CHOICES["aggregate"]}}

    with _threads_for(ctx):
        return cached_evaluation(ctx, result, spec, compute, kind="jacobian-readings")


def fragility(ctx: Context, result: RunResult) -> dict[str, Any]:
    """SI's fragility on SUBSETS disjoint test subsets of n_saliency samples (our reading; cached): surviving pixels
    per map (histogram), peak agreement over the orbit, and SI, the soft cosine and Spearman's rho per subset."""
    s = ctx.scale
    spec = {"n_saliency": s.n_saliency, "ig_steps": s.ig_steps, "subsets": SUBSETS, "version": _VERSION}

    def compute() -> dict[str, Any]:
        out: dict[str, Any] = {"key": result.config.key(), **spec, "SI": [], **{m: [] for m in rd.STABLE_SI}}
        hist: dict[int, int] = {}
        agree, total = 0, 0
        for j in range(SUBSETS):
            model, ds, x, y = _saliency_inputs(ctx, result, j)
            ig = rd.orbit_attributions(model, x, ds.group, y, ds.black, s.ig_steps)
            for c in rd.surviving_pixels(ig).flatten().tolist():
                hist[c] = hist.get(c, 0) + 1
            peaks = rd.peak_agreement(ig, ds.group)
            agree, total = agree + int(peaks.sum()), total + peaks.numel()
            cos = rd.orbit_cosines(rd.saliency_maps(ig), ds.group)
            out["SI"].append(rd.reduce_orbit(cos, "mean_nonid", trivial=1.0).mean().item())
            for m, v in rd.stable_similarities(ig, ds.group).items():
                out[m].append(v.mean().item())
        out["survivors"] = {str(k): v for k, v in sorted(hist.items())}
        out["peak_agreement"] = agree / max(total, 1)
        return out

    with _threads_for(ctx):
        return cached_evaluation(ctx, result, spec, compute, kind="si-fragility")
