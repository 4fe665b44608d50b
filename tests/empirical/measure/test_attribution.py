"""Integrated gradients, the saliency map m_f of Sec. 4.1 and SI (Eq. 3) against toy models and scipy; NaN in/out."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.ndimage import gaussian_filter
from torch import nn

from empirical.measure import attribution as at
from empirical.measure.image_groups import act, image_group, inverse_act
from empirical.engine.models import MLP, WeightTiedMLP
from theory import groups

R4, T3 = image_group("R4"), image_group("T3")


def images(n, c=1, s=36, seed=0):
    return torch.randn(n, c, s, s, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@given(st.data())
def test_linear_model_ig_is_weight_times_displacement(data):
    d, k = data.draw(st.integers(2, 12)), data.draw(st.integers(1, 4))
    arrays = lambda shape: hnp.arrays(np.float64, shape, elements=st.floats(-3, 3, allow_nan=False, width=64))
    w, c = torch.from_numpy(data.draw(arrays((k, d)))), torch.from_numpy(data.draw(arrays((k,))))
    x, b = torch.from_numpy(data.draw(arrays((3, d)))), torch.from_numpy(data.draw(arrays((d,))))
    t = torch.tensor(data.draw(st.lists(st.integers(0, k - 1), min_size=3, max_size=3)))
    steps = data.draw(st.integers(1, 60))
    ig = at.integrated_gradients(lambda v: v @ w.T + c, x, t, baseline=b, steps=steps, max_batch=7)
    torch.testing.assert_close(ig, w[t] * (x - b), rtol=1e-12, atol=1e-12)


@given(st.data())
def test_quadratic_model_ig_is_exact(data):
    """f_k(x) = sum_i A_ki x_i^2 has IG_i = A_ti (x_i^2 - b_i^2): Gauss-Legendre is exact on this path."""
    d = data.draw(st.integers(1, 10))
    arrays = lambda shape: hnp.arrays(np.float64, shape, elements=st.floats(-3, 3, allow_nan=False, width=64))
    a = torch.from_numpy(data.draw(arrays((3, d))))
    x, b = torch.from_numpy(data.draw(arrays((4, d)))), torch.from_numpy(data.draw(arrays((4, d))))
    target = data.draw(st.integers(0, 2))
    ig = at.integrated_gradients(lambda v: v.square() @ a.T, x, target, baseline=b, steps=data.draw(st.integers(1, 60)))
    torch.testing.assert_close(ig, a[target] * (x.square() - b.square()), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("model", [MLP(seed=1), WeightTiedMLP(R4, seed=1), WeightTiedMLP(T3, seed=1)],
                         ids=["MLP", "WT-R4", "WT-T3"])
def test_completeness_on_relu_networks(model):
    """sum_i IG_i = f(x)_t - f(b)_t up to the quadrature error on a piecewise-linear path (Sundararajan et al.).

    Stated tolerance: the summed absolute completeness error is at most 3% of sum |f(x)_t - f(b)_t|
    at 50 steps and 1% at 200 steps (measured: ~2% and ~0.4%; every quadrature converges like
    1/steps on the piecewise-constant path gradient of a ReLU network).
    """
    model = model.double()
    x, t = images(64), torch.arange(64) % 9
    gap = (model(x) - model(torch.zeros_like(x))).gather(1, t[:, None])[:, 0].detach()
    for steps, tol in ((50, 0.03), (200, 0.01)):
        err = at.integrated_gradients(model, x, t, steps=steps).flatten(1).sum(1) - gap
        assert err.abs().sum() <= tol * gap.abs().sum(), (steps, (err.abs().sum() / gap.abs().sum()).item())


@pytest.mark.parametrize("model", [MLP(seed=2), WeightTiedMLP(R4, seed=2, pool="mean")], ids=["MLP", "WT-mean"])
def test_affine_split_equals_the_generic_path(model):
    """The fast path (first layer once) computes the same integral as the plain batched one."""
    model = model.double()
    x, b = images(5, seed=1), images(1, seed=2)
    t = torch.tensor([0, 3, 8, 2, 2])
    fast = at.integrated_gradients(model, x, t, baseline=b, steps=17)
    slow = at.integrated_gradients(model, x, t, baseline=b, steps=17, fast=False, max_batch=13)
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-12)
    chunked = at.integrated_gradients(model, x, t, baseline=b, steps=17, max_batch=4)
    torch.testing.assert_close(chunked, fast, rtol=1e-10, atol=1e-12)
    per_int = torch.stack([at.integrated_gradients(model, x[i:i + 1], int(t[i]), b, 17)[0] for i in range(5)])
    torch.testing.assert_close(per_int, fast, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", at.SMOOTHING_MODES)
@pytest.mark.parametrize("kernel_size,sigma", [(3, 1.0), (5, 1.0), (5, 0.7), (1, 1.0)])
def test_smoothing_equals_scipy(mode, kernel_size, sigma):
    m = np.random.default_rng(0).random((4, 9, 7))
    expected = np.stack([gaussian_filter(mi, sigma=sigma, radius=kernel_size // 2, mode=mode, cval=0.0) for mi in m])
    got = at.gaussian_smooth(torch.from_numpy(m), kernel_size, sigma, mode).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_default_smoothing_is_the_papers_kernel():
    """Kernel size 3, std 1 = scipy's gaussian_filter(sigma=1, truncate=1.0), here with mode='wrap'."""
    m = np.random.default_rng(1).random((36, 36))
    np.testing.assert_allclose(at.gaussian_smooth(torch.from_numpy(m)).numpy(),
                               gaussian_filter(m, sigma=1, truncate=1.0, mode="wrap"), rtol=1e-12, atol=1e-14)


