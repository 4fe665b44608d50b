"""The vectorized trainer against independent oracles: per-run modules, the metrics, a lone run, the generic path."""

import math
from dataclasses import replace

import pytest
import torch

from empirical.measure import image_groups
from empirical.measure.invariance import invariance_from_logits, orbit_logits
from empirical.engine.models import MLP, WeightTiedMLP
from empirical.engine.stacked import init_stack, layer_sizes, stacked_forward, unstack
from empirical.engine.config import RunConfig
from empirical.engine.results import load_result, save_result
from empirical.engine.training import _Arch, _step_loss, train_stack, TrainData
from theory import groups
from tests.empirical.interrupt import interrupt

S = 6  # a 6x6 grid keeps the tests fast; the code path is the one used on 36x36
REP = groups.rotations(S)
SMALL = dict(hidden=16, depth=3, n_train=96, n_val=32, batch_size=32, epochs=3, lr=3e-3)


def toy_data(rep=REP, n=96, m=32, classes=3, seed=0) -> TrainData:
    """Random images whose class is a function of the orbit-invariant total intensity pattern."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n + m, rep.dim, generator=gen)
    y = (x.sum(1) * 2).floor().remainder(classes).long()
    orbit = image_groups.orbit(rep, x)  # (|G|, n + m, d)
    return TrainData(train_orbit=orbit[:, :n], train_y=y[:n], val_orbit=orbit[:, n:],
                     val_g=torch.randint(rep.order, (m,), generator=gen), val_y=y[n:])


def module_for(config, rep=REP, d=REP.dim, classes=3):
    kw = dict(in_features=d, hidden=config.hidden, depth=config.depth, classes=classes)
    return WeightTiedMLP(rep, pool=config.pool, **kw) if config.model == "WT" else MLP(**kw)


def test_stacked_forward_equals_each_module():
    sizes = layer_sizes(REP.dim, 16, 3, 3)
    params = init_stack([0, 1, 2], sizes)
    x = torch.randn(3, 10, REP.dim)
    out = stacked_forward(params, x)
    for r in range(3):
        m = MLP(REP.dim, 16, 3, 3)
        m.load_state_dict(unstack(params, r))
        torch.testing.assert_close(out[r], m(x[r]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pool", ["max", "mean"])
def test_stacked_weight_tied_forward_equals_module(pool):
    params = init_stack([3, 4], layer_sizes(REP.dim, 16, 3, 3))
    x = torch.randn(2, 7, REP.dim)
    rows = torch.stack([image_groups.orbit(REP, x[r]) for r in range(2)]).flatten(1, 2)  # (R, |G| * B, d)
    out = stacked_forward(params, rows, pool_orbit=REP.order, pool=pool)
    for r in range(2):
        m = WeightTiedMLP(REP, pool=pool, in_features=REP.dim, hidden=16, depth=3, classes=3)
        m.load_state_dict(unstack(params, r))
        torch.testing.assert_close(out[r], m(x[r]), rtol=1e-5, atol=1e-6)


def test_init_matches_nn_linear_distribution_bounds():
    p = init_stack([0], layer_sizes(1296, 128, 5, 9))
    for w in p[0::2]:  # stacked layout (R, in, out)
        bound = 1 / math.sqrt(w.shape[-2])
        assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
    assert not torch.equal(init_stack([0], [(4, 3)])[0], init_stack([1], [(4, 3)])[0])
    torch.testing.assert_close(init_stack([5], [(4, 3)])[0], init_stack([5], [(4, 3)])[0])


@pytest.mark.parametrize("form", ["LI", "DI", "NLI"])
def test_ir_step_loss_equals_metric_on_augmented_batch(form):
    """The trainer's orbit re-indexing must give CE(f(gx)) + nu * I(f, gx, G) computed by the metric module."""
    data = toy_data()
    cfgs = [RunConfig(model="IR", form=form, nu=0.7, seed=s, **SMALL) for s in (0, 1)]
    params = init_stack([0, 1], layer_sizes(REP.dim, 16, 3, 3))
    idx = torch.tensor([[0, 5, 9, 11], [3, 2, 1, 40]])
    g = torch.tensor([[0, 1, 2, 3], [3, 3, 1, 2]])
    coef = torch.tensor([[0.7], [0.7]])
    table = torch.as_tensor(groups.cayley_table(REP))
    ce, penalty = _step_loss(params, data, idx, g, _Arch("IR", REP.order, "max", "relu"), coef, [form], table)
    loss = ce + penalty
    for r, c in enumerate(cfgs):
        m = module_for(c)
        m.load_state_dict(unstack(params, r))
        x_aug = image_groups.act(REP, data.train_orbit[0, idx[r]], g[r])
        z = orbit_logits(m, x_aug, REP)
        expect = torch.nn.functional.cross_entropy(z[0], data.train_y[idx[r]]) + 0.7 * invariance_from_logits(z, form).mean()
        torch.testing.assert_close(loss[r], expect, rtol=1e-5, atol=1e-6)


