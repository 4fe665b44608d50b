"""Table 1: accuracy, LI, DI and SI of WT, DA and IR on Transforming-MNIST for R4 and T3 (Sec. 4.2).

    python -m empirical.table1 [--quick] [--device cuda] [--seeds 4] [--epochs 300] [--groups R4 T3] [--out DIR]

IR uses the logit invariance error with nu tuned to validation SI >= 0.95 (``empirical.engine.tuning``).
Metrics are on the test split, each sample transformed by its own g; LI, DI over the whole
orbit of every test sample, SI on the first ``n_saliency`` test samples. Writes table1.json and
table1.md (ours beside the paper's numbers; '-' where the paper has none), merged with the rows
of other groups already in ``--out``. A run that failed (diverged) is left out of the means and
named in the table.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from empirical.engine.architectures import DEFAULT_ARCH
from empirical.cli import add_arguments, command, parse_context
from empirical.engine.context import Context, scale_tag
from empirical.engine.evaluation import evaluate, mean_std
from empirical.engine.runs import train_all
from empirical.engine.store import write_text
from empirical.paper.grid import model_configs, concurrently
from empirical.measure.groups import group_names
from empirical.engine.store import merged_output
from empirical.paper.tables import METRICS, paper_row, to_markdown
from empirical.engine.results import provenance

__all__ = ["table1", "main"]


def table1(ctx: Context, groups: tuple[str, ...] = ("R4", "T3")) -> dict[str, Any]:
    """Train (or load) every Table 1 run and aggregate its test metrics over seeds."""
    out: dict[str, Any] = {"scale": vars(ctx.scale), "scale_tag": scale_tag(ctx.scale), "device": str(ctx.device),
                           "provenance": provenance(ctx.device), "rows": [], "tuning": []}
    def one(group: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        cfgs, tuned = model_configs(ctx, group)
        results = train_all(ctx, [c for runs in cfgs.values() for c in runs])
        by_key = {r.config.key(): r for r in results}
        rows = []
        for model, runs in cfgs.items():
            ok = [c for c in runs if not by_key[c.key()].failed]
            evals = [evaluate(ctx, by_key[c.key()]) for c in ok]
            paper = paper_row(group, model) if ctx.arch == DEFAULT_ARCH else None  # the paper trained only its MLP
            row = {"group": group, "model": model, "nu": runs[0].nu, "seeds": len(ok), "paper": paper,
                   "failed": [{"seed": c.seed, "reason": by_key[c.key()].failed} for c in runs if c not in ok]}
            for m in (*METRICS, "NLI", "sigma_max_J"):
                scale = 100.0 if m == "acc" else 1.0
                row[m] = list(mean_std(e[m] * scale for e in evals)) if evals else None
            row["per_seed"] = [{k: e[k] for k in ("acc", "LI", "DI", "NLI", "SI", "sigma_max_J")} for e in evals]
            rows.append(row)
        return tuned, rows

    for tuned, rows in concurrently(ctx, groups, one):
        out["tuning"].append(tuned)
        out["rows"] += rows
    return out


@command
def main(argv: list[str] | None = None) -> int:
    """Regenerate Table 1 into ``--out`` (merged with the rows of other groups already there)."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m empirical.table1", description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    parser.add_argument("--groups", nargs="+", default=["R4", "T3"], choices=group_names())
    args, ctx = parse_context(parser, argv)
    table = table1(ctx, tuple(args.groups))
    keys = {"rows": lambda r: (r["group"], r["model"]), "tuning": lambda t: (t["group"], t["form"])}
    with merged_output(ctx.out / f"{ctx.stem('table1')}.json", table, keys, ctx.cache_dir / "locks") as merged:
        md = to_markdown(merged)
        write_text(md, ctx.out / f"{ctx.stem('table1')}.md")
    if not ctx.quiet:
        print(md)
    logging.getLogger("empirical").info("wrote %s and %s", ctx.out / f"{ctx.stem('table1')}.json", ctx.out / f"{ctx.stem('table1')}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
