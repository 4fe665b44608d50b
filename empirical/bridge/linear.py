"""Theory meets data, part 1: the linear classifier (1296 -> 9) under the LI flow on Transforming-MNIST (Sec. 3.3).

Time scale. t is the time of the theory's flow dW/dt = -W Sigma (Eq. 5) with Sigma the SUM over the
training images x and all g of (x - gx)(x - gx)^T (Eq. 2, ``theory.linear_flow.sigma_orbit``); plots use
the dimensionless tau = t lambda_max(Sigma). The engine's regularizer is a MEAN over the batch and over
g != e of the augmented samples a x, so one SGD step with learning rate lr and weight nu applies
I - lr nu / (B (|G| - 1)) S_batch, whose expectation over batches and augmentations is
I - lr nu / (n (|G| - 1)) Sigma_train with Sigma_train = (1/|G|) sum_a rho(a) Sigma rho(a)^T (the
augmented images' Sigma_{ax} = rho(a) Sigma_x rho(a)^T). An epoch of ceil(n/B) steps therefore advances
t by lr nu ceil(n/B) / (n (|G| - 1)) on Sigma_train (``flow_time_per_epoch``); Sigma and Sigma_train span
the same differences (span{x - gx} is G-invariant), so both flows have the same limit W(0) Pi.

The kernel. Pi projects onto ker Sigma = span{x - gx}^perp. The zero-padded border (and pixels no
training image ever lights) is the same constant in every normalized image, so x - gx vanishes on every
pixel orbit that is constant over the data, and ker Sigma is LARGER than the fixed subspace Fix(G):
the limit W(0) Pi is invariant on the data (LI = 0 on every training orbit) but not W(0) P_G.
More: for v in ker Sigma, v^T x = v^T gx for all g, so v^T x = (P_G v)^T x, and every training image
(augmented or not) is orthogonal to ker Sigma ∩ Fix^perp, the range of Pi - P_G. Any gradient of any
loss of the data (CE, LI) has rows in span{x}, so under SGD W (Pi - P_G) = W(0) (Pi - P_G) for ever:
a linear model from a random W(0) can never become genuinely invariant. Under Adam only the dead-pixel
part (``Subspace.frozen_projector``) is guaranteed frozen. ``linear_metrics`` measures both drifts.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from empirical.bridge.sigma import FlowData, orbit_covariance
from empirical.engine.context import Context
from empirical.engine.evaluation import evaluate
from empirical.engine.runs import dataset_for, train_all
from empirical.engine.stacked import init_stack, layer_sizes, unstack
from empirical.engine.config import RunConfig
from empirical.engine.results import RunResult
from theory import groups
from theory.linear_flow import invariance_defect, logit_invariance

__all__ = [
    "FLOW_BATCH", "FLOW_RATE", "LINEAR_NU_GRID", "SELECTS", "TEST_CAP", "flow_path", "flow_lr", "flow_time_per_epoch",
    "epoch_grid", "initial_layers", "linear_metrics", "linear_bridge",
]

FLOW_BATCH = 500  # batch of the pure-flow runs: divides 1000 and 10000, so every step has the same size
FLOW_RATE = 0.25  # per-step fraction of the fastest flow rate: lr nu / (n (|G| - 1)) lambda_max(Sigma_train)
LINEAR_NU_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
SELECTS = ("best_val", "last")  # the paper's model selection, and the optimization's end point
TEST_CAP = 10_000  # test images on which the limit's test-set LI is measured


def flow_path(w0: np.ndarray, sigma: np.ndarray, ts: np.ndarray, targets: dict[str, np.ndarray],
              basis: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Along W(t) = W(0) expm(-Sigma t) (Eq. 6): ||W(t) - W(0) P||_F / ||W(0)||_F per target P, sigma_max, LI.

    w0 (k, d), sigma (d, d), ts (T,); returns arrays (T,). With ``basis`` (d, r), an orthonormal basis of a
    subspace holding range(Sigma) (e.g. S = span{x - gx}), the flow is solved exactly as
    W(t) = W(0) (I - B B^T) + W(0) B expm(-B^T Sigma B t) B^T, so ker Sigma is exactly still (no round-off
    eigenvalues decaying it) and the distance to W(0) (I - B B^T) has no floor.
    """
    w0 = np.asarray(w0, dtype=np.float64)
    basis = np.eye(w0.shape[1]) if basis is None else np.asarray(basis, dtype=np.float64)
    m = basis.T @ sigma @ basis
    lam, q = np.linalg.eigh((m + m.T) / 2)
    lam = np.clip(lam, 0.0, None)
    bq = basis @ q
    a = w0 @ bq
    still = w0 - (w0 @ basis) @ basis.T
    offsets = {name: still - w0 @ p for name, p in targets.items()}
    scale = np.linalg.norm(w0)
    ts = np.asarray(ts, dtype=float)
    out = {f"dist_{name}": np.empty(len(ts)) for name in targets}
    out["sigma_max"], out["LI"] = np.empty(len(ts)), np.empty(len(ts))
    for i, t in enumerate(ts):
        moving = (a * np.exp(-lam * t)) @ bq.T
        for name, off in offsets.items():
            out[f"dist_{name}"][i] = np.linalg.norm(off + moving) / scale
        out["sigma_max"][i] = np.linalg.norm(still + moving, 2)
    # LI = 1/2 tr(W Sigma W^T) = 1/2 sum_r lambda_r ||a_r||^2 exp(-2 lambda_r t) in the eigenbasis of Sigma on S
    out["LI"] = 0.5 * np.exp(-2.0 * np.outer(ts, lam)) @ (lam * (a ** 2).sum(axis=0))
    return out


