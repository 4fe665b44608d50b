"""The beyond-the-paper comparison figure: DA against IR (WT for reference), SI and sigma_max(J), per arch x group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["MODEL_COLORS", "plot_beyond"]

MODEL_COLORS = {"WT": "0.6", "DA": "C3", "IR": "C0"}


def plot_beyond(data: dict[str, Any], path: Path) -> Path:
    """Two panels (SI; sigma_max(J), log scale): grouped bars WT / DA / IR per arch x group, ± std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from empirical.engine.tuning import SI_TARGET  # the validation SI that IR's nu is tuned to reach: a line
    from empirical.paper.plots import caption, save_figure

    rows = data["rows"]
    cells = list(dict.fromkeys((r["arch"], r["group"]) for r in rows))
    models = [m for m in MODEL_COLORS if any(r["model"] == m for r in rows)]
    by = {(r["arch"], r["group"], r["model"]): r for r in rows}
    x = np.arange(len(cells))
    width = 0.8 / max(len(models), 1)
    fig, axes = plt.subplots(2, 1, figsize=(max(6.4, 0.9 * len(cells) + 1.5), 5.6), sharex=True,
                             layout="constrained")
    panels = (("SI", "SI (test) ⇑"), ("sigma_max_J", r"$\sigma_{\max}(J)$ (test, log) ⇓"))
    for ax, (key, label) in zip(axes, panels):
        for i, m in enumerate(models):
            stats = [(by.get((a, g, m)) or {}).get(key) or [np.nan, np.nan] for a, g in cells]
            mean, std = (np.array([s[k] for s in stats], dtype=float) for k in (0, 1))
            ax.bar(x + (i - (len(models) - 1) / 2) * width, mean, width, yerr=std, capsize=2,
                   color=MODEL_COLORS[m], label=m, edgecolor="k", linewidth=0.3)
        ax.set_ylabel(label)
        for b in range(1, len(cells)):  # a line between the architectures
            if cells[b][0] != cells[b - 1][0]:
                ax.axvline(b - 0.5, color="k", lw=0.8)
        ax.grid(axis="y", lw=0.3, alpha=0.5)
    axes[0].set_ylim(0, 1.05)
    axes[0].axhline(SI_TARGET, color="C0", ls=":", lw=0.8, label=f"SI {SI_TARGET:g}: IR's ν target (validation)")
    axes[1].set_yscale("log")
    axes[1].set_xticks(x, [f"{a}\n{g}" for a, g in cells])
    handles, labels = axes[0].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] not in models)  # the models first, then the SI line
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside right center", fontsize=8,
               title="model")
    fig.suptitle(f"Beyond the paper: DA vs IR (WT for reference), mean ± std over seeds; scale "
                 f"{data.get('scale_tag', '?')}", fontsize=9)
    caption(fig, data, -0.01, note="Bars: mean over seeds; error bars: ± 1 standard deviation over seeds "
                                   "(population, ddof = 0).")
    return save_figure(fig, Path(path))[0]
