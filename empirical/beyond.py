"""Beyond the paper: Table 1 for the mlp and a CNN on R4, T3, D4 and F2, the CNN's Figures 5 (R4) and 3 (D4).

    python -m empirical.beyond [--quick] [--epochs E] [--seeds S] [--workers N] [--groups R4 T3 D4 F2]
                               [--only STEP ...] [--out DIR] [--cache-dir runs]

Runs these commands by name (importing none), with the shared options and one ``--out``, in order:

    table1             python -m empirical.table1 --groups <groups>              -> table1.json, table1.md
    table1_cnn         python -m empirical.table1 --arch cnn --groups <groups>   -> table1_cnn.json, table1_cnn.md
    fig5_spectral_cnn  python -m empirical.spectral --arch cnn --groups R4       -> fig5_spectral_cnn.json/.png/.pdf
    fig3_saliency_cnn  python -m empirical.saliency --arch cnn --groups D4       -> fig3_saliency_cnn_D4.png, .json

then ``beyond``: beyond.json and beyond.png, DA against IR (WT for reference), SI and sigma_max(J) for every
architecture x group, read from the two table1 JSONs. ``--groups`` restricts every step (the spectral step
runs only when R4 is among them, the saliency step only with D4). ``--arch`` is ignored: each step names its own.

The extension trains at the paper's scale (300 epochs, 4 seeds): ``python benchmarks/grid_cost.py --beyond``
projects the whole grid below the 12 core-hours that would call for fewer epochs. Only that scale, on the
official data, writes into ``paper_figures/beyond/`` by default; any other (``--quick`` included) writes into
``<cache>/figures/<scale>/beyond/``. Interrupt it at any time: rerunning resumes where it stopped (the runs are
cached, and each table merges its groups, so ``--groups`` can split the grid over sessions or machines).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
from pathlib import Path
from typing import Any

from empirical.paper.beyond_claims import BEYOND
from empirical.cli import UsageError, add_arguments, command, in_subfolder, parse_context
from empirical.engine.context import Context, Scale, scale_tag
from empirical.measure.groups import group_names
from empirical.engine.store import write_json
from empirical.engine.store import combine_provenance

__all__ = ["BEYOND", "STEPS", "CONVNET_STEPS", "TABLES", "plan", "comparison", "context", "main"]

STEPS = ("table1", "table1_cnn", "fig5_spectral_cnn", "fig3_saliency_cnn", "beyond")  # each named by its output
# The standard CNN (issue 29): its criteria are in beyond_claims; the steps run only when named with --only (the
# grid projects to more core-hours than a CPU session has: python benchmarks/grid_cost.py --convnet)
CONVNET_STEPS = ("table1_convnet", "table1_convnet_circular", "fig5_spectral_convnet")
TABLES = {"mlp": "table1.json", "cnn": "table1_cnn.json",  # the comparison's sources, by architecture
          "convnet": "table1_convnet.json"}
SPECTRAL_GROUP, SALIENCY_GROUP = "R4", "D4"
MODELS = ("WT", "DA", "IR")


def plan(groups: tuple[str, ...] = tuple(group_names()), only: tuple[str, ...] = STEPS
         ) -> list[tuple[str, str, list[str]]]:
    """(step, command module, its own options) of every step to run, in order; '' as module for the comparison."""
    groups = tuple(groups)
    steps = {
        "table1": ("table1", ["--groups", *groups]),
        "table1_cnn": ("table1", ["--arch", "cnn", "--groups", *groups]),
        "fig5_spectral_cnn": ("spectral", ["--arch", "cnn", "--groups", SPECTRAL_GROUP])
        if SPECTRAL_GROUP in groups else None,
        "fig3_saliency_cnn": ("saliency", ["--arch", "cnn", "--groups", SALIENCY_GROUP])
        if SALIENCY_GROUP in groups else None,
        "beyond": ("", []),
        "table1_convnet": ("table1", ["--arch", "convnet", "--groups", *groups]),
        "table1_convnet_circular": ("table1", ["--arch", "convnet_circular", "--groups", "T3"])
        if "T3" in groups else None,
        "fig5_spectral_convnet": ("spectral", ["--arch", "convnet", "--groups", SPECTRAL_GROUP])
        if SPECTRAL_GROUP in groups else None,
    }
    return [(name, *steps[name]) for name in (*STEPS[:-1], *CONVNET_STEPS, STEPS[-1])
            if name in only and steps[name] is not None]


def _common(args: argparse.Namespace, ctx: Context) -> list[str]:
    """The shared options as a command line for each step (``--out``, epochs and seeds resolved once, for all)."""
    out = ["--out", str(ctx.out), "--epochs", str(ctx.scale.epochs), "--seeds", str(ctx.scale.seeds)]
    for flag in ("quick", "quiet", "debug"):
        if getattr(args, flag):
            out.append(f"--{flag}")
    out += ["--workers", str(args.workers), "--executor", args.executor]
    for flag in ("device", "data_dir", "cache_dir", "stack"):  # the raw cache: each step adds the data tag itself
        if getattr(args, flag) is not None:
            out += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    return out


def _row(arch: str, r: dict[str, Any]) -> dict[str, Any]:
    keep = ("group", "model", "nu", "seeds", "acc", "LI", "DI", "SI", "sigma_max_J")
    return {"arch": arch, **{k: r.get(k) for k in keep}}


def comparison(folder: Path) -> dict[str, Any]:
    """WT, DA and IR per architecture x group (SI, sigma_max(J), accuracy: mean ± std over seeds) from the table1
    JSONs in ``folder``; UsageError when none is there or two were made at different scales."""
    folder = Path(folder)
    docs = {a: json.loads((folder / f).read_text()) for a, f in TABLES.items() if (folder / f).exists()}
    if not docs:
        raise UsageError(f"no {' or '.join(TABLES.values())} in {folder}: run the table1 steps first")
    scales = {a: d["scale"] for a, d in docs.items()}
    if len({json.dumps(s, sort_keys=True) for s in scales.values()}) > 1:
        raise UsageError(f"{folder}: the tables were made at different scales ("
                         + ", ".join(f"{TABLES[a]}: {scale_tag(Scale(**s))}" for a, s in scales.items())
                         + "); rerun them at one scale")
    order = {g: i for i, g in enumerate(group_names())}
    rows = [_row(a, r) for a, d in docs.items()
            for r in sorted(d["rows"], key=lambda r: (order.get(r["group"], len(order)), r["group"],
                                                      MODELS.index(r["model"]) if r["model"] in MODELS else 9))
            if r["model"] in MODELS]
    first = next(iter(docs.values()))
    prov = combine_provenance({a: d.get("provenance") for a, d in docs.items()})  # the tables may differ in code
    return {"scale": first["scale"], "scale_tag": first.get("scale_tag") or scale_tag(Scale(**first["scale"])),
            "device": first.get("device"), "provenance": prov,
            "sources": {a: TABLES[a] for a in docs}, "rows": rows}


def parser() -> argparse.ArgumentParser:
    """The driver's options: the shared ones, ``--groups`` and ``--only``."""
    p = add_arguments(argparse.ArgumentParser(prog="python -m empirical.beyond", description=__doc__,
                                              formatter_class=argparse.RawDescriptionHelpFormatter))
    p.add_argument("--groups", nargs="+", default=list(group_names()), choices=group_names(),
                   help="restrict every step to these groups (default: all registered)")
    p.add_argument("--only", nargs="+", choices=(*STEPS, *CONVNET_STEPS), default=list(STEPS),
                   help="a subset of the steps, in order (the convnet steps run only when named)")
    return p


def context(argv: list[str]) -> tuple[argparse.Namespace, Context]:
    """Parse ``argv``; the outputs go to ``--out``, else to <the commands' default out>/beyond (so only the paper's
    scale on the official data writes paper_figures/beyond/)."""
    args, ctx = parse_context(parser(), argv)
    return args, in_subfolder(args, ctx, BEYOND)


@command
def main(argv: list[str] | None = None) -> int:
    """Run every beyond-the-paper step with the shared options, then write beyond.json and beyond.png."""
    args, ctx = context(list(argv or []))
    common = _common(args, ctx)
    for name, module, extra in plan(tuple(args.groups), tuple(args.only)):
        if module:
            code = importlib.import_module(f"empirical.{module}").main([*common, *extra])
            if code:
                return code
            continue
        from empirical.paper.beyond_plots import plot_beyond

        data = comparison(ctx.out)
        write_json(data, ctx.out / "beyond.json")
        png = plot_beyond(data, ctx.out / "beyond.png")
        logging.getLogger("empirical").info("wrote %s and %s", ctx.out / "beyond.json", png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
