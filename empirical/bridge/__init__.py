"""The theory meets the trained networks: four measurements on Transforming-MNIST with R4 and T3.

    python -m empirical.bridge [--quick] [--device cuda] [--seeds 4] [--epochs 300] [--out paper_figures]
                               [--groups R4 T3] [--parts linear deep layers subspace] [--theory-cases 10]
                               [--deep-seeds 1]

1. linear    a linear classifier (1296 -> 9) under the pure LI flow vs the closed form W(0) expm(-Sigma t),
             its limit W(0) Pi against W(0) P_G, and CE + nu LI (Adam) over a log grid of nu
             (``empirical.bridge.linear``);
2. deep      the 5-layer MLP without ReLUs from the theory's initializations, pure LI flow and paper IR,
             against the deep-linear claims (``empirical.bridge.deep``);
3. layers    per-epoch sigma_max of each layer and of the input Jacobian for the Figure 5 runs, DA vs each
             IR form (``empirical.bridge.layers``);
4. subspace  sigma_max(J P_S) vs sigma_max(J P_perp) with S = span{x - gx} for the Table 1 models
             (``empirical.bridge.subspace``).

Trained runs are shared with table1/spectral through the run cache (same configurations), so at full
scale only the linear and deep-linear runs are new. With --quick every part runs one seed (the seed-0
runs of table1/spectral --quick) and the deep-linear claims 3 cases, unless --seeds / --theory-cases say
otherwise. Writes bridge.json (every number) and bridge_{linear,deep_linear,layers,subspace}.png into
--out. Parts not run now are kept from an existing bridge.json (same groups; ``--replace`` discards it),
and ``part_scales`` names the scale of each part.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from typing import Any

from tqdm.auto import tqdm

from empirical.bridge.deep import deep_bridge, theory_verdicts
from empirical.bridge.layers import layers_bridge
from empirical.bridge.linear import linear_bridge
from empirical.bridge.sigma import flow_data
from empirical.bridge.subspace import subspace_bridge
from empirical.cli import add_arguments, command, parse_context
from empirical.engine.threads import threads
from empirical.engine.context import Context, Scale, part_scales, scale_tag
from empirical.engine.store import write_json
from empirical.measure.groups import group_names
from empirical.engine.store import entry_lock
from empirical.engine.store import combine_provenance
from empirical.engine.results import provenance
from empirical.engine.tuning import tune_nu


__all__ = ["PARTS", "QUICK_PARTS", "QUICK_THEORY_CASES", "THEORY_CASES", "part_contexts", "bridge", "merge",
           "part_scales", "summary", "main"]

PARTS = ("linear", "deep", "layers", "subspace")
PART_KEYS = {"linear": ("linear",), "deep": ("deep_linear", "deep_linear_theory"), "layers": ("layers",),
             "subspace": ("subspace",)}
# What --quick changes further, per part. One seed everywhere: a second seed doubles every part's runs and
# evaluations for a std nobody reads at this scale; the seed-0 runs are the very configurations table1 and
# spectral --quick train, so the layers and subspace parts still share their cache. n_train stays: Sigma
# and S are computed once per group for all parts. The full scale is never changed.
QUICK_PARTS: dict[str, dict[str, int]] = {part: {"seeds": 1} for part in PARTS}
THEORY_CASES, QUICK_THEORY_CASES = 10, 3  # random instances per deep-linear claim (a claim takes ~1 s per 10)


def _quick(ctx: Context) -> bool:
    """Whether ctx runs at the quick scale (any epochs and seeds)."""
    return scale_tag(ctx.scale).startswith("quick")


def _one_thread(ctx: Context):
    """torch and numpy's BLAS on one thread each while a quick bridge runs on the exact CPU engine (stack 1)."""
    # On a 2-core CPU shared with other processes, two-thread OpenBLAS and OpenMP pools spin against them and
    # against each other (OpenBLAS's idle workers keep polling while torch evaluates): measured on this
    # project's machine, the linear part's float64 analysis took 7.8 s on two BLAS threads, 2.9 s on one.
    # Only at the quick scale: full-scale numbers keep the thread counts they were made with.
    return threads(1 if _quick(ctx) and ctx.device.type == "cpu" and ctx.stack == 1 else None, blas=True)


def part_contexts(ctx: Context, keep: tuple[str, ...] = ()) -> dict[str, Context]:
    """The context each part runs in: ctx, or at the quick scale ctx with the part's ``QUICK_PARTS`` scale."""
    # scale fields named in keep (those given on the command line) keep ctx's value
    if not _quick(ctx):
        return {p: ctx for p in PARTS}
    return {p: replace(ctx, scale=replace(ctx.scale, **{k: v for k, v in QUICK_PARTS[p].items() if k not in keep}))
            for p in PARTS}


