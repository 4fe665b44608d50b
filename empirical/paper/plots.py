"""Figures of the experiments (matplotlib lives here only; the commands import this module lazily)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from empirical.engine.store import write_bytes  # noqa: E402

__all__ = ["save_figure", "scale_caption", "caption", "plot_spectral", "plot_drift", "plot_saliency"]


def scale_caption(data: dict[str, Any]) -> str:
    """The scale line every figure carries: scale name, epochs, training images, seeds, engine and code version."""
    s, prov = data.get("scale", {}), data.get("provenance", {})
    return (f"scale: {data.get('scale_tag', '?')} ({s.get('epochs')} epochs, {s.get('n_train')} training images, "
            f"{s.get('seeds')} seed(s)); engine {prov.get('engine', '?')}, code {prov.get('code', '?')}")


def caption(fig, data: dict[str, Any], y: float = -0.02) -> None:
    """Write the scale line (:func:`scale_caption`) under ``fig``, at height ``y`` in figure coordinates."""
    fig.text(0.0, y, scale_caption(data), fontsize=6, color="0.35", ha="left", va="top")


def save_figure(fig, path: Path) -> Path:
    """Save ``fig`` atomically to ``path`` (format from its suffix)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip("."), dpi=150, bbox_inches="tight", metadata=_METADATA.get(
        Path(path).suffix))
    return write_bytes(buf.getvalue(), Path(path))


# No creation date in the files, so that the same numbers give the same bytes.
_METADATA = {".png": {"Software": None}, ".pdf": {"CreationDate": None, "Producer": None}}


def plot_spectral(data: dict[str, Any], stem: Path) -> list[Path]:
    """Figure 5: sigma_max(J) (bars, ± std over seeds) per model, one group of bars per group."""
    rows = data["rows"]
    groups = list(dict.fromkeys(r["group"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    width = 0.8 / len(groups)
    for i, g in enumerate(groups):
        vals = {r["model"]: r["sigma_max_J"] for r in rows if r["group"] == g}
        x = np.arange(len(models)) + (i - (len(groups) - 1) / 2) * width
        ax.bar(x, [vals.get(m, [np.nan])[0] for m in models], width, yerr=[vals.get(m, [0, 0])[1] for m in models],
               capsize=3, label=g)
    ax.set_xticks(np.arange(len(models)), models)
    ax.set_ylabel(r"$\sigma_{\max}(J)$")
    ax.set_title("Input sensitivity under invariance regularization")
    ax.legend(title="group")
    caption(fig, data)
    paths = [save_figure(fig, Path(f"{stem}.{ext}")) for ext in ("png", "pdf")]
    plt.close(fig)
    return paths


def plot_drift(data: dict[str, Any], stem: Path) -> list[Path]:
    """Figure 4: DI (left axis, solid) and accuracy ratio (right axis, dashed) against beta, a panel per group."""
    curves = data["curves"]
    groups = list(dict.fromkeys(c["group"] for c in curves))
    betas = np.array(data["betas"])
    fig, axes = plt.subplots(1, len(groups), figsize=(5.6 * len(groups), 3.6), squeeze=False, layout="constrained")
    for ax, g in zip(axes[0], groups):
        right = ax.twinx()
        for k, c in enumerate(x for x in curves if x["group"] == g):
            color = f"C{k}"
            di, ratio = np.array(c["DI"]), np.array(c["acc_ratio"])
            ax.plot(betas, di[:, 0], "-o", ms=3, color=color, label=f"{c['model']} DI")
            ax.fill_between(betas, di[:, 0] - di[:, 1], di[:, 0] + di[:, 1], color=color, alpha=0.15)
            right.plot(betas, ratio[:, 0], "--s", ms=3, color=color, label=f"{c['model']} acc. ratio")
        ax.set_xlabel(r"drift degree $\beta$")
        ax.set_ylabel(r"$DI_f$ (solid)")
        right.set_ylabel(r"Acc$(D(\beta))$ / Acc$(D(0))$ (dashed)")
        right.set_ylim(0, 1.05)
        ax.set_title(f"{g}, drift MNIST → FMNIST ({data['mode']})")
        lines = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
        ax.legend(lines, [h.get_label() for h in lines], fontsize=7, loc="center left")
    caption(fig, data)
    paths = [save_figure(fig, Path(f"{stem}.{ext}")) for ext in ("png", "pdf")]
    plt.close(fig)
    return paths


def plot_saliency(data: dict[str, Any], path: Path) -> Path:
    """Figure 3: input and realigned saliency maps g^{-1} m(g x) over the orbit, DA and IR side by side."""
    models = list(data["maps"])
    n, k = data["maps"][models[0]].shape[:2]
    fig, axes = plt.subplots(n, 1 + k * len(models), figsize=(1.1 * (1 + k * len(models)), 1.15 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(data["images"][i], cmap="gray")
        for j, name in enumerate(models):
            for g in range(k):
                ax = axes[i, 1 + j * k + g]
                ax.imshow(data["maps"][name][i, g], cmap="inferno")
                if i == 0:
                    ax.set_title(f"{name} g={g}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Realigned saliency maps over the {data['group']} orbit "
                 + ", ".join(f"{m}: SI = {np.mean(data['SI'][m]):.2f}" for m in models), fontsize=8)
    caption(fig, data)
    out = save_figure(fig, Path(path))
    plt.close(fig)
    return out