def flow_lr(tau: float, n: int, order: int, nu: float = 1.0, rate: float = FLOW_RATE) -> float:
    """SGD learning rate whose expected step is ``rate`` of the flow's time scale tau: rate tau n (|G|-1) / nu."""
    if not (tau > 0 and n > 0 and order > 1 and nu > 0):
        raise ValueError(f"flow_lr needs tau > 0, n > 0, |G| > 1 and nu > 0; got {tau}, {n}, {order}, {nu}")
    lr = rate * tau * n * (order - 1) / nu
    return float(f"{lr:.3g}")  # 3 digits keep the cache key stable against round-off in tau


def flow_time_per_epoch(c: RunConfig, order: int) -> float:
    """Flow time t one epoch of the engine's pure-LI SGD advances on Sigma_train: lr nu ceil(n/B) / (n (|G|-1))."""
    return c.lr * c.nu * math.ceil(c.n_train / c.batch_size) / (c.n_train * (order - 1))


def epoch_grid(epochs: int, points: int = 6) -> list[int]:
    """Epoch counts 1..epochs, about log-spaced: the pure-flow runs whose final W sample the trajectory."""
    return sorted({int(round(e)) for e in np.geomspace(1, epochs, points)} | {epochs})


def initial_layers(c: RunConfig, d: int = 1296, classes: int = 9) -> list[np.ndarray]:
    """The engine's W_k(0) of run ``c`` in float64 (``empirical.engine.stacked.init_stack`` with its seed and init)."""
    params = init_stack([c.seed], layer_sizes(d, c.hidden, c.depth, classes), "cpu", c.init)
    state = unstack(params, 0)
    return [state[f"layers.{k}.weight"].double().numpy() for k in range(c.depth)]


def linear_metrics(w: np.ndarray, w0: np.ndarray, pg: np.ndarray, pi: np.ndarray, frozen: np.ndarray,
                   ) -> dict[str, float]:
    """Where a trained linear W (k, d) sits: non-invariant fractions, distances to W(0) P_G and W(0) Pi, sigma_max.

    pg = P_G, pi = Pi (onto ker Sigma), frozen = ``Subspace.frozen_projector`` (d, d); fractions are of ||W||_F,
    distances of ||W(0)||_F, drifts of the initial part they move (0 = untouched by training).
    """
    eye = np.eye(w.shape[1])
    nw, n0 = np.linalg.norm(w), np.linalg.norm(w0)
    rest = pi - pg - frozen  # the kernel's non-invariant directions that are not on dead pixels
    dw = w - w0

    def drift(p):
        base = np.linalg.norm(w0 @ p)
        return float(np.linalg.norm(dw @ p) / base) if base > 0 else 0.0

    return {
        "noninvariant_fraction": float(np.linalg.norm(w @ (eye - pg)) / nw),  # ||W (I - P_G)|| / ||W||
        "data_noninvariant_fraction": float(np.linalg.norm(w @ (eye - pi)) / nw),  # the part LI sees: W P_S
        "kernel_noninvariant_fraction": float(np.linalg.norm(w @ (pi - pg)) / nw),  # the part LI cannot see
        "frozen_fraction": float(np.linalg.norm(w @ frozen) / nw),
        "kernel_drift": drift(pi - pg),  # theory: 0 under SGD (every image is orthogonal to range(Pi - P_G))
        "frozen_drift": drift(frozen),  # theory: 0 under SGD and Adam (up to float32 round-off)
        "kernel_rest_drift": drift(rest),  # 0 under SGD; Adam's per-coordinate steps may move it
        "dist_W0PG": float(np.linalg.norm(w - w0 @ pg) / n0),
        "dist_W0Pi": float(np.linalg.norm(w - w0 @ pi) / n0),
        "sigma_max": float(np.linalg.norm(w, 2)),
        "sigma_max_W0": float(np.linalg.norm(w0, 2)),
    }