def bridge(ctx: Context, groups: tuple[str, ...] = ("R4", "T3"), parts: tuple[str, ...] = PARTS,
           theory_cases: int = THEORY_CASES, deep_seeds: int | None = None,
           contexts: dict[str, Context] | None = None) -> dict[str, Any]:
    """Run the requested parts for every group, each in its context (default: ctx); one JSON-ready dict."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    pc = {p: (contexts or {}).get(p, ctx) for p in parts}
    scales = {p: vars(c.scale) for p, c in pc.items()}
    common = scales[parts[0]] if parts else vars(ctx.scale)
    out: dict[str, Any] = {"scale": common if all(s == common for s in scales.values()) else "mixed: see part_scales",
                           "device": str(ctx.device), "groups": list(groups), "parts": list(parts),
                           "part_scales": {p: {**scales[p], "device": str(pc[p].device)} for p in parts}}
    with _one_thread(ctx):
        out.update(_measure(ctx, groups, parts, theory_cases, deep_seeds, pc))
    return out


def _measure(ctx: Context, groups: tuple[str, ...], parts: tuple[str, ...], theory_cases: int,
             deep_seeds: int | None, pc: dict[str, Context]) -> dict[str, Any]:
    """The parts' numbers, keyed as in bridge.json (``PART_KEYS``)."""
    out: dict[str, Any] = {}
    data = {}
    if {"linear", "deep", "subspace"} & set(parts):
        for g in tqdm(groups, desc="Sigma, Sigma_train and S", unit="group", disable=ctx.quiet, dynamic_ncols=True):
            data[g] = flow_data(ctx, g)  # the data alone: the same for every part's context
    if "linear" in parts:
        out["linear"] = {g: linear_bridge(pc["linear"], data[g]) for g in groups}
    if "deep" in parts:
        c = pc["deep"]
        out["deep_linear"] = {g: deep_bridge(c, g, data[g].sigma_train, tune_nu(c, g, "LI")["chosen_nu"], deep_seeds)
                              for g in groups}
        out["deep_linear_theory"] = theory_verdicts(theory_cases, quiet=ctx.quiet) if theory_cases > 0 else []
    if "layers" in parts:
        out["layers"] = layers_bridge(pc["layers"], groups)
    if "subspace" in parts:
        out["subspace"] = {g: subspace_bridge(pc["subspace"], g, data[g].subspace) for g in groups}
    return out


def merge(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new`` with the parts it did not run kept from ``old`` (same groups), each part with its own scale.

    Lets the parts run at different scales (e.g. the cached full-scale layers and subspace parts beside
    a shorter linear run on a CPU); ``part_scales`` records which scale and device produced each part, and
    ``part_provenance`` which code and engine (``provenance`` combines them: a kept part may be older).
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
        out["scale"], out["scale_tag"] = "mixed: see part_scales", "mixed"  # not the tag of the parts run now
    old_provs = old.get("part_provenance") or {p: old.get("provenance") for p in old.get("parts", [])}
    provs = {**{p: old_provs.get(p) for p in kept}, **new.get("part_provenance", {})}
    out["part_provenance"] = {p: provs.get(p) for p in out["parts"]}
    out["provenance"] = combine_provenance(out["part_provenance"])
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
    parser.add_argument("--groups", nargs="+", default=["R4", "T3"], choices=group_names())
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--theory-cases", type=int, default=None,
                        help=f"random instances per deep-linear claim recorded beside part 2 (0: skip; default "
                             f"{THEORY_CASES}, {QUICK_THEORY_CASES} with --quick)")
    parser.add_argument("--replace", action="store_true",
                        help="overwrite bridge.json; by default the parts not run now are kept from it")
    parser.add_argument("--deep-seeds", type=int, default=1,
                        help="seeds of the deep-linear part (12 trainings per seed and group; default 1)")
    args, ctx = parse_context(parser, argv)
    if ctx.arch != "mlp":  # the theory it tests is about the paper's linear layers
        parser.error(f"--arch {ctx.arch}: the bridge compares the linear theory with the paper's mlp only")
    contexts = part_contexts(ctx, keep=tuple(k for k in ("epochs", "seeds") if getattr(args, k) is not None))
    cases = args.theory_cases if args.theory_cases is not None else QUICK_THEORY_CASES if _quick(ctx) else THEORY_CASES
    result = bridge(ctx, tuple(args.groups), tuple(args.parts), cases, args.deep_seeds, contexts)
    common = result["scale"] if isinstance(result["scale"], dict) else None  # the parts' scale when they agree
    prov = provenance(ctx.device)
    result.update(scale_tag=scale_tag(Scale(**common) if common else ctx.scale), provenance=prov,
                  part_provenance={p: prov for p in result["parts"]})
    path = ctx.out / "bridge.json"
    from empirical.paper.bridge_plots import plot_all  # matplotlib only when writing the figures

    with entry_lock(path, ctx.cache_dir / "locks"):  # two writers merge in turn, never drop each other's parts
        if not args.replace and path.exists():
            result = merge(json.loads(path.read_text()), result)
        write_json(result, path)
        figures = plot_all(result, ctx.out, quiet=ctx.quiet)
    if not ctx.quiet:
        print(summary(result))
    logging.getLogger("empirical").info("wrote %s", ", ".join(map(str, [path, *figures])))
    return 0
