"""The data-scaling claims judged on synthetic outputs: each verdict in both directions, the noise margin, a claim
whose rows are absent, a partial grid; the trend arithmetic; the figure; the report's ledger."""

import json
import math

import pytest

from empirical.paper import scaling_claims as sc

SIZES = [1000, 3000, 10_000, 30_000, 51_042]
STEPS = 6000


def _row(group, kind, n, steps=STEPS, seeds=2, **metrics):
    base = {"acc": 90.0, "LI": 50.0, "DI": 0.1, "NLI": 0.1, "SI": 0.4, "sigma_max_J": 10.0, "orbit_acc": 80.0,
            "orbit_agree": 85.0, "logit_norm2": 400.0}
    base.update(metrics)
    std = {m: (v[1] if isinstance(v, tuple) else 0.01 * abs(v)) for m, v in base.items()}
    mean = {m: (v[0] if isinstance(v, tuple) else v) for m, v in base.items()}
    per_seed = [{"seed": s, **{m: mean[m] / (100.0 if m in ("acc", "orbit_acc", "orbit_agree") else 1.0)
                               + (s - 0.5) * 2 * std[m] / (100.0 if m in ("acc", "orbit_acc", "orbit_agree") else 1.0)
                               for m in mean}} for s in range(seeds)]
    return {"group": group, "kind": kind, "n": n, "steps": steps, "seeds": seeds, "seed_ids": list(range(seeds)),
            "training_seconds": 10.0, "failed": [], "per_seed": per_seed, **{m: [mean[m], std[m]] for m in mean}}


def _doc(rows, sizes=SIZES):
    return {"scale": {"sizes": sizes, "n_val": 2000, "n_test": 10000, "epochs": 300, "steps_per_epoch": 20,
                      "steps": STEPS, "batch_size": 512, "lr": 8e-4, "seeds": 4, "n_saliency": 1000,
                      "n_jacobian": 1000, "ig_steps": 50},
            "scale_tag": "full", "device": "cpu", "provenance": {"engine": 2, "code": "test"}, "arch": "mlp",
            "nu": {"R4": 1.0, "T3": 30.0}, "nu_source": "Table 1", "split": "nested", "budget": "6,000 steps",
            "plan": [{"part": "R4: everything", "runs": 10, "measured": 10}], "training_seconds": 3600.0,
            "rows": rows}


def _genuine(group, ok=True):
    """A group where DA becomes genuinely invariant with n (ok) or stays as it is (not ok)."""
    rows = []
    for i, n in enumerate(SIZES):
        x = math.log10(n) - 3  # 0 .. 1.7
        if ok:
            da = dict(SI=0.5 + 0.26 * x, NLI=0.1 * 10 ** (-0.5 * x), acc=90.0 + 3 * x)
            lin = dict(SI=0.6 + 0.22 * x, NLI=0.1 * 10 ** (-1.5 * x), acc=85.0 + 2 * x)
            ir = dict(acc=84.0 + 6 * x, SI=0.95)
        else:
            da = dict(SI=0.4, NLI=0.1 * 10 ** (0.2 * x), acc=92.0)
            lin = dict(SI=0.4, NLI=0.1, acc=85.0)
            ir = dict(acc=80.0, SI=0.95)
        rows += [_row(group, "DA", n, **da), _row(group, "DA-linear", n, **lin)]
        if n in (1000, 10_000, 51_042):
            rows += [_row(group, "WT", n, acc=95.0, SI=1.0, NLI=1e-13), _row(group, "IR", n, **ir)]
    last = rows[-4]["n"]
    for kind in ("DA", "DA-linear"):
        one = next(r for r in rows if r["kind"] == kind and r["n"] == last)
        moved = {m: one[m][0] + (0.1 * one[m][1] if ok else 10 * one[m][1] + 1.0) for m in ("acc", "NLI", "SI")}
        rows.append(_row(group, kind, last, steps=2 * STEPS, **{m: (v, one[m][1]) for m, v in moved.items()}))
    return rows


def _verdicts(doc):
    return {f[0]: f[3] for f in sc.findings(doc)}


def test_every_claim_holds_when_da_becomes_genuinely_invariant_and_fails_when_it_does_not():
    assert set(_verdicts(_doc(_genuine("R4") + _genuine("T3"))).values()) == {"holds"}
    assert set(_verdicts(_doc(_genuine("R4", False) + _genuine("T3", False))).values()) == {"fails"}
    mixed = _verdicts(_doc(_genuine("R4") + _genuine("T3", False)))
    assert set(mixed.values()) == {"holds only for R4"} and len(mixed) == len(sc.CLAIMS) == 8


def test_a_change_within_the_seed_noise_is_no_trend():
    rows = [_row("R4", "DA", n, SI=(0.40 + 0.01 * i, 0.02)) for i, n in enumerate(SIZES)]
    ok, evidence = sc.moves(sc.series(_doc(rows), "R4", "DA", "SI"), "rises")
    assert not ok and "margin 0.04" in evidence  # a 0.04 rise against 2 x 0.02
    rows = [_row("R4", "DA", n, SI=(0.40 + 0.02 * i, 0.01)) for i, n in enumerate(SIZES)]
    assert sc.moves(sc.series(_doc(rows), "R4", "DA", "SI"), "rises")[0]


