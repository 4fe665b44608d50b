"""Figures 1 and 2: saliency over one sample's orbit, and the t-SNE of penultimate representations with orbits traced.

Matplotlib is imported inside the plotting functions only; the commands import this module lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_saliency_orbit", "plot_latent"]

_MARKERS = "os^DvP*Xhp"  # one per group element (orientation), identity first


def _overlay(ax, image: np.ndarray, saliency: np.ndarray) -> None:
    """The image in gray with the saliency map on top in red (zero saliency transparent), no ticks."""
    ax.imshow(image, cmap="gray")
    peak = float(np.nanmax(saliency)) if np.isfinite(saliency).any() else 0.0
    if peak > 0:
        ax.imshow(np.ma.masked_where(~(saliency > 0.05 * peak), saliency), cmap="autumn_r", alpha=0.75,
                  vmin=0.0, vmax=peak)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_saliency_orbit(data: dict[str, Any], path: Path) -> Path:
    """Figure 1: per model block, m_f(g x) over g x (top), g^{-1} m_f(g x) over x (middle), softmax f(g x) (bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from empirical.paper.plots import caption, save_figure

    models = list(data["models"])
    images = np.asarray(data["images"])  # (|G|, H, W): g x
    k = images.shape[0]
    classes = np.asarray(data["models"][models[0]]["probs"]).shape[1]
    widths = []
    for j in range(len(models)):
        widths += [1.0] * k + ([0.35] if j < len(models) - 1 else [])
    fig = plt.figure(figsize=(1.25 * sum(widths), 3.9))
    grid = fig.add_gridspec(3, len(widths), width_ratios=widths, height_ratios=[1, 1, 0.8], hspace=0.12,
                            wspace=0.08)
    for j, name in enumerate(models):
        m = data["models"][name]
        maps, realigned, probs = (np.asarray(m[key]) for key in ("maps", "realigned", "probs"))
        for g in range(k):
            col = j * (k + 1) + g
            ax = fig.add_subplot(grid[0, col])
            _overlay(ax, images[g], maps[g])
            ax.set_title(f"g = {g}", fontsize=8)
            if g == 0:
                ax.set_ylabel(r"$m_f(gx)$", fontsize=8)
            ax = fig.add_subplot(grid[1, col])
            _overlay(ax, images[0], realigned[g])
            if g == 0:
                ax.set_ylabel(r"$g^{-1} m_f(gx)$", fontsize=8)
            ax = fig.add_subplot(grid[2, col])
            colors = ["C3" if c == data["label"] else "0.55" for c in range(classes)]
            ax.bar(np.arange(classes), probs[g], color=colors, width=0.8)
            ax.set_ylim(0, 1)
            ax.set_xticks(np.arange(classes), [str(c) for c in range(classes)], fontsize=5)
            ax.tick_params(axis="y", labelsize=5)
            if g:
                ax.set_yticklabels([])
            else:
                ax.set_ylabel(r"softmax $f(gx)$", fontsize=7)
        left = grid[0, j * (k + 1)].get_position(fig).x0
        right = grid[0, j * (k + 1) + k - 1].get_position(fig).x1
        fig.text((left + right) / 2, 0.99, f"{name}: {data['titles'].get(name, name)}, SI = {m['SI']:.2f}",
                 ha="center", va="bottom", fontsize=9)
    fig.suptitle(f"Saliency over the {data['group']} orbit of test sample {data['sample']} (class {data['label']}; "
                 "red bar: the true class)", y=1.07, fontsize=9)
    caption(fig, data)
    return save_figure(fig, Path(path))[0]


def plot_latent(data: dict[str, Any], path: Path) -> Path:
    """Figure 2: t-SNE of penultimate representations, colored by class, traced orbits joined; a panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from empirical.paper.plots import caption, save_figure

    models = list(data["models"])
    k, traced = data["order"], data["traced"]
    labels = np.asarray(data["labels"])  # (N,)
    classes = int(labels.max()) + 1
    cmap = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(models), figsize=(4.4 * len(models), 4.6), squeeze=False)
    for ax, name in zip(axes[0], models):
        emb = np.asarray(data["models"][name]["tsne"]).reshape(len(labels), k, 2)
        point_labels = np.repeat(labels, k)
        ax.scatter(emb[..., 0].ravel(), emb[..., 1].ravel(), c=cmap(point_labels % 10), s=9, alpha=0.6,
                   linewidths=0)
        for i in traced:
            ring = np.concatenate([emb[i], emb[i, :1]]) if k > 2 else emb[i]
            ax.plot(ring[:, 0], ring[:, 1], "-", color="k", lw=0.9, alpha=0.8)
            for g in range(k):
                ax.scatter(*emb[i, g], marker=_MARKERS[g % len(_MARKERS)], s=60, color=cmap(labels[i] % 10),
                           edgecolors="k", linewidths=0.9, zorder=3)
        ax.set_title(f"{name}: {data['models'][name].get('subtitle', '')}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Line2D([], [], ls="", marker="o", color=cmap(c % 10), label=f"class {c}") for c in range(classes)]
    handles += [Line2D([], [], ls="", marker=_MARKERS[g % len(_MARKERS)], mfc="w", mec="k", label=f"g = {g}")
                for g in range(k)]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 9), fontsize=7, frameon=False,
               bbox_to_anchor=(0.5, -0.08))
    fig.suptitle(f"t-SNE of the penultimate layer, {data['group']}: {len(labels)} test samples x {k} orientations; "
                 f"the orbits of {len(traced)} samples traced (markers: orientation)", fontsize=9)
    caption(fig, data, -0.12)
    return save_figure(fig, Path(path))[0]