def test_wrap_smoothing_commutes_with_both_groups_and_reflect_does_not_with_t3():
    m = torch.from_numpy(np.random.default_rng(2).random((3, 36, 36)))
    for rep in (R4, T3):
        for g in range(rep.order):
            torch.testing.assert_close(at.gaussian_smooth(act(rep, m, g)), act(rep, at.gaussian_smooth(m), g),
                                       rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(at.gaussian_smooth(act(R4, m, 1), mode="reflect"),
                               act(R4, at.gaussian_smooth(m, mode="reflect"), 1), rtol=1e-12, atol=1e-14)
    gap = (at.gaussian_smooth(act(T3, m, 1), mode="reflect") - act(T3, at.gaussian_smooth(m, mode="reflect"), 1))
    assert gap.abs().max() > 1e-3


def test_saliency_map_matches_numpy_and_scipy():
    model = MLP(seed=3).double()
    x, t = images(4, seed=3), torch.tensor([1, 2, 3, 4])
    ig = at.integrated_gradients(model, x, t).numpy()
    m = np.abs(ig).sum(1)
    m = np.where(m < 0.9 * m.max(axis=(1, 2), keepdims=True), 0.0, m)
    expected = np.stack([gaussian_filter(mi, sigma=1, truncate=1.0, mode="wrap") for mi in m])
    got = at.saliency_map(model, x, t)
    assert got.shape == (4, 36, 36)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-14)
    assert ((m > 0).sum(axis=(1, 2)) < 0.2 * 36 * 36).all()  # the 0.9 threshold keeps a small set of pixels
    torch.testing.assert_close(at.saliency_map(model, x.reshape(4, 1296), t), got, rtol=0, atol=0)


def naive_si(f, x, rep, target, baseline):
    """Eq. 3 term by term with numpy cosines, each orbit element in its own call."""
    m0 = at.saliency_map(f, x, target, baseline).numpy()
    out = []
    for g in range(1, rep.order):
        b = act(rep, torch.as_tensor(baseline, dtype=x.dtype).broadcast_to(x.shape), g)
        mg = inverse_act(rep, at.saliency_map(f, act(rep, x, g), target, b), g).numpy()
        a, c = m0.reshape(len(x), -1), mg.reshape(len(x), -1)
        out.append((a * c).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(c, axis=1)))
    return np.mean(out, axis=0)


@pytest.mark.parametrize("rep", [R4, T3], ids=["R4", "T3"])
def test_si_of_invariant_models_is_one_and_of_a_random_mlp_is_not(rep):
    x, t = images(6, seed=4), torch.arange(6) % 9
    b = images(6, seed=5)  # a per-sample, non-invariant baseline: it is transformed with the sample
    tied = WeightTiedMLP(rep, seed=4).double()
    plain = MLP(seed=4).double()
    p_g = torch.from_numpy(groups.reynolds(rep))
    for f in (tied, lambda v: plain(v.reshape(v.shape[0], -1) @ p_g.T)):
        for baseline in (0.0, -0.42, b):
            si = at.saliency_invariance(f, x, rep, t, baseline)
            assert si.shape == (6,)
            torch.testing.assert_close(si, torch.ones_like(si), rtol=0, atol=1e-9)
    si = at.saliency_invariance(plain, x, rep, t)
    np.testing.assert_allclose(si.numpy(), naive_si(plain, x, rep, t, 0.0), rtol=1e-10, atol=1e-12)
    assert si.mean() < 0.9 and (si >= -1).all() and (si <= 1).all()


