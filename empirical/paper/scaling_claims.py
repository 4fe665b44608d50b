"""Does data augmentation learn genuine invariance with more data? Claims with criteria fixed before the runs.

The outputs live in ``paper_figures/data_scaling/``: ``scaling.json`` (every row: group x kind x n x step budget,
mean ± std over seeds), ``scaling.md`` and ``scaling.png``, written by ``python -m empirical.scaling``
(``empirical.paper.data_scaling`` describes the grid). These criteria were written, tested on synthetic outputs and
committed before any full-scale run of that grid; a claim whose rows are absent is 'not measured', and a verdict on
part of the grid names the cells not measured yet.

Common rules. A *trend* is the least-squares line of the seed means against log10 n over the measured sizes (for
NLI, log10 NLI against log10 n: it spans decades). A quantity *rises* (*falls*) with n when the trend's slope is
positive (negative) AND its mean at the largest measured n exceeds (lies below) its mean at the smallest by more than
:data:`MARGIN` times the larger of the two seed standard deviations (ddof 0; for a difference of two kinds, the
root sum of their squares): a change within the seed noise is no trend. At least two sizes are needed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

from empirical.paper.verdicts import judge

__all__ = ["FOLDER", "OUTPUT", "COMMAND", "ARCHS", "SI_WT_LIKE", "MARGIN", "CLAIMS", "load", "reference_sizes",
           "series", "difference", "trend", "moves", "findings", "scaling_findings", "scaling_markdown",
           "table_markdown", "scope_lines"]

FOLDER = "data_scaling"  # the sub-folder of the outputs folder
OUTPUT = "scaling"  # the outputs' stem: scaling.json, scaling.md, scaling.png
COMMAND = "python -m empirical.scaling"
SI_WT_LIKE = 0.9  # "WT-like invariance": the threshold of the ir_resembles_wt claim of Table 1
MARGIN = 2.0  # a change counts only beyond MARGIN seed standard deviations
BUDGET_METRICS = ("acc", "NLI", "SI")  # the claims' metrics, checked against a doubled step budget
ARCHS = ("mlp", "cnn")  # the architectures the grid is judged on; linear DA (and its claims) only for the mlp

Series = list[tuple[int, float, float, int]]  # (n, mean, std, seeds) by increasing n


def load(out: Path, arch: str = "mlp") -> dict[str, Any] | None:
    """``out/data_scaling/scaling.json`` (``scaling_<arch>.json`` for an architecture other than the mlp), or None."""
    path = Path(out) / FOLDER / f"{_stem(arch)}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _stem(arch: str) -> str:
    return OUTPUT if arch == "mlp" else f"{OUTPUT}_{arch}"


def _command(arch: str) -> str:
    return COMMAND if arch == "mlp" else f"{COMMAND} --arch {arch}"


def reference_sizes(sizes: list[int]) -> list[int]:
    """Where WT and IR train first: the smallest and largest n, and Table 1's 10,000 when it is among them."""
    return sorted({sizes[0], sizes[-1], *(n for n in sizes if n == 10_000)})


def _base_steps(doc: dict[str, Any]) -> int:
    return int(doc["scale"]["steps"])


def series(doc: dict[str, Any], group: str, kind: str, metric: str, steps: int | None = None) -> Series:
    """(n, mean, std, seeds) of ``metric`` for group x kind at the base budget (or ``steps``), by increasing n."""
    steps = _base_steps(doc) if steps is None else steps
    return sorted((r["n"], r[metric][0], r[metric][1], r["seeds"]) for r in doc["rows"]
                  if r["group"] == group and r["kind"] == kind and r["steps"] == steps and r.get(metric) is not None)


def difference(a: Series, b: Series) -> Series:
    """a - b at the sizes both have; std = the root sum of squares of theirs (independent seeds)."""
    bs = {n: (m, s, k) for n, m, s, k in b}
    return [(n, m - bs[n][0], math.hypot(s, bs[n][1]), min(k, bs[n][2])) for n, m, s, k in a if n in bs]


