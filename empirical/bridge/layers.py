"""Theory meets data, part 3: when, and in which layers, the spectral decay of the ReLU MLPs happens (Sec. 4.4).

Reuses the Figure 5 runs (``empirical.paper.grid.variants``, as ``python -m empirical.spectral``: DA and IR with each
tuned form) and their cached test evaluations, and reads the engine's per-epoch probes: sigma_max of each layer's weight matrix and the mean sigma_max of the input
Jacobian on the 64 probe samples. All curves are means over seeds. Per IR form against DA:
``cross_epoch``, the first epoch from which IR's sigma_max(J) stays below DA's to the end; ``peak_epoch``
and ``half_decay_epoch`` (first epoch after the peak at which IR's sigma_max(J) has fallen half way from
its peak to its final value); the ratios IR / DA per layer and for J at the last epoch; each layer's
share of sum_k log(ratio_k) (sigma_max(J) <= prod_k sigma_max(W_k) for a ReLU MLP, so the logs of the
layer ratios say which layers carry a decay of that bound); and how much of log(J ratio) the layer
norms explain, sum_k log(ratio_k) / log(J ratio) (1: the J decay is the weights' spectral decay; near
0: J shrinks through the directions and ReLU gates, not the layer norms).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from empirical.engine.context import Context
from empirical.engine.evaluation import evaluate, mean_std
from empirical.engine.runs import train_all
from empirical.paper.grid import variants
from empirical.measure.invariance import INVARIANCE_FORMS
from empirical.engine.config import RunConfig
from empirical.engine.results import RunResult

__all__ = ["MIN_LOG_RATIO", "FIG5_METRICS", "decay_timing", "figure5_rows", "layers_bridge"]

FIG5_METRICS = ("sigma_max_J", "acc", "SI", "LI", "DI", "NLI")

MIN_LOG_RATIO = (0.01, 0.05)  # |log| below which the layer shares (of the bound) and the explained part (of J) are None


def decay_timing(ir: np.ndarray, da: np.ndarray) -> dict[str, Any]:
    """Epochs (1-based) of the decay of an IR sigma_max(J) curve (E,) against DA's (E,): cross, peak, half decay."""
    ir, da = np.asarray(ir, dtype=float), np.asarray(da, dtype=float)
    below = ir < da
    cross = None
    if below[-1]:
        above = np.flatnonzero(~below)
        cross = int(above[-1] + 2) if above.size else 1
    peak = int(np.argmax(ir))
    target = ir[peak] - 0.5 * (ir[peak] - ir[-1])
    after = np.flatnonzero(ir[peak:] <= target)
    return {"cross_epoch": cross, "peak_epoch": peak + 1, "peak": float(ir[peak]),
            "half_decay_epoch": int(peak + after[0] + 1) if after.size and ir[-1] < ir[peak] else None,
            "final_over_peak": float(ir[-1] / ir[peak]), "da_peak_epoch": int(np.argmax(da) + 1)}


def figure5_rows(ctx: Context, group: str, configs: dict[str, list[RunConfig]], by_key: dict[str, RunResult],
                 ) -> list[dict[str, Any]]:
    """Figure 5's rows of one group: sigma_max(J), accuracy, SI, LI, DI and NLI, mean and std over seeds."""
    # the rows python -m empirical.spectral writes, from the same evaluate calls: one cached evaluation per run
    rows = []
    n_runs = sum(len(runs) for runs in configs.values())
    with tqdm(total=n_runs, desc=f"layers {group}: test metrics", unit="run", disable=ctx.quiet,
              dynamic_ncols=True) as bar:
        for label, runs in configs.items():
            ok = [by_key[c.key()] for c in runs if not by_key[c.key()].failed]
            evals = []
            for r in ok:
                evals.append(evaluate(ctx, r))
                bar.update()
            bar.update(len(runs) - len(ok))
            row = {"group": group, "model": label, "nu": runs[0].nu, "seeds": len(ok),
                   "failed": [{"seed": c.seed, "reason": by_key[c.key()].failed} for c in runs
                              if by_key[c.key()].failed]}
            for m in FIG5_METRICS:
                row[m] = list(mean_std(e[m] for e in evals)) if evals else [float("nan")] * 2
            row["per_seed_sigma_max_J"] = [e["sigma_max_J"] for e in evals]
            rows.append(row)
    return rows


def layers_bridge(ctx: Context, groups: tuple[str, ...], forms: tuple[str, ...] = INVARIANCE_FORMS,
                  ) -> dict[str, Any]:
    """Part 3: the Figure 5 runs' per-epoch layer sigma_max and sigma_max(J), DA vs each IR form, per group."""
    out: dict[str, Any] = {"fig5_rows": [], "groups": {}}
    for group in groups:
        configs, _ = variants(ctx, group, forms)  # tunes nu per form (cached, shared with empirical.spectral)
        results = train_all(ctx, [c for runs in configs.values() for c in runs])
        by_key = {r.config.key(): r for r in results}
        out["fig5_rows"] += figure5_rows(ctx, group, configs, by_key)
        curves = {}
        for label, runs in configs.items():
            hist = [by_key[c.key()].history for c in runs]
            curves[label] = {
                "nu": runs[0].nu,
                "J": np.mean([h["probe_sigma_max_J"] for h in hist], axis=0).tolist(),
                "layers": np.mean([h["layer_sigma_max"] for h in hist], axis=0).tolist(),  # (E, L)
                "val_acc": np.mean([h["val_acc"] for h in hist], axis=0).tolist(),
                "best_epochs": [by_key[c.key()].best_epoch for c in runs],
            }
        da = curves["DA"]
        for label, c in curves.items():
            if label == "DA":
                continue
            layer_ratio = np.array(c["layers"][-1]) / np.array(da["layers"][-1])
            logs = np.log(layer_ratio)
            c["timing"] = decay_timing(c["J"], da["J"])
            c["J_ratio_final"] = c["J"][-1] / da["J"][-1]
            c["layer_ratio_final"] = layer_ratio.tolist()
            # shares of a log ratio near 0 are noise: None when the bound (J) moved by less than 1 % (5 %)
            c["layer_log_share"] = (logs / logs.sum()).tolist() if abs(logs.sum()) > MIN_LOG_RATIO[0] else None
            c["layer_product_ratio_final"] = float(layer_ratio.prod())  # the ratio of the bound prod_k sigma_max(W_k)
            log_j = np.log(c["J_ratio_final"])
            c["J_log_ratio_explained_by_layers"] = float(logs.sum() / log_j) if abs(log_j) > MIN_LOG_RATIO[1] else None
        out["groups"][group] = curves
    return out
