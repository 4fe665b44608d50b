"""What the paper's run grid costs on this CPU: runs counted from the committed outputs, seconds per epoch measured.

Counts the distinct trained runs behind ``paper_figures/`` (Table 1, Figure 5 and every nu tuning sweep;
Figures 3 and 4 and the bridge's layer/subspace parts reuse them), measures one training epoch of each
model kind (WT, DA, IR) per group at full scale on one thread, and prints core-hours of training and the
wall time with N single-threaded workers (the grid's stacks are independent; ν tunings are sequential).
Evaluation is not included. Run from the repository root on an otherwise idle machine:

    python benchmarks/grid_cost.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from empirical.experiment import train_data  # noqa: E402
from empirical.data import transforming  # noqa: E402
from empirical.groups import image_group  # noqa: E402
from empirical.training import RunConfig, train_stack  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def grid_runs(out: Path) -> Counter:
    """Distinct (group, model kind, form, nu, seed) runs behind the committed outputs, counted by (group, kind)."""
    runs = set()
    t1, f5 = (json.loads((out / f).read_text()) for f in ("table1.json", "fig5_spectral.json"))
    for r in t1["rows"] + f5["rows"]:
        kind, form = (r["model"], "") if r["model"] in ("WT", "DA") else ("IR", r["model"].removeprefix("IR-")
                                                                          if r["model"] != "IR" else "LI")
        runs |= {(r["group"], kind, form, r["nu"], s) for s in range(r["seeds"])}
    for t in t1["tuning"] + f5["tuning"]:
        runs |= {(t["group"], "IR", t["form"], p["nu"], 0) for p in t["sweep"]}
    return Counter((g, k) for g, k, *_ in runs)


def epoch_seconds(group: str, model: str, epochs: int = 2) -> float:
    """Seconds per training epoch of one full-scale run on one thread (median of ``epochs`` epochs, 1st dropped)."""
    ds = transforming("mnist", group, 0, n_train=10_000, n_val=2_000, n_test=100, quiet=True)
    data = train_data(ds, "cpu")
    kw = {"form": "LI", "nu": 1.0} if model == "IR" else {}
    cfg = RunConfig(group=group, model=model, epochs=epochs + 1, n_test=100, **kw)
    marks = []
    train_stack([cfg], data, image_group(group), progress=lambda n: marks.append(time.perf_counter()))
    return float(torch.tensor([b - a for a, b in zip(marks, marks[1:])]).median())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "paper_figures"))
    p.add_argument("--epochs", type=int, default=300)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    counts = grid_runs(Path(args.out))
    total = 0.0
    for (group, kind), n in sorted(counts.items()):
        sec = epoch_seconds(group, kind)
        hours = n * args.epochs * sec / 3600
        total += hours
        print(f"{group} {kind}: {n} runs x {args.epochs} epochs x {sec:.2f} s/epoch = {hours:.2f} core-hours")
    print(f"paper grid: {sum(counts.values())} runs, {total:.2f} core-hours of training; "
          + ", ".join(f">= {total / n:.2f} h with --workers {n}" for n in (2, 4, 8, 16)) + " (the nu tunings are sequential)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