def test_runs_in_a_stack_match_runs_alone():
    data = toy_data()
    cfgs = [RunConfig(model="IR", form="LI", nu=0.5, seed=0, **SMALL),
            RunConfig(model="IR", form="DI", nu=2.0, seed=1, **SMALL),
            RunConfig(model="IR", form="NLI", nu=0.1, seed=2, **SMALL)]
    together = train_stack(cfgs, data, REP)
    for c, res in zip(cfgs, together):
        alone = train_stack([c], data, REP)[0]
        for k in res.state_dict:
            torch.testing.assert_close(res.state_dict[k], alone.state_dict[k], rtol=1e-4, atol=1e-5)
        assert res.history["val_acc"] == pytest.approx(alone.history["val_acc"], abs=1e-6)


@pytest.mark.parametrize("model", ["DA", "WT", "IR"])
def test_same_seed_same_numbers_and_best_epoch_is_argmax(model):
    data = toy_data()
    kw = dict(form="LI", nu=1.0) if model == "IR" else {}
    cfg = RunConfig(model=model, seed=4, **kw, **{**SMALL, "epochs": 6})
    a, b = train_stack([cfg], data, REP)[0], train_stack([cfg], data, REP)[0]
    for k in a.state_dict:
        assert torch.equal(a.state_dict[k], b.state_dict[k])
    accs = a.history["val_acc"]
    assert a.best_epoch == 1 + max(range(len(accs)), key=lambda i: (accs[i], -i))
    assert a.best_val_acc == pytest.approx(max(accs))
    # the returned parameters are the best epoch's: their validation accuracy is the best one
    m = module_for(cfg)
    m.load_state_dict(a.state_dict)
    x_val = image_groups.act(REP, data.val_orbit[0], data.val_g)
    acc = (m(x_val).argmax(-1) == data.val_y).float().mean().item()
    assert acc == pytest.approx(a.best_val_acc, abs=1e-6)


def test_weight_tied_runs_are_invariant_and_learning_happens():
    data = toy_data(n=96)
    cfg = RunConfig(model="WT", seed=0, **{**SMALL, "epochs": 30})
    res = train_stack([cfg], data, REP)[0]
    assert res.history["train_ce"][-1] < 0.8 * res.history["train_ce"][0]
    m = module_for(cfg)
    m.load_state_dict(res.state_dict)
    z = orbit_logits(m, data.train_orbit[0, :20], REP)
    torch.testing.assert_close(z, z[:1].expand_as(z), rtol=1e-5, atol=1e-5)


def test_interrupted_stack_resumes_to_the_same_result(tmp_path):
    data = toy_data()
    cfgs = [RunConfig(model="DA", seed=s, **{**SMALL, "epochs": 5}) for s in (0, 1)]
    straight = train_stack(cfgs, data, REP)
    interrupt(cfgs, data, REP, tmp_path / "stack.ckpt", after=3)
    resumed = train_stack(cfgs, data, REP, checkpoint=tmp_path / "stack.ckpt", checkpoint_seconds=0.0)
    for a, b in zip(straight, resumed):
        for k in a.state_dict:
            assert torch.equal(a.state_dict[k], b.state_dict[k])
        assert a.history == b.history