def test_si_conventions():
    rep = R4
    model = MLP(seed=5).double()
    x = images(3, seed=6)
    pred = model(x).argmax(-1)
    torch.testing.assert_close(at.saliency_invariance(model, x, rep), at.saliency_invariance(model, x, rep, pred))
    mean = at.saliency_invariance(model, x, rep, 2)
    total = at.saliency_invariance(model, x, rep, 2, reduction="sum")  # Eq. 3 literally: identity term is 1
    torch.testing.assert_close(total, 1 + (rep.order - 1) * mean, rtol=1e-12, atol=1e-12)
    dead = lambda v: 0.0 * v.reshape(v.shape[0], -1)[:, :3]  # zero gradients -> zero saliency maps
    si = at.saliency_invariance(dead, x, rep, 0)
    assert torch.equal(si, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="target"):
        at.integrated_gradients(model, x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="odd"):
        at.gaussian_smooth(torch.zeros(2, 5, 5), kernel_size=4)
    with pytest.raises(ValueError, match="wrap, reflect, constant"):
        at.gaussian_smooth(torch.zeros(2, 5, 5), mode="nearest")


NONFINITE = (float("nan"), float("inf"), -float("inf"))
R4_6, T3_6 = image_group("R4", 6), image_group("T3", 6)


def small_mlp(seed):
    return MLP(in_features=36, hidden=16, depth=3, classes=5, seed=seed).double()


@pytest.mark.parametrize("bad", NONFINITE)
def test_a_nonfinite_pixel_gives_an_all_nan_sample(bad):
    """A NaN pixel survives "m < 0.9 max" (NaN < t is False) and a NaN map would read as a zero map in SI."""
    model = small_mlp(11)
    x, t = images(4, s=6, seed=11), torch.tensor([0, 1, 2, 3])
    x[1, 0, 3, 3] = bad
    x[2] = bad
    ok = torch.tensor([True, False, False, True])
    for fast in (True, False):
        ig = at.integrated_gradients(model, x, t, steps=7, fast=fast)
        assert torch.isnan(ig[~ok]).all()
        torch.testing.assert_close(ig[ok], at.integrated_gradients(model, x[ok], t[ok], steps=7, fast=fast),
                                   rtol=1e-12, atol=1e-15)
    m = at.saliency_map(model, x, t, steps=7)
    assert torch.isnan(m[~ok]).all() and torch.isfinite(m[ok]).all()
    si = at.saliency_invariance(model, x, R4_6, t, steps=7)
    assert torch.isnan(si[~ok]).all()
    torch.testing.assert_close(si[ok], at.saliency_invariance(model, x[ok], R4_6, t[ok], steps=7),
                               rtol=1e-12, atol=1e-15)
    nan_baseline = torch.zeros(4, 1, 6, 6, dtype=torch.float64)
    nan_baseline[3, 0, 0, 0] = bad
    assert torch.isnan(at.integrated_gradients(model, x, t, nan_baseline, steps=7)[3]).all()


def test_a_nonfinite_model_output_or_gradient_gives_an_all_nan_sample():
    model = small_mlp(12)
    x, t = images(3, s=6, seed=12), 2
    x[1] += 5.0  # every point on the path of sample 1 beyond alpha ~ 1/2 has mean > 2

    def broken(v):  # finite inputs, non-finite logits late on sample 1's path (other classes than the target)
        out = model(v)
        return torch.cat([out[:, :1] + torch.where(v.flatten(1).mean(1, keepdim=True) > 2, float("nan"), 0.0),
                          out[:, 1:]], 1)

    ig = at.integrated_gradients(broken, x, t, steps=9, fast=False)
    assert torch.isnan(ig[1]).all() and torch.isfinite(ig[[0, 2]]).all()
    si = at.saliency_invariance(broken, x, T3_6, t, steps=9)
    assert torch.isnan(si[1]) and torch.isfinite(si[[0, 2]]).all()

    y = images(2, s=6, seed=13)
    y[0, 0, 0, 0] = 0.0  # d sqrt|v| / dv = inf at 0 for every path point: one NaN pixel in a finite-output IG
    kinked = lambda v: model(v) + 0.0 * v.flatten(1)[:, :1].abs().sqrt()
    ig = at.integrated_gradients(kinked, y, t, steps=5)
    assert torch.isnan(ig[0]).all() and torch.isfinite(ig[1]).all()
    si = at.saliency_invariance(kinked, y, T3_6, t, steps=5)
    assert torch.isnan(si[0]) and torch.isfinite(si[1])



