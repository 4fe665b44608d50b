"""The data-scaling figure: SI, NLI and accuracy against the training-set size n, per group, for DA, linear DA, WT
and IR (``empirical.paper.data_scaling``); a pure function of scaling.json."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

__all__ = ["KIND_STYLE", "plot_scaling"]

# kind -> (colour, marker, label)
KIND_STYLE = {"DA": ("C3", "o", "DA"), "DA-linear": ("C1", "s", "linear DA (no ReLU)"), "WT": ("0.5", "D", "WT"),
              "IR": ("C0", "^", "IR (LI, Table 1's ν)")}


def plot_scaling(data: dict[str, Any], path: Path) -> Path:
    """Three rows (SI; NLI, log; accuracy) x one column per group; mean ± std over seeds against n (log axis); the
    doubled step budget as open marks at its n; the 0.9 SI line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from empirical.paper.plots import CAPTION_COLOR, CAPTION_FONTSIZE, save_figure
    from empirical.paper.scaling_claims import SI_WT_LIKE

    rows, base = data["rows"], data["scale"]["steps"]
    groups = sorted({r["group"] for r in rows}) or ["R4"]
    panels = (("SI", "SI (test) ⇑", False), ("NLI", "NLI (test, log) ⇓", True), ("acc", "accuracy (test, %)", False))
    fig, axes = plt.subplots(len(panels), len(groups), figsize=(4.2 * len(groups) + 1.8, 8.0), sharex=True,
                             squeeze=False, layout="constrained")
    ns = sorted({r["n"] for r in rows}) or [1]  # the x range: a single n still gets one
    for j, g in enumerate(groups):
        for i, (key, label, log) in enumerate(panels):
            ax = axes[i][j]
            for kind, (color, marker, name) in KIND_STYLE.items():
                for steps, filled in ((base, True), (2 * base, False)):
                    pts = sorted((r["n"], *r[key]) for r in rows if r["group"] == g and r["kind"] == kind
                                 and r["steps"] == steps and r.get(key) is not None)
                    if not pts:
                        continue
                    n, mean, std = zip(*pts)
                    if not filled:  # beside the base budget's mark at the same n, not hidden behind it
                        n = [x * 1.15 for x in n]
                    ax.errorbar(n, mean, yerr=std, color=color, marker=marker, ms=5, capsize=2, lw=1.2 if filled else 0,
                                mfc=color if filled else "none",
                                label=name if filled else f"{name}, {2 * base:,} steps")
            if key == "SI":
                ax.axhline(SI_WT_LIKE, color="k", ls=":", lw=0.8, label=f"SI {SI_WT_LIKE:g} (WT-like)")
                ax.set_ylim(0, 1.05)
            if log:
                ax.set_yscale("log")
            ax.set_xscale("log")
            ax.set_xlim(ns[0] / 1.5, ns[-1] * 1.6)
            ax.grid(lw=0.3, alpha=0.5)
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                ax.set_title(g, fontsize=10)
            if i == len(panels) - 1:
                ax.set_xlabel("training images n (log)")
    handles = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="outside right center", fontsize=8, title="model")
    fig.suptitle(f"Does DA learn genuine invariance with more data? The {data.get('arch', 'mlp')}; mean ± std over "
                 f"seeds; scale {data.get('scale_tag', '?')}", fontsize=9)
    reduced = [q for q in data["plan"] if q.get("reduced")]
    s, prov = data["scale"], data.get("provenance", {})
    seeds = sorted({r["seeds"] for r in rows})
    width = 60 + 45 * len(groups)  # characters per caption line: about the figure's width
    note = textwrap.fill(f"Error bars: ± 1 standard deviation over seeds (population, ddof = 0; "
                         f"{', '.join(map(str, seeds))} seed(s) per point, see scaling.md). Every point: {base:,} "
                         f"optimizer steps (open marks, drawn at 1.15 n: twice that), batch {s['batch_size']}; "
                         f"test set {s['n_test']:,}, validation {s['n_val']:,}, fixed for every n. Measured: "
                         f"{sum(p['measured'] for p in data['plan'])} of the {sum(p['runs'] for p in data['plan'])} "
                         f"runs of the grid" + (f" ({sum(q['measured'] for q in reduced)} of the "
                                                f"{sum(q['runs'] for q in reduced)} of its reduced design)"
                                                if reduced else "") + "".join(f"; {g}: nothing yet" for g in sorted(
                             {p['part'].split(':')[0] for p in data['plan']} - set(groups))) + ".", width)
    note += "\n" + textwrap.fill(f"scale: {data.get('scale_tag', '?')} ({s['epochs']} epochs of "
                                 f"{s['steps_per_epoch']} steps); engine {prov.get('engine', '?')}, code "
                                 f"{prov.get('code', '?')}", width)
    fig.text(0.0, -0.01, note, fontsize=CAPTION_FONTSIZE, color=CAPTION_COLOR, ha="left", va="top", linespacing=1.4)
    return save_figure(fig, Path(path))[0]
