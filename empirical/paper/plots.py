"""Figures of the experiments (matplotlib lives here only; the commands import this module lazily)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from empirical.engine.store import write_bytes  # noqa: E402

__all__ = ["CAPTION_FONTSIZE", "save_figure", "scale_caption", "caption", "seeds_text", "plot_spectral", "plot_drift",
           "plot_saliency"]


def scale_caption(data: dict[str, Any]) -> str:
    """The scale line every figure carries: scale name, epochs, training images, seeds, engine and code version."""
    s, prov = data.get("scale", {}), data.get("provenance", {})
    return (f"scale: {data.get('scale_tag', '?')} ({s.get('epochs')} epochs, {s.get('n_train')} training images, "
            f"{s.get('seeds')} seed(s)); engine {prov.get('engine', '?')}, code {prov.get('code', '?')}")


CAPTION_FONTSIZE = 8  # the caption under every figure: readable beside the axis labels, in dark grey
CAPTION_COLOR = "0.2"


def caption(fig, data: dict[str, Any], y: float = -0.02, note: str = "") -> None:
    """Write ``note`` (what the marks mean, if any) and the scale line (:func:`scale_caption`) under ``fig``, from
    height ``y`` down, in figure coordinates."""
    text = f"{note}\n{scale_caption(data)}" if note else scale_caption(data)
    fig.text(0.0, y, text, fontsize=CAPTION_FONTSIZE, color=CAPTION_COLOR, ha="left", va="top", linespacing=1.4)


def save_figure(fig, *paths: Path) -> list[Path]:
    """Save ``fig`` atomically to each of ``paths`` (format from its suffix), then close it, also when a save
    fails: every figure here is drawn once and saved once, and an open one would hold its memory until exit."""
    try:
        return [_save_one(fig, Path(path)) for path in paths]
    finally:
        plt.close(fig)


def _save_one(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip("."), dpi=150, bbox_inches="tight", metadata=_METADATA.get(path.suffix))
    return write_bytes(buf.getvalue(), path)


# No creation date in the files, so that the same numbers give the same bytes.
_METADATA = {".png": {"Software": None}, ".pdf": {"CreationDate": None, "Producer": None}}


def seeds_text(items: list[dict[str, Any]]) -> str:
    """How many seeds the rows or curves average over: 'n = 4', or 'n = 3-4' when some failed."""
    counts = sorted({int(x["seeds"]) for x in items if x.get("seeds") is not None})
    if not counts:
        return "n seeds"
    return f"n = {counts[0]}" if len(counts) == 1 else f"n = {counts[0]}-{counts[-1]}"


def plot_spectral(data: dict[str, Any], stem: Path) -> list[Path]:
    """Figure 5: sigma_max(J) (bars: mean over seeds, error bars: ± std over seeds) per model, one group of bars per
    group, on a log axis (one form's sigma_max can be 30x another's)."""
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
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))  # 1, 2, 5, 10, 20, ...: read as numbers
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(np.arange(len(models)), models)
    ax.set_ylabel(r"$\sigma_{\max}(J)$ (log scale)")
    ax.grid(axis="y", which="both", lw=0.3, alpha=0.5)
    ax.set_title("Input sensitivity under invariance regularization")
    ax.legend(title="group")
    caption(fig, data, note=f"Bars: mean over seeds ({seeds_text(rows)}); error bars: ± 1 standard deviation over "
                            "seeds (population, ddof = 0).")
    return save_figure(fig, Path(f"{stem}.png"), Path(f"{stem}.pdf"))


# Figure 4's marks per model: WT's DI is exactly 0 and IR's close to it, so WT is drawn as large open circles on a
# wide pale line, IR as small filled triangles on a thin line on top: both stay visible where they coincide.
DRIFT_STYLE = {"WT": {"marker": "o", "ms": 7, "mfc": "none", "lw": 2.4, "alpha": 0.6, "zorder": 2},
               "DA": {"marker": "s", "ms": 4, "lw": 1.5, "alpha": 1.0, "zorder": 3},
               "IR": {"marker": "^", "ms": 4, "lw": 1.2, "alpha": 1.0, "zorder": 4}}
_OTHER_STYLE = {"marker": "D", "ms": 4, "lw": 1.2, "alpha": 1.0, "zorder": 3}


def plot_drift(data: dict[str, Any], stem: Path) -> list[Path]:
    """Figure 4: DI (left axis, solid) and accuracy ratio (right axis, dashed) against beta, a panel per group; the
    band around DI is ± 1 std over seeds; one legend for all panels, above them, clear of the curves."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    curves = data["curves"]
    groups = list(dict.fromkeys(c["group"] for c in curves))
    models = list(dict.fromkeys(c["model"] for c in curves))
    colors = {m: f"C{k}" for k, m in enumerate(models)}
    betas = np.array(data["betas"])
    fig, axes = plt.subplots(1, len(groups), figsize=(5.6 * len(groups), 3.6), squeeze=False, layout="constrained")
    for ax, g in zip(axes[0], groups):
        right = ax.twinx()
        for c in (x for x in curves if x["group"] == g):
            color, st = colors[c["model"]], DRIFT_STYLE.get(c["model"], _OTHER_STYLE)
            di, ratio = np.array(c["DI"]), np.array(c["acc_ratio"])
            ax.fill_between(betas, di[:, 0] - di[:, 1], di[:, 0] + di[:, 1], color=color, alpha=0.15, lw=0)
            ax.plot(betas, di[:, 0], "-", color=color, **st)
            right.plot(betas, ratio[:, 0], "--", color=color, **st)
        ax.set_xlabel(r"drift degree $\beta$")
        ax.set_ylabel(r"$DI_f$ (solid)")
        right.set_ylabel(r"Acc$(D(\beta))$ / Acc$(D(0))$ (dashed)")
        right.set_ylim(0, 1.05)
        ax.set_title(f"{g}, drift MNIST → FMNIST ({data['mode']})")
    handles = []
    for ls, what in (("-", "DI"), ("--", "acc. ratio")):
        handles += [Line2D([], [], ls=ls, color=colors[m], label=f"{m} {what}",
                           **{k: v for k, v in DRIFT_STYLE.get(m, _OTHER_STYLE).items() if k != "zorder"})
                    for m in models]
    handles.append(Patch(color="0.5", alpha=0.3, label=f"DI ± 1 std over seeds ({seeds_text(curves)})"))
    fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), fontsize=8, frameon=False)
    caption(fig, data, note="Shaded band: DI ± 1 standard deviation over seeds. WT (open circles) and IR (triangles) "
                            "are drawn on top of each other where their values coincide (DI near 0).")
    return save_figure(fig, Path(f"{stem}.png"), Path(f"{stem}.pdf"))


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
    return save_figure(fig, Path(path))[0]
