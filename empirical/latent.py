"""Figure 2: penultimate-layer representations of orbits, DA vs IR vs WT, as a t-SNE and as numbers (Sec. 4.2).

    python -m empirical.latent [--quick] [--device cuda] [--groups R4 T3] [--pool N] [--traced 4] [--out DIR]

Uses Table 1's DA, IR (LI, tuned nu) and WT models. Takes the first ``--pool`` test samples
(untransformed) and their full orbits, and the input of each model's last linear layer for every
g x (``empirical.measure.representations``). The figure is a t-SNE of these representations (seed-0
models, scikit-learn, random_state 0), colored by class, with the orbits of ``--traced`` samples
of different classes joined by lines; one panel per model. The numbers are measured in the
representation space itself, for every seed (mean ± std over seeds): orbit spread, its ratio to
the distance to the nearest same-class / other-class sample of another orbit, the fraction of
orbit members whose nearest neighbour is in their own orbit, and the nearest-neighbour class
agreement (``empirical.paper.latent_claims`` judges the paper's claim from them). Writes fig2_latent.png
(R4; fig2_latent_<G>.png for another group) and fig2_latent.json (one entry per group, merged with
the groups already there).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from empirical.cli import add_arguments, command, parse_context
from empirical.engine.context import Context
from empirical.engine.evaluation import mean_std
from empirical.engine.runs import build_model, dataset_for
from empirical.engine.context import scale_tag
from empirical.engine.runs import train_all
from empirical.paper.grid import model_configs
from empirical.measure.groups import group_names
from empirical.paper.numbers import fmt
from empirical.measure.representations import latent_geometry, orbit_representations, tsne
from empirical.engine.store import merged_output
from empirical.engine.results import provenance

__all__ = ["MODELS", "TITLES", "POOL", "latent_figure", "main"]

MODELS = ("DA", "IR", "WT")
TITLES = {"DA": "data augmentation", "IR": "invariance regularization", "WT": "weight-tying"}
POOL = {"full": 500, "quick": 64}  # test samples whose orbits are pooled, by scale (anything not full: quick's)
TSNE_SEED = 0


def _traced(labels: list[int], count: int) -> list[int]:
    """The first ``count`` pool indices with pairwise different classes (then any, if classes run out)."""
    out, seen = [], set()
    for i, c in enumerate(labels):
        if c not in seen and len(out) < count:
            out.append(i)
            seen.add(c)
    return out + [i for i in range(len(labels)) if i not in out][: max(0, count - len(out))]


def latent_figure(ctx: Context, group: str = "R4", pool: int | None = None, traced: int = 4) -> dict[str, Any]:
    """Orbit geometry of the penultimate layer for every seed of DA, IR, WT, and the t-SNE of the first good seed."""
    cfgs, tuning = model_configs(ctx, group)
    runs = [c for m in MODELS for c in cfgs[m]]
    results = {r.config.key(): r for r in train_all(ctx, runs)}
    ds = dataset_for(ctx, cfgs["DA"][0])
    n = min(pool or POOL["full" if scale_tag(ctx.scale) == "full" else "quick"], len(ds.test))
    x = ds.test.images[:n].to(ctx.device)
    labels = ds.test.labels[:n].tolist()
    keys = ("spread", "nn_same_class", "nn_other_class", "spread_over_same_class", "spread_over_other_class",
            "same_orbit_nn", "class_agreement")
    entry: dict[str, Any] = {"group": group, "order": ds.group.order, "n_pool": n, "nu": tuning["chosen_nu"],
                             "models": {}, "tsne": {"random_state": TSNE_SEED, "init": "pca"}}
    figure: dict[str, Any] = {"group": group, "order": ds.group.order, "labels": labels, "models": {},
                              "traced": _traced(labels, traced), "titles": TITLES}
    for m in MODELS:
        per_seed = []
        for c in cfgs[m]:
            res = results[c.key()]
            if res.failed:
                continue
            z = orbit_representations(build_model(res, ctx.device), x, ds.group).cpu()  # (n, |G|, d)
            per_seed.append({"seed": c.seed, "key": c.key(), **latent_geometry(z, labels)})
            if m not in figure["models"]:
                r = per_seed[-1]
                subtitle = (f"{TITLES[m]}, seed {c.seed}\nspread / NN same class {fmt(r['spread_over_same_class'], 3)}"
                            f", same-orbit NN {fmt(r['same_orbit_nn'])}")
                figure["models"][m] = {"tsne": tsne(z.flatten(0, 1).numpy(), TSNE_SEED), "seed": c.seed,
                                       "subtitle": subtitle}
        entry["models"][m] = {k: list(mean_std(s[k] for s in per_seed)) for k in keys} if per_seed else {}
        failed = [c.seed for c in cfgs[m] if results[c.key()].failed]
        entry["models"][m].update(per_seed=per_seed, failed=failed)
    return {"entry": entry, "figure": figure}


@command
def main(argv: list[str] | None = None) -> int:
    """Regenerate Figure 2 and its numbers into ``--out``."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m empirical.latent", description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    parser.add_argument("--groups", "--group", nargs="+", default=["R4", "T3"], choices=group_names())
    parser.add_argument("--pool", type=int, default=None,
                        help=f"test samples whose orbits are pooled (default: {POOL['full']} at full scale, "
                             f"else {POOL['quick']})")
    parser.add_argument("--traced", type=int, default=4, help="samples whose orbits are traced in the t-SNE")
    args, ctx = parse_context(parser, argv)
    from empirical.paper.orbit_plots import plot_latent

    done = [latent_figure(ctx, g, args.pool, args.traced) for g in args.groups]
    common = {"scale": vars(ctx.scale), "scale_tag": scale_tag(ctx.scale), "provenance": provenance(ctx.device)}
    doc = {**common, "groups": [d["entry"] for d in done]}
    path = ctx.out / f"{ctx.stem('fig2_latent')}.json"
    with merged_output(path, doc, {"groups": lambda e: e["group"]}, ctx.cache_dir / "locks"):
        pngs = [plot_latent({**common, **d["figure"]}, ctx.figure("fig2_latent", d["entry"]["group"])) for d in done]
    if not ctx.quiet:
        for d in done:
            e = d["entry"]
            for m, r in e["models"].items():
                if "spread" in r:
                    print(f"{e['group']} {m}: spread/NN same class {fmt(r['spread_over_same_class'][0], 3)}, "
                          f"spread/NN other class {fmt(r['spread_over_other_class'][0], 3)}, same-orbit NN "
                          f"{fmt(r['same_orbit_nn'][0])}, class agreement {fmt(r['class_agreement'][0])} "
                          f"({len(r['per_seed'])} seed(s), {e['n_pool']} samples)")
    written = [path, *pngs]
    logging.getLogger("empirical").info("wrote %s and %s", ", ".join(map(str, written[:-1])), written[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
