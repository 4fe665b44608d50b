"""The theory meets the trained networks: four measurements on Transforming-MNIST with R4 and T3.

    python -m empirical.bridge [--quick] [--device cuda] [--seeds 4] [--epochs 300] [--out paper_figures]
                               [--groups R4 T3] [--parts linear deep layers subspace] [--theory-cases 10]
                               [--deep-seeds 1]

1. linear    a linear classifier (1296 -> 9) under the pure LI flow vs the closed form W(0) expm(-Sigma t),
             its limit W(0) Pi against W(0) P_G, and CE + nu LI (Adam) over a log grid of nu
             (``empirical.bridge_linear``);
2. deep      the 5-layer MLP without ReLUs from the theory's initializations, pure LI flow and paper IR,
             against the deep-linear claims (``empirical.bridge_deep``);
3. layers    per-epoch sigma_max of each layer and of the input Jacobian for the Figure 5 runs, DA vs each
             IR form (``empirical.bridge_layers``);
4. subspace  sigma_max(J P_S) vs sigma_max(J P_perp) with S = span{x - gx} for the Table 1 models
             (``empirical.bridge_subspace``).

Trained runs are shared with table1/spectral through the run cache (same configurations), so at full
scale only the linear and deep-linear runs are new. Writes bridge.json (every number) and
bridge_{linear,deep_linear,layers,subspace}.png into --out. Parts not run now are kept from an existing
bridge.json (same groups; ``--replace`` discards it), and ``part_scales`` names the scale of each part.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from empirical.bridge_deep import deep_bridge, theory_verdicts
from empirical.bridge_layers import layers_bridge
from empirical.bridge_linear import linear_bridge
from empirical.bridge_sigma import flow_data
from empirical.bridge_subspace import subspace_bridge
from empirical.experiment import Context, add_arguments, command, parse_context, scale_tag, write_json
from empirical.image_groups import IMAGE_GROUPS
from empirical.store import entry_lock
from empirical.training import provenance
from empirical.tuning import tune_nu

__all__ = ["PARTS", "bridge", "merge", "part_scales", "summary", "main"]

PARTS = ("linear", "deep", "layers", "subspace")
PART_KEYS = {"linear": ("linear",), "deep": ("deep_linear", "deep_linear_theory"), "layers": ("layers",),
             "subspace": ("subspace",)}


def bridge(ctx: Context, groups: tuple[str, ...] = ("R4", "T3"), parts: tuple[str, ...] = PARTS,
           theory_cases: int = 10, deep_seeds: int | None = None) -> dict[str, Any]:
    """Run the requested parts for every group; one JSON-ready dict with every number."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    out: dict[str, Any] = {"scale": vars(ctx.scale), "device": str(ctx.device), "groups": list(groups),
                           "parts": list(parts),
                           "part_scales": {p: {**vars(ctx.scale), "device": str(ctx.device)} for p in parts}}
    data = {g: flow_data(ctx, g) for g in groups} if {"linear", "deep", "subspace"} & set(parts) else {}
    if "linear" in parts:
        out["linear"] = {g: linear_bridge(ctx, data[g]) for g in groups}
    if "deep" in parts:
        out["deep_linear"] = {g: deep_bridge(ctx, g, data[g].sigma_train, tune_nu(ctx, g, "LI")["chosen_nu"],
                                             deep_seeds) for g in groups}
        out["deep_linear_theory"] = theory_verdicts(theory_cases) if theory_cases > 0 else []
    if "layers" in parts:
        out["layers"] = layers_bridge(ctx, groups)
    if "subspace" in parts:
        out["subspace"] = {g: subspace_bridge(ctx, g, data[g].subspace) for g in groups}
    return out


