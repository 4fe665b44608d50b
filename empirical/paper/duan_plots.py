"""Figures 1-4 of Duan & Montúfar 2026 (§4) and their cross-entropy variant (Appendix C.2, Figures 6-9), drawn from
the document of ``empirical.paper.duan_experiment.experiment`` (every plotted number is in it), with the closed-form
optima of ``theory.duan`` / ``theory.duan_span`` as horizontal lines."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from empirical.paper.duan_experiment import FIGURES  # noqa: E402
from empirical.paper.plots import caption, save_figure  # noqa: E402

__all__ = ["COLORS", "plot_weights", "plot_training", "plot_w_perp", "plot_proportion", "plot_ce", "plot_all",
           "FIGURES"]

COLORS = {"constrained": "tab:blue", "da": "tab:orange", 0: "tab:green", 1: "tab:red", 2: "tab:purple"}
PIXEL_STYLES = ("-", "--", "-.", ":")


def _caption(fig, doc: dict[str, Any], note: str) -> None:
    """The caption, the note wrapped to the figure's width (about 17 characters per inch at 8 pt)."""
    width = int(fig.get_figwidth() * 17)
    caption(fig, doc, note="\n".join(textwrap.wrap(note, width)))


def _lam(lam: float) -> str:
    return f"{lam:g}"


def _label(run: dict[str, Any]) -> str:
    return {"constrained": "Constrained", "da": "DA"}.get(run["method"]) or f"λ = {_lam(run['lam'])}"


def _color(doc: dict[str, Any], run: dict[str, Any]) -> str:
    if run["method"] != "reg":
        return COLORS[run["method"]]
    return COLORS[doc["settings"]["lambdas"][run["loss"]].index(run["lam"])]


def _runs(doc: dict[str, Any], loss: str, methods: tuple[str, ...] = ("constrained", "da", "reg")) -> list[dict]:
    return [r for r in doc["runs"] if r["loss"] == loss and r["method"] in methods]


def _curves(ax, doc: dict[str, Any], runs: list[dict], key: str, **kw) -> None:
    """Each run's curve: the first seed bold and labelled, the others thin."""
    for r in sorted(runs, key=lambda r: r["seed_index"], reverse=True):
        first = r["seed_index"] == 0
        ax.plot(r["record_epochs"], r["curves"][key], color=_color(doc, r), lw=1.6 if first else 0.7,
                alpha=1.0 if first else 0.45, label=_label(r) if first else None, **kw)


def _seeds_note(doc: dict[str, Any]) -> str:
    k = doc["scale"]["seeds"]
    return f"{k} initialization seed(s): the first bold, the others thin" if k > 1 else "one initialization seed"


