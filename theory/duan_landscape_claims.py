"""Duan & Montúfar 2026 (PMLR 325), Prop. 13 and the relation to the seed paper's LI flow, as claims: LANDSCAPE_CLAIMS.

Prop. 13: the critical points in function space are U Sigma_I V^T (mapped back) for the r-subsets I of the
nonzero singular values of Z^inv (hard-wiring), Z^da (augmentation) and Z(lambda)^reg (regularization); the first
two sets coincide; only I = [r] is a local minimum. The checks use the raw-data quadratics of
``theory.duan_landscape`` (never the closed forms): every listed point has zero Riemannian gradient on M_r, a
Levenberg–Marquardt search from random starts finds no critical point off the list, and the Riemannian
Hessian's index equals #{(i, j) : i in I, j not in I, sigma_j > sigma_i}, so every non-global critical point is
a strict saddle with an explicit descent curve.

Relation to the seed paper (``theory.linear_flow``): the LI flow dW/dt = -W Sigma, no task loss, lands on W(0) Pi,
the Frobenius-orthogonal projection of W(0) onto the invariant maps. With the rank constraint inactive (r >= d),
Duan's W^inv = W_LS Pi_S is the projection of the least-squares fit W_LS that is orthogonal in the data metric
S = X X^T (with it active, W^inv = [W_LS Pi_S P]_r P^{-1}). So the flow started at W_LS lands on W^inv for every
target iff Pi_S = Pi, iff S maps Fix(rho^T) into itself: true for data closed under an orthogonal G, false for
generic data and for data closed under a non-orthogonal G.
"""

from __future__ import annotations

from math import comb

import numpy as np

from theory import duan
from theory.claim import claim
from theory import duan_draws as dd
from theory import duan_landscape as dl
from theory.linear_flow import flow_closed_form, invariance_defect, sigma_orbit

__all__ = ["LANDSCAPE_CLAIMS", "GRAD_TOL"]

GRAD_TOL = 1e-9  # relative Riemannian gradient norm counted as zero
MATCH_TOL = 1e-6  # relative distance at which two critical points are the same


def _problems(inst: dd.Instance, lam: float):
    """The three problems with their closed-form critical points, each point in the problem's coordinates E,
    and the singular values of the target whose subsets index them."""
    x, y, g, r, rep = inst.x, inst.y, inst.g, inst.r, inst.rep
    basis = dl.invariant_basis(rep)
    out = {}
    for name, problem, points, target, to_e in (
        ("constrained", dl.constrained_problem(x, y, basis), dl.constrained_critical_points(x, y, g, r),
         duan.constrained_target(x, y, g)[0], lambda w: w @ basis),
        ("augmented", dl.augmented_problem(x, y, rep), dl.augmented_critical_points(x, y, rep, r),
         duan.augmented_target(x, y, rep)[0], lambda w: w),
        ("regularized", dl.regularized_problem(x, y, g, lam), dl.regularized_critical_points(x, y, g, lam, r),
         duan.regularized_target(x, y, g, lam)[0], lambda w: w),
    ):
        out[name] = (problem, [(i, w, to_e(w)) for i, w in points], np.linalg.svd(target, compute_uv=False))
    return out


def _lam(inst: dd.Instance, rng) -> float:
    return float(10 ** rng.uniform(-2, 1)) / inst.x.shape[1]


