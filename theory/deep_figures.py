"""Figures of the deep-linear invariance flow (issue 3); matplotlib is imported inside ``deep_figures`` only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from theory import atomic
from theory import deep_linear as dl
from theory.deep_claims import (
    DeepCase,
    cancellation_family,
    case_trajectory,
    minimal_counterexample,
    sample_case,
)

__all__ = ["deep_figures", "figure_cases"]


def figure_cases(seed: int) -> dict[str, DeepCase]:
    """The instances drawn: the minimal counterexample, the first random generic-init instance (from ``seed``)
    whose sigma_max rises by more than 1e-3, a random balanced instance, and the cancellation family."""
    rng = np.random.default_rng(seed)
    generic = None
    for _ in range(200):
        case = sample_case(rng)
        _, traj = case_trajectory(case, n_times=30)
        if dl.worst_increase_ratio(dl.end_to_end_spectral(traj))[0] > 1.0 + 1e-3:
            generic = case
            break
    balanced = sample_case(rng, ("balanced",))
    cases = {"minimal (2,2,1) counterexample": minimal_counterexample(),
             "cancellation family, eta=0.1, nu=1e-3": cancellation_family(0.1, 1e-3),
             f"balanced init {balanced.widths}": balanced}
    if generic is not None:
        cases[f"random {generic.scheme} init {generic.widths}"] = generic
    return cases


def _atomic_savefig(fig, path: Path) -> None:
    with atomic.atomic_write(path) as w:
        fig.savefig(w.tmp, dpi=130, bbox_inches="tight", format=path.suffix.lstrip("."))


def deep_figures(out_dir: Path, seed: int) -> list[Path]:
    """Write deep_spectral.png: sigma_max(W(t)) / sigma_max(W(0)) against t for the counterexamples and a
    balanced init (left), and sigma_max of W and of each layer of the minimal counterexample (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, case in figure_cases(seed).items():
        ts, traj = case_trajectory(case, horizon=1e3, n_times=100)
        s = dl.end_to_end_spectral(traj)
        tau = dl.flow_time_scale(case.layers, case.sigma)
        left.loglog(ts[1:] / tau, s[1:] / s[0], label=label)
    left.axhline(1.0, color="k", lw=0.6, ls=":")
    left.set_xlabel(r"$t / \tau$ (flow time scale)")
    left.set_ylabel(r"$\sigma_{\max}(W_L\cdots W_1)(t)\,/\,\sigma_{\max}(0)$")
    left.set_title("End-to-end spectral norm under the LI flow")
    left.legend(fontsize=7)

    case = minimal_counterexample()
    ts, traj = case_trajectory(case, horizon=1e3, n_times=100)
    tau = dl.flow_time_scale(case.layers, case.sigma)
    norms = dl.layer_spectral_norms(traj)
    s = dl.end_to_end_spectral(traj)
    right.semilogx(ts[1:] / tau, s[1:] / s[0], color="k", label=r"$\sigma_{\max}(W_2 W_1)$")
    for k in range(norms.shape[1]):
        right.semilogx(ts[1:] / tau, norms[1:, k] / norms[0, k], label=rf"$\sigma_{{\max}}(W_{k + 1})$")
    right.axhline(1.0, color="k", lw=0.6, ls=":")
    right.set_xlabel(r"$t / \tau$")
    right.set_ylabel("ratio to the value at t = 0")
    right.set_title(r"Minimal counterexample $W_1=[[1,0],[-1,-4]]$, $W_2=(1,0)$, $\epsilon=(-1,1)$", fontsize=9)
    bound = dl.spectral_bound(case.layers) / s[0]
    right.legend(fontsize=7, title=f"time-uniform bound: {bound:.2f} x", title_fontsize=7)
    fig.tight_layout()
    path = out_dir / "deep_spectral.png"
    _atomic_savefig(fig, path)
    plt.close(fig)
    return [path]
