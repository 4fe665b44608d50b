"""Input sensitivity sigma_max(J) of a network (paper Sec. 4.4, Fig. 5).

J(x) = d f(x) / d x is the (K, d) input-output Jacobian of the logits (9 x 1296 for the
MLPs of Sec. 4.1); its largest singular value is the worst-case gain of the network for
an input perturbation at x. Jacobians are computed per sample with
``torch.func.vmap(torch.func.jacrev(...))`` (K reverse passes batched over samples), in
chunks of ``chunk_size`` samples to cap memory. By default only the values are computed
(no autograd graph through the parameters, ~10x faster); ``differentiable=True`` keeps the
graph so that sigma_max(J) can serve as a training penalty. sigma_max is the square root of
the largest eigenvalue of the small Gram matrix J J^T (K x K), equal to the SVD's to float
round-off and ~5x cheaper than ``torch.linalg.matrix_norm(J, ord=2)`` for K << d.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor
from torch.func import jacrev, vmap

__all__ = ["input_jacobian", "jacobian_sigma_max"]

_CHUNK = 256


def _chunks(f: Callable[[Tensor], Tensor], x: Tensor, chunk_size: int):
    """Yield (n, K, d) Jacobians of f at the samples of x (N, ...), chunk_size samples at a time."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1 sample, got {chunk_size}")
    if x.dim() < 2:
        raise ValueError(f"x must be a batch (N, ...); got shape {tuple(x.shape)}")
    d = math.prod(x.shape[1:])

    def single(xi: Tensor) -> Tensor:
        return f(xi.unsqueeze(0)).reshape(-1)

    jac = vmap(jacrev(single))
    if x.shape[0] == 0:
        yield x.new_zeros(0, math.prod(f(x).shape[1:]), d)
        return
    for lo in range(0, x.shape[0], chunk_size):
        j = jac(x[lo:lo + chunk_size])  # (n, K, *x.shape[1:])
        yield j.reshape(j.shape[0], j.shape[1], d)


def _sigma_max(j: Tensor) -> Tensor:
    """Largest singular value of each (K, d) matrix in j (n, K, d), via the smaller Gram matrix."""
    gram = j @ j.mT if j.shape[-2] <= j.shape[-1] else j.mT @ j
    return torch.linalg.eigvalsh(gram)[..., -1].clamp_min(0.0).sqrt()


def input_jacobian(f: Callable[[Tensor], Tensor], x: Tensor, chunk_size: int = _CHUNK,
                   differentiable: bool = False) -> Tensor:
    """J(x) = d f(x) / d x per sample, (N, K, d) with d = prod(x.shape[1:]), for x (N, ...)."""
    with torch.set_grad_enabled(differentiable and torch.is_grad_enabled()):
        return torch.cat(list(_chunks(f, x, chunk_size)))


def jacobian_sigma_max(f: Callable[[Tensor], Tensor], x: Tensor, chunk_size: int = _CHUNK,
                       differentiable: bool = False) -> Tensor:
    """sigma_max(J(x)) per sample, (N,): the largest singular value of the input Jacobian (Sec. 4.4)."""
    with torch.set_grad_enabled(differentiable and torch.is_grad_enabled()):
        return torch.cat([_sigma_max(j) for j in _chunks(f, x, chunk_size)])
