"""Figure 5: sigma_max of the input Jacobian for DA and IR with the LI, DI and NLI regularizers (Sec. 4.4).

    python -m empirical.spectral [--quick] [--device cuda] [--seeds 4] [--epochs 300] [--out paper_figures]

For each group (R4, T3) and each invariance-error form, nu is tuned so that validation SI >= 0.95
(``empirical.tuning``); DA is the unregularized baseline. sigma_max(J) is averaged over the first
``n_jacobian`` test samples (each transformed by its own g), then mean ± std over seeds. Writes
fig5_spectral.json, fig5_spectral.png and fig5_spectral.pdf.
"""

from __future__ import annotations

import argparse
from typing import Any

from empirical.experiment import Context, add_arguments, context_from_args, evaluate, mean_std, train_all, write_json
from empirical.invariance import INVARIANCE_FORMS
from empirical.training import RunConfig
from empirical.tuning import tune_nu

__all__ = ["variants", "spectral", "main"]


def variants(ctx: Context, group: str, forms: tuple[str, ...] = INVARIANCE_FORMS
             ) -> tuple[dict[str, list[RunConfig]], list[dict[str, Any]]]:
    """Figure 5's runs of one group, {"DA": [...], "IR-<form>": [...]} one config per seed, and the nu tunings."""
    seeds = range(ctx.scale.seeds)
    out = {"DA": [ctx.config(group=group, model="DA", seed=s) for s in seeds]}
    tunings = [tune_nu(ctx, group, form) for form in forms]
    for form, tuned in zip(forms, tunings):
        out[f"IR-{form}"] = [ctx.config(group=group, model="IR", form=form, nu=tuned["chosen_nu"], seed=s)
                             for s in seeds]
    return out, tunings


def spectral(ctx: Context, groups: tuple[str, ...] = ("R4", "T3"), forms: tuple[str, ...] = INVARIANCE_FORMS,
             ) -> dict[str, Any]:
    """Train (or load) DA and every tuned IR form per group; sigma_max(J), accuracy and SI over seeds."""
    out: dict[str, Any] = {"scale": vars(ctx.scale), "device": str(ctx.device), "rows": [], "tuning": []}
    for group in groups:
        variants_, tunings = variants(ctx, group, forms)
        out["tuning"] += tunings
        results = train_all(ctx, [c for runs in variants_.values() for c in runs])
        by_key = {r.config.key(): r for r in results}
        for label, runs in variants_.items():
            evals = [evaluate(ctx, by_key[c.key()]) for c in runs]
            row = {"group": group, "model": label, "nu": runs[0].nu, "seeds": len(runs)}
            for m in ("sigma_max_J", "acc", "SI", "LI", "DI", "NLI"):
                row[m] = list(mean_std(e[m] for e in evals))
            row["per_seed_sigma_max_J"] = [e["sigma_max_J"] for e in evals]
            out["rows"].append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    """Regenerate Figure 5 into ``--out``."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m empirical.spectral", description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    parser.add_argument("--groups", nargs="+", default=["R4", "T3"], choices=["R4", "T3"])
    args = parser.parse_args(argv)
    ctx = context_from_args(args)
    data = spectral(ctx, tuple(args.groups))
    write_json(data, ctx.out / "fig5_spectral.json")
    from empirical.plots import plot_spectral

    plot_spectral(data, ctx.out / "fig5_spectral")
    if not ctx.quiet:
        for r in data["rows"]:
            print(f"{r['group']} {r['model']:7s} nu={r['nu']:<8g} sigma_max(J) = {r['sigma_max_J'][0]:.3f} ± "
                  f"{r['sigma_max_J'][1]:.3f}   acc = {100 * r['acc'][0]:.1f}%   SI = {r['SI'][0]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
