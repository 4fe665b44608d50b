"""The deep-linear extension of Prop. 3.1 (issue 3) as claims with randomized checks: ``DEEP_CLAIMS``.

Each ``check(rng, cases)`` draws ``cases`` random instances (a small group in a permutation,
orthogonal or non-orthogonal representation, data, depth 2..4, widths 1..6, an initialization),
integrates the layer-wise flow of LI with ``deep_linear.flow_ode`` (rtol 1e-10) on a log time grid
reaching 1e3 flow time scales, and tests the statement on the trajectory. A violation counts only
when the increase exceeds 1 + TOL, >= 100 times the integration error of a ratio; the reported
counterexample (the smallest violating instance, preferring increases > 1e-3) is re-integrated at
rtol 1e-12 and replayed by gradient descent with tiny steps, and its top-singular-value gap is
reported so that a degenerate sigma_max is visible. Each claim carries the verdict the theory predicts
(``expected``): the sigma_max statements for generic initializations are boundaries (False), the rest proved.

worst_ratio is, per claim, the largest sigma_max(after) / sigma_max(before) over pairs of times
t_before <= t_after (1 means non-increasing), or the quantity its statement names; None where
no ratio applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from theory import deep_linear as dl
from theory import groups
from theory.claim import Claim, Verdict, random_representation
from theory.groups import Representation
from theory.linear_flow import sigma_orbit

__all__ = [
    "DEEP_CLAIMS",
    "GENERIC_SCHEMES",
    "TOL",
    "DeepCase",
    "sample_case",
    "case_trajectory",
    "confirm_increase",
    "minimal_counterexample",
    "cancellation_family",
]

GENERIC_SCHEMES = ("glorot", "he", "gaussian", "orthogonal")
TOL = 1e-6  # increase that counts as a violation; ratios move by <= 1e-8 between rtol 1e-10 and 1e-12
HORIZON = 1e3  # final time, in units of deep_linear.flow_time_scale
N_TIMES = 60
GD_STEPS = 4000


@dataclass(frozen=True, eq=False)
class DeepCase:
    """One instance: representation, data x (n, d), Sigma (d, d), widths (d_0..d_L), init scheme, layers."""

    rep: Representation
    x: np.ndarray
    sigma: np.ndarray
    widths: tuple[int, ...]
    scheme: str
    layers: dl.Layers

    @property
    def size(self) -> int:
        """Number of weights, the size a counterexample is ranked by."""
        return int(sum(w.size for w in self.layers))

    def to_json(self) -> dict[str, Any]:
        """The instance as a small JSON-ready dict (exact float64 numbers, so it can be replayed)."""
        return {"group": self.rep.name, "widths": list(self.widths), "init": self.scheme,
                "x": self.x, "sigma": self.sigma, "layers": [w for w in self.layers]}


def sample_case(rng: np.random.Generator, schemes: tuple[str, ...] = GENERIC_SCHEMES, max_depth: int = 4,
                max_width: int = 6, max_out: int = 4, sigma_kind: str = "any") -> DeepCase:
    """A random instance: depth 2..max_depth, hidden widths 1..max_width, output 1..max_out, a random gain.

    sigma_kind 'orbit': Sigma of Eq. 2 over 1..3 points and all of G; 'pair': Sigma = eps eps^T for one
    point and one g != e (the setting of the proof of Prop. 3.1); 'any': either, with equal odds.
    """
    if sigma_kind == "any":
        sigma_kind = ("orbit", "pair")[int(rng.integers(2))]
    if sigma_kind not in ("orbit", "pair"):
        raise ValueError(f"sigma_kind must be 'orbit', 'pair' or 'any', got {sigma_kind!r}")
    rep = random_representation(rng)
    d = rep.dim
    depth = int(rng.integers(2, max_depth + 1))
    widths = (d, *(int(rng.integers(1, max_width + 1)) for _ in range(depth - 1)), int(rng.integers(1, max_out + 1)))
    scheme = schemes[int(rng.integers(len(schemes)))]
    gain = float(np.exp(rng.uniform(np.log(0.3), np.log(3.0))))
    layers = dl.initialize(widths, scheme, rng, gain=gain)
    if sigma_kind == "orbit":
        x = rng.standard_normal((int(rng.integers(1, 4)), d))
        sigma = sigma_orbit(x, rep)
    else:
        x = rng.standard_normal((1, d))
        eps = x[0] - rep.act(int(rng.integers(1, rep.order)), x[0])
        sigma = np.outer(eps, eps)
    return DeepCase(rep, x, sigma, widths, scheme, layers)


def case_trajectory(case: DeepCase, rtol: float = 1e-10, horizon: float = HORIZON,
                    n_times: int = N_TIMES) -> tuple[np.ndarray, dl.Layers]:
    """(ts (T,), layer trajectories) on 0 and a log grid from 1e-3 to ``horizon`` flow time scales."""
    tau = dl.flow_time_scale(case.layers, case.sigma)
    ts = np.concatenate([[0.0], np.geomspace(1e-3, horizon, n_times - 1) * tau])
    return ts, dl.flow_ode(case.layers, case.sigma, ts, rtol=rtol)


def _top_gap(m: np.ndarray) -> float:
    """(s_1 - s_2) / s_1 of a matrix (1 when it has one singular value): 0 means sigma_max is degenerate."""
    s = np.linalg.svd(m, compute_uv=False)
    return 1.0 if len(s) < 2 or s[0] == 0 else float((s[0] - s[1]) / s[0])


def _series_value(layers: dl.Layers, which: int | None) -> float:
    return float(dl.end_to_end_spectral(layers) if which is None else np.linalg.norm(layers[which], 2))


def confirm_increase(case: DeepCase, t_before: float, t_after: float, which: int | None = None,
                     gd_steps: int = GD_STEPS) -> dict[str, Any]:
    """Re-measure sigma_max(after)/sigma_max(before) of W (which=None) or of layer ``which`` (0-based) at
    rtol 1e-12 and by gradient descent with alpha = t_after / gd_steps (an independent first-order solver)."""
    ts = np.array([0.0, t_before, t_after])
    tight = dl.flow_ode(case.layers, case.sigma, ts, rtol=1e-12, atol=1e-15)
    at = lambda traj, i: tuple(w[i] for w in traj)  # noqa: E731
    before, after = at(tight, 1), at(tight, 2)
    alpha = t_after / gd_steps
    k_before = int(round(t_before / alpha))
    gd = dl.gradient_descent(case.layers, case.sigma, alpha, gd_steps)
    return {
        "ratio_rtol_1e-12": _series_value(after, which) / _series_value(before, which),
        "ratio_gd": _series_value(at(gd, gd_steps), which) / _series_value(at(gd, k_before), which),
        "gd_steps": gd_steps,
        "gd_alpha": alpha,
    }


def minimal_counterexample() -> DeepCase:
    """The smallest counterexample to the sigma_max statements at depth 2, as hypothesis shrank it
    (tests/theory/test_deep_linear.py): C2 swapping the two coordinates of R^2, x = (0, 1), so
    Sigma = eps eps^T with eps = (-1, 1); W_1 = [[1, 0], [-1, -4]], W_2 = (1, 0).

    W(0) = (1, 0), sigma_max(W(0)) = 1, and exactly d/dt ||W||^2 = 2 > 0 at t = 0
    (``deep_symbolic.exact_end_to_end_rates``); the flow takes sigma_max(W) to 1.5550016 and sigma_max(W_1)
    from 4.1306 to 4.1423. Smaller cannot fail: with d_0 = 1, or a width-1 layer in a two-layer net, or
    depth 1, sigma_max(W) is non-increasing (tests/theory/test_deep_linear.py).
    """
    rep = groups.cyclic_shift(2)
    x = np.array([[0.0, 1.0]])
    layers = (np.array([[1.0, 0.0], [-1.0, -4.0]]), np.array([[1.0, 0.0]]))
    return DeepCase(rep, x, sigma_orbit(x, rep), (2, 2, 1), "hypothesis-shrunk", layers)


def cancellation_family(eta: float, nu: float) -> DeepCase:
    """A two-layer family with sigma_max(W(inf)) / sigma_max(W(0)) -> 1/eta as nu/eta -> 0: unbounded.

    Z2 reflecting the second coordinate of R^2, x = (0, 1/2), so Sigma = e2 e2^T; W_1 = [[1, eta], [1, 0]],
    W_2 = nu (1, -1). W(0) = nu (0, eta) is small because W_2 cancels W_1's first column. For nu << eta
    W_1 is frozen while W_2 follows the linear flow with Sigma' = c c^T, c = W_1 e2 = (eta, 0), so W_2 loses
    its first entry, the cancellation is undone and W(inf) -> nu (-1, 0).
    """
    if not (eta > 0 and nu > 0):
        raise ValueError(f"need eta > 0 and nu > 0, got eta={eta}, nu={nu}")
    rep = groups.from_matrices("Z2[reflect x2]", np.array([np.eye(2), np.diag([1.0, -1.0])]))
    x = np.array([[0.0, 0.5]])
    layers = (np.array([[1.0, eta], [1.0, 0.0]]), nu * np.array([[1.0, -1.0]]))
    return DeepCase(rep, x, sigma_orbit(x, rep), (2, 2, 1), f"cancellation(eta={eta:g}, nu={nu:g})", layers)


# A trial draws one instance and returns (statement held, ratio or None, example dict, confirm thunk or None).
Trial = Callable[[np.random.Generator], tuple[bool, float | None, dict[str, Any], Callable[[], dict] | None]]


def _search(claim_id: str, statement: str, trial: Trial, rng: np.random.Generator, cases: int) -> Verdict:
    """Run ``trial`` ``cases`` times; keep the worst ratio and the smallest counterexample, then confirm it."""
    if cases < 1:
        raise ValueError(f"cases must be >= 1, got {cases}")
    worst, failures, skipped, counter = None, 0, 0, None
    for _ in range(cases):
        ok, ratio, example, confirm = trial(rng)
        skipped += bool(example.get("skipped", False))
        if ratio is not None:
            worst = ratio if worst is None else max(worst, ratio)
        if not ok:
            failures += 1
            clear = ratio is not None and ratio > 1.0 + 1e-3
            simple = min(example.get("top_gap_before", 1.0), example.get("top_gap_after", 1.0)) > 1e-3
            key = (not clear, not simple, example.get("size", 0), -(ratio or 0.0))
            if counter is None or key < counter[0]:
                counter = (key, {**example, "ratio": ratio}, confirm)
    detail = f"{failures} of {cases - skipped} random instances violate the statement"
    if skipped:
        detail += f" ({skipped} more skipped: not converged, LI(T) > 1e-6 LI(0))"
    example, confirmed = None, True
    if counter is not None:
        example = counter[1]
        if counter[2] is not None:
            example = {**example, **counter[2]()}
            confirmed = example["ratio_rtol_1e-12"] > 1.0 + TOL
            gd = "and by" if example["ratio_gd"] > 1.0 + TOL else "but not by"
            detail += (f"; the reported violation is reproduced at rtol 1e-12 {gd} gradient descent"
                       if confirmed else "; the reported violation vanishes at rtol 1e-12: a numerical artefact")
    return Verdict(claim_id, statement, failures == 0 or not confirmed, cases, worst, example, detail)


def _claim(claim_id: str, statement: str, trial: Trial, expected: bool) -> Claim:
    return Claim(claim_id, statement, lambda rng, cases: _search(claim_id, statement, trial, rng, cases),
                 expected=expected)


def _monotone_trial(schemes: tuple[str, ...], columns: str) -> Trial:
    """sigma_max of W ('end_to_end'), of every layer ('layers') or of W_L ('last') never increases."""

    def trial(rng):
        case = sample_case(rng, schemes)
        ts, traj = case_trajectory(case)
        if columns == "end_to_end":
            series, names = dl.end_to_end_spectral(traj)[:, None], [None]
        else:
            norms = dl.layer_spectral_norms(traj)
            names = list(range(len(case.layers))) if columns == "layers" else [len(case.layers) - 1]
            series = norms[:, names]
        found = [dl.worst_increase_ratio(series[:, c]) for c in range(series.shape[1])]
        c = int(np.argmax([f[0] for f in found]))
        ratio, i, j = found[c]
        which = names[c]
        pick = (lambda k: dl.end_to_end(tuple(w[k] for w in traj))) if which is None else (lambda k: traj[which][k])
        example = {**case.to_json(), "size": case.size, "layer": None if which is None else which + 1,
                   "t_before": ts[i], "t_after": ts[j],
                   "sigma_max_before": series[i, c], "sigma_max_after": series[j, c],
                   "sigma_max_initial": series[0, c],
                   "top_gap_before": _top_gap(pick(i)), "top_gap_after": _top_gap(pick(j))}
        return ratio <= 1.0 + TOL, ratio, example, lambda: confirm_increase(case, ts[i], ts[j], which)

    return trial


def _limit_trial(rng):
    """sigma_max(W(T)) <= sigma_max(W(0)) at the end of the horizon, once LI(T) / LI(0) < 1e-6; one pair
    Sigma = eps eps^T as in the proof of Prop. 3.1 (with the orbit Sigma of Eq. 2 most directions must be
    killed and the limit is rarely above sigma_max(W(0)))."""
    case = sample_case(rng, GENERIC_SCHEMES, sigma_kind="pair")
    ts, traj = case_trajectory(case)
    s = dl.end_to_end_spectral(traj)
    li0 = dl.logit_invariance(case.layers, case.sigma)
    li_end = dl.logit_invariance(tuple(w[-1] for w in traj), case.sigma)
    converged = li0 == 0.0 or li_end <= 1e-6 * li0
    if not converged:
        return True, None, {"skipped": True}, None
    ratio = float(s[-1] / s[0])
    example = {**case.to_json(), "size": case.size, "t_end": ts[-1], "sigma_max_initial": s[0],
               "sigma_max_end": s[-1], "li_end_over_li0": li_end / li0 if li0 else 0.0,
               "top_gap_before": _top_gap(dl.end_to_end(case.layers)),
               "top_gap_after": _top_gap(dl.end_to_end(tuple(w[-1] for w in traj)))}
    return ratio <= 1.0 + TOL, ratio, example, lambda: confirm_increase(case, 0.0, ts[-1])


def _frobenius_trial(rng):
    """Every ||W_k||_F is non-increasing, d/dt ||W_k||_F^2 = -4 LI, and all layers lose the same mass."""
    case = sample_case(rng, GENERIC_SCHEMES + ("balanced",))
    ts, traj = case_trajectory(case)
    fro = dl.frobenius_sq(traj)  # (T, L)
    loss = fro - fro[:1]
    spread = float(np.abs(loss - loss[:, :1]).max() / fro[0].max())
    ratio = max(dl.worst_increase_ratio(np.sqrt(fro[:, k]))[0] for k in range(fro.shape[1]))
    rate_err, li0 = 0.0, dl.logit_invariance(case.layers, case.sigma)
    # round-off of both sides scales with ||W||_F^2 lambda_max(Sigma), not with LI itself
    scale = float(np.sum(dl.end_to_end(case.layers) ** 2)) * float(np.linalg.eigvalsh(case.sigma)[-1])
    for i in range(0, len(ts), 3):
        layers = tuple(w[i] for w in traj)
        li = dl.logit_invariance(layers, case.sigma)
        if li <= 1e-6 * li0:  # below, both sides are round-off of cancelling terms
            continue
        rates = np.array([-2.0 * np.sum(w * g) for w, g in zip(layers, dl.layer_gradients(layers, case.sigma))])
        rate_err = max(rate_err, float(np.abs(rates + 4.0 * li).max() / (4.0 * li + 1e-6 * scale)))
    ok = ratio <= 1.0 + TOL and spread <= 1e-7 and rate_err <= 1e-9
    return ok, ratio, {**case.to_json(), "size": case.size, "loss_spread": spread, "rate_rel_err": rate_err}, None


def _balancedness_trial(rng):
    """D_k(t) = W_{k+1}^T W_{k+1} - W_k W_k^T stays at D_k(0) (relative to sum_k ||W_k(0)||_F^2)."""
    case = sample_case(rng, GENERIC_SCHEMES + ("balanced",))
    _, traj = case_trajectory(case)
    scale = float(dl.frobenius_sq(case.layers).sum())
    drift = max(float(np.abs(d - d[:1]).max()) for d in dl.balancedness(traj)) / scale
    return drift <= 1e-8, None, {**case.to_json(), "size": case.size, "max_relative_drift": drift}, None


def _bound_trial(rng):
    """sigma_max(W(t)) <= spectral_bound(W(0)) and sigma_max(W_k(t)) <= b_k for all t; ratio = max s/bound."""
    case = sample_case(rng, GENERIC_SCHEMES + ("balanced",))
    _, traj = case_trajectory(case)
    ratio = float(dl.end_to_end_spectral(traj).max() / dl.spectral_bound(case.layers))
    layer_ratio = float((dl.layer_spectral_norms(traj) / dl.layer_spectral_bounds(case.layers)).max())
    ok = ratio <= 1.0 + TOL and layer_ratio <= 1.0 + TOL
    return ok, ratio, {**case.to_json(), "size": case.size, "layer_ratio": layer_ratio}, None


def _li_trial(rng):
    """LI non-increasing and LI(t) <= LI(0) / (1 + 4 t LI(0) / ||W_L(0)||_F^2); ratio = max LI(t)/bound(t)."""
    case = sample_case(rng, GENERIC_SCHEMES + ("balanced",))
    ts, traj = case_trajectory(case)
    li = np.array([dl.logit_invariance(tuple(w[i] for w in traj), case.sigma) for i in range(len(ts))])
    bound = dl.li_decay_bound(case.layers, case.sigma, ts)
    if li[0] == 0.0:
        return True, None, {}, None
    # Round-off of 1/2 tr(W Sigma W^T) scales with 1/2 ||W||_F^2 lambda_max(Sigma), not with LI itself.
    scale = 0.5 * float(np.sum(dl.end_to_end(case.layers) ** 2)) * float(np.linalg.eigvalsh(case.sigma)[-1])
    slack = 1e-9 * li[0] + 1e-12 * scale
    monotone = bool(np.all(np.diff(li) <= slack))
    ratio = float(np.max((li + slack) / (bound + slack)))
    return monotone and ratio <= 1.0 + TOL, ratio, {**case.to_json(), "size": case.size,
                                                     "li_end_over_li0": li[-1] / li[0]}, None


def _balanced_rate_trial(rng):
    """Balanced init: d s_r/dt = -L s_r^(3 - 2/L) v_r^T Sigma v_r for every simple singular value (no ODE)."""
    case = sample_case(rng, ("balanced",))
    depth = len(case.layers)
    w = dl.end_to_end(case.layers)
    _, s, vt = np.linalg.svd(w, full_matrices=False)
    s_num, rates, gaps = dl.singular_value_rates(case.layers, case.sigma)
    keep = (gaps > 1e-6 * s[0]) & (s > 1e-8 * s[0])
    predicted = -depth * s**(3.0 - 2.0 / depth) * np.einsum("ri,ij,rj->r", vt, case.sigma, vt)
    scale = np.abs(predicted).max() + 1e-300
    err = float(np.abs(rates - predicted)[keep].max(initial=0.0) / scale)
    return err <= 1e-8, None, {**case.to_json(), "size": case.size, "rate_rel_err": err}, None


DEEP_CLAIMS: tuple[Claim, ...] = (
    _claim("deep_linear_generic_init_spectral",
           "Deep linear net h = W_L ... W_1, any depth L >= 2, generic init (Glorot, He, scaled Gaussian, "
           "orthogonal): sigma_max(W_L ... W_1) is non-increasing along the gradient flow of LI.",
           _monotone_trial(GENERIC_SCHEMES, "end_to_end"), expected=False),
    _claim("deep_linear_generic_init_limit_spectral",
           "Prop. 3.1 as stated (t -> inf, one pair eps = x - gx) at depth L >= 2, generic init: "
           "sigma_max(W(inf)) <= sigma_max(W(0)); "
           "worst_ratio is max sigma_max(W(T)) / sigma_max(W(0)) once LI(T) < 1e-6 LI(0).",
           _limit_trial, expected=False),
    _claim("deep_linear_balanced_init_spectral",
           "Balanced init (W_{k+1}^T W_{k+1} = W_k W_k^T): sigma_max(W_L ... W_1) is non-increasing along the flow "
           "(proof: d/dt of u^T W W^T u = -2 L s^(2 - 2/L) u^T W Sigma W^T u <= 0 for every top eigenvector u).",
           _monotone_trial(("balanced",), "end_to_end"), expected=True),
    _claim("deep_linear_balanced_rate",
           "Balanced init: every simple singular value of W obeys d s/dt = -L s^(3 - 2/L) v^T Sigma v "
           "(exponent (3L - 2)/L, not (2L - 1)/L).",
           _balanced_rate_trial, expected=True),
    _claim("deep_linear_per_layer_spectral",
           "Generic init, depth L >= 2: sigma_max(W_k) is non-increasing along the flow for every layer k.",
           _monotone_trial(GENERIC_SCHEMES, "layers"), expected=False),
    _claim("deep_linear_last_layer_spectral",
           "Any init: sigma_max(W_L) of the last layer is non-increasing (d/dt W_L W_L^T = -2 W Sigma W^T <= 0).",
           _monotone_trial(GENERIC_SCHEMES + ("balanced",), "last"), expected=True),
    _claim("deep_linear_frobenius",
           "Any init: d/dt ||W_k||_F^2 = -4 LI for every layer k, so every ||W_k||_F is non-increasing and all "
           "layers lose the same Frobenius mass; worst_ratio is max ||W_k(t2)||_F / ||W_k(t1)||_F, t1 <= t2.",
           _frobenius_trial, expected=True),
    _claim("deep_linear_balancedness_conserved",
           "Any init: D_k = W_{k+1}^T W_{k+1} - W_k W_k^T is constant along the flow (drift <= 1e-8 relative).",
           _balancedness_trial, expected=True),
    _claim("deep_linear_spectral_bound",
           "Any init: sigma_max(W(t)) <= prod_k b_k for all t, with b_L = sigma_max(W_L(0)), "
           "b_k^2 = min(b_{k+1}^2 + lambda_max(-D_k), ||W_k(0)||_F^2) (= sigma_max(W(0)) when balanced); "
           "worst_ratio is max_t sigma_max(W(t)) / bound.",
           _bound_trial, expected=True),
    _claim("deep_linear_li_decay",
           "Any init: LI is non-increasing and LI(t) <= LI(0) / (1 + 4 t LI(0) / ||W_L(0)||_F^2), so LI -> 0 and "
           "W(inf) eps = 0 for every eps = x - gx; worst_ratio is max_t LI(t) / bound(t).",
           _li_trial, expected=True),
)
