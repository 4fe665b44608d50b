"""Input sensitivity sigma_max(J) of a network (paper Sec. 4.4, Fig. 5).

J(x) = d f(x) / d x is the (K, d) input-output Jacobian of the logits (9 x 1296 for the
MLPs of Sec. 4.1); its largest singular value is the worst-case gain of the network for
an input perturbation at x. Jacobians are computed per sample with
``torch.func.vmap(torch.func.jacrev(...))`` (K reverse passes batched over samples), in
chunks of ``chunk_size`` samples to cap memory. By default only the values are computed
(no autograd graph through the parameters, ~10x faster); ``differentiable=True`` keeps the
graph so that sigma_max(J) can serve as a training penalty. sigma_max is the square root of
the largest eigenvalue of the small Gram matrix J J^T (K x K), equal to the SVD's to float
round-off and ~5x cheaper than ``torch.linalg.matrix_norm(J, ord=2)`` for K << d; its
eigenvalue is taken in float64 (:func:`sigma_max`, the one implementation the trainer shares).

NaN in, NaN out: a sample with a non-finite pixel or a non-finite logit gets NaN (its
Jacobian and its sigma_max), since ReLU's derivative at NaN is 0 and would otherwise
report a plausible gain; other samples are unaffected.

Any model: when ``torch.func.vmap`` cannot run f (a layer writing in place into a tensor it
allocated, like e2cnn's GroupPooling; ``.item()``; data-dependent control flow), the Jacobians are
taken per sample instead (one forward and K reverse passes of plain autograd each), with one
:class:`VmapFallbackWarning`; ``method="loop"`` asks for that path, ``method="vmap"`` forbids it. Both
give the same numbers (to float round-off). The model runs in eval mode with its modes and buffers
restored (``empirical.measure.outputs``), unless ``differentiable=True`` (a training penalty: f as it
is, graph kept). Logits (N, K) or (N, K, 1, ..., 1), or picked by ``output=``.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import torch
from torch import Tensor
from torch.func import jacrev, vmap

from empirical.measure.image_groups import nan_where_nonfinite
from empirical.measure.outputs import Output, audited, logits_of

__all__ = ["METHODS", "VmapFallbackWarning", "sigma_max", "input_jacobian", "jacobian_sigma_max"]

_CHUNK = 256
METHODS = ("auto", "vmap", "loop")


class VmapFallbackWarning(UserWarning):
    """torch.func.vmap could not run the model; the Jacobians were taken per sample instead (same numbers)."""


def _loop_jacobian(f: Callable[[Tensor], Tensor], xc: Tensor, differentiable: bool) -> tuple[Tensor, Tensor]:
    """Per-sample Jacobians (n, K, *x.shape[1:]) and logits (n, K) by plain autograd: one forward, K backwards each."""
    jacs, outs = [], []
    for xi in xc:
        with torch.enable_grad():
            v = xi.detach().unsqueeze(0).requires_grad_(True)
            out = f(v).reshape(-1)
            rows = [torch.autograd.grad(out[k], v, retain_graph=True, create_graph=differentiable)[0][0]
                    for k in range(out.shape[0])]
        jacs.append(torch.stack(rows) if rows else xi.new_zeros(0, *xi.shape))
        outs.append(out if differentiable else out.detach())
    return torch.stack(jacs), torch.stack(outs)


def _chunks(f: Callable[[Tensor], Tensor], x: Tensor, chunk_size: int, method: str = "auto",
            differentiable: bool = False):
    """Yield (n, K, d) Jacobians of f at the samples of x (N, ...), chunk_size at a time; NaN for non-finite samples."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1 sample, got {chunk_size}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if x.dim() < 2:
        raise ValueError(f"x must be a batch (N, ...); got shape {tuple(x.shape)}")
    d = math.prod(x.shape[1:])

    def single(xi: Tensor) -> tuple[Tensor, Tensor]:
        out = f(xi.unsqueeze(0)).reshape(-1)
        return out, out  # the logits come back as aux: a non-finite one must not hide behind a finite J

    jac = vmap(jacrev(single, has_aux=True))
    if x.shape[0] == 0:
        yield x.new_zeros(0, math.prod(f(x).shape[1:]), d)
        return
    loop = method == "loop"
    for lo in range(0, x.shape[0], chunk_size):
        xc = x[lo:lo + chunk_size]
        # A non-finite sample is differentiated at 0 instead and reported as NaN below: its NaN
        # activations would otherwise leak 0 * NaN into the parameter gradients of the other samples.
        finite = torch.isfinite(xc).flatten(1).all(1).view(-1, *(1,) * (xc.dim() - 1))
        xs = torch.where(finite, xc, torch.zeros_like(xc))
        if loop:
            j, out = _loop_jacobian(f, xs, differentiable)
        else:
            try:
                j, out = jac(xs)  # (n, K, *x.shape[1:]), (n, K)
            except (RuntimeError, NotImplementedError) as err:
                if method == "vmap":
                    raise
                j, out = _loop_jacobian(f, xs, differentiable)  # raises the model's own error if it fails too
                reason = (str(err).strip().splitlines() or [""])[0].split(". ")[0][:200]
                warnings.warn(f"torch.func.vmap cannot run this model ({type(err).__name__}: {reason}); the input "
                              f"Jacobians are taken per sample instead (same numbers, slower)",
                              VmapFallbackWarning, stacklevel=5)
                loop = True
        yield nan_where_nonfinite(j.reshape(j.shape[0], j.shape[1], d), xc, out)


