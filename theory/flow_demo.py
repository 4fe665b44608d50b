"""``python -m theory.flow_demo``: check every claim of the theory (linear and deep linear) and draw its figures.

Prints one line per claim (verdict, the verdict the theory predicts, cases checked, worst sigma_max ratio)
and a closing tally, or with ``--json`` one JSON object per claim (``expected`` included); writes the
figures of ``theory.figures`` into ``--out`` (default: ``paper_figures/theory`` of the source checkout this
package sits in). The same ``--seed`` gives the same output. A refuted boundary claim is a finding the
theory predicts, not an error: the exit status is 1 only when some verdict differs from its claim's
``expected`` one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence

from theory.claim import Verdict
from theory.claims import all_claims, check_all

__all__ = ["main", "format_table", "summary_line", "default_out"]

# The figures folder of a source checkout: beside the package, never relative to the current directory,
# so running the demo elsewhere leaves no stray paper_figures/ behind. An installed package has none.
_CHECKOUT_FIGURES = Path(__file__).resolve().parents[1] / "paper_figures"


def default_out() -> Path | None:
    """``paper_figures/theory`` of the source checkout holding this package; None outside a checkout."""
    return _CHECKOUT_FIGURES / "theory" if _CHECKOUT_FIGURES.is_dir() else None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m theory.flow_demo", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the verdicts as a JSON list instead of the table")
    out = default_out()
    shown = "none outside a source checkout; required" if out is None else str(out).replace("%", "%%")
    p.add_argument("--out", type=Path, default=None, help=f"folder for the figures (default: {shown})")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--seed", type=int, default=0, help="seed of every random search and figure (default: %(default)s)")
    p.add_argument("--cases", type=int, default=50, help="random instances per claim (default: %(default)s)")
    p.add_argument("--deep-cases", type=int, default=10,
                   help="random instances per deep-linear claim, an ODE each (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="print nothing unless --json")
    return p


def _fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.6g}"


def _word(holds: bool) -> str:
    return "holds" if holds else "REFUTED"


def format_table(verdicts: Sequence[Verdict], expected: Mapping[str, bool]) -> str:
    """The verdicts as a fixed-width text table: claim, verdict, expected verdict, cases, worst ratio, note."""
    width = max(len(v.claim) for v in verdicts)
    lines = [f"{'claim':<{width}}  {'verdict':<8}  {'expected':<8}  {'cases':>5}  {'worst ratio':>12}  note"]
    for v in verdicts:
        note = v.detail
        if v.counterexample is not None:
            cex = v.counterexample
            note += f"; counterexample: {cex.get('group', '')} ratio {_fmt_ratio(cex.get('ratio'))}"
        if v.holds != expected[v.claim]:
            note = "UNEXPECTED; " + note
        lines.append(f"{v.claim:<{width}}  {_word(v.holds):<8}  {_word(expected[v.claim]):<8}  {v.cases:>5}  "
                     f"{_fmt_ratio(v.worst_ratio):>12}  {note}")
    return "\n".join(lines)


def _why_unexpected(v: Verdict) -> str:
    # A boundary that holds only means the search met no counterexample (too few cases); a proved claim
    # that is refuted means a bug in the theory or the code.
    if v.holds:
        return f"no counterexample met in {v.cases} case{'' if v.cases == 1 else 's'}; raise --cases / --deep-cases"
    return "refuted, expected to hold"


def summary_line(verdicts: Sequence[Verdict], expected: Mapping[str, bool]) -> str:
    """'N claims hold, M refuted as expected (the theory's boundaries), K unexpected', naming the unexpected ones."""
    unexpected = [v for v in verdicts if v.holds != expected[v.claim]]
    holds = sum(v.holds and expected[v.claim] for v in verdicts)
    refuted = sum(not v.holds and not expected[v.claim] for v in verdicts)
    line = (f"{holds} claims hold, {refuted} refuted as expected (the theory's boundaries), "
            f"{len(unexpected)} unexpected")
    if unexpected:
        line += ": " + ", ".join(f"{v.claim} ({_why_unexpected(v)})" for v in unexpected)
    return line


def main(argv: Sequence[str] | None = None) -> int:
    """Run the claims (and figures); print the table or JSON; 1 when a verdict differs from the expected one."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.cases < 1 or args.deep_cases < 1:
        parser.error("--cases and --deep-cases must be >= 1")
    out = args.out if args.out is not None else default_out()
    if out is None and not args.no_figures:
        parser.error(f"--out is required: no paper_figures/ beside the package ({_CHECKOUT_FIGURES.parent}) to "
                     f"default to; pass --out DIR for the figures, or --no-figures")
    expected = {c.id: c.expected for c in all_claims()}
    start = time.perf_counter()
    verdicts = check_all(seed=args.seed, cases=args.cases, deep_cases=args.deep_cases)
    if args.json:
        print(json.dumps([{**v.to_json(), "expected": expected[v.claim]} for v in verdicts], indent=1))
    elif not args.quiet:
        print(format_table(verdicts, expected))
        print(f"\n{summary_line(verdicts, expected)}; "
              f"seed {args.seed}, {args.cases} cases per linear claim, {args.deep_cases} per deep-linear claim, "
              f"{time.perf_counter() - start:.1f} s")
    if not args.no_figures:
        from theory.deep_figures import deep_figures  # lazy: matplotlib only when drawing
        from theory.figures import write_figures

        paths = write_figures(out, seed=args.seed) + deep_figures(out, args.seed)
        if not (args.json or args.quiet):
            print("figures: " + ", ".join(str(p) for p in paths))
    return int(any(v.holds != expected[v.claim] for v in verdicts))


if __name__ == "__main__":
    sys.exit(main())
