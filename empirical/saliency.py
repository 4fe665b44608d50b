"""Figure 3: saliency maps over the orbit for DA and IR, realigned to a common orientation (Sec. 4.2).

    python -m empirical.saliency [--quick] [--device cuda] [--groups R4] [--samples 4] [--out DIR]

Uses Table 1's seed-0 DA and IR (LI, tuned nu) models. Row i, column g shows g^{-1} m_f(g x_i):
for a genuinely invariant decision process all columns of a row agree. Writes fig3_saliency.png
(R4; fig3_saliency_<G>.png for another group) and fig3_saliency.json (each sample's SI, one entry
per group, merged with the groups already there).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from empirical.measure.attribution import saliency_cosine
from empirical.cli import add_arguments, command, parse_context
from empirical.engine.context import Context, scale_tag
from empirical.engine.runs import build_model, dataset_for
from empirical.engine.runs import train_all
from empirical.measure.groups import group_names
from empirical.paper.numbers import fmt
from empirical.measure.orbit_maps import realigned_maps
from empirical.engine.store import merged_output
from empirical.engine.results import provenance
from empirical.paper.grid import model_configs

__all__ = ["saliency_figure", "main"]


def saliency_figure(ctx: Context, group: str = "R4", samples: int = 4) -> dict[str, Any]:
    """Realigned orbit saliency maps of the first ``samples`` test images for Table 1's DA and IR (seed 0)."""
    cfgs, tuning = model_configs(ctx, group)
    nu = tuning["chosen_nu"]
    chosen = {"DA": cfgs["DA"][0], "IR": cfgs["IR"][0]}
    results = dict(zip(chosen, train_all(ctx, chosen.values())))
    ds = dataset_for(ctx, chosen["DA"])
    x = ds.test.images[:samples].to(ctx.device)  # untransformed: column g then shows the element g
    y = ds.test.labels[:samples].to(ctx.device)
    out: dict[str, Any] = {"group": group, "nu": nu, "labels": y.tolist(), "maps": {}, "SI": {},
                           "scale": vars(ctx.scale), "scale_tag": scale_tag(ctx.scale),
                           "provenance": provenance(ctx.device)}
    for name, res in results.items():
        maps = realigned_maps(build_model(res, ctx.device), x, y, ds.group, ds.black, ctx.scale.ig_steps)
        cos = saliency_cosine(maps[:, :1], maps[:, 1:])  # (N, |G| - 1), against the identity column
        out["maps"][name] = maps.cpu().numpy()
        out["SI"][name] = cos.mean(1).tolist()
    out["images"] = x.squeeze(1).cpu().numpy()
    return out


@command
def main(argv: list[str] | None = None) -> int:
    """Regenerate Figure 3 into ``--out``."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m empirical.saliency", description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    parser.add_argument("--groups", "--group", nargs="+", default=["R4"], choices=group_names())
    parser.add_argument("--samples", type=int, default=4)
    args, ctx = parse_context(parser, argv)
    from empirical.paper.plots import plot_saliency

    figures = [saliency_figure(ctx, g, args.samples) for g in args.groups]
    doc = {"scale": vars(ctx.scale), "scale_tag": scale_tag(ctx.scale), "provenance": provenance(ctx.device),
           "figures": [{k: v for k, v in d.items() if k not in ("maps", "images", "scale", "scale_tag", "provenance")}
                       for d in figures]}
    with merged_output(ctx.out / f"{ctx.stem('fig3_saliency')}.json", doc, {"figures": lambda f: f["group"]}, ctx.cache_dir / "locks"):
        pngs = [plot_saliency(data, ctx.figure("fig3_saliency", data["group"])) for data in figures]
    if not ctx.quiet:
        for data in figures:
            for name, si in data["SI"].items():
                print(f"{data['group']} {name}: per-sample SI = " + " ".join(fmt(v) for v in si))
    written = [ctx.out / f"{ctx.stem('fig3_saliency')}.json", *pngs]
    logging.getLogger("empirical").info("wrote %s and %s", ", ".join(map(str, written[:-1])), written[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
