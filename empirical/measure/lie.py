"""Invariance to a continuous transformation: the Lie derivative (Gruver et al., ICLR 2023, "The Lie Derivative
for Measuring Learned Equivariance").

For a one-parameter family of input transformations T_t with T_0 = identity (a rotation by the angle t,
a translation by t pixels), the Lie derivative of an invariant output f is

    L f(x) = d/dt f(T_t x) |_{t=0}        (K,)  for logits f(x) in R^K,

and the measure is its norm per sample, LD(x) = ||L f(x)||_2 (Gruver et al. take the same norm of the
flattened output). It is computed exactly, in one forward-mode pass (``torch.func.jvp`` with tangent
dt = 1) through the transformation and the model together, for a whole batch at once.

What it measures that the finite-group metrics (LI, DI, SI) do not: the *infinitesimal* invariance to
the continuous transformation at x, i.e. the first-order change of f under an arbitrarily small rotation
or sub-pixel translation. LI over R4 or T3 compares f at a few far-apart group elements, all exact pixel
permutations; a model can be exactly R4-invariant (LI = 0, e.g. weight-tied or orbit-averaged) and still
change quickly under a 1-degree rotation (LD large), and a model with LD = 0 everywhere is invariant to
every rotation, not only to 90-degree ones. LD is a derivative, so it is not bounded like SI and scales
with the logits; compare it between models on the same inputs and transformation.

The transformation must be differentiable in t by forward-mode AD. torch's ``grid_sample`` has no
forward-mode derivative (torch 2.13), and bilinear or bicubic interpolation is not smooth in t at
t = 0 (every sampling point sits on a pixel), so the transformations here resample in the Fourier
domain: :func:`translate` shifts by a phase ramp, :func:`rotate` composes three Fourier shears (Unser,
Thevenaz and Yaroslavsky, 1995). Both are exact for band-limited periodic images and smooth in t; their
generator at t = 0 is the continuous one with spectral derivatives. Any other ``transform(x, t)`` with
T_0 = identity works the same way.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import torch
from torch import Tensor
from torch.func import jvp

from empirical.measure.image_groups import nan_where_nonfinite
from empirical.measure.outputs import Output, audited, logits_of

__all__ = ["lie_derivative", "translate", "rotate"]

Transform = Callable[[Tensor, Tensor], Tensor]
_CHUNK = 256


def _shift(x: Tensor, s: Tensor, dim: int) -> Tensor:
    """x shifted by s samples along ``dim`` (periodic, band-limited): y[i] = x(i - s); s broadcasts against x."""
    n = x.shape[dim]
    shape = [1] * x.dim()
    shape[dim] = n
    k = torch.fft.fftfreq(n, dtype=x.dtype, device=x.device).view(shape)  # cycles per sample
    phase = torch.exp(-2j * math.pi * k * s)
    return torch.fft.ifft(torch.fft.fft(x, dim=dim) * phase, dim=dim).real


def translate(x: Tensor, t: Tensor | float, dim: int = -1) -> Tensor:
    """x (..., L) or (..., H, W) translated by t samples along ``dim`` (default x, the last), periodically.

    Band-limited (Fourier) shift, smooth in t; for an integer t equal to ``torch.roll(x, t, dim)``.
    """
    return _shift(x, torch.as_tensor(t, dtype=x.dtype, device=x.device), dim)


def rotate(x: Tensor, t: Tensor | float) -> Tensor:
    """Images x (..., H, W) rotated by the angle t (radians) about their centre, by three Fourier shears.

    x-shear by -tan(t/2), y-shear by sin(t), x-shear by -tan(t/2), each a periodic band-limited shift of
    every row (column); smooth in t, exactly invertible, |t| < pi. For odd H = W, rotate(x, pi / 2) is
    ``torch.rot90(x, 1, (-2, -1))`` (the R4 generator) up to round-off.
    """
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    h, w = x.shape[-2:]
    rows = (torch.arange(h, dtype=x.dtype, device=x.device) - (h - 1) / 2).view(h, 1)
    cols = (torch.arange(w, dtype=x.dtype, device=x.device) - (w - 1) / 2).view(1, w)
    a, b = torch.tan(t / 2), -torch.sin(t)
    x = _shift(x, a * rows, -1)
    x = _shift(x, b * cols, -2)
    return _shift(x, a * rows, -1)


def lie_derivative(f: Callable[[Tensor], Tensor], x: Tensor, transform: Transform = rotate, output: Output = None,
                   norm: bool = True, chunk_size: int = _CHUNK) -> Tensor:
    """LD(x) = ||d/dt f(T_t x)|_{t=0}||_2 per sample, (N,) (Gruver et al. 2023); ``norm=False``: L f(x), (N, K).

    x (N, ...) a batch ``transform(x, t)`` acts on (default :func:`rotate`: images (N, ..., H, W));
    transform(x, 0) must be x. One ``torch.func.jvp`` per chunk of samples; f runs in eval mode with its
    modes and buffers restored; logits (N, K) or (N, K, 1, ..., 1), or picked by ``output``. NaN for a
    sample with a non-finite input or logit. The result is detached.
    """
    if not isinstance(x, Tensor) or x.dim() < 2:
        raise ValueError(f"x must be a batch (N, ...); got {tuple(x.shape) if isinstance(x, Tensor) else type(x)}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1 sample, got {chunk_size}")
    g = logits_of(f, output)
    t0 = torch.zeros((), dtype=x.dtype, device=x.device)
    parts = []
    with audited(f), torch.no_grad():
        for lo in range(0, x.shape[0], chunk_size):
            xc = x[lo:lo + chunk_size]
            finite = torch.isfinite(xc).flatten(1).all(1).view(-1, *(1,) * (xc.dim() - 1))
            xs = torch.where(finite, xc, torch.zeros_like(xc))
            moved = transform(xs, t0)
            if moved.shape != xs.shape or not torch.allclose(moved, xs, rtol=1e-5, atol=1e-5 * float(
                    xs.abs().max().clamp_min(1))):
                raise ValueError("transform(x, 0) must return x (T_0 is the identity); got a different tensor")
            try:
                with warnings.catch_warnings():  # torch's first forward-AD call scripts its decompositions
                    warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated",
                                            category=DeprecationWarning)
                    out, tangent = jvp(lambda t: g(transform(xs, t)), (t0,), (torch.ones_like(t0),))
            except (RuntimeError, NotImplementedError) as err:
                reason = (str(err).strip().splitlines() or [""])[0].split(". ")[0][:200]
                raise RuntimeError(f"lie_derivative needs forward-mode AD (torch.func.jvp) through the transform and "
                                   f"the model: {reason} (torch's grid_sample has none; use measure.lie.rotate / "
                                   f"translate)") from err
            d = tangent.flatten(1).norm(dim=1) if norm else tangent
            parts.append(nan_where_nonfinite(d, xc, out))
    if not parts:
        return x.new_zeros((0,) if norm else (0, 0))
    return torch.cat(parts).detach()
