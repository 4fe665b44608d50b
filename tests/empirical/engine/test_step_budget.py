"""A fixed step budget (``RunConfig.steps_per_epoch``): equal optimizer steps whatever the training-set size, batches
streaming through fresh passes; one pass per epoch is the default's arithmetic bit for bit."""

from dataclasses import replace

import pytest
import torch

from empirical.engine import training
from empirical.engine.config import RunConfig
from empirical.engine.training import train_stack, training_macs
from tests.empirical.engine.test_training import REP, SMALL, toy_data
from tests.empirical.interrupt import interrupt


def _same(a, b):
    for x, y in zip(a, b):
        assert x.state_dict.keys() == y.state_dict.keys()
        for k in x.state_dict:
            assert torch.equal(x.state_dict[k], y.state_dict[k]), k
        assert x.history == y.history and x.best_epoch == y.best_epoch


@pytest.mark.parametrize("model", ["DA", "IR"])
def test_one_pass_per_epoch_as_steps_gives_the_default_bits(model):
    data = toy_data(n=96)  # batch 32: 3 steps per pass
    kw = dict(form="LI", nu=1.0) if model == "IR" else {}
    cfgs = [RunConfig(model=model, seed=s, **kw, **{**SMALL, "epochs": 3}) for s in (0, 1)]
    _same(train_stack(cfgs, data, REP), train_stack([replace(c, steps_per_epoch=3) for c in cfgs], data, REP))


def _record(monkeypatch):
    calls = []
    real = training._step_loss

    def spy(params, data, idx, g, *args, **kw):
        calls.append(idx.clone())
        return real(params, data, idx, g, *args, **kw)

    monkeypatch.setattr(training, "_step_loss", spy)
    return calls


@pytest.mark.parametrize("n", [40, 96])
def test_the_step_budget_is_equal_across_training_set_sizes(monkeypatch, n):
    calls = _record(monkeypatch)
    cfg = RunConfig(model="DA", seed=0, **{**SMALL, "n_train": n, "epochs": 2}, steps_per_epoch=5)
    res = train_stack([cfg], toy_data(n=n), REP)[0]
    assert len(calls) == cfg.steps() == 10 and len(res.history["val_acc"]) == 2
    assert sum(c.shape[1] for c in calls) == cfg.samples()
    # the batches stream through passes: each pass is a permutation of the training set, cut into batches of 32
    flat = torch.cat([c[0] for c in calls])
    per_pass = -(-n // 32)
    for p in range(len(calls) // per_pass):
        seen = torch.cat([c[0] for c in calls[p * per_pass:(p + 1) * per_pass]])
        assert sorted(seen.tolist()) == list(range(n))
    assert len(flat) == cfg.samples()
    assert [c.shape[1] for c in calls[:per_pass]] == [32] * (n // 32) + [n % 32] * (n % 32 > 0)


def test_fresh_passes_draw_a_new_order_each_time(monkeypatch):
    calls = _record(monkeypatch)
    cfg = RunConfig(model="DA", seed=0, **{**SMALL, "n_train": 40, "epochs": 2}, steps_per_epoch=4)  # 2 steps a pass
    train_stack([cfg], toy_data(n=40), REP)
    orders = [torch.cat([calls[i][0], calls[i + 1][0]]) for i in range(0, 8, 2)]
    assert len({tuple(o.tolist()) for o in orders}) == 4


def test_steps_and_samples_of_a_config():
    c = RunConfig(n_train=10_000)  # Table 1: 20 steps per epoch, 300 epochs
    assert c.steps() == 6000 and c.samples() == 300 * 10_000
    for n in (1000, 3000, 30_000, 51_042):
        b = RunConfig(n_train=n, steps_per_epoch=20)
        assert b.steps() == 6000
        per_pass = -(-n // 512)
        assert b.samples() == (6000 // per_pass) * n + (6000 % per_pass) * 512
    assert training_macs(RunConfig(n_train=1000, steps_per_epoch=20), 4) \
        == training_macs(RunConfig(n_train=1000), 4) * RunConfig(n_train=1000, steps_per_epoch=20).samples() // 300000
    assert training_macs(RunConfig(), 4) == training_macs(RunConfig(epochs=7), 4)


def test_an_interrupted_budgeted_stack_resumes_mid_pass_to_the_same_result(tmp_path):
    data = toy_data(n=96)
    cfgs = [RunConfig(model="DA", seed=s, **{**SMALL, "epochs": 3}, steps_per_epoch=2) for s in (0, 1)]  # 3 a pass
    straight = train_stack(cfgs, data, REP)
    interrupt(cfgs, data, REP, tmp_path / "stack.ckpt", after=1)  # epoch 1 ends at step 2: inside the first pass
    _same(straight, train_stack(cfgs, data, REP, checkpoint=tmp_path / "stack.ckpt", checkpoint_seconds=0.0))


def test_new_fields_keep_old_keys_and_are_checked():
    assert RunConfig(split="draw", steps_per_epoch=0).key() == RunConfig().key() == "c9dca30088fb51c6"
    keys = {RunConfig().key(), RunConfig(split="nested").key(), RunConfig(steps_per_epoch=20).key()}
    assert len(keys) == 3
    for bad, msg in ((dict(split="halves"), "split"), (dict(steps_per_epoch=-1), "steps_per_epoch"),
                     (dict(steps_per_epoch=2.5), "steps_per_epoch")):
        with pytest.raises(ValueError, match=msg):
            RunConfig(**bad)
