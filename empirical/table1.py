"""Table 1: accuracy, LI, DI and SI of WT, DA and IR on Transforming-MNIST for R4 and T3 (Sec. 4.2).

    python -m empirical.table1 [--quick] [--device cuda] [--seeds 4] [--epochs 300] [--groups R4 T3] [--out DIR]

IR uses the logit invariance error with nu tuned to validation SI >= 0.95 (``empirical.tuning``).
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

from empirical.experiment import Context, add_arguments, command, evaluate, mean_std, parse_context, scale_tag
from empirical.experiment import train_all, write_text
from empirical.image_groups import IMAGE_GROUPS
from empirical.numbers import fmt
from empirical.store import merged_output
from empirical.training import MODELS, provenance
from empirical.tuning import tune_nu, tuning_note

__all__ = ["PAPER", "METRICS", "table1", "to_markdown", "main"]

METRICS = ("acc", "LI", "DI", "SI")
# Table 1 of the paper: (mean, std) over 4 seeds; accuracy in %.
PAPER: dict[tuple[str, str], dict[str, tuple[float, float]]] = {
    ("R4", "WT"): {"acc": (94.6, 0.1), "LI": (0.00, 0.0), "DI": (0.0, 0.0), "SI": (1.00, 0.00)},
    ("R4", "DA"): {"acc": (94.0, 0.5), "LI": (98.6, 5.4), "DI": (0.3, 0.1), "SI": (0.17, 0.04)},
    ("R4", "IR"): {"acc": (87.9, 0.8), "LI": (0.02, 0.0), "DI": (0.0, 0.0), "SI": (0.95, 0.03)},
    ("T3", "WT"): {"acc": (96.6, 0.1), "LI": (0.0, 0.0), "DI": (0.0, 0.0), "SI": (1.00, 0.0)},
    ("T3", "DA"): {"acc": (96.2, 0.2), "LI": (50.8, 6.8), "DI": (0.1, 0.0), "SI": (0.57, 0.08)},
    ("T3", "IR"): {"acc": (93.1, 0.1), "LI": (0.01, 0.0), "DI": (0.0, 0.0), "SI": (0.95, 0.07)},
}


def model_configs(ctx: Context, group: str, nu: float, dataset: str = "mnist") -> dict[str, list]:
    """The WT, DA and IR (LI, nu) runs of one group, one per seed."""
    seeds = range(ctx.scale.seeds)
    return {
        "WT": [ctx.config(dataset=dataset, group=group, model="WT", seed=s) for s in seeds],
        "DA": [ctx.config(dataset=dataset, group=group, model="DA", seed=s) for s in seeds],
        "IR": [ctx.config(dataset=dataset, group=group, model="IR", form="LI", nu=nu, seed=s) for s in seeds],
    }


def table1(ctx: Context, groups: tuple[str, ...] = ("R4", "T3")) -> dict[str, Any]:
    """Train (or load) every Table 1 run and aggregate its test metrics over seeds."""
    out: dict[str, Any] = {"scale": vars(ctx.scale), "scale_tag": scale_tag(ctx.scale), "device": str(ctx.device),
                           "provenance": provenance(ctx.device), "rows": [], "tuning": []}
    for group in groups:
        tuned = tune_nu(ctx, group, "LI")
        out["tuning"].append(tuned)
        cfgs = model_configs(ctx, group, tuned["chosen_nu"])
        results = train_all(ctx, [c for runs in cfgs.values() for c in runs])
        by_key = {r.config.key(): r for r in results}
        for model, runs in cfgs.items():
            ok = [c for c in runs if not by_key[c.key()].failed]
            evals = [evaluate(ctx, by_key[c.key()]) for c in ok]
            paper = PAPER.get((group, model))
            row = {"group": group, "model": model, "nu": runs[0].nu, "seeds": len(ok),
                   "paper": {m: list(paper[m]) for m in METRICS} if paper else None,
                   "failed": [{"seed": c.seed, "reason": by_key[c.key()].failed} for c in runs if c not in ok]}
            for m in (*METRICS, "NLI", "sigma_max_J"):
                scale = 100.0 if m == "acc" else 1.0
                row[m] = list(mean_std(e[m] * scale for e in evals)) if evals else None
            row["per_seed"] = [{k: e[k] for k in ("acc", "LI", "DI", "NLI", "SI", "sigma_max_J")} for e in evals]
            out["rows"].append(row)
    return out


def _cell(m: str, value: list[float] | None) -> str:
    if value is None:
        return "-"
    digits = 1 if m == "acc" else 2
    return f"{fmt(value[0], digits)} ± {fmt(value[1], digits)}"


def to_markdown(table: dict[str, Any]) -> str:
    """Table 1 as markdown, each cell 'ours (paper)', rows by group then WT, DA, IR; the scale stated."""
    lines = ["| G | Model | nu | Acc. (%) | LI ⇓ | DI ⇓ | SI ⇑ |", "|---|---|---|---|---|---|---|"]
    for row in sorted(table["rows"], key=lambda r: (r["group"], MODELS.index(r["model"]))):
        paper = row.get("paper") or {}
        cells = [f"{_cell(m, row[m])} ({_cell(m, paper.get(m))})" for m in METRICS]
        lines.append(f"| {row['group']} | {row['model']} | {row['nu'] or '-'} | " + " | ".join(cells) + " |")
    s = table["scale"]
    lines += ["", f"Scale: **{table.get('scale_tag', '?')}**. Ours (paper) as mean ± std over {s['seeds']} seeds; "
              f"{s['epochs']} epochs, {s['n_train']} training samples, metrics on {s['n_test']} test samples "
              f"(SI on the first {s['n_saliency']}), device {table['device']}; '-': the paper has no such row."]
    for row in table["rows"]:
        for f in row.get("failed", []):
            lines.append(f"- {row['group']} {row['model']} seed {f['seed']} FAILED and is left out: {f['reason']}.")
    lines += [f"- {tuning_note(t)}" for t in table["tuning"]]
    return "\n".join(lines) + "\n"


@command
def main(argv: list[str] | None = None) -> int:
    """Regenerate Table 1 into ``--out`` (merged with the rows of other groups already there)."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m empirical.table1", description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    parser.add_argument("--groups", nargs="+", default=["R4", "T3"], choices=IMAGE_GROUPS)
    args, ctx = parse_context(parser, argv)
    table = table1(ctx, tuple(args.groups))
    keys = {"rows": lambda r: (r["group"], r["model"]), "tuning": lambda t: (t["group"], t["form"])}
    with merged_output(ctx.out / "table1.json", table, keys, ctx.cache_dir / "locks") as merged:
        md = to_markdown(merged)
        write_text(md, ctx.out / "table1.md")
    if not ctx.quiet:
        print(md)
    logging.getLogger("empirical").info("wrote %s and %s", ctx.out / "table1.json", ctx.out / "table1.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
