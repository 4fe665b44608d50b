"""Duan & Montúfar 2026 (PMLR 325), §3.1–3.3, as claims with randomized checks; ``DUAN_CLAIMS`` gathers these and
the landscape claims of ``theory.duan_landscape_claims`` (Prop. 13, relation to the seed paper's LI flow).

Each check draws ``cases`` instances (``theory.duan_draws``: a finite group in a permutation, orthogonal or
non-orthogonal representation with dim Fix >= 2, Gaussian data spanning R^{d0}, targets, a rank r) and tests the
statement against an independent computation: a deep linear network trained by L-BFGS on the raw loss
(``theory.duan_solvers``, the hard-wired one of the paper's Sec. 4.2 for Eq. 4), the full group instead of its
generators, or a bisection of the regularization path. ``expected`` is the verdict the mathematics predicts:
True for the paper's statements that hold and for the extensions proved here (non-unitary representations),
False for the paper's Thm. 9 as stated (its continuity fails at crossing singular values) and for naive
extensions whose assumptions a construction violates. worst_ratio is the quantity each statement names.
"""

from __future__ import annotations

import numpy as np

from theory import duan
from theory.claim import claim
from theory import duan_draws as dd
from theory import duan_path as dp
from theory.duan_landscape import constrained_problem, invariant_basis, regularized_problem, augmented_problem
from theory.duan_landscape_claims import LANDSCAPE_CLAIMS
from theory.duan_solvers import fit_deep_linear, random_widths
from theory.groups import cyclic_shift, dihedral, symmetric
from theory.linear_flow import invariance_defect, sigma_orbit

__all__ = ["DUAN_CLAIMS", "OPTIMUM_CLAIMS", "INITS", "LOSS_RTOL", "FIT_RTOL", "FIT_DIST", "INV_TOL"]

INITS = 2  # random initializations of the deep linear network per instance
LOSS_RTOL = 1e-9  # the closed form's loss may exceed the best trained network's by this (relative) at most
FIT_RTOL = 1e-8  # ... and the trained network must come this close to the closed form's loss
FIT_DIST = 1e-5  # ||W_trained - W_closed||_F / ||W_closed||_F for the unique optimum
INV_TOL = 1e-8  # invariance defect max_h ||W rho(h) - W||_F / ||W||_F counted as zero
JUMP_TOL = 1e-6  # ||W(b) - W(a)||_F / ||W^inv||_F left after bisecting the path to 2^-42 of a grid step

_BASIC = (lambda: cyclic_shift(3), lambda: cyclic_shift(4), lambda: cyclic_shift(6), lambda: dihedral(3),
          lambda: dihedral(4), lambda: symmetric(3), lambda: symmetric(4))


# ---------------------------------------------------------------- Prop. 4, Remark 5

def _prop4_rep(rng):
    makers = dd.IMAGE_GROUPS + _BASIC
    rep = makers[int(rng.integers(len(makers)))]()
    kind = ("permutation", "orthogonal", "nonorthogonal")[int(rng.integers(3))]
    return dd.conjugated(rep, kind, rng)


def _prop4_trial(rng):
    rep = _prop4_rep(rng)
    gens = duan.generators(rep)
    cyclic = int(duan.element_orders(rep).max()) == rep.order
    g_gen, g_all = duan.constraint_matrix(rep, gens), duan.constraint_matrix(rep, range(rep.order))
    p_gen, p_all = duan.left_null_projector(g_gen), duan.left_null_projector(g_all)
    same = np.linalg.norm(p_gen - p_all) <= 1e-8 * np.sqrt(rep.dim)
    k = int(rng.integers(1, 4))
    w_null = rng.standard_normal((k, rep.dim)) @ p_gen  # W G = 0 ...
    defect = invariance_defect(w_null, rep)  # ... => invariant
    w_inv = rng.standard_normal((k, rep.dim)) @ p_all  # invariant ...
    back = float(np.linalg.norm(w_inv @ g_gen) / (np.linalg.norm(w_inv) * np.linalg.norm(g_gen)))  # ... => W G = 0
    w_any = rng.standard_normal((k, rep.dim))
    outside = invariance_defect(w_any, rep) > 1e-3 and np.linalg.norm(w_any @ g_gen) > 1e-3 * np.linalg.norm(w_any)
    ok = same and defect <= INV_TOL and back <= INV_TOL and outside and (len(gens) == 1 or not cyclic)
    return ok, defect, {**dd.rep_json(rep), "generators": np.array(gens), "cyclic": cyclic, "W": w_null,
                        "defect": defect, "n_generators": len(gens)}


