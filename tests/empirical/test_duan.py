"""python -m empirical.duan: options, where outputs go, and a --quick run end to end (on the committed fixture)."""

import json
import logging

import pytest

from empirical import duan
from empirical.paper.duan_experiment import FIGURES
from tests.fixtures import FIXTURE_DATA


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One --quick run, 20 epochs, on the fixture's MNIST images; outputs routed by the default (no --out)."""
    root = tmp_path_factory.mktemp("duan")
    mp = pytest.MonkeyPatch()
    mp.setenv("INVARIANCE_CACHE", str(root / "cache"))
    mp.chdir(root)  # a stray write into paper_figures/ would land here, and be seen
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    log = logging.getLogger("empirical")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        code = duan.main(["--quick", "--epochs", "20", "--seed", "1", "--data-dir", str(FIXTURE_DATA), "--quiet"])
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        mp.undo()
    return code, root, [r.getMessage() for r in records]


def _out(root):
    (found,) = (root / "cache").rglob("duan.json")
    return found.parent


def test_quick_writes_every_output_outside_paper_figures(quick):
    code, root, messages = quick
    assert code == 0
    out = _out(root)
    # routed like every command's trial run: <cache>/<data tag of the fixture subset>/figures/<scale>/duan
    assert out.parent.name == "quick-e20" and out.parent.parent.name == "figures"
    assert out.parents[2].name.startswith("data-") and out.parents[3] == root / "cache"
    names = {"duan.json", "README.md", *FIGURES.values()}
    assert {p.name for p in out.iterdir()} == names
    assert not (root / "paper_figures").exists()
    assert len(messages) == 1 and messages[0].startswith("wrote ") and "README.md" in messages[0]  # --quiet


def test_quick_json_holds_every_plotted_number_and_its_provenance(quick):
    _, root, _ = quick
    doc = json.loads((_out(root) / "duan.json").read_text())
    assert doc["scale_tag"] == "quick-e20-subset-data" and doc["seed"] == 1 and not doc["data"]["official"]
    assert {"code", "engine", "torch", "device", "threads"} <= set(doc["provenance"])
    assert doc["command"].startswith("python -m empirical.duan --quick")
    runs = doc["runs"]
    assert [(r["loss"], r["method"], r["lam"]) for r in runs] == [
        ("mse", "constrained", None), ("mse", "da", None), ("mse", "reg", 0.001), ("mse", "reg", 0.01),
        ("mse", "reg", 0.1), ("ce", "constrained", None), ("ce", "da", None), ("ce", "reg", 0.01), ("ce", "reg", 0.1),
        ("ce", "reg", 1.0)]
    for r in runs:
        assert r["record_epochs"] == list(range(21)) and all(len(v) == 21 for v in r["curves"].values())
        assert r["final"]["w_perp"] == pytest.approx(r["curves"]["w_perp"][-1], rel=1e-6, abs=1e-12)
    constrained = runs[0]
    assert constrained["final"]["w_perp"] == 0.0 and set(constrained["distances"]) == {
        "inv", "da", "reg(0.001)", "reg(0.01)", "reg(0.1)"}
    assert all(v >= -1e-12 for r in runs[:5] for v in r["curves"]["excess"])  # no run beats its closed form
    da = runs[1]
    assert len(da["weights"]["values"]) == 21 and da["weights"]["cols"] == [45, 52, 143, 150]
    cf = doc["closed_forms"]
    assert cf["da_vs_inv"] < 1e-6 and set(cf["reg"]) == {"0.001", "0.01", "0.1"}
    assert doc["long_da"] is None and doc["data"]["n"] == 200
    readme = (_out(root) / "README.md").read_text()
    assert "## Cross-entropy" in readme and "fig1_weights.png" in readme


def test_redraw_rewrites_the_summary_from_the_json_alone(quick, monkeypatch, tmp_path):
    _, root, _ = quick
    out = tmp_path / "copy"
    out.mkdir()
    (out / "duan.json").write_text((_out(root) / "duan.json").read_text())
    monkeypatch.setattr(duan, "_figures", lambda doc, folder: [])  # the figures are drawn by the quick run above
    assert duan.main(["--redraw", "--out", str(out), "--quiet"]) == 0
    assert (out / "README.md").read_text() == (_out(root) / "README.md").read_text()
    assert duan.main(["--redraw", "--out", str(tmp_path / "empty"), "--quiet"]) == 1  # no duan.json: one line


def test_bad_options_exit_2_with_one_line(tmp_path, capsys):
    for argv in (["--epochs", "0"], ["--groups", "T3"], ["--quick", "--data-dir", str(tmp_path / "missing")]):
        with pytest.raises(SystemExit) as e:
            duan.main(argv)
        assert e.value.code == 2
    assert duan.main(["--quick", "--stack", "4", "--workers", "2", "--data-dir", str(FIXTURE_DATA)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("python -m empirical.duan: error: --stack, --workers: not for this command")
    assert any("missing" in line and line.startswith("python -m empirical.duan: error:") for line in err)
