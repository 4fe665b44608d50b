"""Figure 5: sigma_max of the input Jacobian for DA and IR with the LI, DI and NLI regularizers (Sec. 4.4).

    python -m empirical.spectral [--quick] [--device cuda] [--seeds 4] [--epochs 300] [--out DIR]

For each group (R4, T3) and each invariance-error form, nu is tuned so that validation SI >= 0.95
(``empirical.engine.tuning``); DA is the unregularized baseline. sigma_max(J) is averaged over the first
``n_jacobian`` test samples (each transformed by its own g), then mean ± std over seeds. Writes
fig5_spectral.json, fig5_spectral.png and fig5_spectral.pdf.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from empirical.cli import add_arguments, command, parse_context
from empirical.engine.context import Context, scale_tag
from empirical.engine.evaluation import evaluate, mean_std
from empirical.engine.runs import train_all
from empirical.measure.groups import group_names
from empirical.measure.invariance import INVARIANCE_FORMS
from empirical.paper.numbers import fmt
from empirical.engine.store import merged_output
from empirical.engine.results import provenance
from empirical.paper.grid import concurrently, variants

__all__ = ["spectral", "main"]


def spectral(ctx: Context, groups: tuple[str, ...] = ("R4", "T3"), forms: tuple[str, ...] = INVARIANCE_FORMS,
             ) -> dict[str, Any]:
    """Train (or load) DA and every tuned IR form per group; sigma_max(J), accuracy and SI over seeds."""
    out: dict[str, Any] = {"scale": vars(ctx.scale), "scale_tag": scale_tag(ctx.scale), "device": str(ctx.device),
                           "provenance": provenance(ctx.device), "rows": [], "tuning": []}
    def one(group: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        variants_, tunings = variants(ctx, group, forms)
        results = train_all(ctx, [c for runs in variants_.values() for c in runs])
        by_key = {r.config.key(): r for r in results}
        rows = []
        for label, runs in variants_.items():
            ok = [by_key[c.key()] for c in runs if not by_key[c.key()].failed]
            evals = [evaluate(ctx, r) for r in ok]
            row = {"group": group, "model": label, "nu": runs[0].nu, "seeds": len(ok),
                   "failed": [{"seed": c.seed, "reason": by_key[c.key()].failed} for c in runs
                              if by_key[c.key()].failed]}
            for m in ("sigma_max_J", "acc", "SI", "LI", "DI", "NLI"):
                row[m] = list(mean_std(e[m] for e in evals)) if evals else [float("nan")] * 2
            row["per_seed_sigma_max_J"] = [e["sigma_max_J"] for e in evals]
            rows.append(row)
        return tunings, rows

    for tunings, rows in concurrently(ctx, tuple(groups), one):
        out["tuning"] += tunings
        out["rows"] += rows
    return out


@command
def main(argv: list[str] | None = None) -> int:
    """Regenerate Figure 5 into ``--out`` (merged with the rows of other groups already there)."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m empirical.spectral", description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    parser.add_argument("--groups", nargs="+", default=["R4", "T3"], choices=group_names())
    args, ctx = parse_context(parser, argv)
    data = spectral(ctx, tuple(args.groups))
    from empirical.paper.plots import plot_spectral

    keys = {"rows": lambda r: (r["group"], r["model"]), "tuning": lambda t: (t["group"], t["form"])}
    with merged_output(ctx.out / f"{ctx.stem('fig5_spectral')}.json", data, keys, ctx.cache_dir / "locks") as merged:
        figures = plot_spectral(merged, ctx.out / ctx.stem("fig5_spectral"))
    if not ctx.quiet:
        for r in data["rows"]:
            print(f"{r['group']} {r['model']:7s} nu={r['nu']:<8g} sigma_max(J) = {fmt(r['sigma_max_J'][0], 3)} ± "
                  f"{fmt(r['sigma_max_J'][1], 3)}   acc = {fmt(100 * r['acc'][0], 1)}%   SI = {fmt(r['SI'][0], 3)}")
    written = [ctx.out / f"{ctx.stem('fig5_spectral')}.json", *figures]
    logging.getLogger("empirical").info("wrote %s and %s", ", ".join(map(str, written[:-1])), written[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
