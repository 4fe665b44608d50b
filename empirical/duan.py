"""Duan & Montúfar 2026, §4 and Appendix C.2, regenerated: Figures 1-4 (MSE) and the cross-entropy variant.

    python -m empirical.duan [--quick] [--seed S] [--seeds K] [--epochs E] [--long-epochs L] [--n-train N]
                             [--device D] [--data-dir DIR] [--out DIR] [--cache-dir DIR] [--quiet] [--debug]
    python -m empirical.duan --redraw [--out DIR]      # figures and README.md again from DIR/duan.json

A two-layer linear network (5 hidden units) on 1,000 MNIST images without digit 9, downsampled to 14 x 14, learns
invariance to C4 rotations (the suite's R4, the only ``--groups``) by data augmentation (DA), hard-wiring
(constrained) and regularization (lambda ||W G||^2), full batch, Adam lr 1e-3, 2,500 epochs, 5 initialization seeds;
then the same with cross-entropy; and one DA run continued to 20,000 epochs. The closed-form optima W^inv, W^da and
W^reg(lambda) (``theory.duan`` on the subspace the data see: ``theory.duan_span``) are drawn into the figures and
compared with every trained W. ``empirical.paper.duan_experiment`` holds the settings and the choices the paper leaves
open (recorded in the JSON too).

Writes fig1_weights.png, fig2_training.png, fig3_w_perp.png, fig4_proportion.png, fig_ce.png, duan.json (every plotted
number, the closed forms, the distances, the provenance) and README.md (the summary). Only the full scale on the
official MNIST files writes into paper_figures/duan/ by default; any other scale (``--quick``: 200 images, 300
epochs, one seed, no long run: well under a minute) writes into ``<cache-dir>/figures/<scale>/duan/`` (``--cache-dir``,
else $INVARIANCE_CACHE, else runs/; as every command routes a trial run), so a trial never replaces the committed
outputs. Nothing is cached: the runs are retrained every time. ``--seed`` draws the images and seeds the first
initialization (the k-th seed uses seed + k). The shared options ``--stack``, ``--arch``, ``--workers`` and
``--executor`` do not apply (exit 2 when given). The full scale takes about 4 minutes of one core (one torch and one
BLAS thread; more wall time on a loaded machine).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

from empirical.cli import UsageError, add_arguments, command, parse_context, non_negative_int, positive_int
from empirical.engine.architectures import DEFAULT_ARCH
from empirical.engine.context import PAPER_OUT
from empirical.engine.store import StoreError, check_writable, clean_orphans, write_text
from empirical.paper.duan_data import load_data
from empirical.paper.duan_experiment import FOLDER, FULL, OUTPUT, QUICK, experiment, scale_tag
from empirical.engine.threads import threads
from empirical.paper.duan_report import markdown

__all__ = ["parser", "main"]

log = logging.getLogger("empirical")


def parser() -> argparse.ArgumentParser:
    """The shared options (``empirical.cli``), ``--groups`` (R4 only), ``--seed``, ``--long-epochs``, ``--n-train``."""
    p = add_arguments(argparse.ArgumentParser(prog="python -m empirical.duan", description=__doc__,
                                              formatter_class=argparse.RawDescriptionHelpFormatter))
    p.add_argument("--groups", nargs="+", default=["R4"], choices=["R4"],
                   help="the group: R4, the paper's C4 rotating the 14 x 14 image (the only one)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="draws the images; the k-th run seed is seed + k (default 0)")
    p.add_argument("--long-epochs", type=non_negative_int, default=None,
                   help=f"one DA + MSE run continued this long, 0: none (full: {FULL.long_epochs}; --quick: 0)")
    p.add_argument("--redraw", action="store_true",
                   help="redraw the figures and README.md from the duan.json in the output folder; train nothing")
    p.add_argument("--n-train", type=positive_int, default=None,
                   help=f"training images (full: {FULL.n_train}; --quick: {QUICK.n_train})")
    return p


def _unsupported(args: argparse.Namespace) -> str:
    """The shared options that mean nothing here, when given (runs are full-batch, one at a time, no run cache)."""
    given = [("--stack", args.stack is not None), ("--arch", args.arch != DEFAULT_ARCH),
             ("--workers", args.workers != 1), ("--executor", args.executor != "local")]
    return ", ".join(name for name, on in given if on)


@command
def main(argv: list[str] | None = None) -> int:
    """Train every run, compute the closed forms, write the figures, duan.json and README.md."""
    start, cpu = time.perf_counter(), time.process_time()
    p = parser()
    args, ctx = parse_context(p, argv)  # device, data folder, --out / --cache-dir writable: checked before any work
    scale = QUICK if args.quick else FULL
    for field, value in (("epochs", args.epochs), ("seeds", args.seeds), ("long_epochs", args.long_epochs),
                         ("n_train", args.n_train)):
        if value is not None:
            scale = replace(scale, **{field: value})
    bad = _unsupported(args)
    if bad:
        print(f"{p.prog}: error: {bad}: not for this command (its runs are full-batch, trained one at a time, and "
              "not cached)", file=sys.stderr)
        return 2
    progress = None if args.quiet else log.info
    if args.redraw:
        return _redraw(Path(args.out) if args.out is not None else PAPER_OUT / FOLDER)
    data = load_data(args.data_dir, scale.n_train, args.seed, quiet=args.quiet)
    if args.out is not None:
        out = Path(args.out)
    elif scale == FULL and data.official:
        out = PAPER_OUT / FOLDER
    else:  # as empirical.cli routes every scale but the paper's: never into paper_figures/
        out = ctx.cache_dir / "figures" / scale_tag(scale) / FOLDER
    _writable(out)
    if progress:
        progress(f"duan: {scale_tag(scale)} scale, {len(data.x)} images from {data.source}, on {ctx.device}, "
                 f"writing to {out}")
    doc = experiment(data, scale, args.seed, progress, device=ctx.device)
    given = argv if argv is not None else sys.argv[1:]
    doc["command"] = " ".join(["python -m empirical.duan", *map(shlex.quote, given)])
    figures = _figures(doc, out)
    # everything but writing duan.json and README.md; CPU time of this process (one core: one torch and BLAS thread)
    doc["wall_seconds"], doc["cpu_seconds"] = time.perf_counter() - start, time.process_time() - cpu
    # compact: ~100,000 curve points; `python -m json.tool duan.json` indents it
    written = [write_text(json.dumps(doc, separators=(",", ":")) + "\n", out / OUTPUT), *figures,
               write_text(markdown(doc), out / "README.md")]
    log.info("wrote %s", ", ".join(map(str, written)))
    return 0


def _writable(out: Path) -> None:
    try:
        check_writable(out)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    clean_orphans(out)


def _figures(doc: dict, out: Path) -> list[Path]:
    from empirical.paper.duan_plots import plot_all

    with threads(1, blas=True):
        return plot_all(doc, out)


def _redraw(out: Path) -> int:
    """--redraw: the figures and README.md again from ``out``/duan.json (a missing file is one line, exit 1)."""
    path = out / OUTPUT
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--redraw: cannot read {path} ({exc}); run the command without --redraw first") from None
    _writable(out)
    written = [*_figures(doc, out), write_text(markdown(doc), out / "README.md")]
    log.info("wrote %s", ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