def part_scales(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The scale and device of each part of a bridge result (older files: the top-level scale for every part)."""
    return result.get("part_scales") or {p: {**result.get("scale", {}), "device": result.get("device")}
                                         for p in result.get("parts", [])}


def merge(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new`` with the parts it did not run kept from ``old`` (same groups), each part with its own scale.

    Lets the parts run at different scales (e.g. the cached full-scale layers and subspace parts beside
    a shorter linear run on a CPU); ``part_scales`` records which scale and device produced each part.
    """
    if not old or old.get("groups") != new["groups"]:
        return new
    out = dict(new)
    kept = [p for p in old.get("parts", []) if p not in new["parts"]]
    for part in kept:
        for key in PART_KEYS[part]:
            if key in old:
                out[key] = old[key]
    out["parts"] = [p for p in PARTS if p in set(new["parts"]) | set(kept)]
    old_scales = part_scales(old)
    scales = {**{p: old_scales[p] for p in kept}, **new["part_scales"]}
    out["part_scales"] = {p: scales[p] for p in out["parts"]}
    if any(v != out["part_scales"][out["parts"][0]] for v in out["part_scales"].values()):
        out["scale"] = "mixed: see part_scales"
    return out


def _f(v) -> str:
    return "-" if v is None else f"{v:.3g}"


def summary(result: dict[str, Any]) -> str:
    """A few lines per part: the headline numbers of ``bridge``'s result."""
    lines = []
    for g, d in result.get("linear", {}).items():
        s, lim, pf = d["subspace"], d["limit"], d["pure_flow"]
        last = pf["points"][-1]
        lines.append(f"[linear {g}] dim S = {s['rank_S']}, dim ker Sigma = {s['ker_dim']} (structural "
                     f"{s['structural_ker_dim']}), dim Fix = {s['fixed_dim']}; lambda_max/lambda_min = "
                     f"{d['lambda_max'] / d['lambda_min_nonzero']:.3g}; ||W(0)Pi - W(0)P_G|| / ||W(0)|| = "
                     f"{_f(lim['dist_W0Pi_to_W0PG_rel'])}; test LI(W(0)Pi)/LI(W(0)) = {_f(lim['W0Pi_test_LI_rel'])}")
        lines.append(f"[linear {g}] SGD to tau = {last['tau']:.3g}: dist to W(0)Pi {_f(last['dist_W0Pi'][0])} "
                     f"(closed form {_f(last['closed_dist_W0Pi'][0])}), to W(0)P_G {_f(last['dist_W0PG'][0])} "
                     f"(closed form {_f(last['closed_dist_W0PG'][0])}); kernel drift {_f(last['kernel_drift'][0])}")
        for r in d["nu_sweep"]:
            lines.append(f"[linear {g}] {r['model']} {r['select']:8s} nu={r['nu']:<8g} non-inv "
                         f"{_f(r['noninvariant_fraction'][0])} (data-visible "
                         f"{_f(r['data_noninvariant_fraction'][0])}, frozen {_f(r['frozen_fraction'][0])}), "
                         f"dist W(0)P_G "
                         f"{_f(r['dist_W0PG'][0])}, sigma_max {_f(r['sigma_max'][0])}, acc {_f(r['acc'][0])}")
    for g, d in result.get("deep_linear", {}).items():
        for kind in ("flow", "IR", "DA"):
            for init, a in d[kind].items():
                lines.append(f"[deep {g} {kind:4s} {init:10s}] sigma_max final/initial "
                             f"{_f(a['mean_final_over_initial'])}, worst increase {_f(a['max_worst_increase'])}, "
                             f"last layer {_f(a['max_last_layer_worst_increase'])}, bound ratio "
                             f"{_f(a['max_bound_ratio'])}")
    for v in result.get("deep_linear_theory", []):
        lines.append(f"[theory] {v['claim']}: {'holds' if v['holds'] else 'REFUTED'} on {v['cases']} cases, "
                     f"worst ratio {_f(v['worst_ratio'])}")
    for g, curves in result.get("layers", {}).get("groups", {}).items():
        for label, c in curves.items():
            if "timing" in c:
                t = c["timing"]
                lines.append(f"[layers {g} {label}] J ratio IR/DA {_f(c['J_ratio_final'])} (layer-norm product "
                             f"{_f(c['layer_product_ratio_final'])}), cross epoch {t['cross_epoch']}, peak epoch "
                             f"{t['peak_epoch']}, layer ratios " + ", ".join(_f(x) for x in c["layer_ratio_final"]))
    for g, d in result.get("subspace", {}).items():
        r = d["ratios"]["IR/DA"]
        lines.append(f"[subspace {g}] IR/DA: sigma_max(J P_S) {_f(r['S'])}, sigma_max(J P_perp) {_f(r['perp'])}, "
                     f"sigma_max(J P_Fix) {_f(r['fix'])}, sigma_max(J) {_f(r['J'])}; dim S / d = "
                     f"{_f(d['dim_fraction_S'])}")
    return "\n".join(lines)


@command
def main(argv: list[str] | None = None) -> int:
    """Run the bridge measurements and write bridge.json and the figures into ``--out``."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m empirical.bridge", description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    parser.add_argument("--groups", nargs="+", default=["R4", "T3"], choices=IMAGE_GROUPS)
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--theory-cases", type=int, default=10,
                        help="random instances per deep-linear claim recorded beside part 2 (0: skip)")
    parser.add_argument("--replace", action="store_true",
                        help="overwrite bridge.json; by default the parts not run now are kept from it")
    parser.add_argument("--deep-seeds", type=int, default=1,
                        help="seeds of the deep-linear part (12 trainings per seed and group; default 1)")
    args, ctx = parse_context(parser, argv)
    result = bridge(ctx, tuple(args.groups), tuple(args.parts), args.theory_cases, args.deep_seeds)
    result.update(scale_tag=scale_tag(ctx.scale), provenance=provenance(ctx.device))
    path = ctx.out / "bridge.json"
    from empirical.bridge_plots import plot_all

    with entry_lock(path, ctx.cache_dir / "locks"):  # two writers merge in turn, never drop each other's parts
        if not args.replace and path.exists():
            result = merge(json.loads(path.read_text()), result)
        write_json(result, path)
        plot_all(result, ctx.out)
    if not ctx.quiet:
        print(summary(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
