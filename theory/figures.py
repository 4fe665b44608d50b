"""Figures of the linear theory for ``python -m theory.flow_demo --out DIR`` (matplotlib, Agg, no pyplot).

Four figures, each a function of the seed only: sigma_max(W(t)) and LI along the flow
(Prop. 3.1); gradient descent on both sides of alpha = 2 / lambda_max; the distance of W(t)
to W(0) P_G and to W(0) Pi (the limit); and the softmax flows (CE + nu LI, DI) that leave the
bound. Files are written atomically (``theory.atomic``).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from theory import atomic, groups
from theory.claim import random_representation
from theory.linear_flow import (
    flow_closed_form,
    gradient_descent,
    invariant_projector,
    limit_projector,
    logit_invariance,
    sigma_orbit,
    sigma_pair,
    spectral_norm,
)
from theory.softmax_flow import gradient_flow, regularized_loss

__all__ = ["Panel", "save_panels", "write_figures", "FIGURES"]

FIGURES = ("flow_sigma_max.png", "gd_step_sizes.png", "limit_distance.png", "softmax_flows.png")


@dataclass(frozen=True)
class Panel:
    """One axes: named curves y(x) sharing the x values, optional log axes and a horizontal reference line."""

    title: str
    xlabel: str
    ylabel: str
    x: np.ndarray
    series: tuple[tuple[str, np.ndarray], ...]
    logx: bool = False
    logy: bool = False
    hline: float | None = None
    ylim: tuple[float, float] | None = None


def save_panels(path: str | os.PathLike, panels: list[Panel], title: str = "") -> Path:
    """Draw the panels side by side and write a PNG atomically to ``path``; returns the path."""
    fig = Figure(figsize=(5.0 * len(panels), 3.8))
    FigureCanvasAgg(fig)
    # fixed margins: a layout engine would redraw the figure (2x the time on a slow CPU)
    fig.subplots_adjust(left=0.15 / len(panels) + 0.01, right=0.98, bottom=0.13, top=0.9, wspace=0.28)
    for ax, p in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        for label, y in p.series:
            ax.plot(p.x, y, label=label, lw=1.5)
        if p.hline is not None:
            ax.axhline(p.hline, color="k", ls=":", lw=1)
        ax.set(title=p.title, xlabel=p.xlabel, ylabel=p.ylabel,
               xscale="log" if p.logx else "linear", yscale="log" if p.logy else "linear")
        if p.ylim is not None:
            ax.set_ylim(*p.ylim)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return atomic.write_bytes(buf.getvalue(), path)


def _flow_panels(rng: np.random.Generator) -> list[Panel]:
    """sigma_max(W(t)) / sigma_max(W(0)) and LI(t) / LI(0) for the pair and orbit Sigma, each kind of rep."""
    tau = np.concatenate([[0.0], np.geomspace(1e-3, 1e3, 200)])  # t * lambda_max(Sigma)
    norms, lis = [], []
    for kind in ("permutation", "orthogonal", "nonorthogonal"):
        for which in ("pair", "orbit"):
            rep = random_representation(rng, kind)
            x = rng.standard_normal((2, rep.dim))
            sigma = sigma_pair(x[0] - rep.act(1, x[0])) if which == "pair" else sigma_orbit(x, rep)
            w0 = rng.standard_normal((3, rep.dim))
            ws = flow_closed_form(w0, sigma, tau / np.linalg.eigvalsh(sigma).max())
            label = f"{rep.name}, {which}"
            norms.append((label, np.array([spectral_norm(w) for w in ws]) / spectral_norm(w0)))
            li = np.array([logit_invariance(w, sigma) for w in ws])
            lis.append((label, li / li[0]))
    xlabel = "t * lambda_max(Sigma)"
    return [Panel("Prop. 3.1: sigma_max(W(t)) / sigma_max(W(0))", xlabel, "ratio", tau[1:],
                  tuple((k, v[1:]) for k, v in norms), logx=True, hline=1.0),
            Panel("LI(W(t)) / LI(W(0))", xlabel, "ratio (float64 round-off below 1e-14)", tau[1:],
                  tuple((k, v[1:]) for k, v in lis), logx=True, logy=True, ylim=(1e-14, 2.0))]


def _gd_panels(rng: np.random.Generator) -> list[Panel]:
    """sigma_max(W_k) / sigma_max(W_0) for alpha = u * 2 / lambda_max on both sides of u = 1."""
    rep = groups.cyclic_shift(4)
    x = rng.standard_normal((3, 4))
    sigma = sigma_orbit(x, rep)
    w0 = rng.standard_normal((2, 4))
    steps = 40
    series = []
    for u in (0.5, 0.9, 1.0, 1.02, 1.1, 1.5):
        ws = gradient_descent(w0, sigma, u * 2.0 / np.linalg.eigvalsh(sigma).max(), steps)
        series.append((f"alpha = {u:g} * 2/lambda_max", np.array([spectral_norm(w) for w in ws]) / spectral_norm(w0)))
    return [Panel(f"GD on LI ({rep.name}, 3 points)", "step k", "sigma_max(W_k) / sigma_max(W_0)",
                  np.arange(steps + 1), tuple(series), logy=True, hline=1.0)]


def _limit_panels(rng: np.random.Generator) -> list[Panel]:
    """||W(t) - W(0) P_G|| (orthogonal rep) and ||W(t) - W(0) Pi|| vs ||W(t) - W(0) P_G|| (non-orthogonal)."""
    panels = []
    for kind in ("orthogonal", "nonorthogonal"):
        rep = groups.random_orthogonal(groups.dihedral(4), rng) if kind == "orthogonal" else \
            groups.random_invertible(groups.dihedral(4), rng, spread=0.8)
        x = rng.standard_normal((rep.dim + 1, rep.dim))
        sigma = sigma_orbit(x, rep)
        w0 = rng.standard_normal((3, rep.dim))
        ts = np.geomspace(1e-3, 1e2, 200) / np.linalg.eigvalsh(sigma).max() * 10
        ws = flow_closed_form(w0, sigma, ts)
        scale = np.linalg.norm(w0)
        targets = [("W(0) P_G (weight-tied)", w0 @ groups.reynolds(rep))]
        if kind == "nonorthogonal":
            targets.append(("W(0) Pi, Pi = orth. proj. onto Fix(rho^T)", w0 @ invariant_projector(rep)))
            targets.append(("W(0) Pi, Pi = limit_projector(Sigma)", w0 @ limit_projector(sigma)))
        series = tuple((f"||W(t) - {name}||_F / ||W(0)||_F", np.linalg.norm(ws - m, axis=(1, 2)) / scale)
                       for name, m in targets)
        panels.append(Panel(f"{kind} {rep.name}, data spanning R^{rep.dim}", "t", "relative distance", ts,
                            series, logx=True, logy=True))
    return panels


def _softmax_panels(rng: np.random.Generator) -> list[Panel]:
    """sigma_max(W(t)) / sigma_max(W(0)) for the flows of LI, CE + nu LI and DI (minimal C2 instances)."""
    rep = groups.cyclic_shift(2)
    ts = np.linspace(0.0, 200.0, 401)
    x1 = np.array([[1.0, 0.0]])
    w_sharp = np.array([[3.0, 0.0], [-3.0, 0.0]])
    w_small = 0.01 * rng.standard_normal((2, 2))
    flows = [
        ("LI, x = e1", regularized_loss(x1, rep, None, 1.0, "li"), w_sharp),
        ("DI, x = e1", regularized_loss(x1, rep, None, 1.0, "di"), w_sharp),
        ("DI, x in {e1, e2}", regularized_loss(np.eye(2), rep, None, 1.0, "di"), w_sharp),
        ("CE + 10 LI, x = e1, y = 0", regularized_loss(x1, rep, np.array([0]), 10.0, "li"), w_small),
    ]
    curves = []
    for label, loss, w0 in flows:
        ws = gradient_flow(loss, w0, ts, rtol=1e-9)
        curves.append((label, np.array([spectral_norm(w) for w in ws]) / spectral_norm(w0)))
    ylabel = "sigma_max(W(t)) / sigma_max(W(0))"
    return [Panel(f"{rep.name}, W(0) = [[3,0],[-3,0]]: LI vs DI flow", "t", ylabel, ts, tuple(curves[:3]), hline=1.0),
            Panel(f"{rep.name}, CE + nu LI from W(0) ~ 0.01 N(0,1)", "t", ylabel, ts, tuple(curves[3:]),
                  logy=True, hline=1.0)]


def write_figures(out_dir: str | os.PathLike, seed: int = 0) -> list[Path]:
    """Compute and write the demo's figures (FIGURES) into out_dir; the same seed gives the same files."""
    makers = (_flow_panels, _gd_panels, _limit_panels, _softmax_panels)
    paths = []
    for i, (name, make) in enumerate(zip(FIGURES, makers)):
        panels = make(np.random.default_rng([seed, i]))
        paths.append(save_panels(Path(out_dir) / name, panels))
    return paths
