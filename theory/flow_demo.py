"""``python -m theory.flow_demo``: check every claim of the theory (linear and deep linear) and draw its figures.

Prints one line per claim (verdict, cases checked, worst sigma_max ratio), or with ``--json``
one JSON object per claim; writes the figures of ``theory.figures`` into ``--out``. The same
``--seed`` gives the same output. Exit status 0 when every check ran: a refuted claim is a
finding, not an error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

from theory.claim import Verdict
from theory.claims import check_all

__all__ = ["main", "format_table"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m theory.flow_demo", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the verdicts as a JSON list instead of the table")
    p.add_argument("--out", default="paper_figures/theory", help="folder for the figures (default: %(default)s)")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--seed", type=int, default=0, help="seed of every random search and figure (default: %(default)s)")
    p.add_argument("--cases", type=int, default=50, help="random instances per claim (default: %(default)s)")
    p.add_argument("--deep-cases", type=int, default=10,
                   help="random instances per deep-linear claim, an ODE each (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="print nothing unless --json")
    return p


def _fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.6g}"


def format_table(verdicts: Sequence[Verdict]) -> str:
    """The verdicts as a fixed-width text table: claim, verdict, cases, worst ratio, counterexample summary."""
    width = max(len(v.claim) for v in verdicts)
    lines = [f"{'claim':<{width}}  {'verdict':<8}  {'cases':>5}  {'worst ratio':>12}  note"]
    for v in verdicts:
        note = v.detail
        if v.counterexample is not None:
            cex = v.counterexample
            note += f"; counterexample: {cex.get('group', '')} ratio {_fmt_ratio(cex.get('ratio'))}"
        lines.append(f"{v.claim:<{width}}  {'holds' if v.holds else 'REFUTED':<8}  {v.cases:>5}  "
                     f"{_fmt_ratio(v.worst_ratio):>12}  {note}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the claims (and figures); print the table or JSON; 0 when every check ran."""
    args = _parser().parse_args(argv)
    if args.cases < 1 or args.deep_cases < 1:
        _parser().error("--cases and --deep-cases must be >= 1")
    start = time.perf_counter()
    verdicts = check_all(seed=args.seed, cases=args.cases, deep_cases=args.deep_cases)
    if args.json:
        print(json.dumps([v.to_json() for v in verdicts], indent=1))
    elif not args.quiet:
        print(format_table(verdicts))
        print(f"\n{sum(v.holds for v in verdicts)} of {len(verdicts)} claims hold; "
              f"seed {args.seed}, {args.cases} cases per linear claim, {args.deep_cases} per deep-linear claim, "
              f"{time.perf_counter() - start:.1f} s")
    if not args.no_figures:
        from theory.deep_figures import deep_figures  # lazy: matplotlib only when drawing
        from theory.figures import write_figures

        paths = write_figures(args.out, seed=args.seed) + deep_figures(Path(args.out), args.seed)
        if not (args.json or args.quiet):
            print("figures: " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