def test_cosine_of_a_nan_map_is_nan_and_of_a_zero_map_is_zero():
    a = torch.rand(4, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(14))
    b = a.clone()
    a[1] = 0.0
    b[2, 3, 3] = float("nan")
    a[3], b[3] = 0.0, float("nan")  # a zero map does not turn a NaN into 0
    cos = at.saliency_cosine(a, b)
    torch.testing.assert_close(cos[0], torch.tensor(1.0, dtype=torch.float64), rtol=0, atol=1e-12)
    assert cos[1] == 0 and torch.isnan(cos[2:]).all()
    trivial = groups.from_permutations("trivial", [np.arange(36)])
    x = images(2, s=6, seed=15)
    x[1, 0, 0, 0] = float("nan")
    si = at.saliency_invariance(small_mlp(15), x, trivial, 0, steps=3)
    assert si[0] == 1 and torch.isnan(si[1])


def test_si_takes_a_group_name_and_checks_group_and_shape_first():
    model = MLP(seed=16).double()
    x = images(2, seed=16)
    for name in ("R4", "T3"):
        torch.testing.assert_close(at.saliency_invariance(model, x, name, 1, steps=3),
                                   at.saliency_invariance(model, x, image_group(name), 1, steps=3), rtol=0, atol=0)

    def never(v):
        raise AssertionError("the model must not run on a bad group or shape")

    with pytest.raises(TypeError, match=r"group must be a theory.groups.Representation or one of the names "
                                        r"'R4', 'T3', 'D4', 'F2'; got int"):
        at.saliency_invariance(never, x, 4)
    with pytest.raises(ValueError, match="R4, T3, D4, F2"):
        at.saliency_invariance(never, x, "Q8")
    with pytest.raises(ValueError, match=r"got x of shape \(2, 1, 28, 28\)"):
        at.saliency_invariance(never, torch.zeros(2, 1, 28, 28), "R4")
    with pytest.raises(ValueError, match=r"\(N, 36\), \(N, 6, 6\)"):
        at.saliency_invariance(never, x, R4_6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda_like_on_cpu():
    """Everything stays on x's device: the same numbers on the GPU as on the CPU (float64)."""
    model = WeightTiedMLP(T3, seed=6).double()
    x, t = images(3, seed=7), torch.tensor([0, 4, 8])
    cpu_ig = at.integrated_gradients(model, x, t, max_batch=64)
    cpu_si = at.saliency_invariance(MLP(seed=6).double(), x, R4, t)
    gpu = torch.device("cuda")
    gpu_ig = at.integrated_gradients(model.to(gpu), x.to(gpu), t.to(gpu), max_batch=64)
    gpu_si = at.saliency_invariance(MLP(seed=6).double().to(gpu), x.to(gpu), R4, t.to(gpu))
    assert gpu_ig.device.type == "cuda" and gpu_si.device.type == "cuda"
    torch.testing.assert_close(gpu_ig.cpu(), cpu_ig, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(gpu_si.cpu(), cpu_si, rtol=1e-6, atol=1e-6)


def hand_si(model, x, rep, target, steps, smooth, event_shape):
    """Eq. 3 written out: |IG| summed over the channels, thresholded at 0.9 max, ``smooth``ed, realigned, cosines."""
    def maps(v):
        a = at.integrated_gradients(model, v, target, steps=steps).abs().numpy()
        a = a.reshape(len(v), -1, *event_shape).sum(1)
        a = np.where(a < 0.9 * a.reshape(len(v), -1).max(1).reshape(-1, *(1,) * len(event_shape)), 0.0, a)
        return np.stack([smooth(ai) for ai in a])
    m0 = maps(x).reshape(len(x), -1)
    cos = []
    for g in range(1, rep.order):
        mg = inverse_act(rep, torch.from_numpy(maps(act(rep, x, g))), g).numpy().reshape(len(x), -1)
        cos.append((m0 * mg).sum(1) / (np.linalg.norm(m0, axis=1) * np.linalg.norm(mg, axis=1)))
    return np.mean(cos, axis=0)


@pytest.mark.parametrize("length", [16, 15])
def test_si_on_a_signal_group_is_not_smoothed_as_a_fake_grid(length):
    """Defect 2: C16 on (N, 16) was reshaped to 4 x 4 and smoothed as an image (SI 0.658, not 0.340); C15 raised."""
    rep = groups.cyclic_shift(length)  # undeclared, on (N, L): a flat vector, nothing to smooth
    model = MLP(in_features=length, hidden=16, depth=3, classes=5, seed=21).double()
    x = torch.randn(6, length, dtype=torch.float64, generator=torch.Generator().manual_seed(21))
    t = torch.arange(6) % 5
    si = at.saliency_invariance(model, x, rep, t, steps=8)
    np.testing.assert_allclose(si.numpy(), hand_si(model, x, rep, t, 8, lambda m: m, (length,)), rtol=1e-10)


def test_si_smoothing_follows_the_declared_event():
    from scipy.ndimage import gaussian_filter1d

    from empirical.measure.events import acting_on

    t = torch.arange(5) % 5
    signal = acting_on(groups.cyclic_shift(12), "signal")  # 2 channels of a length-12 signal: 1-D Gaussian
    model = MLP(in_features=24, hidden=16, depth=3, classes=5, seed=22).double()
    x = torch.randn(5, 2, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(22))
    smooth = lambda m: gaussian_filter1d(m, sigma=1, truncate=1.0, mode="wrap")  # noqa: E731
    np.testing.assert_allclose(at.saliency_invariance(model, x, signal, t, steps=6).numpy(),
                               hand_si(model, x, signal, t, 6, smooth, (12,)), rtol=1e-10)
    points = acting_on(groups.cyclic_shift(16), "points", (8, 2))  # 8 points in 2-D: no smoothing
    model = MLP(in_features=16, hidden=16, depth=3, classes=5, seed=23).double()
    x = torch.randn(5, 8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(23))
    np.testing.assert_allclose(at.saliency_invariance(model, x, points, t, steps=6).numpy(),
                               hand_si(model, x, points, t, 6, lambda m: m, (8, 2)), rtol=1e-10)
    square = image_group("T2", (4, 6))  # a non-square image: the 3x3 Gaussian of the paper
    model = MLP(in_features=24, hidden=16, depth=3, classes=5, seed=24).double()
    x = torch.randn(5, 1, 4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(24))
    smooth = lambda m: gaussian_filter(m, sigma=1, truncate=1.0, mode="wrap")  # noqa: E731
    np.testing.assert_allclose(at.saliency_invariance(model, x, square, t, steps=6).numpy(),
                               hand_si(model, x, square, t, 6, smooth, (4, 6)), rtol=1e-10)


def test_si_refuses_a_smoothing_that_does_not_commute_with_the_group():
    model = small_mlp(25)
    x = images(2, s=6, seed=25)

    def never(v):
        raise AssertionError("refused before the model runs")

    with pytest.raises(ValueError, match=r"mode 'reflect'\) of 6x6 images does not commute with T3\[6x6\]"):
        at.saliency_invariance(never, x, T3_6, 0, mode="reflect")
    assert at.saliency_invariance(model, x, R4_6, 0, steps=2, mode="reflect").shape == (2,)  # reflect commutes
    mixed = groups.random_orthogonal(groups.rotations(6), np.random.default_rng(0))  # not a pixel permutation
    with pytest.raises(ValueError, match="does not commute"):
        at.saliency_invariance(never, x, mixed, 0)
    assert at.saliency_invariance(model, x, T3_6, 0, steps=2, mode="reflect", kernel_size=1).shape == (2,)


# --- method="fast": the same estimator, computed faster; the default ("reference") is the committed numbers' -------

def _frozen_reference_ig(model, x, t, baseline, steps=50, max_batch=8192):
    """integrated_gradients' default path as it was before method= existed, copied verbatim in substance: the MLP's
    declared affine split, all N * steps rows in chunks of max_batch, per-row index_add of the weighted gradients."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas = torch.tensor(0.5 * (nodes + 1.0), dtype=x.dtype)
    weights = torch.tensor(0.5 * weights, dtype=x.dtype)
    b = torch.as_tensor(baseline, dtype=x.dtype).broadcast_to(x.shape)
    affine, head = model.affine_split()
    with torch.enable_grad():
        xv = x.clone().requires_grad_(True)
        ux = affine(xv)
        start, end = affine(b).detach(), ux.detach()
        total, delta, acc = end.shape[0] * steps, end - start, torch.zeros_like(end)
        pad = (1,) * (end.dim() - 1)
        for lo in range(0, total, max_batch):
            rows = torch.arange(lo, min(lo + max_batch, total))
            i, s = rows // steps, rows % steps
            pts = (start[i] + alphas[s].view(-1, *pad) * delta[i]).requires_grad_(True)
            out = head(pts)
            (grad,) = torch.autograd.grad(out.gather(-1, t[i, None]).sum(), pts)
            acc.index_add_(0, i, grad * weights[s].view(-1, *pad))
        (grad,) = torch.autograd.grad(ux, xv, grad_outputs=acc)
    return ((x - b) * grad).detach()


def test_the_default_path_is_the_committed_numbers_bit_for_bit():
    """The paper's (N, 1, 36, 36) float32 MLP: the default IG (so SI and the maps) equals the frozen copy exactly."""
    model = MLP(seed=21).eval()
    x = torch.randn(6, 1, 36, 36, generator=torch.Generator().manual_seed(21))
    t = torch.arange(6) % 9
    assert torch.equal(at.integrated_gradients(model, x, t, -0.42), _frozen_reference_ig(model, x, t, -0.42))
    assert torch.equal(at.integrated_gradients(model, x, t, -0.42, method="reference"),
                       _frozen_reference_ig(model, x, t, -0.42))


def _sequential(mlp):
    layers = [nn.Flatten()]
    for i, lin in enumerate(mlp.layers):
        layers += [lin] if i == len(mlp.layers) - 1 else [lin, nn.ReLU()]
    return nn.Sequential(*layers).eval()


def _fast_cases():
    from empirical.engine.convnet import ConvNet
    from empirical.engine.models import CNN
    small = MLP(seed=22).double()
    return {"MLP": small, "WT-R4": WeightTiedMLP(R4, seed=22).double(), "CNN": CNN(seed=22).double(),
            "convnet": ConvNet(channels=(2, 3, 4), seed=22).double(), "sequential": _sequential(small),
            "function": lambda v: small(v) * 1.0,
            "rotated": lambda v: small(torch.rot90(v, 1, (-2, -1))),  # its input gradient is not contiguous
            "torchscript": torch.jit.trace(_sequential(MLP(seed=22).double()), images(2))}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", ["MLP", "WT-R4", "CNN", "convnet", "sequential", "function", "rotated",
                                  "torchscript"])
