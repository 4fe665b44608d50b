"""Figures of ``python -m empirical.bridge``, pure functions of bridge.json (in the paper layer, so that
``python -m empirical.report --figures`` redraws them without importing the bridge command)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from empirical.paper.plots import save_figure  # noqa: E402

__all__ = ["plot_linear", "plot_deep_linear", "plot_layers", "plot_subspace", "plot_all"]


def plot_linear(data: dict[str, Any], path: Path) -> Path:
    """Distances ||W(t) - W(0) P||_F / ||W(0)||_F vs tau = t lambda_max: whole flow (top), the trained horizon with
    the engine's SGD runs and sigma_max(W) per epoch (middle); CE + nu LI (Adam) against nu (bottom)."""
    groups = list(data)
    fig, axes = plt.subplots(3, len(groups), figsize=(5.6 * len(groups), 11), squeeze=False, layout="constrained")
    names = (("W0PG", r"$W(0)P_G$"), ("W0Pi", r"$W(0)\Pi$"))
    for col, g in enumerate(groups):
        d = data[g]
        cf, pf = d["closed_form"], d["pure_flow"]
        tau = np.array(cf["tau"])
        ax = axes[0, col]
        for k, (name, label) in enumerate(names):
            ax.loglog(tau[1:], np.maximum(cf[f"dist_{name}"][1:], 1e-16), "-", color=f"C{k}",
                      label=f"closed form, to {label}")
            ax.loglog(tau[1:], np.maximum(cf["theory_sigma"][f"dist_{name}"][1:], 1e-16), ":", color=f"C{k}",
                      alpha=0.7, label=r"(un-augmented $\Sigma$)" if k == 0 else None)
        ax.axvspan(tau[1], pf["points"][-1]["tau"], color="0.85", label="trained horizon")
        ax.set_xlabel(r"flow time $\tau = t\,\lambda_{\max}(\Sigma_{train})$")
        ax.set_ylabel(r"$\|W(t) - W(0)P\|_F / \|W(0)\|_F$")
        sub = d["subspace"]
        ax.set_title(f"{g}: dim ker Σ = {sub['ker_dim']}, dim Fix = {sub['fixed_dim']}", fontsize=9)
        ax.legend(fontsize=7)
        ax = axes[1, col]
        epochs = np.arange(1, len(pf["sigma_max_history"]) + 1)
        taus = epochs * pf["tau_per_epoch"]
        for k, (name, label) in enumerate(names):
            pts = pf["points"]
            ax.plot([p["tau"] for p in pts], [p[f"closed_dist_{name}"][0] for p in pts], "-", color=f"C{k}",
                    label=f"closed form, to {label}")
            ax.errorbar([p["tau"] for p in pts], [p[f"dist_{name}"][0] for p in pts],
                        yerr=[p[f"dist_{name}"][1] for p in pts], fmt="o", ms=4, color=f"C{k}",
                        label=f"SGD (engine), to {label}")
        ax.plot(taus, pf["closed_sigma_max"], "-", color="C3", label=r"closed form $\sigma_{\max}(W)$")
        ax.plot(taus, pf["sigma_max_history"], "x", ms=3, color="C3", label=r"SGD $\sigma_{\max}(W)$ per epoch")
        ax.set_xlabel(r"$\tau$ (pure LI, SGD: %.3g per epoch)" % pf["tau_per_epoch"])
        ax.legend(fontsize=7)
        ax = axes[2, col]
        for sel, style in (("last", "-o"), ("best_val", ":s")):
            rows = [r for r in d["nu_sweep"] if r["model"] == "IR" and r["select"] == sel]
            da = next(r for r in d["nu_sweep"] if r["model"] == "DA" and r["select"] == sel)
            nus = [r["nu"] for r in rows]
            for k, (key, label) in enumerate((("noninvariant_fraction", r"$\|W(I-P_G)\|/\|W\|$"),
                                              ("data_noninvariant_fraction", r"$\|W(I-\Pi)\|/\|W\|$"),
                                              ("frozen_fraction", r"$\|W F\|/\|W\|$ (dead pixels)"),
                                              ("dist_W0PG", r"$\|W - W(0)P_G\|/\|W(0)\|$"),
                                              ("sigma_max", r"$\sigma_{\max}(W)$"))):
                ax.errorbar(nus, [r[key][0] for r in rows], yerr=[r[key][1] for r in rows], fmt=style, ms=3,
                            color=f"C{k}", label=label if sel == "last" else None)
                if sel == "last":
                    ax.axhline(da[key][0], color=f"C{k}", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$\nu$ (CE + $\nu$ LI, Adam): solid last epoch, dotted best val.; dashed: DA (last)")
        ax.legend(fontsize=7)
    return save_figure(fig, Path(path))[0]


def plot_deep_linear(data: dict[str, Any], path: Path) -> Path:
    """sigma_max(W_L ... W_1) / its initial value vs epoch per initialization: pure LI flow, paper IR, DA; per group."""
    groups = list(data)
    fig, axes = plt.subplots(len(groups), 3, figsize=(15, 3.4 * len(groups)), squeeze=False, layout="constrained")
    for row, g in enumerate(groups):
        for col, (kind, title) in enumerate((("flow", "pure LI flow (SGD, ce = 0)"),
                                             ("IR", f"paper IR (Adam, CE + {data[g]['nu']:g} LI)"),
                                             ("DA", "DA (Adam, CE only)"))):
            ax = axes[row, col]
            for k, init in enumerate(data[g]["inits"]):
                rel = data[g][kind][init]["sigma_max_rel_mean"]
                ax.plot(np.arange(len(rel)), rel, "-", color=f"C{k}", label=init)
            ax.axhline(1.0, color="k", lw=0.6, ls=":")
            ax.set_yscale("log")
            ax.set_xlabel("epoch (0 = initialization)")
            ax.set_ylabel(r"$\sigma_{\max}(W_L\cdots W_1)$ / initial")
            ax.set_title(f"{g}, linear 5-layer MLP: {title}", fontsize=9)
            ax.legend(fontsize=7)
    return save_figure(fig, Path(path))[0]


def plot_layers(data: dict[str, Any], path: Path) -> Path:
    """sigma_max of each layer's weights and the probe sigma_max(J) vs epoch, DA vs the IR forms, per group."""
    groups = list(data["groups"])
    first = data["groups"][groups[0]]
    n_layers = len(first["DA"]["layers"][0])
    fig, axes = plt.subplots(len(groups), n_layers + 1, figsize=(2.9 * (n_layers + 1), 2.8 * len(groups)),
                             squeeze=False, layout="constrained")
    for row, g in enumerate(groups):
        for k, (label, c) in enumerate(data["groups"][g].items()):
            layers = np.array(c["layers"])
            epochs = np.arange(1, len(layers) + 1)
            for i in range(n_layers):
                axes[row, i].plot(epochs, layers[:, i], color=f"C{k}", label=label)
            axes[row, -1].plot(epochs, c["J"], color=f"C{k}", label=label)
        for i in range(n_layers):
            axes[row, i].set_title(f"{g}: " + r"$\sigma_{\max}(W_%d)$" % (i + 1), fontsize=9)
        axes[row, -1].set_title(f"{g}: " + r"probe $\sigma_{\max}(J)$", fontsize=9)
        axes[row, -1].set_yscale("log")
        for ax in axes[row]:
            ax.set_xlabel("epoch")
        axes[row, -1].legend(fontsize=7)
    return save_figure(fig, Path(path))[0]


def plot_subspace(data: dict[str, Any], path: Path) -> Path:
    """sigma_max(J P) for P = P_S, P_perp, P_Fix and J itself (mean over test samples, ± std over seeds) per model."""
    groups = list(data)
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.6), squeeze=False, layout="constrained")
    for ax, g in zip(axes[0], groups):
        models = list(data[g]["models"])
        for k, (key, label) in enumerate((("S", r"$\sigma_{\max}(J P_S)$"), ("perp", r"$\sigma_{\max}(J P_\perp)$"),
                                          ("fix", r"$\sigma_{\max}(J P_{Fix})$"), ("J", r"$\sigma_{\max}(J)$"))):
            x = np.arange(len(models)) + (k - 1.5) * 0.2
            ax.bar(x, [data[g]["models"][m][key][0] for m in models], 0.2,
                   yerr=[data[g]["models"][m][key][1] for m in models], capsize=3, color=f"C{k}", label=label)
        ax.set_xticks(np.arange(len(models)), models)
        ax.set_yscale("log")
        sub = data[g]["subspace"]
        ax.set_title(f"{g}: S = span{{x - gx}}, dim {sub['rank_S']} of {sub['d']}", fontsize=9)
        ax.legend(fontsize=7)
    return save_figure(fig, Path(path))[0]


def plot_all(result: dict[str, Any], out_dir: Path, quiet: bool = True) -> list[Path]:
    """Every bridge figure whose part is in ``result``; returns the paths written."""
    out_dir = Path(out_dir)
    figures = [(plot, result[key], out_dir / f"bridge_{key}.png")
               for key, plot in (("linear", plot_linear), ("deep_linear", plot_deep_linear), ("layers", plot_layers),
                                 ("subspace", plot_subspace)) if result.get(key)]
    return [plot(data, path) for plot, data, path in tqdm(figures, desc="figures", unit="figure", disable=quiet,
                                                          dynamic_ncols=True)]