def _weights(res: RunResult) -> np.ndarray:
    return res.state_dict["layers.0.weight"].double().numpy()


def _mean_std(rows: list[dict[str, float]]) -> dict[str, list[float]]:
    return {k: [float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows]))] for k in rows[0]}


def linear_bridge(ctx: Context, fd: FlowData, nu_grid: tuple[float, ...] | None = None, n_times: int = 90,
                  ) -> dict[str, Any]:
    """Part 1 for one group: Sigma and its kernel, the closed form vs pure-LI SGD runs, and CE + nu LI (Adam) vs nu."""
    seeds = range(ctx.scale.seeds)
    group, rep, x, sigma_d, sigma_t, sub = fd.group, fd.rep, fd.x, fd.sigma, fd.sigma_train, fd.subspace
    ds = dataset_for(ctx, ctx.config(group=group))
    # the float64 analysis before training: projectors, the spectrum of Sigma_train on S, the kernel's checks
    bar = tqdm(total=3, desc=f"linear {group}: projectors, spectrum", unit="step", disable=ctx.quiet,
               dynamic_ncols=True)
    pi = np.eye(rep.dim) - sub.projector()
    pg = groups.reynolds(rep)
    frozen = sub.frozen_projector(pg)
    basis = sub.basis
    bar.update()
    lam = np.linalg.eigvalsh(basis.T @ sigma_t @ basis) if sub.rank else np.ones(1)
    lam_max, lam_min = float(lam[-1]), float(lam[0])
    bar.update()
    targets = {"W0PG": pg, "W0Pi": pi}
    out: dict[str, Any] = {
        "group": group, "n_train": len(x), "subspace": sub.summary(),
        "lambda_max": lam_max, "lambda_min_nonzero": lam_min,
        "sigma_outside_S_rel": float(np.linalg.norm(sigma_d @ pi) / np.linalg.norm(sigma_d)),
        "sigma_train_vs_theory_rel": float(np.linalg.norm(sigma_t - sigma_d) / np.linalg.norm(sigma_d)),
        "projector_gap_Pi_vs_PG": float(np.linalg.norm(pi - pg, 2)),
        "data_on_Pi_minus_PG_rel": float(np.linalg.norm(x @ (pi - pg)) / np.linalg.norm(x)),  # theory: 0
    }
    bar.update()
    bar.close()
    # Pure-LI SGD runs: the trajectory at a log grid of epochs, one run per epoch count (same seed = same path).
    lr = flow_lr(1.0 / lam_max, len(x), rep.order)
    flow_cfg = dict(group=group, depth=1, model="IR", form="LI", nu=1.0, ce=0.0, optimizer="sgd", select="last",
                    lr=lr, batch_size=FLOW_BATCH)
    grid = epoch_grid(ctx.scale.epochs)
    runs = {("flow", e, s): replace(ctx.config(**flow_cfg, seed=s), epochs=e) for e in grid for s in seeds}
    nus = (0.0,) + tuple(nu_grid or LINEAR_NU_GRID[::ctx.scale.nu_grid_stride])  # 0: DA, the reference
    sweep = {("nu", nu, sel, s): ctx.config(group=group, depth=1, seed=s, select=sel,
                                            **(dict(model="IR", form="LI", nu=nu) if nu else dict(model="DA")))
             for nu in nus for sel in SELECTS for s in seeds}
    configs = {**runs, **sweep}  # tagged keys: nu = 1.0 must not collide with epochs = 1
    trained = {r.config: r for r in train_all(ctx, list(configs.values()))}
    results = {k: trained[c] for k, c in configs.items()}
    # the float64 analysis after training: closed-form paths, then one step per trained run
    bar = tqdm(total=3 + len(seeds) + len(configs), desc=f"linear {group}: closed form, metrics", unit="step",
               disable=ctx.quiet, dynamic_ncols=True)
    dt = flow_time_per_epoch(runs[("flow", grid[0], 0)], rep.order)
    w0s = {s: initial_layers(runs[("flow", grid[0], s)])[0] for s in seeds}
    taus = np.concatenate([[0.0], np.geomspace(1e-3, 1e2 * lam_max / lam_min, n_times - 1)])
    path = flow_path(w0s[0], sigma_t, taus / lam_max, targets, basis)
    bar.update()
    path_d = flow_path(w0s[0], sigma_d, taus / lam_max, targets, basis)
    bar.update()
    out["closed_form"] = {"tau": taus.tolist(), **{k: v.tolist() for k, v in path.items()},
                          "theory_sigma": {k: v.tolist() for k, v in path_d.items()}}
    limit = w0s[0] @ pi
    test_x = ds.test.images[:TEST_CAP].flatten(1).double().numpy()
    sigma_test = orbit_covariance(test_x, rep)
    bar.update()
    out["limit"] = {  # what the flow converges to, and whether it is invariant
        "W0Pi_train_LI_rel": logit_invariance(limit, sigma_d) / logit_invariance(w0s[0], sigma_d),
        "W0Pi_test_LI_rel": logit_invariance(limit, sigma_test) / logit_invariance(w0s[0], sigma_test),
        "W0Pi_invariance_defect": invariance_defect(limit, rep),
        "W0PG_invariance_defect": invariance_defect(w0s[0] @ pg, rep),
        "dist_W0Pi_to_W0PG_rel": float(np.linalg.norm(limit - w0s[0] @ pg) / np.linalg.norm(w0s[0])),
    }
    all_epochs = np.arange(1, ctx.scale.epochs + 1)
    predicted = {}
    for s in seeds:
        predicted[s] = flow_path(w0s[s], sigma_t, all_epochs * dt, targets, basis)
        bar.update()
    training = []
    for e in grid:
        rows = []
        for s in seeds:
            w, w0, pred = _weights(results[("flow", e, s)]), w0s[s], predicted[s]
            rows.append({"dist_W0PG": float(np.linalg.norm(w - w0 @ pg) / np.linalg.norm(w0)),
                         "dist_W0Pi": float(np.linalg.norm(w - w0 @ pi) / np.linalg.norm(w0)),
                         "closed_dist_W0PG": float(pred["dist_W0PG"][e - 1]),
                         "closed_dist_W0Pi": float(pred["dist_W0Pi"][e - 1]),
                         "kernel_drift": float(np.linalg.norm((w - w0) @ pi) / np.linalg.norm(w0 @ pi)),
                         "sigma_max": float(np.linalg.norm(w, 2)), "closed_sigma_max": float(pred["sigma_max"][e - 1])})
            bar.update()
        training.append({"epochs": e, "t": e * dt, "tau": e * dt * lam_max, **_mean_std(rows)})
    hist = np.array([results[("flow", grid[-1], s)].history["layer_sigma_max"] for s in seeds])[..., 0]  # (seeds, E)
    closed = np.array([predicted[s]["sigma_max"] for s in seeds])
    out["pure_flow"] = {"lr": lr, "batch_size": FLOW_BATCH, "rate": FLOW_RATE, "t_per_epoch": dt,
                        "tau_per_epoch": dt * lam_max, "points": training,
                        "sigma_max_history": hist.mean(0).tolist(), "closed_sigma_max": closed.mean(0).tolist(),
                        "sigma_max_history_rel_err": float(np.abs(hist - closed).max() / closed.max())}
    sweep_rows = []
    for nu in nus:
        for sel in SELECTS:
            rows = []
            for s in seeds:
                r = results[("nu", nu, sel, s)]
                rows.append({**linear_metrics(_weights(r), w0s[s], pg, pi, frozen),
                             **{k: evaluate(ctx, r, metrics=("orbit",))[k] for k in ("acc", "LI")},
                             "best_epoch": r.best_epoch})
                bar.update()
            sweep_rows.append({"model": "IR" if nu else "DA", "nu": nu, "select": sel, **_mean_std(rows)})
    bar.close()
    out["nu_sweep"] = sweep_rows
    return out