def test_the_trend_and_its_extrapolation():
    s = [(n, 0.1 + 0.2 * math.log10(n), 0.0, 2) for n in (100, 1000, 3000)]  # reaches 0.9 at n = 10^4
    a, b, r2 = sc.trend(s)
    assert a == pytest.approx(0.1) and b == pytest.approx(0.2) and r2 == pytest.approx(1.0)
    rows = [_row("R4", "DA", n, SI=0.1 + 0.2 * math.log10(n)) for n in (100, 1000, 3000)]
    ok, evidence = sc._si_reaches(_doc(rows, [100, 1000, 3000]), "R4")
    assert not ok and "n ≈ 10,000 (3.33x the largest n measured)" in evidence
    assert sc.trend([(10, 1e-1, 0, 1), (1000, 1e-3, 0, 1)], log_y=True)[1] == pytest.approx(-1.0)


def test_claims_are_not_measured_without_their_rows_and_a_partial_grid_names_what_is_missing():
    assert {f[3] for f in sc.findings(None)} == {"not measured"}
    only_da = [r for r in _genuine("R4") if r["kind"] == "DA" and r["steps"] == STEPS]
    v = {f[0]: f for f in sc.findings(_doc(only_da))}
    assert v["scaling_da_si_rises"][3] == "holds" and v["scaling_linear_da_genuine"][3] == "not measured"
    assert v["scaling_budget_sufficient"][3] == "not measured"  # no doubled-budget rows
    assert "PARTIAL GRID, not yet measured: T3 (none of the cells this claim needs)" in v["scaling_da_si_rises"][4]
    no_big = [r for r in _genuine("R4") + _genuine("T3") if not (r["kind"] == "WT" and r["n"] == 51_042)]
    gap = {f[0]: f for f in sc.findings(_doc(no_big))}["scaling_da_wt_accuracy_gap_closes"]
    assert "R4 WT n=51,042" in gap[4] and "T3 WT n=51,042" in gap[4]


def test_the_budget_claim_needs_two_seeds_at_both_budgets():
    rows = [r for r in _genuine("R4") if r["kind"] != "DA-linear"]
    for r in rows:
        if r["steps"] == 2 * STEPS:
            r["seeds"], r["per_seed"] = 1, r["per_seed"][:1]
    assert _verdicts(_doc(rows))["scaling_budget_sufficient"] == "not measured"


def test_figure_and_markdown(tmp_path):
    from empirical.paper.scaling_plots import plot_scaling

    doc = _doc(_genuine("R4") + _genuine("T3"))
    png = plot_scaling(doc, tmp_path / "scaling.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "data_scaling").mkdir()
    (tmp_path / "data_scaling" / "scaling.json").write_text(json.dumps(doc))
    md = sc.scaling_markdown(tmp_path)
    assert "| R4 | DA | 51,042 | 6,000 | 2 |" in md and "**holds**" in md and "1.00 hours of one core" in md
    assert "Not measured yet" in sc.scaling_markdown(tmp_path / "elsewhere")


def test_the_cnn_is_judged_by_the_same_criteria_under_its_own_ids_without_the_linear_claims(tmp_path):
    rows = [r for r in _genuine("R4") + _genuine("T3", False) if r["kind"] != "DA-linear"]
    doc = {**_doc(rows), "arch": "cnn"}
    cnn = {f[0]: f for f in sc.findings(doc, "cnn")}
    mlp = {f[0]: f for f in sc.findings({**doc, "arch": "mlp"})}
    assert set(cnn) == {f"{c}_cnn" for c in mlp if "linear" not in c}  # the linear network is the mlp's alone
    for cid, f in cnn.items():  # the same verdict and evidence as the mlp's claim on the same rows
        assert f[3:5] == mlp[cid.removesuffix("_cnn")][3:5] and f[2].startswith("(cnn) ")
    assert cnn["scaling_da_si_rises_cnn"][3] == "holds only for R4" and "--arch cnn" in cnn["scaling_da_si_rises_cnn"][5]
    (tmp_path / "data_scaling").mkdir()
    (tmp_path / "data_scaling" / "scaling.json").write_text(json.dumps(_doc(_genuine("R4") + _genuine("T3"))))
    assert [f[0] for f in sc.scaling_findings(tmp_path)] == [c[0] for c in sc.CLAIMS]  # no cnn output: not listed
    (tmp_path / "data_scaling" / "scaling_cnn.json").write_text(json.dumps(doc))
    assert [f[0] for f in sc.scaling_findings(tmp_path)][len(sc.CLAIMS):] == list(cnn)
    md = sc.scaling_markdown(tmp_path)
    assert "### The mlp" in md and "### The cnn (`python -m empirical.scaling --arch cnn`" in md
    assert "(data_scaling/scaling_cnn.png)" in md and "architecture `cnn`; the linear network" in md


def test_the_report_puts_the_scaling_claims_in_the_ledger(tmp_path):
    from empirical import report

    (tmp_path / "data_scaling").mkdir()
    (tmp_path / "data_scaling" / "scaling.json").write_text(json.dumps(_doc(_genuine("R4") + _genuine("T3", False))))
    assert report.main(["--out", str(tmp_path), "--cases", "2", "--deep-cases", "1"]) == 0
    claims = (tmp_path / "CLAIMS.md").read_text()
    assert claims.count("`scaling_") == 8 and "**holds only for R4**" in claims
    assert "## Does DA learn genuine invariance with more data?" in (tmp_path / "README.md").read_text()


def test_the_cost_line_says_its_seconds_are_wall_time_and_adds_the_cpu_time_the_runs_recorded():
    doc = _doc(_genuine("R4"))
    (line,) = [x for x in sc.scope_lines(doc) if x.startswith("- Training cost")]
    assert "3,600 s = 1.00 hours of one core, in the wall seconds" in line and "CPU" not in line
    doc["training_cpu_seconds"] = {"runs": 3, "seconds": 1234.0}
    (line,) = [x for x in sc.scope_lines(doc) if x.startswith("- Training cost")]
    assert line.endswith("the CPU time, recorded by 3 of these runs: 1,234 s.")