def plot_weights(doc: dict[str, Any], path: Path, loss: str = "mse", rows: int | None = None) -> Path:
    """Figure 1 (MSE) / 6 (cross-entropy): entries W[k, c] of the DA run (first seed), c one C4 orbit of pixels."""
    run = next(r for r in doc["runs"] if r["loss"] == loss and r["method"] == "da" and r["seed_index"] == 0)
    wt = run["weights"]
    values = np.asarray(wt["values"])  # (points, rows, cols)
    shown = list(range(len(wt["rows"])))[:rows]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), sharex=True, squeeze=False)
    for ax, i in zip(axes.ravel(), shown):
        for j, col in enumerate(wt["cols"]):
            ax.plot(run["record_epochs"], values[:, i, j], PIXEL_STYLES[j % 4], lw=1.3, label=f"column {col}")
        if loss == "mse":
            ref = doc["closed_forms"]["w_da_orbit_values"][i][0]
            ax.axhline(ref, color="k", lw=0.8, ls=":", label="$\\widehat W^{da}$ (all four)")
        ax.set_title(f"row {wt['rows'][i]} (digit {wt['rows'][i]})", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("Epochs")
    axes[0, 0].legend(fontsize=7)
    name = "Figure 1" if loss == "mse" else "Figure 6"
    fig.suptitle(f"{name}: entries of W = W2 W1 trained with DA ({loss.upper()}), one C4 orbit of pixel columns")
    fig.tight_layout()
    _caption(fig, doc, "dotted: the closed-form optimum W^da (theory.duan_span), equal in the four columns"
            if loss == "mse" else "no closed form for cross-entropy")
    return save_figure(fig, path)[0]


def plot_training(doc: dict[str, Any], path: Path) -> Path:
    """Figure 2: accuracy on the augmented set; beside it, each method's objective and its closed-form optimum."""
    runs = _runs(doc, "mse")
    cf = doc["closed_forms"]
    lambdas = doc["settings"]["lambdas"]["mse"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    ax = axes[0]
    _curves(ax, doc, runs, "accuracy")
    ax.axhline(cf["da"]["accuracy"], color="k", ls=":", lw=0.9, label="$\\widehat W^{inv} = \\widehat W^{da}$")
    for i, lam in enumerate(lambdas):
        ax.axhline(cf["reg"][_lam(lam)]["accuracy"], color=COLORS[i], ls=":", lw=0.9)
    ax.set(xlabel="Epochs", ylabel="Accuracy (augmented training set)", title="Figure 2: training curves (MSE)")
    ax.legend(fontsize=7)
    ax = axes[1]
    _curves(ax, doc, runs, "objective")
    ax.axhline(cf["da"]["objective"], color="k", ls=":", lw=0.9, label="optimum of Eq. 4 = Eq. 9")
    for i, lam in enumerate(lambdas):
        ax.axhline(cf["reg"][_lam(lam)]["objective"], color=COLORS[i], ls=":", lw=0.9,
                   label=f"optimum of Eq. 7, λ = {_lam(lam)}")
    lo = min([cf["da"]["objective"]] + [v["objective"] for v in cf["reg"].values()])
    ax.set_ylim(lo - 0.03, lo + 0.45)
    ax.set(xlabel="Epochs", ylabel="training objective", title="each method's objective; dotted: closed form")
    ax.legend(fontsize=6.5)
    ax = axes[2]
    for r in runs:
        ex = np.maximum(np.asarray(r["curves"]["excess"]), 1e-12)
        first = r["seed_index"] == 0
        ax.plot(r["record_epochs"], ex, color=_color(doc, r), lw=1.6 if first else 0.7, alpha=1 if first else 0.45,
                label=_label(r) if first else None)
    ax.set_yscale("log")
    ax.set(xlabel="Epochs", ylabel="objective − closed-form optimum", title="distance to the optimum's loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    _caption(fig, doc, f"{_seeds_note(doc)}. Objectives: DA 1/(4n) Σ_g ||W ρ(g) X − Y||², constrained "
            "1/n ||W X − Y||² over invariant W, λ: 1/n ||W X − Y||² + λ||W G||². Dotted: the closed forms' values "
            "(accuracy, objective).")
    return save_figure(fig, path)[0]


def plot_w_perp(doc: dict[str, Any], path: Path) -> Path:
    """Figure 3: ||W_perp||_F for DA and the three lambdas; beside it the long DA run, split into seen and blind."""
    runs = _runs(doc, "mse", ("da", "reg"))
    cf = doc["closed_forms"]
    long_run = doc.get("long_da")
    fig, axes = plt.subplots(1, 2 if long_run else 1, figsize=(13 if long_run else 7, 4.4), squeeze=False)
    ax = axes[0, 0]
    _curves(ax, doc, runs, "w_perp")
    da0 = next(r for r in runs if r["method"] == "da" and r["seed_index"] == 0)
    ax.plot(da0["record_epochs"], da0["curves"]["w_perp_blind"], color=COLORS["da"], ls="--", lw=1.0,
            label="DA: part on never-lit pixels")
    for i, lam in enumerate(doc["settings"]["lambdas"]["mse"]):
        ax.axhline(cf["reg"][_lam(lam)]["w_perp"], color=COLORS[i], ls=":", lw=0.9)
    ax.axhline(cf["da"]["w_perp"], color="k", ls=":", lw=0.9)
    ax.set(xlabel="Epochs", ylabel="Frobenius norm", title="Figure 3: $\\|W_\\perp\\|_F$ (MSE)")
    ax.legend(fontsize=7)
    if long_run:
        ax = axes[0, 1]
        e = long_run["record_epochs"]
        c = long_run["curves"]
        ax.plot(e, c["w_perp"], color=COLORS["da"], lw=1.6, label="$\\|W_\\perp\\|_F$")
        ax.plot(e, c["w_perp_seen"], color="tab:brown", lw=1.0, label="on pixels the data light")
        ax.plot(e, c["w_perp_blind"], color="0.4", ls="--", lw=1.0, label="on pixels no image lights")
        ax.axvline(doc["scale"]["epochs"], color="k", lw=0.6, ls=":")
        ax.set(xlabel="Epochs", ylabel="Frobenius norm",
               title=f"DA, one run continued to {long_run['epochs']:,} epochs")
        ax2 = ax.twinx()
        ax2.plot(e, c["w_norm"], color="0.7", lw=0.8, label="$\\|W\\|_F$ (right axis)")
        ax2.axhline(cf["da"]["w_norm"], color="0.7", ls=":", lw=0.8)
        ax2.set_ylabel("$\\|W\\|_F$", color="0.5")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper right")
    fig.tight_layout()
    _caption(fig, doc, f"{_seeds_note(doc)}. W_perp = W (I − Ḡ), Ḡ the mean of the four rotations. Dotted "
            "horizontal: the closed forms' ||W_perp|| (0 for W^da; right panel: ||W^da||_F). Dashed: the part of "
            "W_perp on the pixels that are zero in every rotation of every image (the loss never moves it).")
    return save_figure(fig, path)[0]


def plot_proportion(doc: dict[str, Any], path: Path) -> Path:
    """Figure 4: ||W − W_perp||_F^2 / ||W||_F^2 for DA and the three lambdas."""
    runs = _runs(doc, "mse", ("da", "reg"))
    cf = doc["closed_forms"]
    fig, ax = plt.subplots(figsize=(7, 4.4))
    _curves(ax, doc, runs, "proportion")
    for i, lam in enumerate(doc["settings"]["lambdas"]["mse"]):
        ax.axhline(cf["reg"][_lam(lam)]["proportion"], color=COLORS[i], ls=":", lw=0.9)
    ax.set(xlabel="Epochs", ylabel="Proportion", title="Figure 4: $\\|W - W_\\perp\\|_F^2 / \\|W\\|_F^2$ (MSE)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    _caption(fig, doc, f"{_seeds_note(doc)}. Dotted: the closed forms W^reg(λ) (W^da: 1).")
    return save_figure(fig, path)[0]


def plot_ce(doc: dict[str, Any], path: Path) -> Path:
    """Figures 6-9 in one: cross-entropy, DA's weights (row 0), accuracy, ||W_perp||_F and the proportion."""
    runs = _runs(doc, "ce")
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    da = next(r for r in runs if r["method"] == "da" and r["seed_index"] == 0)
    values = np.asarray(da["weights"]["values"])
    ax = axes[0, 0]
    for j, col in enumerate(da["weights"]["cols"]):
        ax.plot(da["record_epochs"], values[:, 0, j], PIXEL_STYLES[j % 4], lw=1.3, label=f"column {col}")
    ax.set(xlabel="Epochs", title=f"Figure 6: W[{da['weights']['rows'][0]}, orbit] trained with DA (CE)")
    ax.legend(fontsize=7)
    _curves(axes[0, 1], doc, runs, "accuracy")
    axes[0, 1].set(xlabel="Epochs", ylabel="Accuracy (augmented training set)", title="Figure 7: training curves (CE)")
    reg = [r for r in runs if r["method"] != "constrained"]
    _curves(axes[1, 0], doc, reg, "w_perp")
    axes[1, 0].plot(da["record_epochs"], da["curves"]["w_perp_blind"], color=COLORS["da"], ls="--", lw=1.0,
                    label="DA: part on never-lit pixels")
    axes[1, 0].set(xlabel="Epochs", ylabel="Frobenius norm", title="Figure 8: $\\|W_\\perp\\|_F$ (CE)")
    _curves(axes[1, 1], doc, reg, "proportion")
    axes[1, 1].set(xlabel="Epochs", ylabel="Proportion", title="Figure 9: $\\|W - W_\\perp\\|_F^2/\\|W\\|_F^2$ (CE)")
    for ax in axes.ravel()[1:]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    _caption(fig, doc, f"{_seeds_note(doc)}. Cross-entropy instead of MSE; no closed form (no theorem).")
    return save_figure(fig, path)[0]


def plot_all(doc: dict[str, Any], out: Path) -> list[Path]:
    """Every figure into ``out``."""
    return [plot_weights(doc, out / FIGURES["fig1"]), plot_training(doc, out / FIGURES["fig2"]),
            plot_w_perp(doc, out / FIGURES["fig3"]), plot_proportion(doc, out / FIGURES["fig4"]),
            plot_ce(doc, out / FIGURES["ce"])]
