"""Recheck a committed Table 1: train some of its runs again with this code, alone, in a fresh cache, and compare.

    python -m empirical.recheck paper_figures/table1.json [--group R4 ...] [--model DA ...] [--seed 0 ...]
                                [--data-dir DIR] [--cache-dir DIR]

A table written by ``empirical.table1`` (``table1.json``; ``table1_<arch>.json`` for another architecture) keeps
each run's test metrics per seed. This trains the named runs again at the table's scale and architecture (IR at
the row's nu), one thread each (the exact regime), in a temporary cache unless ``--cache-dir`` names one to keep,
evaluates accuracy, LI, DI and NLI on the table's test split, and prints each beside the committed value.

Exit 0: every run gives the committed numbers (accuracy exactly, LI, DI and NLI to a relative 1e-6); 1: some run
does not, so the table holds runs this code does not make (README, Reproducibility); 2: bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from empirical.cli import UsageError, command, non_negative_int
from empirical.data.download import DataError, check_data_dir
from empirical.engine.architectures import ARCHITECTURES, DEFAULT_ARCH
from empirical.engine.context import Context, Scale
from empirical.engine.evaluation import evaluate
from empirical.engine.runs import train_all

__all__ = ["COMPARED", "RTOL", "arch_of", "recheck", "main"]

COMPARED = ("acc", "LI", "DI", "NLI")  # the orbit metrics: SI and sigma_max(J) would cost minutes more per run
RTOL = 1e-6  # LI, DI, NLI: float32 sums over 50,000 orbits; the same weights give them to every digit


def arch_of(path: Path) -> str:
    """The architecture a table's file name names: table1.json -> the mlp, table1_<arch>.json -> <arch>."""
    stem = Path(path).stem
    arch = DEFAULT_ARCH if stem == "table1" else stem.removeprefix("table1_")
    if not stem.startswith("table1") or arch not in ARCHITECTURES:
        raise UsageError(f"{path}: not a table of empirical.table1 (table1.json or table1_<arch>.json, <arch> one "
                         f"of {', '.join(ARCHITECTURES)})")
    return arch


def _seeds_asked(row: dict[str, Any]) -> int:
    """How many seeds the table trained for ``row``: those in its means and those that failed."""
    return row["seeds"] + len(row.get("failed", []))


def _committed(row: dict[str, Any], seed: int) -> dict[str, float] | None:
    """The per-seed numbers of ``seed`` in ``row`` (its list skips failed seeds); None if that seed failed."""
    failed = {f["seed"] for f in row.get("failed", [])}
    ok = [s for s in range(_seeds_asked(row)) if s not in failed]
    return row["per_seed"][ok.index(seed)] if seed in ok else None


def recheck(ctx: Context, doc: dict[str, Any], groups: list[str], models: list[str], seeds: list[int]
            ) -> list[dict[str, Any]]:
    """Train each (group, model, seed) of the table ``doc`` again in ``ctx`` and compare its test metrics with the
    committed ones. Returns one record per run: its key, today's and the committed metrics, and ``same``."""
    rows = {(r["group"], r["model"]): r for r in doc["rows"]}
    wanted = [(rows[(g, m)], s) for g in groups for m in models for s in seeds]
    configs = [ctx.config(dataset="mnist", group=r["group"], model=r["model"], seed=s,
                          **({"form": "LI", "nu": r["nu"]} if r["model"] == "IR" else {})) for r, s in wanted]
    out = []
    for (row, seed), res in zip(wanted, train_all(ctx, configs)):
        committed = _committed(row, seed)
        today = None if res.failed else evaluate(ctx, res, metrics=("orbit",))
        same = (committed is None and today is None) or (
            committed is not None and today is not None and committed["acc"] == today["acc"]
            and all(math.isclose(today[m], committed[m], rel_tol=RTOL, abs_tol=0.0) for m in COMPARED[1:]))
        out.append({"group": row["group"], "model": row["model"], "seed": seed, "key": res.config.key(),
                    "today": today and {m: today[m] for m in COMPARED}, "committed": committed and
                    {m: committed[m] for m in COMPARED}, "failed": res.failed, "same": same})
    return out


def _line(r: dict[str, Any]) -> str:
    def numbers(d: dict[str, float] | None) -> str:
        return "failed" if d is None else f"acc {100 * d['acc']:.3f} %, LI {d['LI']:.6g}, DI {d['DI']:.6g}, " \
                                          f"NLI {d['NLI']:.6g}"
    verdict = "the same" if r["same"] else "DIFFERENT"
    return (f"{r['group']} {r['model']} seed {r['seed']} (run {r['key']}): {verdict}\n"
            f"  today:     {numbers(r['today'])}\n  committed: {numbers(r['committed'])}")


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text())
        Scale(**doc["scale"])
        if not all({"group", "model", "nu", "seeds", "per_seed"} <= set(r) for r in doc["rows"]):
            raise KeyError("per_seed")
        return doc
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; name a table1.json written by python -m empirical.table1") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a table of python -m empirical.table1 ({exc!r} missing or malformed); "
                         "name its table1.json") from None


def _choose(asked: list[Any] | None, have: list[Any], what: str) -> list[Any]:
    if not asked:
        return have
    if missing := [a for a in asked if a not in have]:
        raise UsageError(f"the table has no {what} {', '.join(map(str, missing))}; it has {', '.join(map(str, have))}")
    return asked


@command
def main(argv: list[str] | None = None) -> int:
    """Recheck the named runs of a table; print each beside its committed numbers."""
    p = argparse.ArgumentParser(prog="python -m empirical.recheck", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("table", type=Path, help="a table1.json (or table1_<arch>.json) written by empirical.table1")
    p.add_argument("--group", nargs="+", help="groups to recheck (default: every group in the table)")
    p.add_argument("--model", nargs="+", help="models to recheck: WT, DA, IR (default: all three)")
    p.add_argument("--seed", nargs="+", type=non_negative_int, default=[0], help="seeds to recheck (default: 0)")
    p.add_argument("--data-dir", default=None, help="folder with MNIST (else $INVARIANCE_DATA)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="keep the retrained runs here (default: a temporary folder, removed at the end)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    args = p.parse_args(argv)
    try:
        arch, doc = arch_of(args.table), _read(args.table)
        groups = _choose(args.group, list(dict.fromkeys(r["group"] for r in doc["rows"])), "group")
        models = _choose(args.model, list(dict.fromkeys(r["model"] for r in doc["rows"])), "model")
        seeds = _choose(args.seed, list(range(max(_seeds_asked(r) for r in doc["rows"]))), "seed")
        check_data_dir(args.data_dir)
    except (UsageError, DataError) as exc:
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="recheck-") as tmp:
        cache = args.cache_dir or Path(tmp)
        ctx = Context(scale=Scale(**doc["scale"]), device=torch.device("cpu"), data_dir=args.data_dir,
                      out=cache / "out", cache_dir=cache, quiet=args.quiet, arch=arch)
        records = recheck(ctx, doc, groups, models, seeds)
    for r in records:
        print(_line(r))
    differ = sum(not r["same"] for r in records)
    print(f"{len(records) - differ} of {len(records)} run(s) give the committed numbers"
          + (f"; {differ} do not: {args.table} holds runs this code does not make" if differ else ""))
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