def test_a_run_records_its_cpu_seconds_through_a_resume_and_the_store(tmp_path, monkeypatch):
    # process_time is replaced by a clock that advances 1 s per call, so each segment's CPU time is known exactly:
    # a resumed run must add the checkpointed segment's to its own, not start again from 0
    import empirical.engine.training as training

    ticks = iter(range(10**6))
    monkeypatch.setattr(training.time, "process_time", lambda: float(next(ticks)))
    data = toy_data()
    cfgs = [RunConfig(model="DA", seed=s, **{**SMALL, "epochs": 5}) for s in (0, 1)]
    straight = train_stack(cfgs, data, REP)
    assert [r.cpu_seconds for r in straight] == [0.5, 0.5]  # start and end read the clock: 1 s for two runs
    interrupt(cfgs, data, REP, tmp_path / "stack.ckpt", after=3)
    resumed = train_stack(cfgs, data, REP, checkpoint=tmp_path / "stack.ckpt", checkpoint_seconds=0.0)
    # the interrupted segment read its start and saved after epochs 1-3 (3 s in its last checkpoint); the resumed
    # one read its start, saved after epoch 4 and read its end (2 s): 5 s, 2.5 per run (1.0 if it restarted at 0)
    assert [r.cpu_seconds for r in resumed] == [2.5, 2.5]
    save_result(resumed[0], tmp_path)
    assert load_result(cfgs[0], tmp_path).cpu_seconds == 2.5


def test_cpu_seconds_are_the_process_time_spent_training():
    data = toy_data()
    res = train_stack([RunConfig(model="DA", seed=0, **{**SMALL, "epochs": 20})], data, REP)[0]
    # one thread's CPU time cannot pass the wall time by more than the other threads torch may use
    assert 0 < res.cpu_seconds <= res.seconds * torch.get_num_threads() + 0.05


def test_a_diverged_run_is_marked_failed_and_its_stack_finishes():
    # nu = inf makes the penalty inf at the first step: that run fails; the healthy one beside it
    # trains to exactly the bits it has in a healthy stack of the same size.
    data = toy_data()
    good = RunConfig(model="IR", form="LI", nu=0.1, seed=0, **SMALL)
    bad = replace(good, nu=float("inf"), seed=1)
    healthy = replace(good, nu=0.2, seed=1)
    with_bad = train_stack([good, bad], data, REP)
    reference = train_stack([good, healthy], data, REP)[0]
    assert "loss became NaN/inf at epoch 1" in with_bad[1].failed and "lower nu" in with_bad[1].failed
    assert with_bad[0].failed == "" and reference.failed == ""
    for k in reference.state_dict:
        assert torch.equal(with_bad[0].state_dict[k], reference.state_dict[k])
    assert with_bad[0].history == reference.history


def test_a_failed_run_is_cached_as_failed(tmp_path):
    data = toy_data()
    bad = RunConfig(model="IR", form="LI", nu=float("inf"), seed=1, **SMALL)
    save_result(train_stack([bad], data, REP)[0], tmp_path)
    back = load_result(bad, tmp_path)
    assert back is not None and back.failed.startswith("loss became NaN/inf")


def test_cache_round_trip(tmp_path):
    cfg = RunConfig(model="DA", seed=0, **SMALL)
    assert load_result(cfg, tmp_path) is None
    res = train_stack([cfg], toy_data(), REP)[0]
    save_result(res, tmp_path)
    back = load_result(cfg, tmp_path)
    assert back.config == cfg and back.best_epoch == res.best_epoch and back.history == res.history
    for k in res.state_dict:
        assert torch.equal(back.state_dict[k], res.state_dict[k])
    assert list(tmp_path.iterdir()) == [tmp_path / f"{cfg.key()}.pt"]  # nothing temporary left behind


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="XX"), "unknown model"),
    (dict(model="IR", form="L2", nu=1.0), "form"),
    (dict(model="IR", form="LI", nu=0.0), "nu > 0"),
    (dict(model="DA", nu=1.0), "no regularizer"),
    (dict(pool="sum"), "pool"),
])
def test_bad_configs_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**kwargs)


