"""python -m empirical.scaling: the grid's priority order and its equal step budget, IR's nu from Table 1, a tiny
end-to-end run on the fixture that resumes without training, the command's errors and, on the full data, the command
at a tiny quick scale (never writing paper_figures/)."""

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from empirical import scaling
from empirical.cli import default_context
from empirical.engine import training
from empirical.engine.context import FULL, PAPER_OUT, Scale
from empirical.paper import data_scaling as ds
from tests.fixtures import FIXTURE_DATA, needs_full_data

ROOT = Path(__file__).resolve().parents[2]


def _ctx(tmp_path, scale=FULL):
    return replace(default_context(["--data-dir", str(FIXTURE_DATA), "--cache-dir", str(tmp_path), "--quiet"]),
                   scale=scale)


def test_the_grid_is_a_priority_order_at_one_step_budget(tmp_path):
    ctx = _ctx(tmp_path)
    sizes = [1000, 3000, 10_000, 30_000, 51_042]
    parts = ds.plan(ctx, ds.GROUPS, sizes)
    names = [p.name for p in parts]
    assert names[:4] == ["R4: DA and linear DA, seed 0, every n", "R4: WT and IR, seed 0, n = 1000, 10000, 51042",
                         "R4: DA and linear DA, seed 1, every n",
                         "R4: doubled budget: DA and linear DA, n = 51042, seeds 0-1"]
    assert [n.split(":")[0] for n in names[4:8]] == ["T3"] * 4 and len(names) == 18
    configs = [c for p in parts for c in p.configs]
    assert len({c.key() for c in configs}) == len(configs)  # no run planned twice
    assert all(c.split == "nested" and c.steps_per_epoch == 20 and (c.n_val, c.n_test) == (2000, 10_000)
               for c in configs)
    assert {c.steps() for c in configs if c.epochs == 300} == {6000}  # Table 1's budget for every n
    doubled = [c for c in configs if c.epochs != 300]
    assert {(c.epochs, c.n_train, c.steps()) for c in doubled} == {(600, 51_042, 12_000)}
    assert {ds.kind_of(c) for c in doubled} == {"DA", "DA-linear"} and {c.seed for c in doubled} == {0, 1}
    for c in configs:
        assert (c.activation == "linear") == (ds.kind_of(c) == "DA-linear")
        assert c.nu == (ds.NU["mlp"][c.group] if c.model == "IR" else 0.0) and c.form == ("LI" if c.model == "IR" else "")
    # every kind at every n and every seed, once the whole order has run
    cells = {(c.group, ds.kind_of(c), c.n_train, c.seed) for c in configs if c.epochs == 300}
    assert cells == {(g, k, n, s) for g in ds.GROUPS for k in ds.KINDS for n in sizes for s in range(4)}
    # the reduced design comes first: every kind at every n with seed 0, seeds 0-1 at the smallest and largest n
    reduced = [p for p in parts if p.stage in ds.REDUCED_STAGES]
    assert parts[:len(reduced)] == reduced and len(reduced) == 12
    cells = {(c.group, ds.kind_of(c), c.n_train, c.seed) for p in reduced for c in p.configs if c.epochs == 300}
    assert {(g, k, n, 0) for g in ds.GROUPS for k in ds.KINDS for n in sizes} <= cells
    assert {(g, k, n, 1) for g in ds.GROUPS for k in ds.KINDS for n in (1000, 51_042)} <= cells
    assert not any(s >= 2 for *_, s in cells)


def test_the_cnn_grid_has_no_linear_network_and_takes_the_cnns_nu(tmp_path):
    ctx = replace(_ctx(tmp_path), arch="cnn")
    configs = [c for p in ds.plan(ctx, ds.GROUPS, [1000, 51_042]) for c in p.configs]
    assert {ds.kind_of(c) for c in configs} == {"DA", "WT", "IR"} and {c.arch for c in configs} == {"cnn"}
    assert {(c.group, c.nu) for c in configs if c.model == "IR"} == {("R4", 30.0), ("T3", 30.0)}
    with pytest.raises(ValueError, match="choose --arch mlp or cnn"):
        ds.config(replace(ctx, arch="convnet"), "R4", "DA", 1000, 0)
    # not Table 1's runs: the data differ (nested split, 10,000 test images), so are the keys
    table1 = ctx.config(group="R4", model="DA", seed=0)
    assert ds.config(ctx, "R4", "DA", 10_000, 0).key() != table1.key()


def test_ir_takes_the_nu_of_table_1s_tuning():
    for arch, path in (("mlp", "table1.json"), ("cnn", "beyond/table1_cnn.json")):
        doc = json.loads((ROOT / "paper_figures" / path).read_text())
        chosen = {t["group"]: t["chosen_nu"] for t in doc["tuning"] if t["form"] == "LI"}
        assert {g: chosen[g] for g in ds.GROUPS} == ds.NU[arch] and path in ds.NU_SOURCE[arch]