def _critical_points_trial(rng):
    inst = dd.draw_instance(rng, max_dim=7, ranks="output_at_least_d")
    lam = _lam(inst, rng)
    probs = _problems(inst, lam)
    d, r, m = inst.d, inst.r, min(inst.x.shape[0], inst.dl)
    counts = {k: len(v[1]) for k, v in probs.items()}
    ok = counts == {"constrained": comb(d, r), "augmented": comb(d, r), "regularized": comb(m, r)}
    grad = max(dl.riemannian_gradient_norm(p, e, r) for p, pts, _ in probs.values() for _, _, e in pts)
    ok &= grad <= GRAD_TOL
    # hard-wiring and augmentation: the same points, index by index, and sigma(Z^da) = sqrt|G| sigma(Z^inv)
    same = max(np.linalg.norm(wc - wa) / np.linalg.norm(wc)
               for (_, wc, _), (_, wa, _) in zip(probs["constrained"][1], probs["augmented"][1], strict=True))
    s_inv, s_da = probs["constrained"][2], probs["augmented"][2]
    ok &= same <= 1e-8 and np.allclose(s_da[:d] / np.sqrt(inst.rep.order), s_inv[:d], rtol=1e-8, atol=0)
    # the points are distinct; min_reg_defect records how far the regularized ones are from invariant
    for _, pts, _ in probs.values():
        ws = [w for _, w, _ in pts]
        ok &= all(np.linalg.norm(a - b) > MATCH_TOL * np.linalg.norm(a) for i, a in enumerate(ws) for b in ws[:i])
    reg_defect = min(invariance_defect(w, inst.rep) for _, w, _ in probs["regularized"][1])
    # completeness: critical points found from random starts, with no closed form, are on the list
    name = ("constrained", "augmented", "regularized")[int(rng.integers(3))]
    problem, pts, _ = probs[name]
    found, _ = dl.find_critical_points(problem, r, rng, starts=2)
    nearest = [min(range(len(pts)), key=lambda j: np.linalg.norm(f - pts[j][2])) for f in found]
    off_list = sum(np.linalg.norm(f - pts[j][2]) > MATCH_TOL * np.linalg.norm(pts[j][2])
                   for f, j in zip(found, nearest, strict=True))
    saddles = sum(pts[j][0] != tuple(range(r)) for j in nearest)
    ok &= off_list == 0
    return bool(ok), grad, {**inst.to_json(), "lambda": lam, "counts": str(counts), "max_grad": grad,
                            "da_vs_constrained": same, "searched": name, "found": len(found),
                            "found_saddles": saddles, "off_list": off_list, "min_reg_defect": reg_defect}


def _saddle_trial(rng):
    inst = dd.draw_instance(rng, max_dim=7, ranks="output_at_least_d")
    r = inst.r
    ok, worst, bad = True, -np.inf, None
    for name, (problem, pts, sigma) in _problems(inst, _lam(inst, rng)).items():
        for idx, _, e in pts:
            ev = dl.hessian_eigenvalues(problem, e, r)
            scale = np.abs(ev).max()
            index = int((ev < -1e-9 * scale).sum())
            predicted = dl.predicted_index(sigma[sigma > duan.RANK_RTOL * sigma[0]], idx)
            is_global = idx == tuple(range(r))
            good = index == predicted and (index == 0) == is_global and ev.max() > 0
            if not is_global:
                worst = max(worst, float(ev[0] / ev[-1]))
                good &= dl.escape_decrease(problem, e, r) < 0
            if not good and bad is None:
                bad = {"problem": name, "I": np.array(idx), "index": index, "predicted": predicted}
            ok &= bool(good)
    return ok, worst, {**inst.to_json(), **(bad or {})}


def _tied_trial(rng):
    """sigma_r = sigma_{r+1} of Z^inv: the rotations P(theta) of the tied pair are all critical."""
    tied = dd.tied_instance(dd.draw_instance(rng, max_dim=7, ranks="output_at_least_d"), rng)
    inst, u, s, f, r = tied.inst, tied.u, tied.s, tied.f, tied.inst.r
    k = len(s)
    basis = dl.invariant_basis(inst.rep)
    problem = dl.constrained_problem(inst.x, inst.y, basis)
    base = (u[:, : r - 1] * s[: r - 1]) @ f[:, : r - 1].T
    thetas = np.linspace(0.1, 1.4, comb(k, r) + 1)
    points = [(base + s[r - 1] * np.outer(np.cos(t) * u[:, r - 1] + np.sin(t) * u[:, r],
                                         np.cos(t) * f[:, r - 1] + np.sin(t) * f[:, r])) @ tied.p_inv for t in thetas]
    grads = [dl.riemannian_gradient_norm(problem, w @ basis, r) for w in points]
    critical = sum(gr <= GRAD_TOL for gr in grads)
    ratio = critical / comb(k, r)
    return critical <= comb(k, r), ratio, {**inst.to_json(), "sigma": s, "thetas": thetas, "max_grad": max(grads)}


