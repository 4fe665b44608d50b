"""sigma_max of the input Jacobian (Sec. 4.4) against finite differences, SVD and linear models."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from empirical.image_groups import image_group
from empirical.models import MLP, WeightTiedMLP
from empirical.sensitivity import input_jacobian, jacobian_sigma_max


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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda_like_on_cpu():
    model = WeightTiedMLP(image_group("R4"), seed=3).double()
    x = torch.randn(4, 1, 36, 36, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    cpu = jacobian_sigma_max(model, x)
    gpu = jacobian_sigma_max(model.to("cuda"), x.to("cuda"))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-9, atol=1e-12)