def test_config_keys_are_stable_and_distinct():
    a, b = RunConfig(seed=0), RunConfig(seed=1)
    assert a.key() == RunConfig(seed=0).key() and a.key() != b.key()
    assert a.stack_key() == b.stack_key()
    assert RunConfig(model="IR", form="LI", nu=1.0).stack_key() != a.stack_key()


@pytest.mark.parametrize("model", ["DA", "WT"])
def test_probe_history_matches_the_sensitivity_module(model):
    """After one epoch the returned model is that epoch's; its recorded sigma_max values must match an oracle."""
    from empirical.measure.sensitivity import jacobian_sigma_max

    data = toy_data()
    cfg = RunConfig(model=model, seed=1, **{**SMALL, "epochs": 1})
    res = train_stack([cfg], data, REP)[0]
    m = module_for(cfg)
    m.load_state_dict(res.state_dict)
    probe = data.val_inputs()
    expect_j = jacobian_sigma_max(m, probe).mean().item()
    assert res.history["probe_sigma_max_J"][0] == pytest.approx(expect_j, rel=1e-4)
    expect_layers = [torch.linalg.matrix_norm(res.state_dict[f"layers.{i}.weight"], ord=2).item() for i in range(3)]
    assert res.history["layer_sigma_max"][0] == pytest.approx(expect_layers, rel=1e-5)


def test_keys_ignore_fields_at_their_defaults():
    """Adding a field with a default must not invalidate existing caches: the key only sees changed fields."""
    import dataclasses
    import hashlib
    import json

    from empirical.engine import config

    c = RunConfig(model="IR", form="LI", nu=0.5, seed=3)
    blob = json.dumps({"schema": config._SCHEMA, "form": "LI", "model": "IR", "nu": 0.5, "seed": 3}, sort_keys=True)
    assert c.key() == hashlib.sha256(blob.encode()).hexdigest()[:16]
    assert all(f.default is not dataclasses.MISSING for f in dataclasses.fields(RunConfig))


@pytest.mark.parametrize("init", ["glorot", "he", "orthogonal", "balanced"])
def test_theory_initializations_are_the_theory_layers(init):
    """init='<scheme>' starts from exactly theory.deep_linear.initialize's layers (float32) with zero biases."""
    from theory.deep_linear import initialize

    sizes = layer_sizes(REP.dim, 16, 3, 3)
    params = init_stack([7], sizes, init=init)
    state = unstack(params, 0)
    for k, expect in enumerate(initialize([REP.dim, 16, 16, 3], init, 7)):
        torch.testing.assert_close(state[f"layers.{k}.weight"], torch.as_tensor(expect, dtype=torch.float32))
    assert all(torch.count_nonzero(b) == 0 for b in params[1::2])
    if init == "balanced":  # W_{k+1}^T W_{k+1} = W_k W_k^T
        w = [state[f"layers.{k}.weight"].double() for k in range(3)]
        for a, b in zip(w[:-1], w[1:]):
            torch.testing.assert_close(b.T @ b, a @ a.T, rtol=1e-4, atol=1e-5)


def test_linear_networks_record_the_end_to_end_spectral_norm():
    """Without ReLUs the input Jacobian is W_L ... W_1 for every x: the probe records sigma_max of that product."""
    data = toy_data()
    cfg = RunConfig(model="IR", form="LI", nu=1.0, seed=0, activation="linear", init="orthogonal",
                    **{**SMALL, "epochs": 1})
    res = train_stack([cfg], data, REP)[0]
    w = [res.state_dict[f"layers.{i}.weight"].double() for i in range(3)]
    product = w[2] @ w[1] @ w[0]
    assert res.history["probe_sigma_max_J"][0] == pytest.approx(torch.linalg.matrix_norm(product, ord=2).item(),
                                                                rel=1e-4)
    m = MLP(REP.dim, 16, 3, 3, activation="linear")
    m.load_state_dict(res.state_dict)
    x = torch.randn(5, REP.dim)
    torch.testing.assert_close(m(x) - m(torch.zeros(1, REP.dim)), x @ product.T.float(), rtol=1e-4, atol=1e-4)


