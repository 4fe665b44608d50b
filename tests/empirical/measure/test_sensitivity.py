"""sigma_max of the input Jacobian (Sec. 4.4) against finite differences, SVD and linear models; NaN in, NaN out."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from empirical.measure.image_groups import image_group
from empirical.engine.models import MLP, WeightTiedMLP
from empirical.measure.sensitivity import input_jacobian, jacobian_sigma_max, sigma_max

NONFINITE = (float("nan"), float("inf"), -float("inf"))


def central_difference_jacobian(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """(K, d) Jacobian of f at one flat sample x (d,) by central differences, float64."""
    d = x.size
    cols = []
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        plus = f(torch.from_numpy((x + e)[None])).detach().numpy()[0]
        minus = f(torch.from_numpy((x - e)[None])).detach().numpy()[0]
        cols.append((plus - minus) / (2 * h))
    return np.stack(cols, axis=1)


@given(st.data())
def test_linear_model_gives_sigma_max_of_w(data):
    k, d = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 12))
    w = data.draw(hnp.arrays(np.float64, (k, d), elements=st.floats(-3, 3, allow_nan=False, width=64)))
    wt = torch.from_numpy(w)
    x = torch.randn(3, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sig = jacobian_sigma_max(lambda v: v @ wt.T + 1.0, x, chunk_size=2)
    expected = np.linalg.norm(w, 2)
    np.testing.assert_allclose(sig.numpy(), np.full(3, expected), rtol=1e-9, atol=1e-9 * max(1.0, expected))
    torch.testing.assert_close(input_jacobian(lambda v: v @ wt.T, x), wt.expand(3, k, d), rtol=0, atol=0)


@pytest.mark.parametrize("tied", [False, True])
def test_mlp_jacobian_matches_finite_differences(tied):
    kw = dict(in_features=36, hidden=16, depth=4, classes=5, seed=1)
    model = (WeightTiedMLP(image_group("R4", 6), **kw) if tied else MLP(**kw)).double()
    x = torch.randn(4, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    jac = input_jacobian(model, x, chunk_size=3)
    assert jac.shape == (4, 5, 36)
    sig = jacobian_sigma_max(model, x, chunk_size=3)
    for n in range(4):
        fd = central_difference_jacobian(model, x[n].reshape(36).numpy())
        np.testing.assert_allclose(jac[n].numpy(), fd, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(sig[n].item(), np.linalg.svd(fd, compute_uv=False)[0], rtol=1e-6)


def test_full_size_model_agrees_with_torch_reference_and_grad_modes():
    model = MLP(seed=2)
    x = torch.randn(5, 1, 36, 36, generator=torch.Generator().manual_seed(2))
    sig = jacobian_sigma_max(model, x, chunk_size=2)
    ref = torch.stack([torch.linalg.matrix_norm(
        torch.autograd.functional.jacobian(lambda v: model(v[None])[0], x[i]).reshape(9, -1), ord=2) for i in range(5)])
    torch.testing.assert_close(sig, ref, rtol=1e-5, atol=1e-7)
    assert not sig.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(jacobian_sigma_max(model, x, chunk_size=2), sig, rtol=0, atol=0)
    diff = jacobian_sigma_max(model, x, differentiable=True)
    assert diff.requires_grad
    (grad,) = torch.autograd.grad(diff.sum(), model.layers[0].weight)
    assert grad.abs().max() > 0


def test_edge_cases():
    model = MLP(in_features=4, hidden=3, depth=2, classes=2, seed=0)
    assert jacobian_sigma_max(model, torch.zeros(0, 4)).shape == (0,)
    with pytest.raises(ValueError, match="batch"):
        jacobian_sigma_max(model, torch.zeros(4))
    with pytest.raises(ValueError, match="chunk_size"):
        jacobian_sigma_max(model, torch.zeros(2, 4), chunk_size=0)


def history_formula(a: torch.Tensor) -> torch.Tensor:
    """The trainer's sigma_max as it produced the cached histories: Gram in a's dtype, eigvalsh in float64."""
    gram = a @ a.mT if a.shape[-2] <= a.shape[-1] else a.mT @ a
    return torch.linalg.eigvalsh(gram.double())[..., -1].clamp_min(0).sqrt().to(a.dtype)


def matrix_batches(dtype=np.float64):
    """Finite (B, m, n) batches, wide and tall."""
    shapes = st.tuples(st.integers(1, 3), st.integers(1, 7), st.integers(1, 7))
    return shapes.flatmap(lambda s: hnp.arrays(dtype, s, elements=st.floats(-3, 3, allow_nan=False, width=32)))


@given(a=matrix_batches(), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_sigma_max_is_the_svds_and_bit_identical_to_the_history_formula(a, dtype):
    t = torch.from_numpy(a).to(dtype)
    got = sigma_max(t)
    assert got.shape == a.shape[:1] and got.dtype == dtype
    torch.testing.assert_close(got, history_formula(t), rtol=0, atol=0)  # cached training numbers stay as they are
    expected = np.linalg.norm(a, 2, axis=(-2, -1))
    tol = 1e-6 if dtype == torch.float32 else 1e-7  # sqrt of the Gram's eigenvalue: half the digits near 0
    np.testing.assert_allclose(got.double().numpy(), expected, rtol=tol, atol=tol * max(1.0, expected.max()))


@given(a=matrix_batches(), bad=st.sampled_from(NONFINITE), data=st.data())
def test_sigma_max_is_nan_for_a_matrix_with_a_nonfinite_entry_and_leaves_the_others(a, bad, data):
    b, m, n = a.shape
    where = (data.draw(st.integers(0, b - 1)), data.draw(st.integers(0, m - 1)), data.draw(st.integers(0, n - 1)))
    t = torch.from_numpy(a)
    t[where] = bad
    got = sigma_max(t)
    assert torch.isnan(got[where[0]])
    keep = torch.arange(b) != where[0]
    # the reference is the same batch with the bad matrix zeroed (a batch's composition reaches eigvalsh's last
    # bits, so a batch without it is no bitwise oracle: all-ones 7x5 beside another matrix differed)
    zeroed = t.clone()
    zeroed[where[0]] = 0
    torch.testing.assert_close(got[keep], history_formula(zeroed)[keep], rtol=0, atol=0)


def test_sigma_max_edge_cases():
    all_nan = torch.full((2, 3, 5), float("nan"))
    assert torch.isnan(sigma_max(all_nan)).all() and torch.isnan(sigma_max(all_nan.double())).all()
    big = torch.tensor([[3e20, 0.0], [0.0, 1.0]])  # finite, but its float32 Gram matrix overflows
    assert sigma_max(big).item() == pytest.approx(3e20, rel=1e-6)
    assert sigma_max(torch.tensor([[1e300, 1e300]], dtype=torch.float64)).item() == float("inf")  # beyond float64
    assert torch.equal(sigma_max(torch.zeros(4, 0, 3)), torch.zeros(4))
    a = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(sigma_max(a).sum(), a)  # d sigma / dA = u v^T
    u, _, vh = torch.linalg.svd(a.detach())
    torch.testing.assert_close(grad, u[..., :, :1] * vh[..., :1, :], rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match=r"\(\.\.\., m, n\)"):
        sigma_max(torch.ones(3))
    with pytest.raises(TypeError, match="floating"):
        sigma_max(torch.ones(2, 2, dtype=torch.int64))


@pytest.mark.parametrize("bad", NONFINITE)
def test_nonfinite_pixels_give_nan_for_that_sample_only(bad):
    """ReLU's derivative at NaN is 0: without the check an all-NaN image reports a plausible gain."""
    model = MLP(in_features=36, hidden=16, depth=4, classes=5, seed=4).double()
    x = torch.randn(5, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    x[1] = bad  # the whole image
    x[3, 0, 2, 4] = bad  # one pixel
    sig = jacobian_sigma_max(model, x, chunk_size=2)
    jac = input_jacobian(model, x, chunk_size=2)
    ok = torch.tensor([True, False, True, False, True])
    assert torch.isnan(sig[~ok]).all() and torch.isnan(jac[~ok]).all()
    torch.testing.assert_close(sig[ok], jacobian_sigma_max(model, x[ok]), rtol=1e-12, atol=0)
    torch.testing.assert_close(jac[ok], input_jacobian(model, x[ok]), rtol=1e-12, atol=0)
    diff = jacobian_sigma_max(model, x, chunk_size=2, differentiable=True)
    torch.testing.assert_close(diff.detach(), sig, rtol=1e-12, atol=0, equal_nan=True)
    # as a penalty: the NaN samples must not leak 0 * NaN into the gradient of the others
    (grad,) = torch.autograd.grad(diff[ok].sum(), model.layers[0].weight)
    (alone,) = torch.autograd.grad(jacobian_sigma_max(model, x[ok], differentiable=True).sum(),
                                   model.layers[0].weight)
    torch.testing.assert_close(grad, alone, rtol=1e-10, atol=1e-14)


def test_nonfinite_logits_give_nan_even_with_a_finite_jacobian():
    """f(v) = W v + c with c = +-inf for some samples: J = W is finite, the model's output is not."""
    w = torch.randn(3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    x = torch.randn(4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    x[1, 0], x[2, 0] = 50.0, -50.0

    def f(v):
        c = torch.where(v[:, :1] > 10, float("inf"), torch.where(v[:, :1] < -10, float("nan"), 0.0))
        return v @ w.T + c

    sig = jacobian_sigma_max(f, x)
    assert torch.isnan(sig[1:3]).all()
    expected = torch.linalg.matrix_norm(w, ord=2)
    torch.testing.assert_close(sig[[0, 3]], expected.expand(2), rtol=1e-12, atol=0)
    assert torch.isnan(input_jacobian(f, x)[1:3]).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda_like_on_cpu():
    model = WeightTiedMLP(image_group("R4"), seed=3).double()
    x = torch.randn(4, 1, 36, 36, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    cpu = jacobian_sigma_max(model, x)
    gpu = jacobian_sigma_max(model.to("cuda"), x.to("cuda"))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-9, atol=1e-12)


class GroupPool(torch.nn.Module):
    """Max over each field's channels, written in place into a tensor it allocates (as e2cnn's GroupPooling)."""

    def forward(self, x):
        out = torch.empty(x.shape[0], 2, *x.shape[2:], dtype=x.dtype, device=x.device)
        for i in range(2):
            out[:, i] = x[:, 4 * i:4 * (i + 1)].amax(1)
        return out


def test_a_model_vmap_cannot_run_falls_back_to_a_per_sample_jacobian_with_one_warning():
    """Defect 4: an in-place layer made jacobian_sigma_max fail inside torch.func, with no fallback."""
    import warnings

    torch.manual_seed(31)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), GroupPool(), torch.nn.Flatten(),
                                torch.nn.Linear(32, 5)).double()
    x = torch.randn(5, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(31))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sig = jacobian_sigma_max(model, x, chunk_size=2)  # three chunks, one warning
    fallback = [w for w in caught if w.category.__name__ == "VmapFallbackWarning"]
    assert len(fallback) == 1 and "\n" not in str(fallback[0].message)
    assert "vmap" in str(fallback[0].message) and "per sample" in str(fallback[0].message)
    ref = torch.stack([torch.linalg.matrix_norm(torch.autograd.functional.jacobian(
        lambda v: model(v[None])[0], x[i]).reshape(5, -1), ord=2) for i in range(5)])
    torch.testing.assert_close(sig, ref, rtol=1e-10, atol=0)
    with pytest.raises(RuntimeError, match="vmap"):
        jacobian_sigma_max(model, x, method="vmap")
    x[2, 0, 0, 0] = float("nan")  # NaN in, NaN out on the fallback path too
    from empirical.measure.sensitivity import VmapFallbackWarning

    with pytest.warns(VmapFallbackWarning):
        got = jacobian_sigma_max(model, x)
    assert torch.isnan(got[2]) and torch.equal(got[[0, 1, 3, 4]], sig[[0, 1, 3, 4]])


def test_the_fallback_keeps_the_graph_when_asked_and_refuses_unknown_methods():
    model = MLP(in_features=36, hidden=16, depth=3, classes=5, seed=32).double()
    x = torch.randn(3, 36, dtype=torch.float64, generator=torch.Generator().manual_seed(32))
    loop = jacobian_sigma_max(model, x, method="loop", differentiable=True)
    vm = jacobian_sigma_max(model, x, method="vmap", differentiable=True)
    torch.testing.assert_close(loop, vm, rtol=1e-12, atol=0)
    (g1,) = torch.autograd.grad(loop.sum(), model.layers[0].weight)
    (g2,) = torch.autograd.grad(vm.sum(), model.layers[0].weight)
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="auto, vmap, loop"):
        jacobian_sigma_max(model, x, method="svd")