def trend(s: Series, log_y: bool = False) -> tuple[float, float, float]:
    """(intercept, slope per decade of n, R^2) of the least-squares line of the means (log10 of them with ``log_y``)
    against log10 n; needs two sizes or more."""
    xs = [math.log10(n) for n, *_ in s]
    ys = [math.log10(max(m, 1e-300)) if log_y else m for _, m, *_ in s]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - slope * mx
    ss = sum((y - my) ** 2 for y in ys)
    res = sum((y - a - slope * x) ** 2 for x, y in zip(xs, ys))
    return a, slope, (1.0 - res / ss) if ss > 0 else 1.0


def moves(s: Series, direction: str, log_y: bool = False) -> tuple[bool, str]:
    """Whether the series rises / falls with n (module docstring), and the numbers that decide it."""
    a, b, r2 = trend(s, log_y)
    (n0, m0, s0, k0), (n1, m1, s1, k1) = s[0], s[-1]
    change, margin = m1 - m0, MARGIN * max(s0, s1)
    ok = (b > 0 and change > margin) if direction == "rises" else (b < 0 and -change > margin)
    what = "log10 per decade" if log_y else "per decade"
    return ok, (f"{_v(m0)} ± {_v(s0)} at n={n0:,} ({k0} seed{'s' * (k0 != 1)}) -> {_v(m1)} ± {_v(s1)} at "
                f"n={n1:,} ({k1} seed{'s' * (k1 != 1)}); trend {b:+.3g} {what} (R² {r2:.2f}); change {change:+.3g} vs "
                f"margin {margin:.3g}")


def _v(x: float) -> str:
    return f"{x:.3g}"


def _count(x: float) -> str:
    """A count to 3 significant digits: '12,300', or '4.56e+12' beyond ten million."""
    if x >= 1e7:
        return f"{x:.3g}"
    digits = max(0, 2 - math.floor(math.log10(x))) if x > 0 else 0
    return f"{round(x, -math.floor(math.log10(x)) + 2) if x > 0 else 0:,.{min(digits, 2)}f}"


# --- the claims: (id, statement, test(doc, group) -> (ok, evidence) or None when its rows are absent, the kinds at
# every size and the kinds at the reference sizes it needs) ---

def _si_rises(doc, g):
    s = series(doc, g, "DA", "SI")
    return moves(s, "rises") if len(s) >= 2 else None


def _si_reaches(doc, g):
    s = series(doc, g, "DA", "SI")
    if len(s) < 2:
        return None
    a, b, r2 = trend(s)
    n_last, m_last = s[-1][0], s[-1][1]
    if b > 0:
        need = 10 ** ((SI_WT_LIKE - a) / b)
        where = (f"the trend reaches {SI_WT_LIKE} at n ≈ {_count(need)} ({_count(need / n_last)}x the largest n "
                 f"measured)" if m_last < SI_WT_LIKE else "")
    else:
        where = f"the trend does not rise (slope {b:+.3g} per decade): it never reaches {SI_WT_LIKE}"
    evidence = (f"DA SI {m_last:.3f} at the largest n measured, {n_last:,}; trend SI = {a:.3f} {b:+.3f} log10 n "
                f"(R² {r2:.2f})" + (f"; {where}" if where else ""))
    return m_last >= SI_WT_LIKE, evidence


def _nli_falls(doc, g):
    s = series(doc, g, "DA", "NLI")
    return moves(s, "falls", log_y=True) if len(s) >= 2 else None


def _linear_faster(doc, g):
    da, lin = series(doc, g, "DA", "NLI"), series(doc, g, "DA-linear", "NLI")
    if len(da) < 2 or len(lin) < 2:
        return None
    falls, ev = moves(lin, "falls", log_y=True)
    b_da, b_lin = trend(da, True)[1], trend(lin, True)[1]
    return falls and b_lin < b_da, (f"log-log slope of NLI: linear DA {b_lin:+.3g}, DA {b_da:+.3g}; linear DA: {ev}")


