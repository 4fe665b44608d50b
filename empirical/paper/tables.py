"""Table 1 as data and text: the paper's numbers and the markdown that sets ours beside them (Sec. 4.2)."""

from __future__ import annotations

from typing import Any

from empirical.engine.context import output_scale_tag
from empirical.paper.numbers import fmt
from empirical.engine.config import MODELS
from empirical.engine.tuning import tuning_note

__all__ = ["PAPER", "METRICS", "paper_row", "to_markdown"]

METRICS = ("acc", "LI", "DI", "SI")
# Table 1 of the paper: (mean, std) over 4 seeds; accuracy in %.
PAPER: dict[tuple[str, str], dict[str, tuple[float, float]]] = {
    ("R4", "WT"): {"acc": (94.6, 0.1), "LI": (0.00, 0.0), "DI": (0.0, 0.0), "SI": (1.00, 0.00)},
    ("R4", "DA"): {"acc": (94.0, 0.5), "LI": (98.6, 5.4), "DI": (0.3, 0.1), "SI": (0.17, 0.04)},
    ("R4", "IR"): {"acc": (87.9, 0.8), "LI": (0.02, 0.0), "DI": (0.0, 0.0), "SI": (0.95, 0.03)},
    ("T3", "WT"): {"acc": (96.6, 0.1), "LI": (0.0, 0.0), "DI": (0.0, 0.0), "SI": (1.00, 0.0)},
    ("T3", "DA"): {"acc": (96.2, 0.2), "LI": (50.8, 6.8), "DI": (0.1, 0.0), "SI": (0.57, 0.08)},
    ("T3", "IR"): {"acc": (93.1, 0.1), "LI": (0.01, 0.0), "DI": (0.0, 0.0), "SI": (0.95, 0.07)},
}


def paper_row(group: str, model: str) -> dict[str, list[float]] | None:
    """The paper's (mean, std) per metric for ``group`` x ``model``; None where the paper has no such row."""
    paper = PAPER.get((group, model))
    return {m: list(paper[m]) for m in METRICS} if paper else None


def _cell(m: str, value: list[float] | None) -> str:
    if value is None:
        return "-"
    digits = 1 if m == "acc" else 2
    return f"{fmt(value[0], digits)} ± {fmt(value[1], digits)}"


def to_markdown(table: dict[str, Any]) -> str:
    """Table 1 as markdown, each cell 'ours (paper)', rows by group then WT, DA, IR; the scale stated."""
    lines = ["| G | Model | nu | Acc. (%) | LI ⇓ | DI ⇓ | SI ⇑ |", "|---|---|---|---|---|---|---|"]
    for row in sorted(table["rows"], key=lambda r: (r["group"], MODELS.index(r["model"]))):
        paper = row.get("paper") or {}
        cells = [f"{_cell(m, row[m])} ({_cell(m, paper.get(m))})" for m in METRICS]
        lines.append(f"| {row['group']} | {row['model']} | {row['nu'] or '-'} | " + " | ".join(cells) + " |")
    s = table["scale"]
    lines += ["", f"Scale: **{output_scale_tag(table)}**. Ours (paper) as mean ± std over {s['seeds']} seeds; "
              f"{s['epochs']} epochs, {s['n_train']} training samples, metrics on {s['n_test']} test samples "
              f"(SI on the first {s['n_saliency']}), device {table['device']}; '-': the paper has no such row."]
    for row in table["rows"]:
        for f in row.get("failed", []):
            lines.append(f"- {row['group']} {row['model']} seed {f['seed']} FAILED and is left out: {f['reason']}.")
    lines += [f"- {tuning_note(t)}" for t in table["tuning"]]
    return "\n".join(lines) + "\n"