def test_fast_equals_the_reference_to_round_off(name):
    model = _fast_cases()[name]
    x, b = images(5, seed=23), images(1, seed=24)
    t = torch.tensor([0, 3, 8, 2, 2])
    ref = at.integrated_gradients(model, x, t, baseline=b, steps=13)
    for kwargs in ({}, {"max_batch": 5}, {"fast": False}):  # max_batch < steps: a sample spread over chunks
        fast = at.integrated_gradients(model, x, t, baseline=b, steps=13, method="fast", **kwargs)
        torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)
    si = at.saliency_invariance(model, x, R4, t, b, steps=13, method="fast")
    torch.testing.assert_close(si, at.saliency_invariance(model, x, R4, t, b, steps=13), rtol=1e-9, atol=1e-12)


def test_fast_keeps_nan_in_nan_out_per_sample():
    model = small_mlp(25)
    x, t = images(4, s=6, seed=25), torch.tensor([0, 1, 2, 3])
    x[1, 0, 2, 2] = float("nan")
    for fast in (True, False):
        ig = at.integrated_gradients(model, x, t, steps=7, method="fast", fast=fast)
        assert torch.isnan(ig[1]).all()
        ok = torch.tensor([True, False, True, True])
        torch.testing.assert_close(ig[ok], at.integrated_gradients(model, x[ok], t[ok], steps=7), rtol=1e-10,
                                   atol=1e-13)
    with pytest.raises(ValueError, match="reference, fast"):
        at.integrated_gradients(model, x, t, method="exact")
