"""Figure 1: saliency maps over the orbit of one test sample, DA (left) and weight-tying WT (right) (Sec. 1, 4.2).

    python -m empirical.figure1 [--quick] [--device cuda] [--sample I] [--group R4] [--out DIR]

Uses Table 1's seed-0 DA and WT models. Per model, for each group element g: the saliency map
m_f(g x) of the transformed test sample (top row), the same map realigned to x's orientation,
g^{-1} m_f(g x) (bottom row), and the predicted class distribution softmax f(g x) (bars). Writes
fig1_saliency_orbit.png (R4; fig1_saliency_orbit_<G>.png for another group) and
fig1_saliency_orbit.json (sample index, label, per-orientation probabilities and the sample's SI
for DA and WT; one entry per group, merged with the groups already there).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from empirical.cli import add_arguments, command, parse_context
from empirical.engine.context import Context, scale_tag
from empirical.engine.runs import build_model, dataset_for
from empirical.cli import UsageError
from empirical.engine.runs import train_all
from empirical.paper.grid import model_configs
from empirical.measure.groups import group_names
from empirical.measure.image_groups import orbit
from empirical.paper.numbers import fmt
from empirical.measure.orbit_maps import orbit_maps, orbit_probabilities, realign, sample_si
from empirical.engine.store import merged_output
from empirical.engine.results import provenance

__all__ = ["TITLES", "orbit_figure", "main"]

TITLES = {"DA": "learned invariance (data augmentation)", "WT": "group-invariant weight-tying"}


def orbit_figure(ctx: Context, group: str = "R4", sample: int = 0) -> dict[str, Any]:
    """Maps m_f(g x), realigned maps and softmax f(g x) over the orbit of test sample ``sample`` for seed-0 DA, WT."""
    cfgs, _ = model_configs(ctx, group)
    chosen = {"DA": cfgs["DA"][0], "WT": cfgs["WT"][0]}
    ds = dataset_for(ctx, chosen["DA"])
    if not 0 <= sample < len(ds.test):
        raise UsageError(f"--sample {sample}: the test split has samples 0..{len(ds.test) - 1}")
    results = dict(zip(chosen, train_all(ctx, chosen.values())))
    x = ds.test.images[sample:sample + 1].to(ctx.device)  # untransformed: column g shows the element g
    y = ds.test.labels[sample:sample + 1].to(ctx.device)
    out: dict[str, Any] = {"group": group, "sample": sample, "label": int(y.item()), "models": {},
                           "scale": vars(ctx.scale), "scale_tag": scale_tag(ctx.scale),
                           "provenance": provenance(ctx.device), "titles": TITLES}
    for name, res in results.items():
        model = build_model(res, ctx.device)
        maps = orbit_maps(model, x, y, ds.group, ds.black, ctx.scale.ig_steps)  # (1, |G|, H, W)
        realigned = realign(ds.group, maps)
        probs = orbit_probabilities(model, x, ds.group)[0]  # (|G|, K)
        out["models"][name] = {"key": res.config.key(), "SI": sample_si(realigned).item(),
                               "probs": probs.cpu().tolist(), "predicted": probs.argmax(-1).cpu().tolist(),
                               "maps": maps[0].cpu().numpy(), "realigned": realigned[0].cpu().numpy()}
    out["images"] = orbit(ds.group, x)[:, 0, 0].cpu().numpy()  # (|G|, H, W): g x
    return out


def _json_entry(data: dict[str, Any]) -> dict[str, Any]:
    """The figure's numbers without its images and maps."""
    models = {n: {k: v for k, v in m.items() if k not in ("maps", "realigned")} for n, m in data["models"].items()}
    return {"group": data["group"], "sample": data["sample"], "label": data["label"], "models": models}


@command
def main(argv: list[str] | None = None) -> int:
    """Regenerate Figure 1 into ``--out``."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m empirical.figure1", description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    parser.add_argument("--sample", type=int, default=0, help="index of the test sample (default 0)")
    parser.add_argument("--group", default="R4", choices=group_names())
    args, ctx = parse_context(parser, argv)
    from empirical.paper.orbit_plots import plot_saliency_orbit

    data = orbit_figure(ctx, args.group, args.sample)
    stem, png = ctx.stem("fig1_saliency_orbit"), ctx.figure("fig1_saliency_orbit", args.group)
    doc = {"scale": vars(ctx.scale), "scale_tag": scale_tag(ctx.scale), "provenance": provenance(ctx.device),
           "figures": [_json_entry(data)]}
    with merged_output(ctx.out / f"{stem}.json", doc, {"figures": lambda f: f["group"]}, ctx.cache_dir / "locks"):
        plot_saliency_orbit(data, png)
    if not ctx.quiet:
        for name, m in data["models"].items():
            print(f"{args.group} sample {args.sample} (class {data['label']}) {name}: SI = {fmt(m['SI'])}; "
                  "p(true class) per orientation = " + " ".join(fmt(p[data['label']]) for p in m["probs"])
                  + "; predicted = " + " ".join(map(str, m["predicted"])))
    logging.getLogger("empirical").info("wrote %s and %s", png, ctx.out / f"{stem}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