def test_pure_invariance_flow_with_sgd_is_gradient_descent_on_li():
    """ce=0, optimizer='sgd', one full batch: one step is W <- W - lr * grad(nu * mean LI), checked by autograd."""
    data = toy_data(n=32)
    cfg = RunConfig(model="IR", form="LI", nu=1.0, ce=0.0, optimizer="sgd", seed=0, activation="linear",
                    **{**SMALL, "epochs": 1, "batch_size": 32, "n_train": 32})
    # what the engine will do: its own init, its own (seeded) augmentation, one step
    res = train_stack([cfg], data, REP)[0]
    params = init_stack([0], layer_sizes(REP.dim, 16, 3, 3))
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(32, generator=gen)
    g = torch.randint(REP.order, (32,), generator=gen)
    m = MLP(REP.dim, 16, 3, 3, activation="linear")
    m.load_state_dict(unstack(params, 0))
    x_aug = image_groups.act(REP, data.train_orbit[0, perm], g)
    loss = invariance_from_logits(orbit_logits(m, x_aug, REP), "LI").mean()
    grads = torch.autograd.grad(loss, list(m.parameters()))
    for (name, p), gr in zip(m.named_parameters(), grads):
        torch.testing.assert_close(res.state_dict[name], (p - cfg.lr * gr).detach(), rtol=1e-4, atol=1e-6)
    assert res.history["train_ce"][0] > 0  # the cross-entropy is still recorded, just not trained on


def test_ce_zero_is_only_for_ir():
    with pytest.raises(ValueError, match="only for IR"):
        RunConfig(model="DA", ce=0.0)


def test_select_last_keeps_the_final_epoch():
    data = toy_data()
    cfg = RunConfig(model="DA", seed=2, select="last", **{**SMALL, "epochs": 4})
    res = train_stack([cfg], data, REP)[0]
    assert res.best_epoch == 4 and res.best_val_acc == pytest.approx(res.history["val_acc"][-1])
    assert res.history["layer_sigma_max"][-1][0] == pytest.approx(
        torch.linalg.matrix_norm(res.state_dict["layers.0.weight"], ord=2).item(), rel=1e-5)


def test_checkpoints_of_another_format_are_ignored(tmp_path):
    """A stale checkpoint (another engine's layout) must not be loaded: training starts afresh, same result."""
    data = toy_data()
    cfgs = [RunConfig(model="DA", seed=0, **{**SMALL, "epochs": 2})]
    ckpt = tmp_path / "stack.ckpt"
    torch.save({"keys": [c.key() for c in cfgs], "params": [torch.zeros(1)], "epoch": 1}, ckpt)  # no "format"
    fresh = train_stack(cfgs, data, REP)[0]
    again = train_stack(cfgs, data, REP, checkpoint=ckpt)[0]
    for k in fresh.state_dict:
        assert torch.equal(fresh.state_dict[k], again.state_dict[k])


def test_existing_cache_keys_are_pinned():
    """Keys computed before ``arch`` existed: adding it (default 'mlp', left out of the key) retrains nothing."""
    assert RunConfig().key() == "c9dca30088fb51c6"
    assert RunConfig(model="IR", form="LI", nu=1.0, seed=3).key() == "a6b7cb8d4f1334db"
    assert RunConfig(group="T3", model="WT").key() == "d58cc5ed0d51060b"
    assert RunConfig(dataset="fashion-mnist", model="IR", form="DI", nu=0.25, seed=1, epochs=5, n_train=1000,
                     n_val=300, n_test=1000).key() == "16c3f6f97f035618"
    assert RunConfig(arch="mlp").key() == RunConfig().key()


def _float64(data: TrainData) -> TrainData:
    return TrainData(*(t.double() if t.is_floating_point() else t for t in
                       (data.train_orbit, data.train_y, data.val_orbit, data.val_g, data.val_y)))


