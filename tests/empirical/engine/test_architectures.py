"""The architecture registry: WT invariance on every group x architecture, orbit metrics, CNN, generic engine."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from empirical.measure import image_groups
from empirical.engine.architectures import ARCHITECTURES, DEFAULT_ARCH, architecture, build, forward_macs
from empirical.measure.attribution import integrated_gradients, saliency_invariance
from empirical.engine.functional import FunctionalStack
from empirical.measure.invariance import distribution_invariance, logit_invariance, orbit_logits
from empirical.engine.models import CNN, MLP, Network, WeightTiedMLP, parameter_count
from empirical.measure.sensitivity import jacobian_sigma_max
from empirical.engine.stacked import forward_macs as mlp_formula_macs
from empirical.engine.stacked import layer_sizes
from empirical.engine.config import RunConfig
from empirical.engine.training import build_network, train_stack, TrainData, training_macs
from tests.empirical.interrupt import interrupt

# Every registered group (the group registry's names; images are 36 x 36) x every registered architecture.
GROUPS = tuple(image_groups.IMAGE_GROUPS)
ARCHS = tuple(ARCHITECTURES)
PAIRS = list(itertools.product(ARCHS, GROUPS))
REP = image_groups.image_group("R4")


def batch(n=3, seed=0, dtype=torch.float64):
    return torch.randn(n, 1, 36, 36, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def test_registry_is_an_immutable_mapping_with_the_mlp_as_default():
    assert DEFAULT_ARCH == "mlp" == RunConfig().arch and {"mlp", "cnn"} <= set(ARCHITECTURES)
    with pytest.raises(TypeError):
        ARCHITECTURES["other"] = ARCHITECTURES["mlp"]  # type: ignore[index]
    assert architecture("mlp").fast and not architecture("cnn").fast
    with pytest.raises(ValueError, match="mlp, cnn"):
        architecture("resnet")
    with pytest.raises(ValueError, match="no option hidden"):
        build("cnn", hidden=64)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_architecture_builds_a_network_with_a_linear_head_last(arch):
    net = build(arch, seed=0)
    assert isinstance(net, Network) and net.in_features == 36 * 36
    last = next(reversed(net.state_dict().values()))  # runs.build_model reads the classes from it
    assert last.shape == (9,)
    x = batch(4, dtype=torch.float32)
    out = net(x)
    assert out.shape == (4, 9)
    torch.testing.assert_close(net(x.reshape(4, 36, 36)), out, rtol=0, atol=0)
    torch.testing.assert_close(net(x.reshape(4, 1296)), out, rtol=0, atol=0)
    torch.testing.assert_close(net.rest(net.first(x.reshape(4, 1296))), out, rtol=0, atol=0)  # f = rest o first


@pytest.mark.parametrize("arch", ARCHS)
def test_seeded_init_depends_on_the_seed_alone(arch):
    torch.manual_seed(1)
    a = build(arch, seed=5)
    torch.manual_seed(2)
    b, c = build(arch, seed=5), build(arch, seed=6)
    for (name, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q) and not torch.equal(p, r), name
    for layer in (m for m in a.modules() if isinstance(m, (nn.Linear, nn.Conv2d))):
        bound = layer.weight[0].numel() ** -0.5  # the default init's range, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound


# The convnets cost ~15x the mlp's multiply-adds per sample: their property examples are fewer (the WT construction
# under test is the same Network code for every architecture).
HEAVY = {name for name in ARCHS if name.startswith("convnet")}


def _weight_tied_is_invariant(arch, group, seed, pool):
    """f_WT(g x) = f_WT(x) for every g: the orbit of g x is a permutation of the orbit of x (float64)."""
    rep = image_groups.image_group(group)
    net = build(arch, group=rep, pool=pool, seed=seed % 1000).double()
    x = batch(3, seed)
    z = net(image_groups.orbit(rep, x).reshape(-1, 1, 36, 36)).reshape(rep.order, 3, -1)
    torch.testing.assert_close(z, z[:1].expand_as(z), rtol=1e-12, atol=1e-12)
    plain = build(arch, seed=seed % 1000).double()  # the same weights untied are not invariant ...
    plain.load_state_dict(net.state_dict())
    zp = orbit_logits(plain, x, rep)
    if group in architecture(arch).invariant_to:  # ... unless the architecture is, by construction
        torch.testing.assert_close(zp, zp[:1].expand_as(zp), rtol=1e-12, atol=1e-12)
    else:
        assert (zp - zp[:1]).abs().max() > 1e-6


@pytest.mark.parametrize("arch, group", [p for p in PAIRS if p[0] not in HEAVY])
@given(seed=st.integers(0, 2**31 - 1), pool=st.sampled_from(["max", "mean"]))
def test_weight_tied_network_is_exactly_invariant(arch, group, seed, pool):
    _weight_tied_is_invariant(arch, group, seed, pool)


@pytest.mark.parametrize("arch, group", [p for p in PAIRS if p[0] in HEAVY])
@settings(max_examples=6)
@given(seed=st.integers(0, 2**31 - 1), pool=st.sampled_from(["max", "mean"]))
def test_weight_tied_convnet_is_exactly_invariant(arch, group, seed, pool):
    _weight_tied_is_invariant(arch, group, seed, pool)


@pytest.mark.parametrize("arch, group", PAIRS)
def test_weight_tying_is_the_first_layer_on_every_g_x_pooled_before_the_nonlinearity(arch, group):
    """features(x) = first(g x) for every g (the MLP's permuted-weight shortcut included); head = rest(pool_g)."""
    rep = image_groups.image_group(group)
    net = build(arch, group=rep, seed=3).double()
    x = batch(4, 1).reshape(4, 1296)
    u = net.features(x)
    oracle = torch.stack([net.first(image_groups.act(rep, x, g)) for g in range(rep.order)], dim=1)
    torch.testing.assert_close(u, oracle, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(net(x), net.rest(oracle.amax(1)), rtol=1e-12, atol=1e-12)
    # the trainer's entry: the orbit given as (|G|, N, d)
    torch.testing.assert_close(net(image_groups.orbit(rep, x), given_orbit=True), net(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("arch, group", PAIRS)
@pytest.mark.parametrize("tied", [False, True], ids=["untied", "WT"])
def test_orbit_metrics_run_on_every_architecture(arch, group, tied):
    """LI, DI, SI and sigma_max(J) on every group x architecture; WT's invariance errors vanish and SI = 1."""
    rep = image_groups.image_group(group)
    net = build(arch, group=rep if tied else None, seed=4).double()
    n = 2 if arch in HEAVY else 4  # the convnets' float64 IG over an orbit of 8 costs seconds per sample
    x, labels = batch(n, 2), torch.tensor([0, 3, 5, 8])[:n]
    li, di = logit_invariance(net, x, rep), distribution_invariance(net, x, rep)
    si = saliency_invariance(net, x, rep, target=labels, steps=8)
    s = jacobian_sigma_max(net, x)
    for v in (li, di, si, s):
        assert v.shape == (n,) and torch.isfinite(v).all()
    assert (s > 0).all()
    if tied or group in architecture(arch).invariant_to:
        assert li.abs().max() < 1e-20 and di.abs().max() < 1e-12
        torch.testing.assert_close(si, torch.ones_like(si), rtol=0, atol=1e-9)
    else:
        assert li.min() > 1e-8


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("tied", [False, True], ids=["untied", "WT"])
def test_affine_split_integrated_gradients_equal_the_generic_path(arch, tied):
    net = build(arch, group=REP if tied else None, seed=5).double()
    x = batch(3, 4)
    fast = integrated_gradients(net, x, torch.tensor([1, 2, 3]), steps=6, fast=True)
    slow = integrated_gradients(net, x, torch.tensor([1, 2, 3]), steps=6, fast=False)
    torch.testing.assert_close(fast, slow, rtol=1e-9, atol=1e-12)


def test_cnn_is_the_textbook_convolutional_network():
    """Patch convolutions as matrix products = nn.Conv2d / nn.Flatten / nn.Linear with the same state dict."""
    net = CNN(seed=0).double()
    ref = nn.Sequential(nn.Conv2d(1, 96, 9, stride=9), nn.ReLU(), nn.Conv2d(96, 128, 2, stride=2), nn.ReLU(),
                        nn.Flatten(), nn.Linear(512, 9)).double()
    names = {"conv1": "0", "conv2": "2", "fc": "5"}
    ref.load_state_dict({names[k.split(".")[0]] + "." + k.split(".")[1]: v for k, v in net.state_dict().items()})
    x = batch(5, 7)
    torch.testing.assert_close(net(x), ref(x), rtol=1e-12, atol=1e-12)
    maps = ref[0](x).permute(0, 2, 3, 1)  # (N, 4, 4, 96): position (2 i + a, 2 j + b) is first(x)[:, i, j, a, b]
    blocked = maps.reshape(5, 2, 2, 2, 2, 96).transpose(2, 3)
    torch.testing.assert_close(net.first(x.reshape(5, 1296)), blocked, rtol=1e-12, atol=1e-12)
    linear = CNN(seed=0, activation="linear").double()
    xs = batch(2, 8)
    torch.testing.assert_close(linear(xs[:1] + xs[1:]) + linear(torch.zeros(1, 1296, dtype=torch.float64)),
                               linear(xs[:1]) + linear(xs[1:]), rtol=1e-10, atol=1e-10)  # affine without ReLUs


def test_cnn_cost_is_within_twice_the_mlp():
    """The stated sizes: 325,632 multiply-adds (1.51x the MLP's 216,192) and 61,769 parameters."""
    mlp, cnn = forward_macs(build("mlp")), forward_macs(build("cnn"))
    assert mlp == 1296 * 128 + 3 * 128 * 128 + 128 * 9 == 216_192
    assert cnn == 4 * 4 * 96 * 81 + 2 * 2 * 128 * 384 + 512 * 9 == 325_632
    assert cnn <= 2 * mlp
    assert parameter_count(build("cnn")) == 61_769
    assert forward_macs(build("cnn"), first=True) == 124_416
    assert forward_macs(build("cnn", group=REP)) == 325_632 + 3 * 124_416  # WT: the first layer |G| times
    with pytest.raises(ValueError, match="multiple of 2 \\* patch"):
        CNN(in_features=28 * 28)


@pytest.mark.parametrize("model", ["DA", "WT", "IR"])
def test_training_macs_of_the_mlp_equal_the_layer_formula(model):
    kw = dict(form="LI", nu=1.0) if model == "IR" else {}
    sizes = layer_sizes()
    per = {"DA": mlp_formula_macs(sizes), "WT": mlp_formula_macs(sizes, 4, tied_first=True),
           "IR": 4 * mlp_formula_macs(sizes)}[model]
    assert training_macs(RunConfig(model=model, **kw), 4) == per * 10_000


def test_run_config_arch_is_validated_and_keys_only_see_it_when_set():
    assert RunConfig(arch="cnn").key() != RunConfig().key()
    assert RunConfig(arch="cnn").stack_key() != RunConfig().stack_key()
    with pytest.raises(ValueError, match="unknown architecture 'vit'"):
        RunConfig(arch="vit")
    with pytest.raises(ValueError, match="takes no hidden"):
        RunConfig(arch="cnn", hidden=64)
    with pytest.raises(ValueError, match="init='torch'"):
        RunConfig(arch="cnn", init="orthogonal")


# --- the generic (torch.func) engine on the CNN: 36 x 36 toy data, a few samples ---

SMALL = dict(arch="cnn", n_train=48, n_val=16, batch_size=16, epochs=3, lr=3e-3)


def toy_data(n=48, m=16, classes=3, seed=0) -> TrainData:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n + m, REP.dim, generator=gen)
    y = (x.sum(1) / 4).floor().remainder(classes).long()
    orbit = image_groups.orbit(REP, x)
    return TrainData(train_orbit=orbit[:, :n], train_y=y[:n], val_orbit=orbit[:, n:],
                     val_g=torch.randint(REP.order, (m,), generator=gen), val_y=y[n:])


def test_functional_init_is_each_modules_own_seeded_init():
    stack = FunctionalStack("cnn", "DA", REP, classes=3)
    params = stack.init([3, 5])
    assert [n for n, _ in build("cnn", classes=3).named_parameters()] == stack.names
    for r, seed in enumerate([3, 5]):
        expect = build("cnn", seed=seed, classes=3).state_dict()
        got = stack.unstack(params, r)
        assert got.keys() == expect.keys() and all(torch.equal(got[k], expect[k]) for k in got)
    alone = stack.init([5])
    assert all(torch.equal(a[0], b[1]) for a, b in zip(alone, params))  # independent of the stack


@pytest.mark.parametrize("model", ["DA", "WT", "IR"])
def test_cnn_trains_through_the_generic_engine_and_loads_back(model):
    from empirical.engine.runs import build_model

    data = toy_data()
    kw = dict(form="LI", nu=0.5) if model == "IR" else {}
    cfg = RunConfig(model=model, seed=1, **kw, **SMALL)
    res = train_stack([cfg], data, REP)[0]
    assert res.provenance["path"] == "functional" and not res.failed
    assert all(len(v) == 3 for v in res.history.values()) and len(res.history["layer_sigma_max"][0]) == 3
    net = build_model(res)
    assert isinstance(net, CNN) and (net.group is not None) == (model == "WT")
    x_val = image_groups.act(REP, data.val_orbit[0], data.val_g)
    acc = (net(x_val).argmax(-1) == data.val_y).float().mean().item()
    assert acc == pytest.approx(res.best_val_acc, abs=1e-6)
    if model == "WT":
        z = orbit_logits(net, x_val, REP)
        torch.testing.assert_close(z, z[:1].expand_as(z), rtol=1e-5, atol=1e-5)


def test_cnn_runs_in_a_stack_match_runs_alone():
    """Nothing mixes runs: a run trained beside another equals the run alone (float64, where only the order of
    float operations can differ; in float32 Adam amplifies such rounding to ~1e-2 relative in a few epochs)."""
    d = toy_data()
    data = TrainData(d.train_orbit.double(), d.train_y, d.val_orbit.double(), d.val_g, d.val_y)
    cfgs = [RunConfig(model="IR", form="LI", nu=0.5, seed=0, **SMALL),
            RunConfig(model="IR", form="DI", nu=2.0, seed=1, **SMALL)]
    together = train_stack(cfgs, data, REP)
    for c, res in zip(cfgs, together):
        alone = train_stack([c], data, REP)[0]
        for k in res.state_dict:
            torch.testing.assert_close(res.state_dict[k], alone.state_dict[k], rtol=1e-9, atol=1e-12)
        assert res.history["val_acc"] == alone.history["val_acc"]


@pytest.mark.parametrize("arch", ["cnn", "mlp"])
def test_generic_engine_resumes_an_interrupted_stack_to_the_same_bits(tmp_path, arch):
    data = toy_data()
    cfgs = [RunConfig(model="WT", seed=s, **{**SMALL, "arch": arch, "epochs": 4}) for s in (0, 1)]
    straight = train_stack(cfgs, data, REP, path="functional")
    interrupt(cfgs, data, REP, tmp_path / "stack.ckpt", after=2, path="functional")
    resumed = train_stack(cfgs, data, REP, checkpoint=tmp_path / "stack.ckpt", checkpoint_seconds=0.0,
                          path="functional")
    for a, b in zip(straight, resumed):
        assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
        assert a.history == b.history and a.best_epoch == b.best_epoch


def test_a_checkpoint_of_the_other_path_is_not_loaded(tmp_path):
    """The fast path stores weights (R, in, out), the generic one (R, out, in): a resume must not mix them."""
    data = toy_data()
    cfgs = [RunConfig(model="DA", seed=0, **{**SMALL, "arch": "mlp", "epochs": 3})]
    interrupt(cfgs, data, REP, tmp_path / "stack.ckpt", after=1, path="fast")
    fresh = train_stack(cfgs, data, REP, path="functional")[0]
    again = train_stack(cfgs, data, REP, checkpoint=tmp_path / "stack.ckpt", path="functional")[0]
    assert all(torch.equal(fresh.state_dict[k], again.state_dict[k]) for k in fresh.state_dict)


def test_engine_paths_are_checked():
    data = toy_data()
    with pytest.raises(ValueError, match="no hand-tuned path"):
        train_stack([RunConfig(**SMALL)], data, REP, path="fast")
    with pytest.raises(ValueError, match="unknown path"):
        train_stack([RunConfig(**SMALL)], data, REP, path="jit")
    with pytest.raises(ValueError, match="needs path='fast'"):
        train_stack([RunConfig(**{**SMALL, "arch": "mlp"}, init="orthogonal")], data, REP, path="functional")


def test_build_network_follows_the_config():
    assert isinstance(build_network(RunConfig(model="WT"), REP), WeightTiedMLP)
    assert type(build_network(RunConfig(), None)) is MLP
    assert isinstance(build_network(RunConfig(arch="cnn", model="WT"), REP), CNN)
    with pytest.raises(ValueError, match="needs its group"):
        build_network(RunConfig(model="WT"), None)