TINY = Scale(n_train=0, n_val=40, n_test=60, epochs=1, n_saliency=4, n_jacobian=4, ig_steps=2, seeds=2)


def test_a_tiny_grid_end_to_end_on_the_fixture_resumes_without_training(tmp_path, monkeypatch):
    ctx = _ctx(tmp_path, TINY)
    sizes = ds.resolve_sizes(ctx, (50, ds.MAX))
    assert sizes == [50, ds.pool_size("mnist", FIXTURE_DATA) - 100]
    planned = ds.plan(ctx, ("T3",), sizes)
    seen = []
    records = ds.run_plan(ctx, planned[:2], planned, lambda r: seen.append(len(r)))
    assert seen == [4, 8]  # the outputs after each part: DA and linear DA at both sizes, then WT and IR
    doc = ds.document(ctx, sizes, records, planned)
    assert [p["measured"] for p in doc["plan"]][:3] == [4, 4, 0]
    assert {r["steps"] for r in doc["rows"]} == {20} and len(doc["rows"]) == 8
    for r in doc["rows"]:
        assert set(ds.METRICS) <= set(r) and r["seeds"] == 1 and 0.0 <= r["orbit_acc"][0] <= r["acc"][0]
        if r["kind"] == "WT":  # invariant by construction: every orbit member gets one class
            assert r["orbit_agree"][0] == 100.0 and r["orbit_acc"][0] == pytest.approx(r["acc"][0])
    assert doc["training_seconds"] == pytest.approx(sum(r["training_seconds"] for r in doc["rows"]))
    assert doc["training_cpu_seconds"]["runs"] == 8 and doc["training_cpu_seconds"]["seconds"] > 0

    def no_training(*a, **k):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(training, "train_stack", no_training)
    monkeypatch.setattr("empirical.engine.runs.train_stack", no_training)
    assert sorted(r["key"] for r in ds.run_plan(ctx, planned[:2], planned, lambda r: None)) == \
        sorted(r["key"] for r in records)


def test_the_command_refuses_sizes_the_pool_cannot_hold(tmp_path, capsys):
    code = scaling.main(["--data-dir", str(FIXTURE_DATA), "--cache-dir", str(tmp_path), "--sizes", "50", "--quiet"])
    assert code == 1 and "--sizes: training-set sizes must lie in 1.." in capsys.readouterr().err


@needs_full_data("mnist")
def test_the_command_at_a_tiny_quick_scale(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="empirical")
    argv = ["--quick", "--epochs", "1", "--sizes", "100", "--parts", "1", "--groups", "T3", "--cache-dir",
            str(tmp_path), "--quiet"]
    assert scaling.main(argv) == 0
    out = tmp_path / "figures" / "quick-e1" / "data_scaling"
    assert PAPER_OUT.resolve() not in out.resolve().parents
    doc = json.loads((out / "scaling.json").read_text())
    assert [(r["group"], r["kind"], r["n"], r["steps"]) for r in doc["rows"]] == [
        ("T3", k, 100, 20) for k in ("DA", "DA-linear")]
    assert (doc["scale"]["n_val"], doc["scale"]["n_test"]) == (300, 1000)
    assert (out / "scaling.png").read_bytes()[:4] == b"\x89PNG" and "T3: DA and linear DA" in (
        out / "scaling.md").read_text()
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("wrote ")]
    assert all(str(out / f) in line for f in ("scaling.json", "scaling.md", "scaling.png"))


@needs_full_data("mnist")
def test_the_cnn_command_writes_its_own_outputs_judged_under_its_own_ids(tmp_path):
    argv = ["--quick", "--epochs", "1", "--sizes", "100", "--parts", "1", "--groups", "T3", "--arch", "cnn",
            "--cache-dir", str(tmp_path), "--quiet"]
    assert scaling.main(argv) == 0
    out = tmp_path / "figures" / "quick-e1" / "data_scaling"
    doc = json.loads((out / "scaling_cnn.json").read_text())
    assert doc["arch"] == "cnn" and doc["nu"] == ds.NU["cnn"] and not (out / "scaling.json").exists()
    assert [(r["group"], r["kind"]) for r in doc["rows"]] == [("T3", "DA")]
    md = (out / "scaling_cnn.md").read_text()
    assert md.startswith("# Does DA learn genuine invariance with more data? The cnn "
                         "(`python -m empirical.scaling --arch cnn`)")
    assert "`scaling_da_si_rises_cnn`" in md and "scaling_linear" not in md
    assert (out / "scaling_cnn.png").read_bytes()[:4] == b"\x89PNG"