def _non_generator_trial(rng):
    rep = (_BASIC + dd.FIX2_GROUPS)[int(rng.integers(len(_BASIC) + len(dd.FIX2_GROUPS)))]()
    h = int(rng.integers(1, rep.order))
    w = rng.standard_normal((1, rep.dim)) @ duan.left_null_projector(duan.constraint_matrix(rep, [h]))
    defect = invariance_defect(w, rep)
    generates = len(duan.generated_subgroup(rep, [h])) == rep.order
    return defect <= INV_TOL, defect, {**dd.rep_json(rep), "h": h, "h_generates_G": generates, "W": w}


# ---------------------------------------------------------------- closed forms against a trained network

def _against_network(closed: np.ndarray, problem, r: int, widths, rng, to_w=lambda e: e, value=None):
    """(ok, loss ratio closed / trained, distance, fit) for a closed form and a Quadratic problem: the closed form
    is not beaten by the trained network, the network reaches it, and it attains the reduced-rank-regression value."""
    fit = fit_deep_linear(problem, widths, rng, inits=INITS)
    w_fit = to_w(fit.e)
    l_closed, l_fit = value(closed), value(w_fit)
    ratio = l_closed / l_fit
    dist = float(np.linalg.norm(w_fit - closed) / np.linalg.norm(closed))
    oracle = problem.rank_r_minimum(r)
    ok = (ratio <= 1 + LOSS_RTOL and l_fit <= l_closed * (1 + FIT_RTOL)
          and abs(l_closed - oracle) <= LOSS_RTOL * max(abs(oracle), problem.c0))
    return ok, ratio, dist, fit


def _thm6_trial(rank_assumption: bool):
    def trial(rng):
        # r_at_least_d: d <= r, so rank Z^inv <= d <= r and Thm. 6's assumption rank(Z^inv) > r fails by construction
        inst = dd.draw_instance(rng, ranks="paper" if rank_assumption else "r_at_least_d")
        x, y, g, r = inst.x, inst.y, inst.g, inst.r
        w = duan.constrained_optimum(x, y, g, r)
        s = np.linalg.svd(w, compute_uv=False)
        feasible = (np.linalg.norm(w @ g) <= 1e-9 * np.linalg.norm(w) * np.linalg.norm(g)
                    and (len(s) <= r or s[r] <= 1e-9 * s[0]))
        basis = invariant_basis(inst.rep)
        ok, ratio, dist, fit = _against_network(
            w, constrained_problem(x, y, basis), r, random_widths(basis.shape[1], inst.dl, r, rng), rng,
            to_w=lambda e: e @ basis.T, value=lambda v: duan.mse(v, x, y))
        rank_z = int(np.linalg.matrix_rank(duan.constrained_target(x, y, g)[0], tol=1e-9 * np.linalg.norm(y)))
        return (ok and feasible and dist <= FIT_DIST, ratio,
                {**inst.to_json(), "W_inv": w, "dist_to_trained": dist, "widths": np.array(fit.widths),
                 "rank_Z_inv": rank_z})
    return trial


def _tied_trial(rng):
    """sigma_r(Z^inv) = sigma_{r+1}(Z^inv) by construction: two distinct feasible points with the optimal loss."""
    tied = dd.tied_instance(dd.draw_instance(rng), rng)
    inst, r = tied.inst, tied.inst.r
    w_a, w_b = tied.truncation(list(range(r))), tied.truncation(list(range(r - 1)) + [r])
    l_a, l_b = duan.mse(w_a, inst.x, inst.y), duan.mse(w_b, inst.x, inst.y)
    oracle = constrained_problem(inst.x, inst.y, invariant_basis(inst.rep)).rank_r_minimum(r)  # reduced-rank regr.
    both_optimal = abs(l_a - l_b) <= 1e-12 * l_a and abs(l_a - oracle) <= LOSS_RTOL * l_a
    distinct = np.linalg.norm(w_a - w_b) >= 0.1 * np.linalg.norm(w_a)
    return not (both_optimal and distinct), l_b / l_a, {**inst.to_json(), "W_a": w_a, "W_b": w_b, "loss": l_a}


