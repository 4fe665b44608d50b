"""Theory meets data, part 2: the 5-layer MLP without ReLUs (1296-128-128-128-128-9) under IR.

Three trainings per initialization the deep-linear theory studies (glorot, he, orthogonal, balanced;
``theory.deep_linear.initialize`` through ``empirical.engine.stacked.init_stack``): the pure LI flow (ce = 0,
SGD, last epoch; learning rate ``FLOW_RATE`` of the flow time scale tau of ``deep_linear.flow_time_scale``
at the run's W(0) and Sigma_train, see ``empirical.bridge.linear``), the paper's IR (Adam, CE + nu LI
with the Table 1 nu) and DA (Adam, CE only) as the reference for what CE alone does to sigma_max. For a
linear network the input Jacobian is W = W_L ... W_1 at every x, so the engine's per-epoch probe
sigma_max(J) IS the end-to-end sigma_max the theory reasons about.

Measured per run against the deep-linear claims (``theory.deep_claims.DEEP_CLAIMS``): the worst increase
ratio max_{i <= j} s_j / s_i of sigma_max(W) over epochs (epoch 0 = the initialization), the same for each
layer and for the last layer, max_t sigma_max(W(t)) over ``deep_linear.spectral_bound(W(0))``, and (pure
flow, final epoch) the spread of the Frobenius mass each layer lost (theory: equal, -4 LI each) and the
drift of the balancedness D_k (theory: conserved).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from empirical.bridge.linear import FLOW_BATCH, FLOW_RATE, flow_lr, flow_time_per_epoch, initial_layers
from empirical.engine.context import Context
from empirical.engine.runs import train_all
from empirical.measure.image_groups import image_group
from empirical.engine.results import RunResult
from theory import deep_linear as dl

__all__ = ["DEEP_INITS", "RELEVANT_CLAIMS", "run_checks", "deep_bridge", "theory_verdicts"]

DEEP_INITS = ("glorot", "he", "orthogonal", "balanced")
RELEVANT_CLAIMS = ("deep_linear_generic_init_spectral", "deep_linear_balanced_init_spectral",
                   "deep_linear_per_layer_spectral", "deep_linear_last_layer_spectral", "deep_linear_frobenius",
                   "deep_linear_balancedness_conserved", "deep_linear_spectral_bound")


def _final_layers(res: RunResult) -> list[np.ndarray]:
    depth = res.config.depth
    return [res.state_dict[f"layers.{k}.weight"].double().numpy() for k in range(depth)]


def run_checks(layers0: list[np.ndarray], res: RunResult) -> dict[str, Any]:
    """The theory's quantities on one trained deep linear run from layers0 (W_1(0), ..., W_L(0)), W_k (d_k, d_{k-1}):
    sigma_max increase ratios over epochs (end to end, per layer), spectral-bound ratio, Frobenius loss, D_k drift."""
    e2e = np.concatenate([[dl.end_to_end_spectral(layers0)], res.history["probe_sigma_max_J"]])
    lay = np.vstack([dl.layer_spectral_norms(layers0), np.array(res.history["layer_sigma_max"])])  # (E+1, L)
    ratio, i, j = dl.worst_increase_ratio(e2e)
    layer_ratios = [dl.worst_increase_ratio(lay[:, k])[0] for k in range(lay.shape[1])]
    final = _final_layers(res)
    loss = dl.frobenius_sq(layers0) - dl.frobenius_sq(final)
    scale = float(dl.frobenius_sq(layers0).sum())
    drift = max((float(np.abs(a - b).max()) for a, b in zip(dl.balancedness(final), dl.balancedness(layers0))),
                default=0.0) / scale
    return {
        "sigma_max": e2e.tolist(), "layer_sigma_max": lay.tolist(),
        "final_over_initial": float(e2e[-1] / e2e[0]), "max_over_initial": float(e2e.max() / e2e[0]),
        "worst_increase": ratio, "worst_increase_epochs": [i, j],
        "layer_worst_increase": layer_ratios, "last_layer_worst_increase": layer_ratios[-1],
        "bound_ratio": float(e2e.max() / dl.spectral_bound(layers0)),
        "layer_bound_ratio": float((lay / dl.layer_spectral_bounds(layers0)).max()),
        "frobenius_loss": loss.tolist(),
        "frobenius_loss_spread": float((loss.max() - loss.min()) / max(np.abs(loss).max(), 1e-300)),
        "balancedness_drift": drift,
        "li_final_over_first": float(res.history["train_penalty"][-1] / max(res.history["train_penalty"][0], 1e-300)),
    }


def _aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of the per-epoch series and worst case over seeds of the scalar checks."""
    out: dict[str, Any] = {"per_seed": rows}
    out["sigma_max_mean"] = np.mean([r["sigma_max"] for r in rows], axis=0).tolist()
    out["sigma_max_rel_mean"] = np.mean([np.array(r["sigma_max"]) / r["sigma_max"][0] for r in rows], axis=0).tolist()
    out["layer_sigma_max_mean"] = np.mean([r["layer_sigma_max"] for r in rows], axis=0).tolist()
    for k in ("worst_increase", "last_layer_worst_increase", "bound_ratio", "layer_bound_ratio", "max_over_initial",
              "frobenius_loss_spread", "balancedness_drift"):
        out[f"max_{k}"] = float(max(r[k] for r in rows))
    out["max_layer_worst_increase"] = float(max(max(r["layer_worst_increase"]) for r in rows))
    out["mean_final_over_initial"] = float(np.mean([r["final_over_initial"] for r in rows]))
    return out