@pytest.mark.parametrize("model", ["DA", "WT", "IR"])
def test_generic_and_fast_paths_give_the_same_mlp_trajectory(model):
    """The torch.func path (vmapped nn.Linear, weights (R, out, in)) vs the hand-tuned one (baddbmm, (R, in, out)).

    Checked in float64 on a 12x12 grid (hidden 32), 2 runs, 3 epochs: the paths differ only in the order
    of float operations, so parameters agree to rtol 1e-9 (measured ~1e-13), and every recorded number
    too. Not in float32: there Adam's step m / (sqrt(v) + eps) amplifies rounding differences in
    coordinates whose gradients are near zero (measured 1e-2 relative after 3 epochs on one IR run).
    """
    rep = groups.rotations(12)
    data = _float64(toy_data(rep, n=96, m=32))
    kw = dict(form="LI", nu=0.5) if model == "IR" else {}
    cfgs = [RunConfig(model=model, seed=s, **kw, **{**SMALL, "hidden": 32}) for s in (0, 1)]
    fast = train_stack(cfgs, data, rep, path="fast")
    generic = train_stack(cfgs, data, rep, path="functional")
    for a, b in zip(fast, generic):
        assert (a.provenance["path"], b.provenance["path"]) == ("fast", "functional")
        assert a.state_dict.keys() == b.state_dict.keys()
        for k in a.state_dict:
            assert a.state_dict[k].dtype == torch.float64
            torch.testing.assert_close(b.state_dict[k], a.state_dict[k], rtol=1e-9, atol=1e-12)
        assert a.best_epoch == b.best_epoch and a.history["val_acc"] == b.history["val_acc"]
        for key in ("train_ce", "train_penalty", "layer_sigma_max", "probe_sigma_max_J"):
            got, want = (torch.tensor(r.history[key], dtype=torch.float64) for r in (b, a))
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12, msg=key)


def test_a_run_at_chance_is_flagged_like_a_diverged_one():
    # Issue 24.10: nu = 1e38 flattened the logits (validation accuracy 0.14) and the run was recorded as healthy.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(900, REP.dim, generator=gen)
    y = (x.sum(1) * 0.7).floor().clamp(-4, 4).long() + 4  # 9 classes of an orbit-invariant statistic
    orbit = image_groups.orbit(REP, x)
    data = TrainData(train_orbit=orbit[:, :600], train_y=y[:600], val_orbit=orbit[:, 600:],
                     val_g=torch.randint(REP.order, (300,), generator=gen), val_y=y[600:])
    sizes = {**SMALL, "n_train": 600, "n_val": 300, "epochs": 10}
    healthy = train_stack([RunConfig(model="DA", seed=0, **sizes)], data, REP)[0]
    flat = train_stack([RunConfig(model="IR", form="LI", nu=1e30, seed=0, **sizes)], data, REP)[0]
    assert not healthy.failed and healthy.best_val_acc > 0.45  # the majority class is 0.24 of these 300
    assert flat.failed.startswith("collapsed") and "lower nu (1e+30)" in flat.failed, flat.failed


def test_collapse_is_judged_against_the_majority_class_with_its_standard_error():
    from empirical.engine.training import _collapsed

    cfg = RunConfig(model="DA", **{**SMALL, "epochs": 10})  # 30 steps
    y = torch.tensor([0] * 150 + [1] * 90 + [2] * 60)  # majority 0.5 of 300: 3 SE = 0.087
    assert _collapsed(0.5, y, cfg) and _collapsed(0.58, y, cfg)
    assert not _collapsed(0.6, y, cfg)  # above the band: skill
    assert not _collapsed(0.3, y[::10], cfg)  # 30 samples: too few to tell chance from skill, not judged
    assert not _collapsed(1.0, torch.zeros(300, dtype=torch.long), cfg)  # one class: nothing to judge
    assert not _collapsed(0.5, y, RunConfig(model="DA", **SMALL))  # 9 steps: a smoke test, not judged