def _linear_genuine(doc, g):
    s, nli = series(doc, g, "DA-linear", "SI"), series(doc, g, "DA-linear", "NLI")
    if not s:
        return None
    n, m, sd, k = s[-1]
    extra = f", NLI {nli[-1][1]:.3g}" if nli else ""
    return m >= SI_WT_LIKE, f"linear DA at the largest n measured ({n:,}): SI {m:.3f} ± {sd:.3f}{extra}"


def _gap(doc, g, high: str, low: str):
    s = difference(series(doc, g, high, "acc"), series(doc, g, low, "acc"))
    return moves(s, "falls") if len(s) >= 2 else None


def _budget(doc, g):
    """Per kind (DA, DA-linear) at the largest n with a doubled-budget row: |mean(2x) - mean(1x)| <= the larger seed
    range (max - min over seeds) of the two budgets, for each of BUDGET_METRICS; needs >= 2 seeds at each."""
    base = _base_steps(doc)
    found = {}
    for kind in ("DA", "DA-linear"):
        by = {(r["n"], r["steps"]): r for r in doc["rows"] if r["group"] == g and r["kind"] == kind}
        doubled = [n for (n, st) in by if st == 2 * base and (n, base) in by]
        if not doubled:
            continue
        n = max(doubled)
        one, two = by[(n, base)], by[(n, 2 * base)]
        if one["seeds"] < 2 or two["seeds"] < 2:
            continue
        parts, ok = [], True
        for m in BUDGET_METRICS:
            spread = max(max(v) - min(v) for v in ([p[m] for p in one["per_seed"]], [p[m] for p in two["per_seed"]]))
            spread *= 100.0 if m == "acc" else 1.0
            move = abs(two[m][0] - one[m][0])
            ok &= move <= spread
            parts.append(f"{m} {one[m][0]:.3g} -> {two[m][0]:.3g} (moved {move:.3g}, seed range {spread:.3g})")
        found[kind] = (ok, f"{kind} at n={n:,}, {base:,} -> {2 * base:,} steps: " + ", ".join(parts))
    if not found:
        return None
    return all(ok for ok, _ in found.values()), "; ".join(e for _, e in found.values())


CLAIMS: list[tuple[str, str, Callable, tuple[str, ...], tuple[str, ...]]] = [
    ("scaling_da_si_rises",
     "DA's saliency invariance rises with the training-set size n at a fixed step budget (criterion: test SI's trend "
     "against log10 n has a positive slope and SI at the largest n exceeds SI at the smallest by more than 2 seed "
     "standard deviations).", _si_rises, ("DA",), ()),
    ("scaling_da_si_reaches_wt_like",
     f"DA reaches WT-like invariance within the available data (criterion: mean test SI >= {SI_WT_LIKE} at the "
     "largest n); the evidence gives the fitted trend SI = a + b log10 n and, if SI stays below, the n at which the "
     "trend would reach it.", _si_reaches, ("DA",), ()),
    ("scaling_da_nli_falls",
     "DA's logit invariance error relative to its logits' scale (NLI = ||f(x) - f(gx)||² / ||f(x)||²) falls with n "
     "(criterion: the log-log trend of NLI against n has a negative slope and NLI at the largest n lies more than 2 "
     "seed standard deviations below NLI at the smallest).", _nli_falls, ("DA",), ()),
    ("scaling_linear_nli_falls_faster",
     "The deep linear network (the mlp without ReLUs) trained by DA loses its NLI faster with n than the ReLU mlp "
     "(criterion: its NLI falls as above, and its log-log slope is below DA's).", _linear_faster,
     ("DA", "DA-linear"), ()),
    ("scaling_linear_da_genuine",
     f"The deep linear network trained by DA learns genuine invariance, as the deep-linear theory predicts (Duan & "
     f"Montúfar 2026; criterion: its mean test SI >= {SI_WT_LIKE} at the largest n).", _linear_genuine,
     ("DA-linear",), ()),
    ("scaling_da_wt_accuracy_gap_closes",
     "The accuracy gap between WT and DA (WT - DA) closes with n (criterion: the gap falls with n, the margin from "
     "both kinds' seed standard deviations).", lambda d, g: _gap(d, g, "WT", "DA"), ("DA",), ("WT",)),
    ("scaling_ir_accuracy_cost_shrinks",
     "IR's accuracy cost (DA - IR, nu fixed at Table 1's) shrinks with n (criterion: the cost falls with n, the "
     "margin from both kinds' seed standard deviations).", lambda d, g: _gap(d, g, "DA", "IR"), ("DA",), ("IR",)),
    ("scaling_budget_sufficient",
     "The step budget is not what limits the largest n: doubling it moves DA's and linear DA's accuracy, NLI and SI "
     "by no more than the seed range (max - min over >= 2 seeds, the larger of the two budgets').", _budget, (), ()),
]