def deep_bridge(ctx: Context, group: str, sigma_train: np.ndarray, nu: float, seeds: int | None = None
                ) -> dict[str, Any]:
    """Part 2 for one group: pure-LI flow, paper IR (CE + nu LI, Adam) and DA runs per init; the theory's checks.

    ``seeds`` (default: the scale's) bounds the cost: 4 inits x 3 trainings per seed.
    """
    seeds = range(min(ctx.scale.seeds, seeds or ctx.scale.seeds))
    n, order = ctx.scale.n_train, image_group(group).order
    configs: dict[tuple[str, str, int], Any] = {}
    lrs = {}
    for init in tqdm(DEEP_INITS, desc=f"deep {group}: flow time scales", unit="init", disable=ctx.quiet,
                     dynamic_ncols=True):
        probe = ctx.config(group=group, activation="linear", init=init)
        layers0 = initial_layers(probe)
        tau = dl.flow_time_scale(layers0, sigma_train)
        lrs[init] = (flow_lr(tau, n, order), tau)
        for s in seeds:
            configs[("flow", init, s)] = ctx.config(
                group=group, activation="linear", init=init, model="IR", form="LI", nu=1.0, ce=0.0, optimizer="sgd",
                select="last", lr=lrs[init][0], batch_size=FLOW_BATCH, seed=s)
            configs[("IR", init, s)] = ctx.config(group=group, activation="linear", init=init, model="IR", form="LI",
                                                 nu=nu, seed=s)
            configs[("DA", init, s)] = ctx.config(group=group, activation="linear", init=init, model="DA", seed=s)
    trained = {r.config: r for r in train_all(ctx, list(configs.values()))}
    results = {k: trained[c] for k, c in configs.items()}
    out: dict[str, Any] = {"group": group, "nu": nu, "inits": list(DEEP_INITS), "flow": {}, "IR": {}, "DA": {}}
    bar = tqdm(total=len(configs), desc=f"deep {group}: checks", unit="run", disable=ctx.quiet, dynamic_ncols=True)
    for kind in ("flow", "IR", "DA"):
        for init in DEEP_INITS:
            rows = []
            for s in seeds:
                rows.append(run_checks(initial_layers(configs[(kind, init, s)]), results[(kind, init, s)]))
                bar.update()
            agg = _aggregate(rows)
            if kind == "flow":
                lr, tau = lrs[init]
                dt = flow_time_per_epoch(configs[(kind, init, 0)], order)
                agg.update({"lr": lr, "tau": tau, "rate": FLOW_RATE, "t_per_epoch": dt,
                            "tau_reached": dt * ctx.scale.epochs / tau})
            out[kind][init] = agg
    bar.close()
    return out


def theory_verdicts(cases: int, seed: int = 0, quiet: bool = True) -> list[dict[str, Any]]:
    """The deep-linear claims this part measures, checked on ``cases`` random instances (claim id, holds, worst ratio).

    Each claim draws from ``theory.claims.claim_rng(seed, id)``, as ``python -m theory.flow_demo`` does.
    """
    from theory.claims import claim_rng
    from theory.deep_claims import DEEP_CLAIMS

    out = []
    claims = [c for c in DEEP_CLAIMS if c.id in RELEVANT_CLAIMS]
    for claim in tqdm(claims, desc=f"deep-linear claims ({cases} cases)", unit="claim", disable=quiet,
                      dynamic_ncols=True):
        v = claim.check(claim_rng(seed, claim.id), cases)  # the generator flow_demo gives this claim
        out.append({"claim": v.claim, "statement": v.statement, "holds": v.holds, "cases": v.cases,
                    "worst_ratio": v.worst_ratio, "detail": v.detail})
    return out
