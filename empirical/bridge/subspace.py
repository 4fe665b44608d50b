"""Theory meets data, part 4: does IR shrink the sensitivity to ANY perturbation, or mainly to the group's?

The paper explains the spectral decay as IR "reducing the sensitivity to any input perturbation" (Sec. 3.3,
4.4). Split the input space into S = span{x - gx : x in the training data, g in G}
(``empirical.bridge.sigma.difference_subspace``) and its orthogonal complement S^perp (= ker Sigma, holding the
fixed subspace and every pixel orbit the data never vary on). For test samples x (each transformed by its
own g, as in Table 1) we measure sigma_max(J(x) P_S) = sigma_max(J(x) B_S) and sigma_max(J(x) P_perp) =
sigma_max(J(x) B_perp) (B orthonormal bases), their means over samples, and the share of ||J||_F^2 in S,
for the Table 1 models WT, DA and IR (LI). Inside S^perp, the fixed subspace Fix(G) holds the perturbations
the group cannot see at all (G-invariant ones), so sigma_max(J P_Fix) ("fix") is the sharpest test of
"any perturbation". Evaluations are cached per run in ``<cache>/<key>.bridge-<h>.json``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from empirical.bridge.sigma import Subspace, difference_subspace
from empirical.engine.context import Context
from empirical.engine.evaluation import cached_evaluation, mean_std
from empirical.engine.runs import build_model, dataset_for, train_all
from empirical.paper.grid import model_configs
from empirical.measure.sensitivity import input_jacobian
from empirical.engine.results import RunResult
from theory import groups

__all__ = ["METRICS", "split_sensitivity", "subspace_evaluate", "subspace_bridge"]

METRICS = ("S", "perp", "fix", "J", "energy_in_S")


def split_sensitivity(jac: np.ndarray, basis: np.ndarray, others: dict[str, np.ndarray] | None = None,
                      ) -> dict[str, np.ndarray]:
    """Per sample, from J (n, K, d) and an orthonormal basis of S (d, r): sigma_max(J P_S), sigma_max(J P_perp),
    sigma_max(J), ||J P_S||_F^2 / ||J||_F^2 and sigma_max(J B) for each orthonormal basis B in ``others``; (n,) each."""
    jac = np.asarray(jac, dtype=np.float64)
    d, r = basis.shape
    if jac.ndim != 3 or jac.shape[-1] != d:
        raise ValueError(f"J must be (n, K, {d}) to match the basis ({d}, {r}); got {jac.shape}")
    q, _ = np.linalg.qr(basis, mode="complete") if r < d else (basis, None)
    perp = q[:, r:]  # orthonormal basis of S^perp

    def smax(m):
        return np.linalg.norm(m, 2, axis=(-2, -1)) if m.shape[-1] else np.zeros(m.shape[0])

    in_s, out_s = jac @ basis, jac @ perp
    peak = np.abs(jac).max(axis=(1, 2), initial=0.0)[:, None, None]
    unit = np.divide(jac, peak, out=np.zeros_like(jac), where=peak > 0)  # the share is scale-free: no underflow
    total = (unit ** 2).sum(axis=(1, 2))
    energy = ((unit @ basis) ** 2).sum(axis=(1, 2)) / np.where(total > 0, total, 1.0)  # 0 for J = 0
    out = {"S": smax(in_s), "perp": smax(out_s), "J": smax(jac), "energy_in_S": energy}
    for name, b in (others or {}).items():
        out[name] = smax(jac @ b)
    return out


def subspace_evaluate(ctx: Context, result: RunResult, sub: Subspace) -> dict[str, Any]:
    """Mean split sensitivities of one run on its first ``n_jacobian`` test samples (transformed by their g); cached."""
    n = ctx.scale.n_jacobian
    spec = {"what": "bridge_subspace", "n": n, "rank": sub.rank, "rtol": sub.tol, "version": 2}

    def compute() -> dict[str, Any]:
        ds = dataset_for(ctx, result.config)
        x = ds.test.transformed()[:n].to(ctx.device)
        jac = input_jacobian(build_model(result, ctx.device), x).double().cpu().numpy()
        split = split_sensitivity(jac, sub.basis, {"fix": groups.fixed_subspace(ds.group)})
        return {"key": result.config.key(), "config": asdict(result.config), **spec,
                **{k: float(v.mean()) for k, v in split.items()}}

    return cached_evaluation(ctx, result, spec, compute, kind="bridge")


def subspace_bridge(ctx: Context, group: str, sub: Subspace | None = None) -> dict[str, Any]:
    """Part 4 for one group: sigma_max(J P_S) and sigma_max(J P_perp) for WT, DA and IR (Table 1 runs)."""
    cfgs, _ = model_configs(ctx, group)  # IR (LI) at the tuned nu, as in python -m empirical.table1
    results = train_all(ctx, [c for runs in cfgs.values() for c in runs])
    by_key = {r.config.key(): r for r in results}
    if sub is None:
        ds = dataset_for(ctx, cfgs["DA"][0])
        sub = difference_subspace(ds.train.images.flatten(1).double().numpy(), ds.group)
    rows = {}
    bar = tqdm(total=sum(len(runs) for runs in cfgs.values()), desc=f"subspace {group}: J split", unit="run",
               disable=ctx.quiet, dynamic_ncols=True)
    for model, runs in cfgs.items():
        evals = []
        for c in runs:
            evals.append(subspace_evaluate(ctx, by_key[c.key()], sub))
            bar.update()
        rows[model] = {"nu": runs[0].nu, **{k: list(mean_std(e[k] for e in evals))
                                            for k in METRICS},
                       "per_seed": [{k: e[k] for k in METRICS} for e in evals]}
    bar.close()
    keys = ("S", "perp", "fix", "J")
    ratios = {f"{m}/DA": {k: rows[m][k][0] / rows["DA"][k][0] for k in keys} for m in ("IR", "WT")}
    paired = {f"{m}/DA": {k: list(mean_std(a[k] / b[k] for a, b in zip(rows[m]["per_seed"], rows["DA"]["per_seed"])))
                          for k in keys} for m in ("IR", "WT")}  # seed s of each model against seed s of DA
    return {"group": group, "subspace": sub.summary(), "dim_fraction_S": sub.rank / sub.dim, "models": rows,
            "ratios": ratios, "ratios_paired_by_seed": paired}
