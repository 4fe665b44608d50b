"""The audit's figures, each a pure function of the audit's results (JSON) or maps: distributions, verdict, layers,
orbit saliency maps (Figure 3's form). Matplotlib lives here; files are written atomically (``paper.plots``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import NullFormatter

from empirical.paper.plots import CAPTION_COLOR, CAPTION_FONTSIZE, plt, save_figure

__all__ = ["plot_distributions", "plot_verdict", "plot_layers", "plot_orbit_saliency"]

_REF_STYLE = {"WT": ("tab:green", "s"), "IR": ("tab:blue", "D"), "DA": ("tab:red", "o")}


def _note(fig, text: str) -> None:
    fig.text(0.0, -0.01, text, fontsize=CAPTION_FONTSIZE, color=CAPTION_COLOR, ha="left", va="top")


def _hist(ax, d: dict, title: str) -> None:
    h = d["hist"]
    if h["counts"]:
        edges = np.asarray(h["edges"])
        ax.stairs(h["counts"], edges, fill=True, color="0.55")
        if h["log"]:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
    for q, style in (("median", "-"), ("q25", ":"), ("q75", ":")):
        v = d[q]
        if isinstance(v, float) and np.isfinite(v) and (v > 0 or not h["log"]):
            ax.axvline(v, color="k", ls=style, lw=0.8)
    extra = f"; {h['nonpositive']} <= 0" if h.get("nonpositive") else ""
    ax.set_title(f"{title}\nmedian {d['median']:.3g}, IQR {d['iqr']:.3g}{extra}", fontsize=7)
    ax.tick_params(which="both", labelsize=6)


def plot_distributions(res: dict[str, Any], path: Path) -> Path:
    """One histogram per metric and group (solid line the median, dotted the quartiles)."""
    panels = [(k, d) for k, d in res["overall"].items() if k != "acc"]
    for g, b in res["groups"].items():
        panels += [(f"{g} {m}", b["metrics"][m]) for m in ("LI", "DI", "SI") if m in b["metrics"]]
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 1.9 * rows), squeeze=False)
    for ax, (name, d) in zip(axes.flat, panels):
        _hist(ax, d, name)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    _note(fig, "Per-sample distributions over the audited data: histogram, median (solid), quartiles (dotted).")
    return save_figure(fig, Path(path))[0]


def plot_verdict(res: dict[str, Any], path: Path) -> Path:
    """Per group, the model's mean DI and SI beside the WT / IR / DA reference points (log DI, linear SI)."""
    groups = list(res["groups"])
    fig, axes = plt.subplots(len(groups), 2, figsize=(7.0, 1.0 + 0.8 * len(groups)), squeeze=False)
    for row, g in enumerate(groups):
        b = res["groups"][g]
        refs, means = b["references"] or {}, b["verdict"]["means"]
        for col, metric in enumerate(("DI", "SI")):
            ax = axes[row, col]
            floor = 1e-12
            for name, r in refs.items():
                color, marker = _REF_STYLE[name]
                v = max(r[metric], floor) if metric == "DI" else r[metric]
                ax.plot([v], [0], marker=marker, color=color, ls="none", ms=7, label=name)
            v = max(means[metric], floor) if metric == "DI" else means[metric]
            ax.plot([v], [0], marker="*", color="k", ls="none", ms=12, label="this model")
            if metric == "DI":
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            else:
                ax.set_xlim(-0.05, 1.05)
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            ax.set_title(f"{g} DI (log axis, floored at 1e-12)" if metric == "DI" else
                         f"{g} SI; verdict: {b['verdict']['label']}", fontsize=7, loc="left")
            if row == 0 and col == 1:
                ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    _note(fig, "Mean DI (log axis) and SI of this model (star) against the suite's WT, IR and DA models (Table 1).")
    return save_figure(fig, Path(path))[0]


def plot_layers(res: dict[str, Any], path: Path) -> Path:
    """The layer-wise profile: median normalized orbit error per module (quartiles shaded), one line per group."""
    fig, ax = plt.subplots(figsize=(6.0, 2.6))
    names: list[str] = []
    for g, b in res["groups"].items():
        layers = b["layers"]
        if not layers:
            continue
        names = list(layers)
        med = np.array([layers[n]["median"] for n in names], dtype=float)
        lo = np.array([layers[n]["q25"] for n in names], dtype=float)
        hi = np.array([layers[n]["q75"] for n in names], dtype=float)
        x = np.arange(len(names))
        ax.plot(x, med, marker="o", ms=3, label=g)
        ax.fill_between(x, lo, hi, alpha=0.2)
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels([n or "(output)" for n in names], rotation=60, ha="right", fontsize=6)
    ax.set_ylabel("normalized orbit error", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, frameon=False)
    fig.tight_layout()
    _note(fig, "0: the module's output does not move along the orbit; 1: as much as switching samples.")
    return save_figure(fig, Path(path))[0]


def plot_orbit_saliency(images: np.ndarray, maps: np.ndarray, si: np.ndarray, group: str, path: Path) -> Path:
    """Figure 3's form: row i is x_i, then g^-1 m_f(g x_i) for every g; images (N, H, W), maps (N, |G|, H, W)."""
    n, k = maps.shape[:2]
    fig, axes = plt.subplots(n, 1 + k, figsize=(1.05 * (1 + k), 1.1 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i], cmap="gray")
        axes[i, 0].set_ylabel(f"SI {si[i]:.2f}", fontsize=7)
        for g in range(k):
            axes[i, 1 + g].imshow(maps[i, g], cmap="inferno")
            if i == 0:
                axes[i, 1 + g].set_title(f"g = {g}", fontsize=7)
    axes[0, 0].set_title("x", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Realigned saliency maps over the {group} orbit", fontsize=8)
    _note(fig, "Each row: the sample, then the saliency map of g x moved back by g^-1; identical maps = invariant.")
    return save_figure(fig, Path(path))[0]
