"""The nu search against a fake trainer whose validation SI is a known function of nu."""

from dataclasses import replace

import pytest

from empirical.engine import tuning
from empirical.engine.context import QUICK, Context
from empirical.engine.config import RunConfig


class _Res:
    def __init__(self, config, failed=""):
        self.config = config
        self.failed = failed


def tune_with(monkeypatch, si_of_nu, grid, diverges=lambda nu: False):
    trained, calls = [], []

    def fake_train_all(ctx, configs):  # like the real one, a config trained before comes from the cache
        new = [c.nu for c in configs if c.nu not in trained]
        trained.extend(new)
        calls.append(new)
        return [_Res(c, "loss became NaN/inf at epoch 3" if diverges(c.nu) else "") for c in configs]

    def fake_evaluate(ctx, res, split, metrics):
        assert split == "val"
        nu = res.config.nu
        return {"acc": 0.9, "LI": 1 / nu, "DI": 0.1 / nu, "NLI": 0.01 / nu, "SI": si_of_nu(nu)}

    monkeypatch.setattr(tuning, "train_all", fake_train_all)
    monkeypatch.setattr(tuning, "evaluate", fake_evaluate)
    ctx = Context(scale=replace(QUICK, nu_grid_stride=1), device=None, data_dir=None, out=None, cache_dir=None,
                  quiet=True)
    return tuning.tune_nu(ctx, "R4", "LI", grid=grid), trained, calls


GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


@pytest.mark.parametrize("threshold", GRID)
def test_bisection_finds_the_smallest_reaching_nu_with_few_trainings(monkeypatch, threshold):
    out, trained, _ = tune_with(monkeypatch, lambda nu: 0.99 if nu >= threshold else 0.5, GRID)
    assert out["chosen_nu"] == threshold and out["reached"]
    assert len(trained) <= 4 and len(set(trained)) == len(trained)  # 1 + log2(8) trainings, none repeated
    assert [r["nu"] for r in out["sweep"]] == sorted(trained)


def test_collapse_at_the_top_falls_back_to_a_scan(monkeypatch):
    si = {0.01: 0.5, 0.03: 0.6, 0.1: 0.7, 0.3: 0.8, 1.0: 0.9, 3.0: 0.96, 10.0: 0.97, 30.0: 0.2}
    out, trained, calls = tune_with(monkeypatch, si.get, GRID)
    assert out["chosen_nu"] == 3.0 and out["reached"] and sorted(trained) == list(GRID)
    assert calls[1] == list(GRID[:-1])  # after the top, the rest of the grid trains as one stack


def test_unreachable_target_keeps_the_best_si(monkeypatch):
    si = {0.01: 0.5, 0.03: 0.6, 0.1: 0.7, 0.3: 0.8, 1.0: 0.93, 3.0: 0.9, 10.0: 0.4, 30.0: 0.2}
    out, _, _ = tune_with(monkeypatch, si.get, GRID)
    assert out["chosen_nu"] == 1.0 and not out["reached"]


def test_a_diverged_point_is_recorded_with_its_reason_and_never_chosen(monkeypatch):
    # The top of the grid diverges: the scan keeps the best healthy nu, and the note says what was done.
    si = {0.01: 0.5, 0.03: 0.6, 0.1: 0.7, 0.3: 0.8, 1.0: 0.93, 3.0: 0.9, 10.0: 0.4, 30.0: 0.2}
    out, _, _ = tune_with(monkeypatch, si.get, GRID, diverges=lambda nu: nu >= 10.0)
    assert out["chosen_nu"] == 1.0 and not out["reached"]
    failed = [r for r in out["sweep"] if r.get("failed")]
    assert [r["nu"] for r in failed] == [10.0, 30.0] and all(r["SI"] is None for r in failed)
    note = tuning.tuning_note(out)
    assert "NOT reached on the grid; kept the nu with the highest validation SI (0.930)" in note
    assert "nu=30: FAILED (loss became NaN/inf at epoch 3)" in note
    assert "largest grid value used" not in note


def test_configs_are_ir_with_the_grid_values(monkeypatch):
    seen = []
    monkeypatch.setattr(tuning, "train_all", lambda ctx, cs: seen.extend(cs) or [_Res(c) for c in cs])
    monkeypatch.setattr(tuning, "evaluate", lambda ctx, r, split, metrics: {"acc": 1, "LI": 0, "DI": 0, "NLI": 0,
                                                                          "SI": 1.0})
    ctx = Context(scale=QUICK, device=None, data_dir=None, out=None, cache_dir=None, quiet=True)
    tuning.tune_nu(ctx, "T3", "DI")
    assert all(isinstance(c, RunConfig) and c.model == "IR" and c.form == "DI" and c.group == "T3" for c in seen)
    assert {c.nu for c in seen} <= set(tuning.NU_GRID["DI"][::QUICK.nu_grid_stride])
