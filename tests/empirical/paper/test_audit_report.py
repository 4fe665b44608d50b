"""The audit report: reference points read from the committed Table 1, every group's verdict in the document and the
Markdown, strict JSON."""

import json
from pathlib import Path

import torch

from empirical.measure.audit import VERDICTS
from empirical.paper.audit_report import finite_json, load_references, markdown, results

ROOT = Path(__file__).resolve().parents[3]


def test_references_are_table1s_means_and_order_wt_ir_da():
    refs, files = load_references("mlp")
    assert files[0] == "paper_figures/table1.json" and {"R4", "T3", "D4", "F2"} <= set(refs)
    rows = json.loads((ROOT / "paper_figures" / "table1.json").read_text())["rows"]
    table1 = {(r["group"], r["model"]): r for r in rows}
    assert refs["R4"]["DA"]["SI"] == table1["R4", "DA"]["SI"][0] and refs["R4"]["IR"]["nu"] == table1["R4", "IR"]["nu"]
    for g, r in refs.items():
        assert r["WT"]["SI"] > r["IR"]["SI"] > r["DA"]["SI"] and r["DA"]["DI"] > r["IR"]["DI"] > r["WT"]["DI"], g
    assert set(load_references("cnn")[0]) == {"R4", "T3", "D4", "F2"}


def test_results_and_markdown_carry_every_groups_verdict():
    refs, _ = load_references("mlp")
    n = 6
    values = {"acc": torch.ones(n, dtype=torch.float64), "sigma_max_J": torch.linspace(1, 2, n, dtype=torch.float64)}
    for g, (li, di, si) in {"R4": (1e-11, 1e-12, 1.0), "T3": (40.0, 0.2, 0.3)}.items():
        values.update({f"{g}/acc": torch.ones(n), f"{g}/orbit_acc": torch.ones(n), f"{g}/orbit_agree": torch.ones(n),
                       f"{g}/LI": torch.full((n,), li), f"{g}/DI": torch.full((n,), di),
                       f"{g}/NLI": torch.full((n,), li / 100), f"{g}/SI": torch.full((n,), si),
                       f"{g}/layer/": torch.zeros(n)})
    res = results(values, torch.arange(n) % 3, ["R4", "T3"], refs)
    assert res["groups"]["R4"]["verdict"]["label"] == VERDICTS[0]
    assert res["groups"]["T3"]["verdict"]["label"] == VERDICTS[3]
    assert set(res["groups"]["T3"]["per_class"]["SI"]) == {0, 1, 2}
    doc = finite_json({"results": res, "model": {"path": "m.pt", "kind": "torchscript", "parameters": 10, "classes": 3,
                                                 "sha256": "0" * 64},
                       "data": {"description": "d", "n": n, "shape": [1, 36, 36], "classes": None},
                       "settings": {"groups": ["R4", "T3"], "ig_steps": 50, "ig_method": "fast", "baseline": 0.0,
                                    "layers": True, "lie": [], "batch_size": 256, "device": "cpu"},
                       "timing": {"total_seconds": 1.0, "batches": 1, "computed": 1, "cached": 0},
                       "provenance": {"threads": 1, "torch": "2", "code": "x"},
                       "references": {"set": "mlp", "files": ["paper_figures/table1.json"]}})
    md = markdown(doc, {"verdict": "v.png"})
    assert f"| R4 | **{VERDICTS[0]}** |" in md and f"| T3 | **{VERDICTS[3]}** |" in md and "![verdict](v.png)" in md
    assert "## Layer-wise invariance" in md and "**Rule.**" in md
    json.dumps(doc, allow_nan=False)  # strict JSON: no NaN or Infinity (positions of LI = 0 are -inf)
    assert finite_json({"a": [float("nan"), -float("inf")]}) == {"a": ["nan", "-inf"]}
