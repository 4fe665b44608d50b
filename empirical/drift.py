"""Figure 4: invariance and accuracy of WT, DA and IR under the drift D(beta) from MNIST to FMNIST (Sec. 4.3).

    python -m empirical.drift [--quick] [--device cuda] [--seeds 4] [--mode interpolate] [--out DIR]

The models are Table 1's (trained on Transforming-MNIST; IR with the LI regularizer and the
tuned nu). Each is evaluated on D(beta) = (1 - beta) D_MNIST + beta D_FMNIST built from the two
test splits (``empirical.data.transforming.drift``; 'interpolate' by default, 'mixture' one option away),
every sample transformed by its g: DI over the orbit and the accuracy ratio
Acc(D(beta)) / Acc(D(0)). Writes fig4_drift.json, fig4_drift.png and fig4_drift.pdf.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import numpy as np

from empirical.data.transforming import DRIFT_MODES, drift
from empirical.cli import add_arguments, command, parse_context
from empirical.engine.context import Context
from empirical.engine.evaluation import evaluate, mean_std
from empirical.engine.runs import dataset_for
from empirical.engine.context import scale_tag
from empirical.engine.runs import train_all
from empirical.measure.groups import group_names
from empirical.paper.numbers import fmt
from empirical.engine.store import merged_output
from empirical.engine.results import provenance
from empirical.paper.grid import model_configs

__all__ = ["BETAS", "drift_curves", "main"]

BETAS = tuple(float(b) for b in np.round(np.linspace(0.0, 1.0, 11), 2))


def drift_curves(ctx: Context, groups: tuple[str, ...] = ("R4", "T3"), betas: tuple[float, ...] = BETAS,
                 mode: str = "interpolate") -> dict[str, Any]:
    """DI and accuracy ratio against beta for Table 1's WT, DA and IR models (mean ± std over seeds)."""
    out: dict[str, Any] = {"scale": vars(ctx.scale), "scale_tag": scale_tag(ctx.scale), "device": str(ctx.device),
                           "provenance": provenance(ctx.device), "mode": mode, "betas": list(betas), "curves": []}
    for group in groups:
        cfgs, _ = model_configs(ctx, group)
        c0 = cfgs["DA"][0]
        sets = [dataset_for(ctx, c0, name) for name in ("mnist", "fashion-mnist")]
        drifted = {b: drift(*sets, beta=b, mode=mode) for b in betas}
        results = train_all(ctx, [c for runs in cfgs.values() for c in runs])
        by_key = {r.config.key(): r for r in results}
        for model, runs in cfgs.items():
            di, acc = [], []
            for c in runs:
                evs = [evaluate(ctx, by_key[c.key()], images=d.transformed(), labels=d.labels,
                                tag=f"drift-{mode}-{b:g}", metrics=("orbit",)) for b, d in drifted.items()]
                di.append([e["DI"] for e in evs])
                acc.append([e["acc"] for e in evs])
            di_a, acc_a = np.array(di), np.array(acc)
            ratio = acc_a / acc_a[:, :1]  # Acc(D(beta)) / Acc(D(0)) per seed
            out["curves"].append({
                "group": group, "model": model, "nu": runs[0].nu, "seeds": len(runs),
                "DI": [list(mean_std(col)) for col in di_a.T],
                "acc": [list(mean_std(col)) for col in acc_a.T],
                "acc_ratio": [list(mean_std(col)) for col in ratio.T],
            })
    return out


@command
def main(argv: list[str] | None = None) -> int:
    """Regenerate Figure 4 into ``--out`` (merged with the curves of other groups already there)."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m empirical.drift", description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    parser.add_argument("--groups", nargs="+", default=["R4", "T3"], choices=group_names())
    parser.add_argument("--mode", default="interpolate", choices=DRIFT_MODES)
    args, ctx = parse_context(parser, argv)
    data = drift_curves(ctx, tuple(args.groups), mode=args.mode)
    stem = ctx.stem("fig4_drift" if args.mode == "interpolate" else f"fig4_drift_{args.mode}")
    from empirical.paper.plots import plot_drift

    keys = {"curves": lambda c: (c["group"], c["model"])}
    with merged_output(ctx.out / f"{stem}.json", data, keys, ctx.cache_dir / "locks") as merged:
        figures = plot_drift(merged, ctx.out / stem)
    if not ctx.quiet:
        for c in data["curves"]:
            print(f"{c['group']} {c['model']}: DI(beta) = " + " ".join(fmt(m) for m, _ in c["DI"]))
            print(f"{c['group']} {c['model']}: acc ratio = " + " ".join(fmt(m) for m, _ in c["acc_ratio"]))
    written = [ctx.out / f"{stem}.json", *figures]
    logging.getLogger("empirical").info("wrote %s and %s", ", ".join(map(str, written[:-1])), written[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
