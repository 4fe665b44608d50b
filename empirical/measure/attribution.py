"""Saliency maps m_f (paper Sec. 4.1) and the saliency invariance similarity SI_f (Eq. 3).

m_f(x) follows Sec. 4.1: (1) absolute integrated gradients (Sundararajan et al., 2017) of the
target logit, summed over channels; (2) values below 0.9 of the per-sample maximum set to 0;
(3) a Gaussian filter with kernel size 3 and standard deviation 1.

Choices where the paper is silent:
- Quadrature: Gauss-Legendre with ``steps`` nodes on [0, 1], the default of captum's
  ``IntegratedGradients`` (which the authors most likely used). It integrates polynomial
  path gradients exactly (linear models, f = sum a_i x_i^2). On ReLU networks the path
  gradient is piecewise constant, every rule converges only like 1/steps there, and
  Riemann-midpoint, trapezoid and Gauss-Legendre give about the same completeness error
  (~2% of sum |f(x) - f(b)| at 50 steps on a random-init MLP with Gaussian inputs; the
  tests state the bound).
- Smoothing boundary: ``mode="wrap"`` (periodic), equal to
  ``scipy.ndimage.gaussian_filter(m, sigma=1, truncate=1.0, mode="wrap")``. Periodic
  padding commutes with both image groups (R4 and the cyclic translations T3 are
  symmetries of the discrete torus), so smoothing alone cannot lower SI of a genuinely
  invariant network; scipy's default "reflect" and zero padding ("constant") commute with
  R4 but not with T3 (measured by ``python -m empirical.conventions``).
  "reflect" and "constant" are one argument away.
- SI averages over g != e (see ``empirical.measure.invariance``: SI = 0.17 for DA on R4 in
  Table 1 is impossible with the identity term); ``reduction="sum"`` gives Eq. 3 literally.
- Target: the label of x, the same class for every orbit element; ``target=None`` uses the
  prediction argmax f(x) instead.
- Baseline: the transformed sample g x is attributed against the transformed baseline
  g b (for the black image, g b = b), so IG is equivariant for an invariant f. The
  experiments pass the black image in normalized space; the default 0.0 is zero in the
  input space given.
- A zero saliency map has no direction: its cosine with a finite map is defined as 0 (no NaN).

Events (``empirical.measure.events``): the map has the shape of the group's event, channels summed,
and the smoothing follows the event: the 3x3 Gaussian above for images (H, W); the same Gaussian in
1-D for signals (L,); none for point sets (P, D) and flat vectors (d,), which have no grid to smooth
along. SI refuses a smoothing that does not commute with the group (e.g. "reflect" with T3, or any
smoothing with a non-permutation representation on pixels): an exactly invariant model would score
SI < 1 under it. ``kernel_size=1`` switches smoothing off.

Outputs and the audit (``empirical.measure.outputs``): logits (N, K) or (N, K, 1, ..., 1), else refused
or picked by ``output=``; the model runs in eval mode and keeps its modes and buffers.

Two implementations of the same estimator (``method``): "reference" (the default; every committed number)
batches all N * steps rows into chunks of ``max_batch`` rows and accumulates per row; "fast" chunks whole
samples (all their steps) by the memory autograd keeps per row (16 MB per CPU thread, 512 MB on a GPU), sums each
sample's steps with one matrix product, keeps no graph beyond a chunk, and splits off an affine first layer of
any ``nn.Module`` that has one (``empirical.measure.first_layer``). Same nodes, same weights: the two agree to
float round-off (tested), so they share the reference's quadrature error.

NaN in, NaN out: a sample whose pixels, baseline, model outputs on the path or attributions
are not all finite gets an all-NaN IG and saliency map, so neither the 0.9 * max threshold
nor the zero-map convention can turn it into a plausible map or cosine; its SI is NaN.
``group`` is a representation or a registered name ("R4", "T3"; see
``empirical.measure.image_groups.as_image_group``).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from empirical.measure.events import Event, EventGroup
from empirical.measure.first_layer import affine_split
from empirical.measure.image_groups import as_group, inverse_act, nan_where_nonfinite, orbit
from empirical.measure.outputs import Output, as_logits, audited
from theory.groups import Representation

__all__ = [
    "IG_METHODS",
    "SMOOTHING_MODES",
    "integrated_gradients",
    "gaussian_smooth",
    "saliency_map",
    "saliency_cosine",
    "saliency_invariance",
]

SMOOTHING_MODES = ("wrap", "reflect", "constant")
IG_METHODS = ("reference", "fast")
_MAX_BATCH = 8192
# "fast": the autograd memory of one chunk per intra-op thread. On one thread 4 to 24 MB were equally good (the MLP,
# the CNN); with two threads on a loaded CPU smaller chunks were several times slower (more thread barriers).
_CHUNK_BYTES = 16 << 20


def _quadrature(steps: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """Gauss-Legendre nodes alpha (steps,) in (0, 1) and weights summing to 1."""
    if steps < 1:
        raise ValueError(f"integrated gradients need steps >= 1, got {steps}")
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return (torch.tensor(0.5 * (nodes + 1.0), dtype=like.dtype, device=like.device),
            torch.tensor(0.5 * weights, dtype=like.dtype, device=like.device))


def _targets(target: int | Tensor, n: int, device) -> Tensor:
    t = torch.as_tensor(target, device=device)
    if t.is_floating_point() or t.dim() > 1 or t.dim() == 1 and t.shape[0] != n:
        raise ValueError(f"target must be an int class or an integer tensor of shape ({n},); got {target!r}")
    return t.long().expand(n)


def _path_gradient(g: Callable[[Tensor], Tensor], start: Tensor, end: Tensor, target: Tensor,
                   steps: int, max_batch: int, output: Output = None) -> Tensor:
    """sum_s w_s grad_u g(u_s)[target] at u_s = start + alpha_s (end - start): the path integral, (N, ...).

    A sample with a non-finite output of g at any path point gets NaN everywhere.
    """
    alphas, weights = _quadrature(steps, end)
    total = end.shape[0] * steps
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1 row, got {max_batch}")
    delta = end - start
    acc = torch.zeros_like(end)
    pad = (1,) * (end.dim() - 1)
    for lo in range(0, total, max_batch):
        rows = torch.arange(lo, min(lo + max_batch, total), device=end.device)
        i, s = rows // steps, rows % steps
        points = (start[i] + alphas[s].view(-1, *pad) * delta[i]).requires_grad_(True)
        with torch.enable_grad():
            out = as_logits(g(points), len(rows), output)
            (grad,) = torch.autograd.grad(out.gather(-1, target[i, None]).sum(), points)
        # NaN over the whole row: a non-finite logit spoils the sample, not just the pixels it reaches
        grad = nan_where_nonfinite(grad, out.detach())
        acc.index_add_(0, i, grad * weights[s].view(-1, *pad))
    return acc


def _row_bytes(g: Callable[[Tensor], Tensor], row: Tensor, output: Output) -> int:
    """Bytes autograd keeps per input row of g until the backward: two probe forwards (2 rows minus 1 row)."""
    sizes = []
    for rows in (1, 2):
        total = 0

        def pack(t: Tensor) -> Tensor:
            nonlocal total
            total += t.numel() * t.element_size()
            return t

        p = row.expand(rows, *row.shape[1:]).clone().requires_grad_(True)
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            as_logits(g(p), rows, output)
        sizes.append(total)
    return max(sizes[1] - sizes[0], row.numel() * row.element_size(), 1)


def _streamed_path_gradient(g: Callable[[Tensor], Tensor], start: Tensor, end: Tensor, target: Tensor, steps: int,
                            max_batch: int, output: Output = None) -> Tensor:
    """The integral of :func:`_path_gradient`, "fast": whole samples per chunk, steps summed by one matmul, (N, ...).

    A chunk holds about ``_CHUNK_BYTES`` of autograd memory per CPU thread (32x on a GPU) and at least one sample
    (all its steps), at most ``max_batch`` rows; a sample with more steps than that is split over chunks. NaN over
    a sample whose outputs of g on the path are not all finite.
    """
    alphas, weights = _quadrature(steps, end)
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1 row, got {max_batch}")
    n, shape = end.shape[0], end.shape[1:]
    acc = end.new_zeros(n, math.prod(shape))
    if n == 0:
        return acc.view_as(end)
    budget = _CHUNK_BYTES * max(1, torch.get_num_threads() if end.device.type == "cpu" else 32)
    rows = min(max_batch, max(steps, budget // _row_bytes(g, start[:1], output)))
    per_sample = min(steps, rows)  # steps in one piece
    samples = max(1, rows // steps)  # samples in one chunk
    delta = end - start
    pad = (1,) * len(shape)
    nan = acc.new_full((), float("nan"))
    for lo in range(0, n, samples):
        hi = min(n, lo + samples)
        for s0 in range(0, steps, per_sample):
            s1 = min(steps, s0 + per_sample)
            c, k = hi - lo, s1 - s0
            points = torch.addcmul(start[lo:hi, None], delta[lo:hi, None], alphas[s0:s1].view(1, k, *pad))
            points = points.reshape(c * k, *shape).requires_grad_(True)
            with torch.enable_grad():
                out = as_logits(g(points), c * k, output)
                picked = out.gather(-1, target[lo:hi].repeat_interleave(k)[:, None])
                (grad,) = torch.autograd.grad(picked.sum(), points)
            part = torch.matmul(weights[s0:s1], grad.reshape(c, k, -1))  # (c, d): sum_s w_s grad_s, per sample
            finite = torch.isfinite(out.detach()).view(c, -1).all(1)
            acc[lo:hi] += torch.where(finite[:, None], part, nan)
    return acc.view_as(end)


def _split_points(x: Tensor, b: Tensor) -> Tensor:
    """Where a detected first-layer split is checked: a few samples, their baselines and the midpoints."""
    k = min(16, x.shape[0])
    return torch.cat([x[:k], b[:k], 0.5 * (x[:k] + b[:k])])


def integrated_gradients(f: Callable[[Tensor], Tensor], x: Tensor, target: int | Tensor,
                         baseline: float | Tensor = 0.0, steps: int = 50, max_batch: int = _MAX_BATCH,
                         fast: bool = True, output: Output = None, method: str = "reference") -> Tensor:
    """IG(x)_i = (x - b)_i * int_0^1 d f(b + a (x - b))[target] / dx_i da, same shape as x (N, ...).

    Gauss-Legendre with ``steps`` nodes; samples and steps are batched together, at most
    ``max_batch`` rows per forward/backward, all on x's device. With ``fast`` and a model that
    offers ``affine_split()`` (our MLPs), the path is pushed through the affine first layer once
    and only the rest of the network runs on the N * steps interpolation points (same integral).
    ``method="fast"`` (see the module docstring) computes the same estimator faster, and with ``fast`` also
    splits off the affine first layer of any ``nn.Module`` that starts with one (``empirical.measure.first_layer``).
    A sample with a non-finite pixel, baseline, path output or attribution is NaN everywhere.
    f runs in eval mode and keeps its modes and buffers; ``output`` picks the logits (see module docstring).
    """
    if method not in IG_METHODS:
        raise ValueError(f"unknown integrated-gradients method {method!r}; choose one of {', '.join(IG_METHODS)}")
    x = x.detach()
    b = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).broadcast_to(x.shape)
    t = _targets(target, x.shape[0], x.device)
    path_gradient = _streamed_path_gradient if method == "fast" else _path_gradient
    with audited(f):
        split = None
        if fast and hasattr(f, "affine_split"):
            split = f.affine_split()
        elif fast and method == "fast" and x.shape[0]:
            split = affine_split(f, _split_points(x, b), output)
        if split is not None:
            affine, head = split
            with torch.enable_grad():
                xv = x.clone().requires_grad_(True)
                ux = affine(xv)
                ub = affine(b).detach()
                path = path_gradient(head, ub, ux.detach(), t, steps, max_batch, output)
                (grad,) = torch.autograd.grad(ux, xv, grad_outputs=path)  # A^T (integral over the u-path)
        else:
            grad = path_gradient(f, b, x, t, steps, max_batch, output)
    ig = (x - b) * grad
    return nan_where_nonfinite(ig, x, b, ig).detach()


def _pad(m: Tensor, r: int, dim: int, mode: str) -> Tensor:
    """Pad m by r on both sides of dim as scipy.ndimage does for "wrap" / "reflect" / "constant"."""
    size = m.shape[dim]
    if mode == "constant":
        shape = list(m.shape)
        shape[dim] = r
        z = m.new_zeros(shape)
        return torch.cat([z, m, z], dim)
    if r > size:
        raise ValueError(f"a {2 * r + 1}-pixel kernel needs maps at least {r} pixels wide; got {size}")
    if mode == "wrap":
        return torch.cat([m.narrow(dim, size - r, r), m, m.narrow(dim, 0, r)], dim)
    return torch.cat([m.narrow(dim, 0, r).flip(dim), m, m.narrow(dim, size - r, r).flip(dim)], dim)  # reflect


def gaussian_smooth(m: Tensor, kernel_size: int = 3, sigma: float = 1.0, mode: str = "wrap", ndim: int = 2) -> Tensor:
    """Separable Gaussian filter over the last ``ndim`` dims of m (..., H, W) / (..., L); = scipy
    gaussian_filter(radius=k//2) over those dims."""
    if ndim not in (1, 2):
        raise ValueError(f"gaussian_smooth filters the last 1 or 2 dims; got ndim={ndim}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
    if mode not in SMOOTHING_MODES:
        raise ValueError(f"unknown smoothing mode {mode!r}; choose one of {', '.join(SMOOTHING_MODES)}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    r = kernel_size // 2
    offsets = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 * (offsets / sigma) ** 2)
    w = w / w.sum()
    out = m
    for dim in (-2, -1)[2 - ndim:]:
        padded = _pad(out, r, dim, mode)
        size = out.shape[dim]
        out = sum(float(w[k]) * padded.narrow(dim, k, size) for k in range(kernel_size))
    return out


def _as_maps(a: Tensor) -> Tensor:
    """Per-pixel attributions (N, H, W) from (N, C, H, W) (summed over C), (N, H, W) or (N, s*s)."""
    if a.dim() == 4:
        return a.sum(1)
    if a.dim() == 3:
        return a
    if a.dim() == 2 and math.isqrt(a.shape[1]) ** 2 == a.shape[1]:
        s = math.isqrt(a.shape[1])
        return a.reshape(a.shape[0], s, s)
    raise ValueError(f"saliency maps need images (N, C, H, W), (N, H, W) or square flat images (N, s*s); "
                     f"got shape {tuple(a.shape)}")


def _event_maps(a: Tensor, event: Event) -> Tensor:
    """Per-entry attributions (N, *event.shape) from (N, *C, *event.shape) (summed over C) or flat (N, d)."""
    if a.dim() == 2 and event.ndim > 1 and a.shape[1] == event.size:
        return a.reshape(a.shape[0], *event.shape)
    lead = a.dim() - 1 - event.ndim
    if lead < 0 or tuple(a.shape[1 + lead:]) != event.shape:
        raise ValueError(f"attributions of shape {tuple(a.shape)} do not hold {event}")
    return a.sum(1) if lead == 1 else a.sum(tuple(range(1, 1 + lead))) if lead else a


def _smooth(m: Tensor, event: Event, kernel_size: int, sigma: float, mode: str) -> Tensor:
    """SI's smoothing of maps (..., *event.shape): 2-D for images, 1-D for signals, none for points and vectors."""
    if event.kind == "image":
        return gaussian_smooth(m, kernel_size, sigma, mode)
    if event.kind == "signal":
        return gaussian_smooth(m, kernel_size, sigma, mode, ndim=1)
    return m


def saliency_map(f: Callable[[Tensor], Tensor], x: Tensor, target: int | Tensor, baseline: float | Tensor = 0.0,
                 steps: int = 50, threshold: float = 0.9, kernel_size: int = 3, sigma: float = 1.0,
                 mode: str = "wrap", max_batch: int = _MAX_BATCH, event: Event | None = None,
                 output: Output = None, method: str = "reference") -> Tensor:
    """m_f(x) of Sec. 4.1, (N, *event.shape): |IG| summed over channels, < threshold * max zeroed, smoothed.

    ``event`` (an :class:`~empirical.measure.events.Event`) names the sample's dims and the smoothing (images:
    2-D Gaussian, signals: 1-D, points / vectors: none). Without it, x is an image batch (N, C, H, W),
    (N, H, W) or (N, s*s) with square s*s (the paper's layout) and the maps are (N, H, W). ``method``: IG's
    implementation (:data:`IG_METHODS`).
    """
    ig = integrated_gradients(f, x, target, baseline, steps, max_batch, output=output, method=method)
    if event is None:
        m, event = _as_maps(ig.abs()), None
    else:
        m = _event_maps(ig.abs(), event)
    peak = m.flatten(1).amax(1).view(-1, *(1,) * (m.dim() - 1))
    m = torch.where(m < threshold * peak, torch.zeros_like(m), m)
    # NaN < t is False, so a NaN pixel survives the threshold; keep the whole map NaN regardless
    smoothed = gaussian_smooth(m, kernel_size, sigma, mode) if event is None else _smooth(m, event, kernel_size,
                                                                                          sigma, mode)
    return nan_where_nonfinite(smoothed, ig)


def saliency_cosine(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of maps a, b (..., H, W) -> (...); 0 where a finite map is zero, NaN where either has a NaN."""
    a, b = a.flatten(-2), b.flatten(-2)
    denom = a.norm(dim=-1) * b.norm(dim=-1)
    dot = (a * b).sum(-1)
    cos = torch.where(denom > 0, dot / denom.clamp_min(torch.finfo(denom.dtype).tiny), torch.zeros_like(dot))
    # a NaN denominator fails "> 0" and would read as a zero map: a non-finite map gives NaN instead
    finite = torch.isfinite(a).all(-1) & torch.isfinite(b).all(-1)
    return torch.where(finite, cos, cos.new_full((), float("nan")))


def _check_smoothing_commutes(rep: EventGroup, kernel_size: int, sigma: float, mode: str) -> None:
    """ValueError unless smoothing commutes with every rho(g) on the event (else an invariant model scores SI < 1)."""
    ev = rep.event
    if ev.kind not in ("image", "signal") or kernel_size == 1:
        return
    probe = torch.rand(1, *ev.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    smooth = lambda m: _smooth(m, ev, kernel_size, sigma, mode)  # noqa: E731
    gap = (smooth(orbit(rep, probe)) - orbit(rep, smooth(probe))).abs().max().item()
    if not gap <= 1e-9:
        raise ValueError(f"SI's {kernel_size}-tap Gaussian smoothing (mode {mode!r}) of {ev} does not commute with "
                         f"{rep.name}: an exactly invariant model would score SI < 1. Use mode='wrap' (commutes with "
                         f"90-degree rotations, flips and cyclic translations) or kernel_size=1 (no smoothing)")


def saliency_invariance(f: Callable[[Tensor], Tensor], x: Tensor, group: Representation | str,
                        target: int | Tensor | None = None, baseline: float | Tensor = 0.0, steps: int = 50,
                        threshold: float = 0.9, kernel_size: int = 3, sigma: float = 1.0, mode: str = "wrap",
                        max_batch: int = _MAX_BATCH, reduction: str = "mean", output: Output = None,
                        method: str = "reference") -> Tensor:
    """SI_f per sample (N,): cos(m(x), g^{-1} m(gx)) averaged over g != e (Eq. 3; "sum": all g, literally).

    x (N, *C, *event) or flat (N, d): a batch the group's event fits (``as_group``). The maps m (N, *event)
    are smoothed as the event says: 2-D Gaussian for images, 1-D for signals, none for points and vectors.
    target: labels (N,) or an int, used for every orbit element; None -> the prediction argmax f(x).
    NaN for a sample with a non-finite pixel or model output. f runs in eval mode (modes and buffers restored).
    ``method``: IG's implementation (:data:`IG_METHODS`; "fast" agrees with the default to float round-off).
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"unknown reduction {reduction!r}; choose one of mean, sum")
    rep = as_group(group, x)
    ev = rep.event
    _check_smoothing_commutes(rep, kernel_size, sigma, mode)
    n = x.shape[0]
    with audited(f):
        if target is None:
            with torch.no_grad():
                target = as_logits(f(x), n, output).argmax(-1)
        t = _targets(target, n, x.device)
        b = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).broadcast_to(x.shape)
        k = rep.order
        xs = orbit(rep, x).reshape(k * n, *x.shape[1:])
        bs = orbit(rep, b).reshape(k * n, *x.shape[1:])
        m = saliency_map(f, xs, t.repeat(k), bs, steps, threshold, kernel_size, sigma, mode, max_batch, event=ev,
                         output=output, method=method)
    m = m.reshape(k, n, *m.shape[1:])
    aligned = inverse_act(rep, m, torch.arange(k, device=x.device)[:, None])
    if ev.kind != "image":  # saliency_cosine compares the last two dims: give it (.., 1, d)
        m, aligned = m.reshape(k, n, 1, ev.size), aligned.reshape(k, n, 1, ev.size)
    cos = saliency_cosine(m[0], aligned)  # (|G|, N); cos[0] = 1 unless m(x) = 0
    if reduction == "sum":
        return cos.sum(0)
    if k == 1:  # the trivial group: 1 by definition, NaN for a sample with a NaN map
        return torch.where(cos[0].isnan(), cos[0], torch.ones_like(cos[0]))
    return cos[1:].mean(0)
