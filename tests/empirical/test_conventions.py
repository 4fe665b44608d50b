"""python -m empirical.conventions end to end at --quick scale (2 epochs, 1 seed): every number under its readings."""

import json

import numpy as np
import pytest

from empirical import conventions
from empirical.paper import readings as rd
from empirical.measure.attribution import saliency_invariance
from empirical.cli import default_context
from empirical.engine.runs import build_model, dataset_for, train_all
from empirical.engine.models import MLP
from empirical.paper.tables import PAPER
from tests.fixtures import needs_full_data

full_data = needs_full_data()


def test_parameter_counts():
    """Five linear layers (ours) and five hidden layers, against the count of weights and biases by hand."""
    def by_hand(depth):
        dims = [1296] + [128] * (depth - 1) + [9]
        return sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))

    assert conventions.parameter_counts() == {5: by_hand(5), 6: by_hand(6)} == {5: 216_713, 6: 233_225}
    assert len(MLP(depth=6).layers) == 6


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("conventions")
    out, cache = root / "out", root / "cache"
    argv = ["--quick", "--epochs", "2", "--seeds", "1", "--out", str(out), "--cache-dir", str(cache), "--quiet"]
    assert conventions.main(argv + ["--groups", "R4", "T3", "--parts", "table1", "arch", "drift"]) == 0
    first = json.loads((out / "conventions.json").read_text())
    md = (out / "CONVENTIONS.md").read_text()
    assert conventions.main(argv + ["--groups", "T3", "--parts", "spectral", "fragility"]) == 0
    second = json.loads((out / "conventions.json").read_text())
    return {"out": out, "cache": cache, "argv": argv, "doc": first, "doc2": second, "md": md}


@full_data
def test_ours_equals_the_library_on_trained_models(run):
    """Our reading, recomputed from stored IG, equals evaluate()'s SI and a direct call of saliency_invariance."""
    t1 = run["doc"]["table1"]
    ours = rd.reading_key(rd.OURS)
    ctx = default_context(["--quick", "--epochs", "2", "--seeds", "1", "--cache-dir", str(run["cache"]), "--quiet"])
    for row in t1["rows"]:
        assert row["ours_si_vs_library_max_abs_diff"] <= 1e-6
        assert row["SI"][ours] == pytest.approx(row["ours"]["SI"], abs=1e-6)
        assert row["SI_product"][t1["product_keys"].index(ours)] == pytest.approx(row["SI"][ours], abs=1e-12)
        k = row["order"]
        for form in rd.ERROR_FORMS:  # the exact reduction relations, on trained models
            e = row["errors"]
            assert e[f"{form}/sum_all"] == pytest.approx((k - 1) * e[f"{form}/mean_nonid"], rel=1e-5, abs=1e-12)
            # evaluate()'s float32 orbit metrics, in another summation order: DI (a KL of near-equal distributions)
            # cancels, so it agrees to ~1e-5 relative
            assert e[f"{form}/mean_nonid"] == pytest.approx(row["ours"][form], rel=1e-3, abs=1e-9)
    da = next(r for r in t1["rows"] if r["group"] == "R4" and r["model"] == "DA")
    from empirical.paper.grid import model_configs

    cfg = model_configs(ctx, "R4")[0]["DA"][0]
    (res,) = train_all(ctx, [cfg])
    ds = dataset_for(ctx, cfg)
    n = ctx.scale.n_saliency
    direct = saliency_invariance(build_model(res), ds.test.transformed()[:n], ds.group, target=ds.test.labels[:n],
                                 baseline=ds.black, steps=ctx.scale.ig_steps).mean().item()
    assert da["SI"][ours] == pytest.approx(direct, abs=1e-6)


@full_data
def test_invariant_model_and_flags(run):
    """WT keeps SI = 1 (|G| summed), LI = DI = 0 under every reading on R4; on T3 only the boundaries that do not
    commute with cyclic shifts may break it, and every flagged reading is reported, not dropped."""
    t1 = run["doc"]["table1"]
    for row in (r for r in t1["rows"] if r["model"] == "WT"):
        k = row["order"]
        for key, v in zip(t1["product_keys"], row["SI_product"]):
            r = rd.parse_key(key)
            if rd.breaks_invariance("SI", v, r["reduction"], k):
                assert row["group"] == "T3" and r["boundary"] in ("constant", "reflect"), key
        assert all(abs(v) < 1e-6 for v in row["errors"].values())
    for n in t1["numbers"]:
        if n["model"] == "WT":
            flagged = {r["reading"] for r in n["readings"] if r["breaks_invariance"]}
            assert set(n["breaks_invariance"]) == flagged
            assert all(f.startswith("boundary=") for f in flagged) and (not flagged or n["group"] == "T3")
        else:
            assert n["breaks_invariance"] == []