def _prop8_trial(rng):
    inst = dd.draw_instance(rng)
    x, y, g, r = inst.x, inst.y, inst.g, inst.r
    lam = float(10 ** rng.uniform(-3, 2))
    w = duan.regularized_optimum(x, y, g, lam, r)
    ok, ratio, dist, fit = _against_network(w, regularized_problem(x, y, g, lam), r,
                                            random_widths(x.shape[0], inst.dl, r, rng), rng,
                                            value=lambda v: duan.regularized_loss(v, x, y, g, lam))
    return ok and dist <= FIT_DIST, ratio, {**inst.to_json(), "lambda": lam, "dist_to_trained": dist}


def _generator_dependence_trial(rng):
    inst = dd.draw_instance(rng)
    x, y, r = inst.x, inst.y, inst.r
    g_all = duan.constraint_matrix(inst.rep, range(inst.rep.order))
    lam = float(10 ** rng.uniform(-2, 1)) / x.shape[1]
    w_gen = duan.regularized_optimum(x, y, inst.g, lam, r)
    w_all = duan.regularized_optimum(x, y, g_all, lam, r)
    diff = float(np.linalg.norm(w_gen - w_all) / np.linalg.norm(w_gen))
    return diff <= 1e-8, diff, {**inst.to_json(), "lambda": lam, "W_generators": w_gen, "W_all_elements": w_all}


# ---------------------------------------------------------------- Thm. 9

def _rates_trial(rng):
    inst = dd.draw_instance(rng)
    rates = dp.limit_rates(dp.PathInstance(inst.rep, inst.x, inst.y, inst.g, inst.r))
    ok = abs(rates["slope_inf"] + 1) <= 0.05 and abs(rates["slope_zero"] - 1) <= 0.05 and rates["dist_inf"] <= 1e-5
    return ok, rates["slope_inf"], {**inst.to_json(), **rates}


def _any_penalty_trial(rng):
    inst = dd.draw_instance(rng)
    x, y, r, n = inst.x, inst.y, inst.r, inst.x.shape[1]
    g_all = duan.constraint_matrix(inst.rep, range(inst.rep.order))
    penalties = {"generators": inst.g @ inst.g.T, "all_elements": g_all @ g_all.T,
                 "seed_LI": 0.5 * sigma_orbit(x.T, inst.rep)}  # LI = 1/2 tr(W Sigma W^T), Eq. 2 of the seed paper
    w_inv = duan.constrained_optimum(x, y, inst.g, r)
    z_inv, _ = duan.constrained_target(x, y, inst.g)
    sv = np.linalg.svd(z_inv, compute_uv=False)
    gap = (sv[r - 1] - sv[r]) / sv[0]
    _, p_inv = duan.data_root(x)
    dists, mids = {}, []
    for name, k in penalties.items():
        mu = np.linalg.eigvalsh(p_inv @ k @ p_inv)
        mu = mu[mu > duan.RANK_RTOL * mu.max()]
        lam = 1e8 / (n * mu.min() * gap**2)
        dists[name] = float(np.linalg.norm(duan.regularized_optimum(x, y, inst.g, lam, r, penalty=k) - w_inv)
                            / np.linalg.norm(w_inv))
        mids.append(duan.regularized_optimum(x, y, inst.g, 1.0 / (n * mu.mean()), r, penalty=k))
    spread = float(max(np.linalg.norm(a - b) for a in mids for b in mids) / np.linalg.norm(w_inv))
    worst = max(dists.values())
    return worst <= 1e-5, worst, {**inst.to_json(), **{f"dist_{k}": v for k, v in dists.items()},
                                  "spread_at_moderate_lambda": spread}


def _path_window(inst: dp.PathInstance) -> tuple[float, float]:
    n = inst.x.shape[1]
    _, p_inv = duan.data_root(inst.x)
    mu = np.linalg.eigvalsh(p_inv @ inst.g @ inst.g.T @ p_inv)
    mu = mu[mu > duan.RANK_RTOL * mu.max()]
    return 1e-4 / (n * mu.max()), 1e4 / (n * mu.min())


