"""The experiment commands end to end at --quick scale (2 epochs), sharing one run cache."""

import json
import logging

import pytest

from empirical import drift, saliency, spectral, table1
from empirical.paper import tables
from tests.fixtures import needs_full_data

pytestmark = needs_full_data()


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("commands")
    return root / "out", root / "cache"


LOGGED: dict[str, list[str]] = {}  # the "empirical" log messages of each command's last run, by module


class _Keep(logging.Handler):
    def __init__(self, into: list[str]):
        super().__init__(logging.INFO)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


def run(module, dirs, *extra):
    out, cache = dirs
    logger, handler = logging.getLogger("empirical"), _Keep(LOGGED.setdefault(module.__name__, []))
    handler.into.clear()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        return module.main(["--quick", "--epochs", "2", "--groups", "R4",
                            "--out", str(out), "--cache-dir", str(cache), "--quiet", *extra])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def wrote(module, *paths) -> None:
    """The module's last run logged exactly one 'wrote ...' line, and it names every one of ``paths``."""
    lines = [m for m in LOGGED[module.__name__] if m.startswith("wrote ")]
    assert len(lines) == 1, (module.__name__, LOGGED[module.__name__])
    missing = [str(p) for p in paths if str(p) not in lines[0]]
    assert not missing, (lines[0], missing)


@pytest.fixture(scope="module")
def table(dirs):
    assert run(table1, dirs) == 0
    return json.loads((dirs[0] / "table1.json").read_text())


def test_table1_rows_and_invariance_of_weight_tying(table, dirs):
    rows = {r["model"]: r for r in table["rows"]}
    assert set(rows) == {"WT", "DA", "IR"}
    assert rows["WT"]["LI"][0] < 1e-6 and rows["WT"]["DI"][0] < 1e-6 and rows["WT"]["SI"][0] > 0.999
    assert rows["DA"]["LI"][0] > 1e3 * max(rows["WT"]["LI"][0], 1e-9)
    assert rows["IR"]["nu"] > 0 and rows["DA"]["nu"] == 0
    for r in rows.values():
        assert 0 <= r["acc"][0] <= 100 and len(r["per_seed"]) == 2
        assert r["paper"]["acc"] == list(tables.PAPER[("R4", r["model"])]["acc"])
    md = (dirs[0] / "table1.md").read_text()
    assert "94.6 ± 0.1" in md and "chosen nu" in md
    wrote(table1, dirs[0] / "table1.json", dirs[0] / "table1.md")


def test_rerun_uses_the_cache(table, dirs):
    cache = dirs[1]
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    assert run(table1, dirs) == 0
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == before
    assert not list(cache.rglob("stack-*.ckpt")) and not list(cache.rglob(".*tmp"))


def test_drift_curves(table, dirs):
    assert run(drift, dirs) == 0
    data = json.loads((dirs[0] / "fig4_drift.json").read_text())
    assert data["betas"][0] == 0.0 and data["betas"][-1] == 1.0 and len(data["betas"]) == 11
    curves = {c["model"]: c for c in data["curves"]}
    for c in curves.values():
        assert c["acc_ratio"][0] == [1.0, 0.0]  # Acc(D(0)) / Acc(D(0)) for every seed
    assert max(m for m, _ in curves["WT"]["DI"]) < 1e-6  # weight tying stays invariant under any drift
    assert (dirs[0] / "fig4_drift.png").stat().st_size > 0 and (dirs[0] / "fig4_drift.pdf").exists()
    wrote(drift, *(dirs[0] / f"fig4_drift.{ext}" for ext in ("json", "png", "pdf")))


def test_saliency_figure(table, dirs):
    assert run(saliency, dirs, "--samples", "2") == 0
    data = json.loads((dirs[0] / "fig3_saliency.json").read_text())["figures"][0]
    assert data["group"] == "R4" and set(data["SI"]) == {"DA", "IR"} and all(0 <= v <= 1 + 1e-6 for v in data["SI"]["DA"])
    assert (dirs[0] / "fig3_saliency.png").stat().st_size > 0
    wrote(saliency, dirs[0] / "fig3_saliency.json", dirs[0] / "fig3_saliency.png")


def test_spectral_figure(table, dirs):
    assert run(spectral, dirs) == 0
    data = json.loads((dirs[0] / "fig5_spectral.json").read_text())
    assert [r["model"] for r in data["rows"]] == ["DA", "IR-LI", "IR-DI", "IR-NLI"]
    assert all(r["sigma_max_J"][0] > 0 for r in data["rows"])
    assert {t["form"] for t in data["tuning"]} == {"LI", "DI", "NLI"}
    assert (dirs[0] / "fig5_spectral.png").exists() and (dirs[0] / "fig5_spectral.pdf").exists()
    wrote(spectral, *(dirs[0] / f"fig5_spectral.{ext}" for ext in ("json", "png", "pdf")))


@pytest.mark.parametrize("module", [table1, drift, spectral, saliency])
def test_help(module, capsys):
    with pytest.raises(SystemExit) as e:
        module.main(["--help"])
    assert e.value.code == 0 and "--quick" in capsys.readouterr().out