def _missing(doc: dict[str, Any], group: str, every: tuple[str, ...], ref: tuple[str, ...]) -> list[str]:
    """The planned cells (kind at n) the claim needs that have no row yet."""
    sizes = doc["scale"]["sizes"]
    ref_sizes = reference_sizes(sizes)
    base = _base_steps(doc)
    have = {(r["kind"], r["n"]) for r in doc["rows"] if r["group"] == group and r["steps"] == base and r["seeds"]}
    return [f"{group} {k} n={n:,}" for k in every for n in sizes if (k, n) not in have] + \
           [f"{group} {k} n={n:,}" for k in ref for n in ref_sizes if (k, n) not in have]


def scaling_findings(out: Path) -> list[tuple[str, str, str, str, str, str]]:
    """(id, source, statement, verdict, evidence, command) of every data-scaling claim, judged on ``out/data_scaling``:
    the mlp's (every claim, 'not measured' without its output), then each other architecture's whose output exists."""
    found = findings(load(out))
    for arch in ARCHS[1:]:
        doc = load(out, arch)
        if doc is not None:
            found += findings(doc, arch)
    return found


def findings(doc: dict[str, Any] | None, arch: str = "mlp") -> list[tuple[str, str, str, str, str, str]]:
    """:func:`scaling_findings` on one scaling document (None: every claim 'not measured'). For an architecture other
    than the mlp the ids end in ``_<arch>``, the statements name it, and the linear network's claims are left out."""
    found = []
    command = _command(arch)
    for cid, statement, test, every, ref in CLAIMS:
        if arch != "mlp":
            if "DA-linear" in every + ref or cid == "scaling_linear_da_genuine":
                continue
            cid, statement = f"{cid}_{arch}", f"({arch}) {statement}"
        if doc is None:
            found.append((cid, "issue 28", statement, "not measured", f"run `{command}` first", command))
            continue
        groups = sorted({r["group"] for r in doc["rows"]})
        res = {g: r for g in groups if (r := test(doc, g)) is not None}
        if not res:
            found.append((cid, "issue 28", statement, "not measured", f"its rows are absent: run `{command}`",
                          command))
            continue
        verdict = judge({g: ok for g, (ok, _) in res.items()})
        evidence = "; ".join(f"{g}: {e}" for g, (_, e) in res.items())
        missing = [m for g in res for m in _missing(doc, g, every, ref)]
        unmeasured = [g for g in ("R4", "T3") if g not in res]
        if missing or unmeasured:
            absent = [f"{g} (none of the cells this claim needs)" for g in unmeasured]
            evidence = ("PARTIAL GRID, not yet measured: " + ", ".join(missing + absent)
                        + f" (`{command}` resumes). " + evidence)
        found.append((cid, "issue 28", statement, verdict, evidence, command))
    return found


def _ms(v: list[float] | None, spec: str) -> str:
    return "-" if v is None else f"{v[0]:{spec}} ± {v[1]:{spec}}"


