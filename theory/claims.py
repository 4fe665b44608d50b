"""Every statement of the linear theory (Prop. 3.1 and its boundaries) as a Claim with a randomized check.

``all_claims()`` appends the deep-linear claims of ``theory.deep_claims`` and the claims of Duan & Montúfar 2026
(``theory.duan_claims``). The helpers the modules draw from (``claim_rng``, ``random_representation``, ``KINDS``)
live in ``theory.claim`` and are re-exported here, so the dependency runs one way:
claim <- deep_claims / duan_claims <- claims.

Each ``check(rng, cases)`` draws ``cases`` random instances — a small finite group in a
permutation, orthogonal or non-orthogonal representation, data, W(0), a time or step size —
and tests the statement on each. A statement beyond a boundary (e.g. GD with alpha > 2 /
lambda_max) is stated as the naive extension of Prop. 3.1 and is expected to be refuted:
its verdict carries the smallest counterexample found, and its claim says so (``expected=False``).
``all_claims()`` is the single list that ``python -m theory.flow_demo`` and the tests run.

worst_ratio is, per claim, the largest sigma_max(W(t)) / sigma_max(W(0)) seen (or the
quantity named in the claim's statement, e.g. LI(t)/LI(0) for ``li_monotone``); None where no
such ratio applies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from theory import groups
# claim_rng, random_representation and KINDS are re-exported: callers import them from here.
from theory.claim import KINDS, Claim, Trial, Verdict, claim, claim_rng, random_representation
from theory.deep_claims import DEEP_CLAIMS
from theory.duan_claims import DUAN_CLAIMS
from theory.linear_flow import (
    flow_closed_form,
    flow_ode,
    gd_contraction,
    gd_error_order,
    gradient_descent,
    invariance_defect,
    invariant_projector,
    limit_projector,
    logit_invariance,
    sigma_orbit,
    sigma_pair,
    spectral_norm,
)
from theory.softmax_flow import gradient_flow, regularized_loss

__all__ = ["all_claims", "linear_claims", "claim_rng", "check_all", "random_representation", "KINDS"]

RTOL = 1e-9  # relative slack for "<=" between float64 norms computed along different paths

# A trial draws one instance and returns (statement held on it, ratio or None, instance as a small dict).


def check_all(seed: int = 0, cases: int = 50, deep_cases: int | None = None) -> list[Verdict]:
    """Run every claim of ``all_claims()`` with the per-claim generators of ``seed``.

    Linear claims and those of Duan & Montúfar 2026 (closed forms, ~3-30 ms per instance) check ``cases``
    instances; the deep-linear ones (an ODE per instance, ~0.07 s each) check ``deep_cases`` (default: ``cases``).
    """
    full = {c.id for c in linear_claims() + DUAN_CLAIMS}
    return [c.check(claim_rng(seed, c.id), cases if c.id in full or deep_cases is None else deep_cases)
            for c in all_claims()]


def _rep_json(rep: groups.Representation) -> dict[str, Any]:
    if rep.perms is not None:
        return {"group": rep.name, "perms": rep.perms}
    return {"group": rep.name, "rho": rep.matrices}


# ---------------------------------------------------------------- instance draws

def _instance(rng: np.random.Generator, kind: str = "any", spanning: bool = False):
    """(rep, data x (n, d), W(0) (k, d)); spanning=True draws n >= d points so the data span R^d."""
    rep = random_representation(rng, kind)
    d = rep.dim
    n = d + int(rng.integers(0, 3)) if spanning else int(rng.integers(1, 4))
    return rep, rng.standard_normal((n, d)), rng.standard_normal((int(rng.integers(1, 4)), d))


def _pair_sigma(rng: np.random.Generator):
    """Sigma = eps eps^T for one x and one g != e (the setting of the proof of Prop. 3.1)."""
    rep, x, w0 = _instance(rng)
    g = int(rng.integers(1, rep.order))
    eps = x[0] - rep.act(g, x[0])
    return rep, x[:1], w0, sigma_pair(eps), {"g": g}


def _orbit_sigma(rng: np.random.Generator):
    """Sigma = sum_x sum_g (x - gx)(x - gx)^T (Eq. 2) for random data and any representation."""
    rep, x, w0 = _instance(rng)
    return rep, x, w0, sigma_orbit(x, rep), {}


def _times(sigma: np.ndarray, num: int = 40) -> np.ndarray:
    """0 and a log grid reaching well past the slowest nonzero mode of Sigma."""
    lam = np.linalg.eigvalsh(sigma)
    lam = lam[lam > max(1e-12 * lam.max(), 1e-280)]  # subnormal eigenvalues: 10 / lambda would overflow
    if lam.size == 0:
        return np.array([0.0, 1.0])
    return np.concatenate([[0.0], np.geomspace(1e-3 / lam.max(), 10.0 / lam.min(), num - 1)])


def _non_increasing(values: np.ndarray, scale: float) -> bool:
    return bool((np.diff(values) <= RTOL * scale).all())


# ---------------------------------------------------------------- Proposition 3.1

def _flow_bound_trial(draw_sigma) -> Trial:
    def trial(rng):
        rep, x, w0, sigma, extra = draw_sigma(rng)
        lam = max(np.linalg.eigvalsh(sigma).max(), 1e-12)
        t = float(10.0 ** rng.uniform(-2.0, 2.0) / lam)
        ratio = spectral_norm(flow_closed_form(w0, sigma, t)) / spectral_norm(w0)
        return ratio <= 1.0 + RTOL, ratio, {**_rep_json(rep), "x": x, "W0": w0, "t": t, **extra}
    return trial


def _flow_monotone_trial(rng):
    rep, x, w0, sigma, extra = (_pair_sigma if rng.random() < 0.5 else _orbit_sigma)(rng)
    ts = _times(sigma)
    norms = np.array([spectral_norm(w) for w in flow_closed_form(w0, sigma, ts)])
    ok = _non_increasing(norms, norms[0])
    return ok, float(norms.max() / norms[0]), {**_rep_json(rep), "x": x, "W0": w0, "ts": ts, **extra}


def _li_monotone_trial(rng):
    rep, x, w0, sigma, extra = (_pair_sigma if rng.random() < 0.5 else _orbit_sigma)(rng)
    ts = _times(sigma)
    li = np.array([logit_invariance(w, sigma) for w in flow_closed_form(w0, sigma, ts)])
    ratio = float(li.max() / li[0]) if li[0] > 0 else None
    scale = li[0] + np.sum(w0**2) * np.linalg.eigvalsh(sigma).max()  # round-off scale of 1/2 tr(W Sigma W^T)
    return _non_increasing(li, scale), ratio, {**_rep_json(rep), "x": x, "W0": w0, "ts": ts, **extra}


def _solvers_trial(rng):
    rep, x, w0, sigma, extra = (_pair_sigma if rng.random() < 0.5 else _orbit_sigma)(rng)
    lam = np.linalg.eigvalsh(sigma).max()
    horizon = 1.0 / lam
    closed = flow_closed_form(w0, sigma, np.array([horizon]))[0]
    ode = flow_ode(w0, sigma, np.array([0.0, horizon]))[-1]
    gd = gradient_descent(w0, sigma, horizon / 4000, 4000)[-1]  # alpha lambda_max = 2.5e-4
    scale = np.linalg.norm(w0)
    err_ode, err_gd = np.linalg.norm(ode - closed) / scale, np.linalg.norm(gd - closed) / scale
    ok = err_ode <= 1e-7 and err_gd <= 1e-3
    return ok, None, {**_rep_json(rep), "x": x, "W0": w0, "err_ode": err_ode, "err_gd": err_gd, **extra}


def _gd_order_trial(rng):
    rep, x, w0, sigma, extra = _orbit_sigma(rng)
    horizon = 1.0 / np.linalg.eigvalsh(sigma).max()
    slope, _, _ = gd_error_order(w0, sigma, horizon, np.array([100, 200, 400, 800, 1600]))
    return abs(slope - 1.0) <= 0.05, None, {**_rep_json(rep), "x": x, "W0": w0, "slope": slope, **extra}


# ---------------------------------------------------------------- the limit t -> inf

def _limit_trial(kind: str, target: str) -> Trial:
    """W(inf) = W(0) Pi against P_G ('reynolds') or the invariant projector onto Fix(rho^T) ('fix_transpose')."""
    def trial(rng):
        rep, x, w0 = _instance(rng, kind, spanning=True)
        sigma = sigma_orbit(x, rep)
        pi = limit_projector(sigma)
        w_inf = w0 @ pi
        p_g = groups.reynolds(rep)
        late = flow_closed_form(w0, sigma, 50.0 / _smallest_nonzero(sigma))  # the flow itself, far out
        ratio = spectral_norm(w_inf) / spectral_norm(w0)
        example = {**_rep_json(rep), "x": x, "W0": w0}
        scale = np.linalg.norm(w0)
        if target == "reynolds":
            gap = np.linalg.norm(w_inf - w0 @ p_g) / scale
            ok = gap <= 1e-7 and np.linalg.norm(late - w0 @ p_g) / scale <= 1e-7
            return ok, ratio, {**example, "dist_to_W0_PG": gap}
        pi_fix = invariant_projector(rep)
        invariant = invariance_defect(w_inf, rep) <= 1e-7
        closest = _closest_invariant(w0, w_inf, rep, pi_fix, rng)
        same_iff_symmetric = (np.allclose(pi, p_g, atol=1e-7)) == (np.allclose(p_g, p_g.T, atol=1e-7))
        ok = (np.linalg.norm(pi - pi_fix) <= 1e-7 and np.linalg.norm(late - w_inf) / scale <= 1e-7
              and invariant and closest and same_iff_symmetric and ratio <= 1.0 + RTOL)
        return ok, ratio, {**example, "Pi": pi, "P_G": p_g}
    return trial


def _smallest_nonzero(sigma: np.ndarray) -> float:
    lam = np.linalg.eigvalsh(sigma)
    return float(lam[lam > 1e-10 * lam.max()].min())


def _closest_invariant(w0, w_inf, rep, pi_fix, rng) -> bool:
    """No invariant matrix (W(0) P_G, or random M with M = M Pi_fix) is closer to W(0) than W(0) Pi in Frobenius."""
    best = np.linalg.norm(w0 - w_inf)
    rivals = [w0 @ groups.reynolds(rep)]
    rivals += [w_inf + rng.standard_normal(w0.shape) @ pi_fix * 10.0 ** -j for j in range(4)]
    return all(best <= np.linalg.norm(w0 - m) * (1 + RTOL) + 1e-12 for m in rivals)


def _weight_tied_bound_trial(rng):
    rep, x, w0 = _instance(rng, "nonorthogonal")
    p_g = groups.reynolds(rep)
    if rng.random() < 0.5:  # directed half of the search: the row maximizing ||w P_G|| / ||w|| is u_1(P_G)^T
        w0[0] = np.linalg.svd(p_g)[0][:, 0] * np.linalg.norm(w0[0])
    ratio = spectral_norm(w0 @ p_g) / spectral_norm(w0)
    return ratio <= 1.0 + RTOL, ratio, {**_rep_json(rep), "W0": w0, "norm_PG": spectral_norm(p_g)}


def _limit_any_data_trial(rng):
    rep, x, w0 = _instance(rng, "any", spanning=False)
    x = x[:1]
    sigma = sigma_orbit(x, rep)
    w_inf = w0 @ limit_projector(sigma)
    defect = invariance_defect(w_inf, rep)
    ratio = spectral_norm(w_inf) / spectral_norm(w0)
    return defect <= 1e-7, ratio, {**_rep_json(rep), "x": x, "W0": w0, "invariance_defect": defect}


def _limit_rank_trial(rng):
    rep, x, w0 = _instance(rng, "any", spanning=rng.random() < 0.5)
    sigma = sigma_orbit(x, rep)
    w_inf = w0 @ limit_projector(sigma)
    rank = int(np.linalg.matrix_rank(sigma, tol=1e-9 * np.linalg.eigvalsh(sigma).max()))
    full = rank == rep.dim - int(np.rint(np.trace(invariant_projector(rep))))
    invariant = invariance_defect(w_inf, rep) <= 1e-7
    ratio = spectral_norm(w_inf) / spectral_norm(w0)
    return full == invariant, ratio, {**_rep_json(rep), "x": x, "W0": w0, "rank": rank}


# ---------------------------------------------------------------- discrete steps

def _gd_trial(lo: float, hi: float, steps: int = 30) -> Trial:
    """GD with alpha = u * 2 / lambda_max(Sigma), u uniform in (lo, hi] (u = hi exactly one time in five)."""
    def trial(rng):
        rep, x, w0, sigma, extra = (_pair_sigma if rng.random() < 0.5 else _orbit_sigma)(rng)
        u = hi if rng.random() < 0.2 else float(rng.uniform(lo, hi))
        alpha = u * 2.0 / np.linalg.eigvalsh(sigma).max()
        norms = np.array([spectral_norm(w) for w in gradient_descent(w0, sigma, alpha, steps)])
        ok = _non_increasing(norms, norms[0]) and (gd_contraction(sigma, alpha) <= 1.0 + RTOL) == (u <= 1.0)
        example = {**_rep_json(rep), "x": x, "W0": w0, "alpha": alpha, "alpha_lambda_max_over_2": u, **extra}
        return ok, float(norms.max() / norms[0]), example
    return trial


# ---------------------------------------------------------------- softmax models

def _softmax_trial(regularizer: str) -> Trial:
    """The flow of CE + nu LI from a small W(0) ('li'), or of nu DI alone from an O(1) W(0) ('di')."""
    def trial(rng):
        rep, x, w0 = _instance(rng)
        k = max(2, w0.shape[0])
        if regularizer == "li":
            y = rng.integers(0, k, len(x))
            scale, nu, horizon = 10.0 ** rng.uniform(-2, 0), 10.0 ** rng.uniform(-1, 1), 5.0
        else:
            y, scale, nu, horizon = None, 10.0 ** rng.uniform(-0.5, 0.7), 1.0, 50.0
        w0 = scale * rng.standard_normal((k, rep.dim))
        loss = regularized_loss(x, rep, y, nu, regularizer)
        ts = np.linspace(0.0, horizon, 26)
        # coarse search (rtol 1e-6); a borderline ratio is re-integrated at tight tolerance before it counts
        ratio = _flow_ratio(loss, w0, ts, rtol=1e-6)
        if 1.0 + 1e-4 < ratio <= 1.01:
            ratio = _flow_ratio(loss, w0, ts, rtol=1e-10)
        example = {**_rep_json(rep), "x": x, "W0": w0, "nu": nu, "horizon": horizon}
        if y is not None:
            example["y"] = y
        return ratio <= 1.0 + 1e-4, ratio, example
    return trial


def _flow_ratio(loss, w0, ts, rtol):
    ws = gradient_flow(loss, w0, ts, rtol=rtol, atol=1e-12 if rtol < 1e-8 else 1e-9)
    return float(max(spectral_norm(w) for w in ws) / spectral_norm(w0))


# ---------------------------------------------------------------- symbolic

def _symbolic_check(rng: np.random.Generator, cases: int) -> Verdict:
    """sympy: the rank-one closed form, its ODE, initial value and eigenvalues, for symbolic eps in R^2."""
    from theory.symbolic import rank_one_identities, vanishes  # lazy: sympy only for this claim

    residuals = rank_one_identities(2)
    failed = [name for name, r in residuals.items() if not vanishes(r)]
    cid, statement = _SYMBOLIC
    return Verdict(cid, statement, not failed, len(residuals), None,
                   {"failed": failed} if failed else None, f"{len(residuals)} identities simplified to 0 (d = 2)")


_SYMBOLIC = ("prop31_rank_one_symbolic",
             "For Sigma = eps eps^T, expm(-Sigma t) = I - (1 - e^{-t eps^T eps}) eps eps^T / eps^T eps solves "
             "dW/dt = -W Sigma with W(0), and has eigenvalues 1 (d-1 times) and e^{-t eps^T eps} (sympy, d = 2).")


def all_claims() -> tuple[Claim, ...]:
    """Every claim of the suite, in report order: the linear theory, the deep linear networks, then Duan & Montúfar
    2026 (rank-bounded linear maps: hard-wiring, regularization, data augmentation)."""
    return linear_claims() + DEEP_CLAIMS + DUAN_CLAIMS


def linear_claims() -> tuple[Claim, ...]:
    """Every claim of the linear theory, in report order; ``expected=False`` marks a boundary ("Naive extension")."""
    return (
        claim("prop31_flow_bound",
               "Prop. 3.1 (one pair, Sigma = eps eps^T): sigma_max(W(t)) <= sigma_max(W(0)) for every t >= 0.",
               _flow_bound_trial(_pair_sigma), expected=True),
        claim("prop31_orbit_sigma",
               "Prop. 3.1 for the full LI of Eq. 2 (Sigma summed over data and G, any representation): "
               "sigma_max(W(t)) <= sigma_max(W(0)) for every t >= 0.",
               _flow_bound_trial(_orbit_sigma), expected=True),
        claim("prop31_flow_monotone",
               "sigma_max(W(t)) is non-increasing in t on [0, inf) (W(t+s) = W(t) expm(-Sigma s), "
               "||expm(-Sigma s)||_2 <= 1), for the pair and the orbit Sigma.",
               _flow_monotone_trial, expected=True),
        claim("li_monotone",
               "LI(W(t)) is non-increasing along the flow (d/dt LI = -||W Sigma||_F^2); "
               "worst_ratio is max LI(t)/LI(0).",
               _li_monotone_trial, expected=True),
        Claim(_SYMBOLIC[0], _SYMBOLIC[1], _symbolic_check, expected=True),
        claim("flow_solvers_agree",
               "The closed form W(0) expm(-Sigma t), solve_ivp and gradient descent with small alpha agree at t = "
               "1/lambda_max (relative error <= 1e-7 and <= 1e-3).",
               _solvers_trial, expected=True, stats=("err_ode", "err_gd")),
        claim("gd_converges_first_order",
               "Gradient descent W <- W - alpha W Sigma converges to the flow at a fixed horizon with error "
               "O(alpha^1): fitted log-log slope within 1 +- 0.05.",
               _gd_order_trial, expected=True, stats=("slope",)),
        claim("limit_is_reynolds_orthogonal",
               "Orthogonal representation, data spanning R^d: W(inf) = W(0) P_G, the weight-tied (group-averaged) "
               "model, genuinely invariant.",
               _limit_trial("orthogonal", "reynolds"), expected=True),
        claim("limit_nonorthogonal",
               "Non-orthogonal representation, data spanning R^d: W(inf) = W(0) Pi with Pi the orthogonal projector "
               "onto Fix(rho^T); W(0) Pi is genuinely invariant, the Frobenius-closest invariant matrix to W(0), "
               "sigma_max(W(0) Pi) <= sigma_max(W(0)), and Pi = P_G iff P_G is symmetric.",
               _limit_trial("nonorthogonal", "fix_transpose"), expected=True),
        claim("limit_is_reynolds_nonorthogonal",
               "Naive extension: also for a non-orthogonal representation the flow lands on the weight-tied W(0) P_G.",
               _limit_trial("nonorthogonal", "reynolds"), expected=False),
        claim("weight_tied_bound_nonorthogonal",
               "Naive extension: the weight-tied model obeys the bound, sigma_max(W(0) P_G) <= sigma_max(W(0)), "
               "for a non-orthogonal representation.",
               _weight_tied_bound_trial, expected=False),
        claim("limit_invariant_iff_rank",
               "W(inf) = W(0) Pi is genuinely invariant iff rank Sigma = d - dim Fix(rho) "
               "(the differences x - gx span Fix(rho^T)^perp); data spanning R^d suffices.",
               _limit_rank_trial, expected=True),
        claim("limit_invariant_any_data",
               "Naive extension: the flow's limit is genuinely invariant whatever the data (here: one training point).",
               _limit_any_data_trial, expected=False),
        claim("gd_step_within_2_over_lambda",
               "Gradient descent with 0 < alpha <= 2/lambda_max(Sigma) keeps sigma_max(W_k) non-increasing at every "
               "step (||I - alpha Sigma||_2 = max(1, |1 - alpha lambda_max|) = 1).",
               _gd_trial(0.0, 1.0), expected=True),
        claim("gd_step_beyond_2_over_lambda",
               "Naive extension: gradient descent with alpha > 2/lambda_max(Sigma) (up to 4/lambda_max) still keeps "
               "sigma_max(W_k) non-increasing.",
               _gd_trial(1.0, 2.0), expected=False),
        claim("ce_plus_li_bound",
               "Naive extension: with the task loss, dW/dt = -grad(CE + nu LI) (Eq. 4, linear softmax classifier) "
               "keeps sigma_max(W(t)) <= sigma_max(W(0)).",
               _softmax_trial("li"), expected=False),
        claim("di_regularizer_bound",
               "Naive extension: with DI (Eq. 1, KL through both arguments) instead of LI, the flow "
               "dW/dt = -grad DI keeps sigma_max(W(t)) <= sigma_max(W(0)).",
               _softmax_trial("di"), expected=False),
    )