def sigma_max(a: Tensor) -> Tensor:
    """Largest singular value of each (m, n) matrix in a (..., m, n) -> (...), from the smaller Gram matrix.

    The Gram matrix is formed in a's dtype and its top eigenvalue taken in float64 (eigvalsh); the
    result has a's dtype. A matrix with a non-finite entry gives NaN (eigvalsh never sees it: on
    NaN it may raise or return garbage); a finite one whose Gram matrix overflows a's dtype is
    redone in float64 (inf only if that overflows too). An empty (0 x n) matrix gives 0.
    """
    if not isinstance(a, Tensor) or a.dim() < 2:
        shape = tuple(a.shape) if isinstance(a, Tensor) else type(a).__name__
        raise ValueError(f"sigma_max needs a batch of matrices (..., m, n); got {shape}")
    if not a.is_floating_point():
        raise TypeError(f"sigma_max needs a real floating tensor; got dtype {a.dtype} (cast it, e.g. a.double())")
    if min(a.shape[-2:]) == 0:
        return a.new_zeros(a.shape[:-2])
    wide = a.shape[-2] <= a.shape[-1]
    gram = (a @ a.mT if wide else a.mT @ a).double()
    finite = torch.isfinite(a).flatten(-2).all(-1)
    gram_ok = torch.isfinite(gram).flatten(-2).all(-1)
    if bool((finite & ~gram_ok).any()):  # rare: entries near sqrt(finfo.max); the common path stays as it was
        a64 = a.double()
        gram = torch.where(gram_ok[..., None, None], gram, a64 @ a64.mT if wide else a64.mT @ a64)
        gram_ok = torch.isfinite(gram).flatten(-2).all(-1)
    safe = torch.where(gram_ok[..., None, None], gram, torch.zeros_like(gram))
    top = torch.linalg.eigvalsh(safe)[..., -1].clamp_min(0).sqrt()
    inf, nan = top.new_full((), float("inf")), top.new_full((), float("nan"))
    return torch.where(gram_ok, top, torch.where(finite, inf, nan)).to(a.dtype)


def _run(f, x, chunk_size, differentiable, method, output, reduce):
    g = logits_of(f, output)
    grad = differentiable and torch.is_grad_enabled()
    with torch.set_grad_enabled(grad):
        if differentiable:
            return torch.cat([reduce(j) for j in _chunks(g, x, chunk_size, method, grad)])
        with audited(f):
            return torch.cat([reduce(j) for j in _chunks(g, x, chunk_size, method, False)]).detach()


def input_jacobian(f: Callable[[Tensor], Tensor], x: Tensor, chunk_size: int = _CHUNK,
                   differentiable: bool = False, method: str = "auto", output: Output = None) -> Tensor:
    """J(x) = d f(x) / d x per sample, (N, K, d) with d = prod(x.shape[1:]), for x (N, ...); NaN in, NaN out."""
    return _run(f, x, chunk_size, differentiable, method, output, lambda j: j)


def jacobian_sigma_max(f: Callable[[Tensor], Tensor], x: Tensor, chunk_size: int = _CHUNK,
                       differentiable: bool = False, method: str = "auto", output: Output = None) -> Tensor:
    """sigma_max(J(x)) per sample, (N,): the largest singular value of J(x) = d f(x) / d x (Sec. 4.4).

    x (N, ...); J (K, d) with d = prod(x.shape[1:]); sigma_max(J) = sqrt(lambda_max(J J^T)). NaN in, NaN out.
    ``method``: "auto" (vmap, per-sample fallback with one warning), "vmap" or "loop".
    """
    return _run(f, x, chunk_size, differentiable, method, output, sigma_max)