def _path_draw(rng, crossing: bool) -> dp.PathInstance:
    if not crossing:
        inst = dd.draw_instance(rng)
        return dp.PathInstance(inst.rep, inst.x, inst.y, inst.g, inst.r)
    rep = dd.draw_rep(rng)
    r = int(rng.integers(1, min(dd.fix_dim(rep), rep.dim - 1)))
    return dp.crossing_instance(rep, r, rng)


def _assumptions_thm9(inst: dp.PathInstance, svals: list[np.ndarray]) -> bool:
    """Z(lambda)^reg of full rank min(dL, d0) at lambda = 0 and on the grid (``svals``), rank Z^inv > r (Thm. 6, 9)."""
    full = min(inst.y.shape[0], inst.x.shape[0])
    if any(s[full - 1] <= 1e-9 * s[0] for s in [inst.singular_values(0.0), *svals]):
        return False
    s_inv = np.linalg.svd(duan.constrained_target(inst.x, inst.y, inst.g)[0], compute_uv=False)
    return bool(s_inv[inst.r] > 1e-9 * s_inv[0])


def _continuity_trial(with_gap: bool):
    def trial(rng):
        crossing = rng.random() < 0.5
        inst = _path_draw(rng, crossing)
        lo, hi = _path_window(inst)
        if with_gap and crossing:  # a window on one side of the crossing, where sigma_r > sigma_{r+1}
            lo, hi = ((inst.crossing * 1.5, hi) if rng.random() < 0.5 else (lo, inst.crossing / 1.5))
        svals = [inst.singular_values(float(lam)) for lam in np.geomspace(lo, hi, 31)]
        gap = float(min((s[inst.r - 1] - s[inst.r]) / s[0] for s in svals))
        a, b, jump = dp.largest_jump(inst, lo, hi)
        assumptions = _assumptions_thm9(inst, svals) and (not with_gap or gap > 0)
        example = {**dd.rep_json(inst.rep), "X": inst.x, "Y": inst.y, "r": inst.r, "lambda_a": a, "lambda_b": b,
                   "jump": jump, "constructed_crossing": inst.crossing, "assumptions_hold": assumptions,
                   "min_gap_on_grid": gap}
        return (not assumptions) or jump <= JUMP_TOL, jump, example
    return trial


# ---------------------------------------------------------------- Prop. 11, Thm. 12

def _prop11_trial(rng):
    inst = dd.draw_instance(rng)
    x, y, r = inst.x, inst.y, inst.r
    w = duan.augmented_optimum(x, y, inst.rep, r)
    ok, ratio, dist, _ = _against_network(w, augmented_problem(x, y, inst.rep), r,
                                          random_widths(x.shape[0], inst.dl, r, rng), rng,
                                          value=lambda v: duan.augmented_loss(v, x, y, inst.rep))
    return ok and dist <= FIT_DIST, ratio, {**inst.to_json(), "dist_to_trained": dist}


def _da_invariant_trial(kind: str):
    def trial(rng):
        inst = dd.draw_instance(rng, kind=kind)
        w = duan.augmented_optimum(inst.x, inst.y, inst.rep, inst.r)
        defect = invariance_defect(w, inst.rep)
        return defect <= INV_TOL, defect, {**inst.to_json(), "W_da": w}
    return trial


def _thm12_trial(kind: str):
    def trial(rng):
        inst = dd.draw_instance(rng, kind=kind)
        x, y, r = inst.x, inst.y, inst.r
        w_da, w_inv = duan.augmented_optimum(x, y, inst.rep, r), duan.constrained_optimum(x, y, inst.g, r)
        dist = float(np.linalg.norm(w_da - w_inv) / np.linalg.norm(w_inv))
        s_da = np.linalg.svd(duan.augmented_target(x, y, inst.rep)[0], compute_uv=False) / np.sqrt(inst.rep.order)
        s_inv = np.linalg.svd(duan.constrained_target(x, y, inst.g)[0], compute_uv=False)
        sv_err = float(np.abs(s_da - s_inv).max() / s_inv[0])
        return dist <= 1e-8 and sv_err <= 1e-8, dist, {**inst.to_json(), "sigma_err": sv_err}
    return trial


