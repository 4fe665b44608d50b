"""Does data augmentation learn genuine invariance with more data? DA, WT, IR and a deep linear DA against n.

    python -m empirical.scaling [--quick] [--groups R4 T3] [--sizes 1000 3000 10000 30000 max] [--parts K]
                                [--reduced] [--arch cnn] [--seeds S] [--workers N] [--out DIR] [--cache-dir runs]

Table 1's mlp trained by DA, WT and IR (LI at the nu Table 1's tuning chose: R4 1, T3 30), and the mlp without its
ReLUs trained by DA (``--arch cnn``: the paper's cnn by DA, WT and IR at its own Table 1 nu, R4 30, T3 30), on
nested training sets of n Transforming-MNIST images with fixed validation (2,000) and test (10,000) sets, every run
at Table 1's step budget (6,000 optimizer steps) whatever n; a doubled budget at the largest n.
``empirical.paper.data_scaling`` describes the grid, ``empirical.paper.scaling_claims`` the claims and their
criteria (fixed before the runs).

The grid is a priority order of parts (each group's first seed of DA and linear DA, WT and IR at the smallest, the
largest and Table 1's n, a second seed, the doubled budget; WT and IR at the other n and a second seed at the
extreme sizes; then the rest, up to ``--seeds``); ``--parts K`` stops after the first K (0: list them and train
nothing), ``--reduced`` after the reduced design (every kind at every n, two seeds at the extreme sizes). After
every part the outputs are rewritten from every run of the grid in the run store: ``scaling.json``, ``scaling.md``
and ``scaling.png`` (``scaling_cnn.*`` for the cnn) in ``<out>/data_scaling/``. Only the full scale on the official
data writes into ``paper_figures/data_scaling/`` by default; ``--quick`` (sizes 300, 1000, 3000; 100 steps) writes
into ``<cache>/figures/quick/data_scaling/``. Rerunning resumes (the runs are cached).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from empirical.cli import UsageError, add_arguments, command, in_subfolder, parse_context
from empirical.engine.context import FULL
from empirical.engine.store import write_json, write_text
from empirical.paper.data_scaling import (GROUPS, MAX, NU, QUICK_SIZES, REDUCED_STAGES, SIZES, document, plan,
                                         resolve_sizes, run_plan)
from empirical.paper.scaling_claims import FOLDER, OUTPUT, findings, scope_lines, table_markdown

__all__ = ["main"]

log = logging.getLogger("empirical")


def _size(text: str) -> int | str:
    if text == MAX:
        return MAX
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of training images or '{MAX}', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    """The shared options, ``--groups``, ``--sizes`` and ``--parts``."""
    p = add_arguments(argparse.ArgumentParser(prog="python -m empirical.scaling", description=__doc__,
                                              formatter_class=argparse.RawDescriptionHelpFormatter))
    p.add_argument("--groups", nargs="+", default=list(GROUPS), choices=GROUPS,
                   help="groups, in priority order (default: R4 T3; the ones with a Table 1 nu)")
    p.add_argument("--sizes", nargs="+", type=_size, default=None,
                   help=f"training-set sizes, '{MAX}' for all the pool leaves (default: "
                        f"{' '.join(map(str, SIZES))}; --quick: {' '.join(map(str, QUICK_SIZES))})")
    p.add_argument("--parts", type=int, default=None,
                   help="run only the first K parts of the grid's priority order (0: list them; default: all)")
    p.add_argument("--reduced", action="store_true",
                   help="run only the reduced design: every kind at every n, two seeds at the extreme sizes (issue "
                        "28's design when the whole grid passes ~10 core-hours)")
    return p


def markdown(doc: dict, stem: str = OUTPUT) -> str:
    """scaling.md: the scope, the table and the verdicts."""
    arch = doc.get("arch", "mlp")
    command_line = "python -m empirical.scaling" + ("" if arch == "mlp" else f" --arch {arch}")
    lines = [f"# Does DA learn genuine invariance with more data? The {arch} (`{command_line}`)", "",
             *scope_lines(doc), "", f"![SI and NLI against n]({stem}.png)", "", *table_markdown(doc), "",
             "The claims (criteria fixed before the runs: `empirical/paper/scaling_claims.py`):", "",
             "| claim | verdict | evidence |", "|---|---|---|"]
    for cid, _, statement, verdict, evidence, _ in findings(doc, arch):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in (f"`{cid}`: {statement}", f"**{verdict}**",
                                                                         evidence)) + " |")
    return "\n".join(lines) + "\n"


@command
def main(argv: list[str] | None = None) -> int:
    """Train the grid's parts in priority order, rewriting scaling.json, scaling.md and scaling.png after each."""
    args, ctx = parse_context(parser(), argv)
    ctx = in_subfolder(args, ctx, FOLDER)
    default = SIZES if ctx.scale.n_train == FULL.n_train else QUICK_SIZES
    try:
        sizes = resolve_sizes(ctx, args.sizes or default)
    except ValueError as exc:
        raise UsageError(f"--sizes: {exc}") from None
    if ctx.arch not in NU:
        raise UsageError(f"--arch {ctx.arch}: the grid has no Table 1 nu for it; choose --arch {' or '.join(NU)}")
    planned = plan(ctx, GROUPS, sizes)
    chosen = [p for p in planned if p.name.split(":")[0] in args.groups
              and (not args.reduced or p.stage in REDUCED_STAGES)]
    todo = chosen if args.parts is None else chosen[:max(args.parts, 0)]
    for i, p in enumerate(chosen):
        log.info("part %d/%d%s: %s (%d runs)", i + 1, len(chosen), "" if p in todo else " (not run)", p.name,
                 len(p.configs))
    written: list[Path] = []

    def update(records: list[dict]) -> None:
        from empirical.paper.scaling_plots import plot_scaling

        doc = document(ctx, sizes, records, planned)
        stem = ctx.stem(OUTPUT)  # scaling, or scaling_<arch> for another architecture
        written[:] = [write_json(doc, ctx.out / f"{stem}.json")]
        written.append(write_text(markdown(doc, stem), ctx.out / f"{stem}.md"))
        written.append(plot_scaling(doc, ctx.out / f"{stem}.png"))
        log.info("part done: %d runs of the grid measured", len(records))

    run_plan(ctx, todo, planned, update)
    if not written:
        log.info("wrote nothing: no part was run (--parts 0)")
        return 0
    log.info("wrote %s", ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