def table_markdown(doc: dict[str, Any]) -> list[str]:
    """The rows as a markdown table (test set; mean ± std over seeds)."""
    lines = ["| G | kind | n | steps | seeds | acc (%) | orbit acc (%) | LI | ‖f(x)‖² | NLI | DI | SI | sigma_max(J) | "
             "train s |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        lines.append(f"| {r['group']} | {r['kind']} | {r['n']:,} | {r['steps']:,} | {r['seeds']} | "
                     f"{_ms(r['acc'], '.1f')} | {_ms(r['orbit_acc'], '.1f')} | {_ms(r['LI'], '.3g')} | "
                     f"{_ms(r['logit_norm2'], '.3g')} | {_ms(r['NLI'], '.3g')} | {_ms(r['DI'], '.3g')} | "
                     f"{_ms(r['SI'], '.3f')} | {_ms(r['sigma_max_J'], '.3g')} | {r['training_seconds']:.0f} |")
    lines += ["", "acc: test accuracy on each sample transformed by its own g; orbit acc: every member of the sample's "
              "orbit classified correctly; ‖f(x)‖²: the logits' mean squared norm; NLI: ‖f(x) - f(gx)‖² / ‖f(x)‖², "
              "per sample, averaged over g != e and the test set; train s: the training seconds the runs recorded."]
    for r in doc["rows"]:
        lines += [f"- {r['group']} {r['kind']} n={r['n']:,} seed {f['seed']} FAILED and is left out: {f['reason']}."
                  for f in r.get("failed", [])]
    return lines


def _cpu_note(doc: dict[str, Any]) -> str:
    """The CPU time the runs that recorded it spent (runs trained before it was recorded did not)."""
    cpu = doc.get("training_cpu_seconds") or {}
    if not cpu.get("runs"):
        return ""
    return f"; the CPU time, recorded by {cpu['runs']} of these runs: {cpu['seconds']:,.0f} s"


def scope_lines(doc: dict[str, Any]) -> list[str]:
    """What was measured and what not: the split, the budget, the nu, the plan's parts with their runs measured."""
    hours = doc.get("training_seconds", 0.0) / 3600
    arch = doc.get("arch", "mlp")
    linear = "; the linear network (DA without ReLUs) only for the mlp" if arch != "mlp" else ""
    lines = [f"- Scale **{doc.get('scale_tag', '?')}**, architecture `{arch}`{linear}, Transforming-MNIST, device "
             f"`{doc.get('device')}`.",
             f"- Split: {doc['split']}.", f"- Budget: {doc['budget']}.",
             f"- IR's nu: {', '.join(f'{g} {v:g}' for g, v in doc['nu'].items())}, from {doc['nu_source']}; not "
             f"retuned per n.",
             f"- Training cost of the runs measured: {doc.get('training_seconds', 0.0):,.0f} s = {hours:.2f} "
             f"hours of one core, in the wall seconds the runs recorded (one thread each; evaluation not counted): on "
             f"a busy machine an upper bound on the core time{_cpu_note(doc)}.",
             "- The grid, in priority order (runs measured / planned):"]
    lines += [f"  - {p['part']}: {p['measured']}/{p['runs']}" + (" (reduced design)" if p.get("reduced") else "")
              for p in doc["plan"]]
    return lines


def scaling_markdown(out: Path) -> str:
    """The README section on the data-scaling experiment: per architecture measured, its scope, figure, table and
    verdicts."""
    head = [f"## Does DA learn genuine invariance with more data? (`{COMMAND}`)", ""]
    doc = load(out)
    if doc is None:
        return "\n".join(head + [f"Not measured yet: run `{COMMAND}` (outputs in `{FOLDER}/`).", ""])
    lines = head + ["Duan & Montúfar (2026, §6) suggest that nonlinear networks may learn invariance by data "
                    "augmentation when trained with enough data. Table 1's models on nested training sets of n "
                    f"images at a fixed step budget; every number below is read from `{FOLDER}/`.", ""]
    for arch in ARCHS:
        doc = load(out, arch)
        if doc is None:
            lines += [f"### The {arch}: not measured yet (`{_command(arch)}`)", ""]
            continue
        stem = _stem(arch)
        lines += [f"### The {arch} (`{_command(arch)}`, `{FOLDER}/{stem}.json`)", "", *scope_lines(doc), "",
                  f"![SI and NLI against n, {arch}]({FOLDER}/{stem}.png)", "", *table_markdown(doc), "",
                  "The claims, each with a criterion fixed before the runs:", "", "| claim | verdict | evidence |",
                  "|---|---|---|"]
        for _, _, statement, verdict, evidence, _ in findings(doc, arch):
            cells = [statement, f"**{verdict}**", evidence]
            lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)