def _narrow_output_trial(rng):
    inst = dd.draw_instance(rng, max_dim=9, ranks="narrow_output")
    probs = _problems(inst, 1.0)
    problem, pts, _ = probs["constrained"]
    critical = sum(dl.riemannian_gradient_norm(problem, e, inst.r) <= GRAD_TOL for _, _, e in pts)
    found, _ = dl.find_critical_points(problem, inst.r, rng, starts=1)
    off_list = sum(min(np.linalg.norm(f - e) / np.linalg.norm(e) for _, _, e in pts) > MATCH_TOL for f in found)
    paper = comb(inst.d, inst.r)
    ok = critical == paper and off_list == 0
    return ok, critical / paper, {**inst.to_json(), "critical_points": critical, "paper_count": paper,
                                  "dL_choose_r": comb(inst.dl, inst.r), "off_list_found": off_list}


# ---------------------------------------------------------------- the seed paper's LI flow

def _closed_data(rng, rep, d):
    """Data closed under G: the orbits of max(d, ceil(d0 / |G|)) + 1 Gaussian points (each orbit adds one direction
    of Fix(rho), so at least d orbits are needed to span R^d0)."""
    n0 = max(d, -(-rep.dim // rep.order)) + 1
    x0 = rng.standard_normal((rep.dim, n0))
    return np.concatenate([m @ x0 for m in rep.matrices], axis=1)


def _seed_case(rng, mode: str):
    kind = {"generic": "any", "closed_orthogonal": "unitary", "closed_nonorthogonal": "nonorthogonal"}[mode]
    inst = dd.draw_instance(rng, kind=kind)
    x = inst.x if mode == "generic" else _closed_data(rng, inst.rep, inst.d)
    y = rng.standard_normal((inst.dl, x.shape[1]))  # arbitrary targets, not replicated over the orbits
    rep, g = inst.rep, inst.g
    basis = dl.invariant_basis(rep)
    w_ls = duan.least_squares(x, y)
    pi, pi_s = basis @ basis.T, duan.data_metric_projector(x, basis)
    w_inv_full = duan.constrained_optimum(x, y, g, inst.d)  # r = d: the rank constraint is inactive
    sigma = sigma_orbit(x.T, rep)  # Eq. 2 of the seed paper over the same data
    lam = np.linalg.eigvalsh(sigma)
    late = flow_closed_form(w_ls, sigma, 60.0 / lam[lam > 1e-10 * lam.max()].min())
    p, p_inv = duan.data_root(x)
    rel = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(b))  # noqa: E731
    return {
        "inst": inst, "x": x, "y": y,
        "winv_is_ls_projection": rel(w_inv_full, w_ls @ pi_s),
        "winv_r_is_truncation": rel(duan.constrained_optimum(x, y, g, inst.r),
                                    duan.truncate(w_ls @ pi_s @ p, inst.r) @ p_inv),
        "flow_lands_on_w0_pi": rel(late, w_ls @ pi),
        "flow_vs_winv": rel(w_ls @ pi, w_inv_full),
        "pi_s_vs_pi": rel(pi_s, pi),
    }


def _seed_relation_trial(rng):
    mode = ("generic", "closed_orthogonal", "closed_nonorthogonal")[int(rng.integers(3))]
    c = _seed_case(rng, mode)
    identities = max(c["winv_is_ls_projection"], c["winv_r_is_truncation"]) <= 1e-9 and c["flow_lands_on_w0_pi"] <= 1e-7
    coincide, commute = c["flow_vs_winv"] <= 1e-8, c["pi_s_vs_pi"] <= 1e-8
    ok = identities and coincide == commute and commute == (mode == "closed_orthogonal")
    example = {**dd.rep_json(c["inst"].rep), "X": c["x"], "Y": c["y"], "mode": mode,
               **{k: v for k, v in c.items() if isinstance(v, float)}}
    return ok, None, example


def _seed_naive_trial(rng):
    c = _seed_case(rng, "generic")
    example = {**dd.rep_json(c["inst"].rep), "X": c["x"], "Y": c["y"],
               **{k: v for k, v in c.items() if isinstance(v, float)}}
    return c["flow_vs_winv"] <= 1e-8, c["flow_vs_winv"], example


LANDSCAPE_CLAIMS = (
    claim("duan_prop13_critical_points",
             "Duan & Montúfar 2026, Prop. 13: with dL >= d the critical points in function space are the C(d, r) "
             "points U Sigma_I V^T P^{-1} (hard-wiring), the C(d, r) points U Sigma_I V^T Q^{-1} (augmentation; the "
             "same set, and sigma(Z^da) = sqrt|G| sigma(Z^inv)) and the C(min(d0, dL), r) points U Sigma_I V^T "
             "B^{-1} P^{-1} (regularization): zero Riemannian gradient of the raw loss, none other found from random "
             "starts; worst_ratio is the largest relative Riemannian gradient.",
             _critical_points_trial, expected=True, stats=("min_reg_defect", "found", "found_saddles")),
    claim("duan_prop13_strict_saddles",
             "Duan & Montúfar 2026, Prop. 13: the only local minimum is I = [r]; every other critical point of the "
             "three problems is a strict saddle, with Riemannian Hessian index #{(i, j): i in I, j not in I, "
             "sigma_j > sigma_i} and a descent curve in M_r; worst_ratio is the largest lambda_min / lambda_max of "
             "the Hessian at a non-global critical point.",
             _saddle_trial, expected=True),
    claim("duan_prop13_repeated_singular_values",
             "Duan & Montúfar 2026, Prop. 13, naive extension (pairwise distinct singular values violated by "
             "construction): with sigma_r(Z^inv) = sigma_{r+1}(Z^inv) hard-wiring still has at most C(k, r) "
             "critical points; worst_ratio is the number of critical points found on the rotation family over "
             "C(k, r).",
             _tied_trial, expected=False),
    claim("duan_prop13_count_narrow_output",
             "Duan & Montúfar 2026, Prop. 13 (count): hard-wiring has C(d, r) critical points also when dL < d (the "
             "proof takes rank Z^inv = d, which needs dL >= d); worst_ratio is the number of critical points over "
             "C(d, r).",
             _narrow_output_trial, expected=False),
    claim("duan_seed_limits_relation",
             "Duan & Montúfar 2026 and the seed paper's Prop. 3.1: the LI flow from W(0) lands on W(0) Pi (Frobenius "
             "projection); W^inv = [W_LS Pi_S P]_r P^{-1} with Pi_S the projection orthogonal in S = X X^T (= W_LS "
             "Pi_S for r >= d); the flow from W(0) = W_LS lands on W^inv (r >= d) iff Pi_S = Pi, which holds for "
             "data closed under an orthogonal G and fails for generic data and for data closed under a "
             "non-orthogonal G.",
             _seed_relation_trial, expected=True),
    claim("duan_seed_flow_from_least_squares",
             "Duan & Montúfar 2026 and the seed paper's Prop. 3.1, naive extension: the LI flow started from the "
             "least-squares fit W_LS lands on W^inv (r >= d) for any data; worst_ratio is the largest "
             "||W_LS Pi - W^inv||_F / ||W^inv||_F.",
             _seed_naive_trial, expected=False),
)
