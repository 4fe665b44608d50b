"""Beyond the paper: its findings asked of a CNN and of larger groups, each with a criterion fixed before the runs.

The outputs live in ``paper_figures/beyond/``: ``table1.json`` (mlp) and ``table1_cnn.json`` (cnn) over
R4, T3, D4, F2, and ``fig5_spectral_cnn.json`` (the CNN's Figure 5 on R4). The criteria below were
committed before any of those outputs existed; a claim whose outputs are absent is 'not measured'.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

__all__ = ["BEYOND", "COMMANDS", "beyond_findings"]

BEYOND = "beyond"  # the sub-folder of the outputs folder
COMMANDS = {
    "table1_cnn": "python -m empirical.table1 --arch cnn --groups R4 T3 D4 F2 --out paper_figures/beyond",
    "table1": "python -m empirical.table1 --groups R4 T3 D4 F2 --out paper_figures/beyond",
    "fig5_spectral_cnn": "python -m empirical.spectral --arch cnn --groups R4 --out paper_figures/beyond",
}


def _load(folder: Path) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    """Rows by (group, model) of each beyond output present in ``folder``."""
    out = {}
    for name in COMMANDS:
        path = folder / f"{name}.json"
        if path.exists():
            out[name] = {(r["group"], r["model"]): r for r in json.loads(path.read_text())["rows"]}
    return out


def _m(row: dict[str, Any], key: str) -> float:
    return float(row[key][0])


def _judge(pred: dict[str, bool]) -> str:
    ok = [k for k, v in pred.items() if v]
    return "holds" if len(ok) == len(pred) else ("fails" if not ok else f"holds only for {', '.join(ok)}")


def _per_group(rows, test: Callable[[dict, str], tuple[bool, str]]) -> tuple[str, str]:
    groups = sorted({g for g, _ in rows})
    res = {g: test(rows, g) for g in groups}
    return _judge({g: ok for g, (ok, _) in res.items()}), "; ".join(f"{g}: {e}" for g, (_, e) in res.items())


def _da_not_genuine(r, g):
    da, ir, wt = r[(g, "DA")], r[(g, "IR")], r[(g, "WT")]
    ok = _m(da, "LI") > 10 * max(_m(ir, "LI"), _m(wt, "LI")) and _m(da, "SI") < min(_m(ir, "SI"), _m(wt, "SI")) - 0.2
    return ok, f"LI DA {_m(da, 'LI'):.3g} vs IR {_m(ir, 'LI'):.3g}, WT {_m(wt, 'LI'):.3g}; SI DA {_m(da, 'SI'):.2f} " \
               f"vs IR {_m(ir, 'SI'):.2f}, WT {_m(wt, 'SI'):.2f}"


def _ir_like_wt(r, g):
    da, ir, wt = r[(g, "DA")], r[(g, "IR")], r[(g, "WT")]
    ok = _m(ir, "SI") >= 0.9 and _m(ir, "LI") < 0.01 * _m(da, "LI")
    return ok, f"IR SI {_m(ir, 'SI'):.2f}, LI {_m(ir, 'LI'):.3g} (DA {_m(da, 'LI'):.3g}); accuracy cost " \
               f"{_m(wt, 'acc') - _m(ir, 'acc'):.1f} points below WT, {_m(da, 'acc') - _m(ir, 'acc'):.1f} below DA"


def _wt_upper_bound(r, g):
    acc = {m: _m(r[(g, m)], "acc") for m in ("WT", "DA", "IR")}
    return acc["WT"] >= max(acc["DA"], acc["IR"]), ", ".join(f"{m} {a:.1f}%" for m, a in acc.items())


def beyond_findings(out: Path) -> list[tuple[str, str, str, str, str, str]]:
    """(id, source, statement, verdict, evidence, command) of every beyond-the-paper claim, judged on ``out/beyond``."""
    data = _load(Path(out) / BEYOND)
    cnn, mlp, spec = data.get("table1_cnn"), data.get("table1"), data.get("fig5_spectral_cnn")
    rows: list[tuple[str, str, str, tuple[str, str] | None, str]] = []

    rows.append(("beyond_cnn_da_not_genuine", "Sec. 4.2 for a CNN",
                 "DA does not learn genuine invariance in the CNN either: DA's LI > 10x IR's and WT's, and DA's SI "
                 "more than 0.2 below IR's and WT's (per group).",
                 _per_group(cnn, _da_not_genuine) if cnn else None, COMMANDS["table1_cnn"]))
    rows.append(("beyond_cnn_ir_like_wt", "Sec. 4.2 for a CNN",
                 "IR reaches WT-like invariance in the CNN: test SI >= 0.9 and LI below 1 % of DA's (per group); "
                 "the evidence gives its accuracy cost against WT and DA.",
                 _per_group(cnn, _ir_like_wt) if cnn else None, COMMANDS["table1_cnn"]))

    def sigma(s):
        da = _m(s[("R4", "DA")], "sigma_max_J")
        forms = {m: _m(row, "sigma_max_J") for (g, m), row in s.items() if g == "R4" and m.startswith("IR-")}
        return _judge({m: v < da for m, v in forms.items()}), f"R4 sigma_max(J): DA {da:.3g}; " + ", ".join(
            f"{m} {v:.3g}" for m, v in forms.items())

    rows.append(("beyond_cnn_ir_lowers_sigma", "Sec. 4.4 for a CNN",
                 "Every IR form (LI, DI, NLI at SI >= 0.95) lowers the CNN's sigma_max(J) below DA's on R4.",
                 sigma(spec) if spec else None, COMMANDS["fig5_spectral_cnn"]))

    def larger_group(tables):
        res = {arch: (_m(t[("D4", "DA")], "SI") < _m(t[("R4", "DA")], "SI"),
                      f"{arch}: DA SI D4 {_m(t[('D4', 'DA')], 'SI'):.2f} vs R4 {_m(t[('R4', 'DA')], 'SI'):.2f}")
               for arch, t in tables.items()}
        return _judge({a: ok for a, (ok, _) in res.items()}), "; ".join(e for _, e in res.values())

    tables = {a: t for a, t in (("mlp", mlp), ("cnn", cnn)) if t}
    rows.append(("beyond_da_si_falls_with_group_size", "suite",
                 "For the larger group (D4, 8 elements, containing R4) DA's SI is lower than for R4 (per architecture).",
                 larger_group(tables) if tables else None, COMMANDS["table1_cnn"] + "; " + COMMANDS["table1"]))

    def upper(tables):
        res = {a: _per_group(t, _wt_upper_bound) for a, t in tables.items()}
        return _judge({a: v == "holds" for a, (v, _) in res.items()}), " | ".join(
            f"{a}: {v}; {e}" for a, (v, e) in res.items())

    rows.append(("beyond_wt_accuracy_upper_bound", "Sec. 4.2 beyond",
                 "WT has the highest accuracy of WT, DA, IR for every architecture x group.",
                 upper(tables) if tables else None, COMMANDS["table1_cnn"] + "; " + COMMANDS["table1"]))
    return [(cid, src, st, *(res or ("not measured", f"run `{cmd}` first")), cmd) for cid, src, st, res, cmd in rows]