def _proof_step_trial(rng):
    """Eq. 34 (Q^{-1} rho(h) = rho(h) Q^{-1}) and Eq. 42 (|G| Gbar Q^{-2} = P^{-1} (I - G~ G~^+) P^{-1})."""
    inst = dd.draw_instance(rng, kind="nonorthogonal")
    _, q_inv = duan.augmentation_root(inst.x, inst.rep)
    _, p_inv = duan.data_root(inst.x)
    comm = max(float(np.linalg.norm(q_inv @ m - m @ q_inv) / (np.linalg.norm(q_inv) * np.linalg.norm(m)))
               for m in inst.rep.matrices)
    lhs = inst.rep.order * inst.rep.matrices.mean(axis=0) @ q_inv @ q_inv
    rhs = p_inv @ duan.left_null_projector(p_inv @ inst.g) @ p_inv
    eq42 = float(np.linalg.norm(lhs - rhs) / np.linalg.norm(rhs))
    worst = max(comm, eq42)
    return worst <= 1e-8, worst, {**inst.to_json(), "commutator": comm, "eq42_error": eq42}


OPTIMUM_CLAIMS = (
    claim("duan_prop4_generators",
             "Duan & Montúfar 2026, Prop. 4 and Remark 5: W is invariant (W rho(h) = W for all h) iff W G = 0 for "
             "G = [I - rho(g_1), ..., I - rho(g_M)] over a generating set (one generator when G is cyclic); R4, T3, "
             "D4, F2 on 2x2..6x6 grids, cyclic, dihedral, symmetric groups, any representation; worst_ratio is the "
             "largest invariance defect of a W with W G = 0.",
             _prop4_trial, expected=True, stats=("n_generators",)),
    claim("duan_prop4_single_non_generator",
             "Duan & Montúfar 2026, Prop. 4, naive extension: W (I - rho(h)) = 0 for one non-identity element h "
             "makes W invariant, whether or not h generates G; worst_ratio is the largest invariance defect.",
             _non_generator_trial, expected=False),
    claim("duan_thm6_constrained_optimum",
             "Duan & Montúfar 2026, Thm. 6: W^inv = U_r^inv Sigma_r^inv V_r^inv^T P^{-1} (Z^inv = Z (I - G~ G~^+)) is "
             "feasible for Eq. 4, attains the reduced-rank-regression optimum, and no hard-wired deep linear network "
             "trained by L-BFGS beats it; the best of 2 runs reaches it (distance <= 1e-5); worst_ratio is max "
             "loss(W^inv) / loss(trained).",
             _thm6_trial(True), expected=True, stats=("dist_to_trained",)),
    claim("duan_thm6_without_rank_assumption",
             "Duan & Montúfar 2026, Thm. 6, beyond the paper: its formula also solves Eq. 4 when rank(Z^inv) <= r "
             "(r >= d, the assumption violated by construction), as W^inv = Z^inv P^{-1}; worst_ratio is max "
             "loss(W^inv) / loss(trained).",
             _thm6_trial(False), expected=True, stats=("dist_to_trained", "rank_Z_inv")),
    claim("duan_thm6_unique_with_tied_singular_values",
             "Duan & Montúfar 2026, Thm. 6 / Prop. 13, naive extension (distinct singular values violated by "
             "construction): the solution of Eq. 4 is unique also when sigma_r(Z^inv) = sigma_{r+1}(Z^inv); "
             "worst_ratio is loss(W_b) / loss(W_a) for the two truncations.",
             _tied_trial, expected=False),
    claim("duan_prop8_regularized_optimum",
             "Duan & Montúfar 2026, Prop. 8: W^reg(lambda) = [Z B(lambda)^{-1}]_r B(lambda)^{-1} P^{-1} solves Eq. 7 "
             "(lambda in [1e-3, 1e2], any representation): no deep linear network trained by L-BFGS beats it and the "
             "best reaches it; worst_ratio is max loss(W^reg) / loss(trained).",
             _prop8_trial, expected=True, stats=("dist_to_trained", "lambda")),
    claim("duan_prop8_generator_independent",
             "Duan & Montúfar 2026, Prop. 8 / Remark 5, naive reading: the regularized optimum W^reg(lambda) does not "
             "depend on which elements are stacked into G (a generating set vs all of G); worst_ratio is the largest "
             "relative difference.",
             _generator_dependence_trial, expected=False),
    claim("duan_thm9_limits_and_rates",
             "Duan & Montúfar 2026, Thm. 9 (limit): W^reg(lambda) -> W^inv as lambda -> inf, measured at rate "
             "1/lambda (log-log slope -1 +- 0.05), and -> [Z]_r P^{-1} as lambda -> 0 at rate lambda (slope 1 +- "
             "0.05); worst_ratio is the largest (slowest) slope at lambda -> inf.",
             _rates_trial, expected=True, stats=("slope_inf", "slope_zero", "dist_inf")),
    claim("duan_thm9_limit_any_penalty",
             "Duan & Montúfar 2026, Thm. 9, beyond the paper: the lambda -> inf limit is W^inv for every penalty "
             "with kernel Fix(rho^T), ||W G||^2 over generators or over all of G or the seed paper's LI = 1/2 "
             "tr(W Sigma W^T) (Eq. 2), although the paths differ at finite lambda; worst_ratio is the largest "
             "distance to W^inv at lambda = 1e8 scales.",
             _any_penalty_trial, expected=True, stats=("spread_at_moderate_lambda",)),
    claim("duan_thm9_continuity_as_stated",
             "Duan & Montúfar 2026, Thm. 9 (continuity) as stated: if Z(lambda)^reg = Z B(lambda)^{-1} has full "
             "rank for all lambda >= 0, the regularization path W^reg(lambda) is continuous on (0, inf); worst_ratio "
             "is the largest jump ||W(b) - W(a)||_F / ||W^inv||_F left after bisecting to 2^-42 of a grid step.",
             _continuity_trial(False), expected=False),
    claim("duan_thm9_continuity_with_gap",
             "Duan & Montúfar 2026, Thm. 9 (continuity) repaired: on a lambda-window where sigma_r > sigma_{r+1} "
             "for Z(lambda)^reg the path is continuous (no jump survives bisection); worst_ratio is the largest "
             "jump left.",
             _continuity_trial(True), expected=True, stats=("min_gap_on_grid",)),
    claim("duan_prop11_da_optimum",
             "Duan & Montúfar 2026, Prop. 11: W^da = U_r^da Sigma_r^da V_r^da^T Q^{-1} solves Eq. 9 (any "
             "representation): no deep linear network trained by L-BFGS on the augmented data beats it and the best "
             "reaches it; worst_ratio is max loss(W^da) / loss(trained).",
             _prop11_trial, expected=True, stats=("dist_to_trained",)),
    claim("duan_prop11_invariant_unitary",
             "Duan & Montúfar 2026, Prop. 11: for a unitary (permutation or orthogonal) representation W^da is "
             "invariant, W^da G = 0; worst_ratio is the largest invariance defect.",
             _da_invariant_trial("unitary"), expected=True),
    claim("duan_prop11_invariant_nonunitary",
             "Duan & Montúfar 2026, Prop. 11, beyond the paper: W^da is invariant for a non-unitary representation "
             "too (W -> W Gbar keeps the rank and, by Jensen, never raises the augmented loss); worst_ratio is the "
             "largest invariance defect.",
             _da_invariant_trial("nonorthogonal"), expected=True),
    claim("duan_thm12_da_equals_constrained",
             "Duan & Montúfar 2026, Thm. 12: for a unitary representation W^da = W^inv, and sigma(Z^da) / sqrt|G| = "
             "sigma(Z^inv); worst_ratio is the largest ||W^da - W^inv||_F / ||W^inv||_F.",
             _thm12_trial("unitary"), expected=True, stats=("sigma_err",)),
    claim("duan_thm12_nonunitary",
             "Duan & Montúfar 2026, Thm. 12, beyond the paper: W^da = W^inv and sigma(Z^da) / sqrt|G| = sigma(Z^inv) "
             "also for a non-unitary representation (the augmented loss equals the MSE on invariant maps); "
             "worst_ratio is the largest ||W^da - W^inv||_F / ||W^inv||_F.",
             _thm12_trial("nonorthogonal"), expected=True, stats=("sigma_err",)),
    claim("duan_eq34_eq42_nonunitary",
             "Duan & Montúfar 2026, proofs of Prop. 11 and Thm. 12, naive extension (unitarity violated by "
             "construction): Q^{-1} commutes with every rho(h) (Eq. 34) and |G| Gbar Q^{-2} = P^{-1} (I - G~ G~^+) "
             "P^{-1} (Eq. 42) for a non-unitary representation; worst_ratio is the larger relative error.",
             _proof_step_trial, expected=False),
)


DUAN_CLAIMS = OPTIMUM_CLAIMS + LANDSCAPE_CLAIMS