@full_data
def test_numbers_ranges_moves_and_search(run):
    doc = run["doc"]
    t1 = doc["table1"]
    assert len(t1["numbers"]) == 2 * 3 * 4 and len(t1["product_keys"]) == 1296
    for n in t1["numbers"]:
        values = [n["ours"]] + [r["value"] for r in n["readings"]]
        assert n["range"] == [min(values), max(values)]
        paper = PAPER[(n["group"], n["model"])][n["metric"]]
        assert n["paper"] == list(paper) and n["threshold"] == (paper[1] or conventions.STD_FLOOR[n["metric"]])
        for r in n["readings"]:
            assert r["moves"] == (abs(r["value"] - n["ours"]) > n["threshold"])
        assert n["moved_by"] == [r["reading"] for r in n["readings"] if r["moves"]]
        assert any(r["reading"].startswith("depth=6") for r in n["readings"])
        if n["metric"] == "SI":
            assert len(n["readings"]) == len(rd.one_at_a_time()) + 1
            if n["model"] != "WT":  # the literal sum adds the identity's 1: always a move
                assert "reduction=sum_all" in n["moved_by"]
    s = t1["search"]
    assert s["searched"] and s["n_readings"] == 1296
    for m in s["matches"]:
        assert m["distance"] <= 1 and m["R4 WT"] >= 0.99 and m["T3 WT"] >= 0.99
    assert all(c["R4 WT"] >= 0.99 for c in s["closest"]) and s["closest"] == sorted(s["closest"],
                                                                                      key=lambda c: c["distance"])
    arch = doc["arch"]
    assert arch["parameters"] == {"5": 216_713, "6": 233_225} and arch["seeds"] == 1
    wt6 = [r for r in arch["rows"] if r["model"] == "WT"]
    assert len(arch["rows"]) == 6 and all(r["SI"]["depth6"][0] > 0.99 for r in wt6)
    md = run["md"]
    for text in ("## Table 1 under every reading", "### Which readings give the paper's SI?", "233,225",
                 "| ours |", "Source: `conventions.json`", "## Figure 4", "IR at depth 6 keeps the ν"):
        assert text in md, text


@full_data
def test_drift_criteria(run):
    d = run["doc"]["drift"]
    assert d["modes"] == ["interpolate", "mixture"] and d["betas"][1] == 0.1
    curves = {(c["group"], c["model"], c["mode"]): c for c in d["curves"]}
    assert len(curves) == 2 * 3 * 2
    assert all(max(abs(v) for v in c["DI"]) < 1e-6 for (g, m, _), c in curves.items() if m == "WT")
    assert {(v["criterion"], v["group"], v["mode"]) for v in d["verdicts"]} == {
        (c, g, m) for c in conventions.DRIFT_CRITERIA for g in ("R4", "T3") for m in d["modes"]}
    for v in d["verdicts"]:  # report.py's criterion, recomputed from the curve
        if v["criterion"] == "ours (report.py)":
            di = curves[(v["group"], "DA", v["mode"])]["DI"]
            assert v["holds"] == (di[1] > 2 * di[0])


@full_data
def test_spectral_and_fragility(run):
    doc = run["doc2"]
    assert doc["groups"] == ["T3"] and doc["parts"] == list(conventions.PARTS)  # the first call's parts are kept
    assert doc["part_groups"]["spectral"] == ["T3"] and doc["part_groups"]["table1"] == ["R4", "T3"]
    assert doc["table1"] == run["doc"]["table1"]
    rows = doc["spectral"]["rows"]
    assert [r["model"] for r in rows] == ["DA", "IR-LI", "IR-DI", "IR-NLI"]
    ctx = default_context(["--quick", "--cache-dir", str(run["cache"]), "--quiet"])
    std = dataset_for(ctx, ctx.config(model="DA", group="T3")).std
    for r in rows:
        s = r["sigma"]
        assert s["logits/normalized/mean"] == pytest.approx(r["sigma_library"], rel=1e-5)
        assert s["logits/raw/mean"] == pytest.approx(s["logits/normalized/mean"] / std, rel=1e-6)
        assert s["logits/normalized/median"] <= s["logits/normalized/max"]
    assert len(doc["spectral"]["verdicts"]) == 18
    frag = {r["model"]: r for r in doc["fragility"]["rows"]}
    assert set(frag) == {"WT", "DA", "IR"} and doc["fragility"]["subsets"] == conventions.SUBSETS
    assert frag["WT"]["peak_agreement"] == pytest.approx(1.0) and frag["WT"]["SI"]["mean"] > 0.99
    for r in frag.values():
        q = r["survivors"]
        assert 1 <= q["q1"] <= q["median"] <= q["q3"] and 0 <= q["single"] <= 1
        assert r["SI"]["std_over_subsets"] >= 0 and np.isfinite(r["spearman"]["mean"])
    md = (run["out"] / "CONVENTIONS.md").read_text()
    assert "## SI's fragility" in md and "every IR < DA" in md and "## Table 1 under every reading" in md


@full_data
def test_rerun_uses_the_cache(run):
    cache = run["cache"]
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    assert conventions.main(run["argv"] + ["--groups", "T3", "--parts", "spectral", "fragility"]) == 0
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == before
    again = json.loads((run["out"] / "conventions.json").read_text())
    assert again["spectral"] == run["doc2"]["spectral"] and again["fragility"]["rows"] == run["doc2"]["fragility"]["rows"]


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        conventions.main(["--help"])
    text = capsys.readouterr().out
    assert e.value.code == 0 and "--parts" in text and "--arch-seeds" in text

