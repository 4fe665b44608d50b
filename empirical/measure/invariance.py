"""Invariance errors over a group orbit (paper Sec. 3.2, Eq. 1-2; Sec. 4.4): ONE implementation.

The same :func:`invariance_from_logits` is the evaluation metric and the training
regularizer I_f of Eq. 4, so what the IR models are trained on is exactly what is reported.

Forms, for logits z_e = f(x) and z_g = f(gx):
  LI  = 1/2 ||z_e - z_g||^2                         (Eq. 2, with its 1/2)
  DI  = KL(u_x || q_gx), u = softmax z_e, q = softmax z_g   (Eq. 1; gradients flow through both)
  NLI = ||z_e - z_g||^2 / max(||z_e||^2, NLI_FLOOR)  (Sec. 4.4, no 1/2)

DECISION (averaging). Eq. 1-3 write sum over x and sum over g, yet the text calls the
measures "averages" and reports SI in [0, 1] (Table 1: SI = 0.17 for DA on R4). With the
identity term included, SI would be at least 1/|G| = 1/4 for R4 (the identity term of the
cosine is always 1), so 0.17 rules out the literal reading. We therefore average over the
non-identity elements g != e, per sample, and leave the reduction over x to the caller
(the tables average over samples). ``reduction="sum"`` gives the literal sum over all g
(identity included, whose term is 0 for LI/DI/NLI) one argument away.

NaN in, NaN out: a sample with a non-finite logit anywhere on its orbit (or, for the metrics
that take the model, a non-finite pixel) gets NaN, never a finite error: softmax would turn
-inf into a finite KL and the trivial group would report 0. ``group`` is a registered name
("R4", "T3", ...), a representation or an EventGroup (``empirical.measure.image_groups.as_group``).

Outputs and the audit (``empirical.measure.outputs``): logits (N, K) or (N, K, 1, ..., 1), anything
else refused or picked by ``output=``; the metrics run the model in eval mode, restore its modes and
buffers, and return detached values. :func:`orbit_invariance` is the formula itself, with the model
as it is and the graph kept: the metrics and the regularizer (``empirical.measure.loss``) share it.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from empirical.measure.image_groups import as_group, nan_where_nonfinite, orbit
from empirical.measure.outputs import Output, as_logits, audited
from theory.groups import Representation

__all__ = [
    "INVARIANCE_FORMS",
    "REDUCTIONS",
    "NLI_FLOOR",
    "orbit_logits",
    "invariance_from_logits",
    "orbit_invariance",
    "invariance",
    "logit_invariance",
    "distribution_invariance",
    "normalized_logit_invariance",
]

INVARIANCE_FORMS = ("LI", "DI", "NLI")
REDUCTIONS = ("mean", "sum")
# ||f(x)||^2 is floored at this value in NLI so that all-zero logits give a finite error (0 when invariant).
NLI_FLOOR = 1e-12


def orbit_logits(f: Callable[[Tensor], Tensor], x: Tensor, group: Representation | str,
                 output: Output = None) -> Tensor:
    """Logits on the orbit, (|G|, N, K): one forward of f on the stacked orbit reshaped to (|G| * N, ...).

    f runs as it is (its mode; the graph is kept): the building block of the metrics and of the loss.
    """
    rep = as_group(group, x)
    xs = orbit(rep, x)
    m = rep.order * x.shape[0]
    z = as_logits(f(xs.reshape(m, *x.shape[1:])), m, output)
    return z.reshape(rep.order, x.shape[0], *z.shape[1:])


def _check(form: str, reduction: str) -> None:
    if form not in INVARIANCE_FORMS:
        raise ValueError(f"unknown invariance form {form!r}; choose one of {', '.join(INVARIANCE_FORMS)}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")


def invariance_from_logits(z: Tensor, form: str, reduction: str = "mean") -> Tensor:
    """Per-sample invariance error (*batch,) from orbit logits z (|G|, *batch, K), z[0] = f(x) (Eq. 1, 2, Sec. 4.4).

    reduction "mean": average over g != e (our reading, see module docstring); "sum": the literal
    sum over all g of Eq. 1-2 (the identity term is 0). NaN where a sample's orbit logits are not all finite.
    """
    _check(form, reduction)
    if z.dim() < 2:
        raise ValueError(f"z must be orbit logits (|G|, *batch, K); got shape {tuple(z.shape)}")
    ze, zg = z[:1], (z[1:] if reduction == "mean" else z)
    if form == "DI":
        log_u = F.log_softmax(ze, dim=-1)
        err = (log_u.exp() * (log_u - F.log_softmax(zg, dim=-1))).sum(-1)
    else:
        sq = (ze - zg).square().sum(-1)
        if form == "LI":
            err = 0.5 * sq
        else:
            err = sq / ze.square().sum(-1).clamp_min(NLI_FLOOR)
    if reduction == "sum":
        err = err.sum(0)
    elif zg.shape[0] == 0:  # the trivial group: nothing to compare, everything is invariant
        err = z.new_zeros(z.shape[1:-1])
    else:
        err = err.mean(0)
    finite = torch.isfinite(z).all(-1).all(0)  # (*batch,): the same mask for stacked (|G|, R, B, K) logits
    return torch.where(finite, err, err.new_full((), float("nan")))


def orbit_invariance(f: Callable[[Tensor], Tensor], x: Tensor, group: Representation | str, form: str,
                     reduction: str = "mean", output: Output = None) -> Tensor:
    """Per-sample invariance error (N,) of f on x (N, ...) under G, f as it is, graph kept (Eq. 1, 2, Sec. 4.4).

    The one formula behind :func:`invariance` (the metric) and ``empirical.measure.loss.invariance_loss``
    (the regularizer): invariance_from_logits(orbit_logits(f, x, G), form, reduction), NaN per non-finite sample.
    """
    _check(form, reduction)
    rep = as_group(group, x)  # x is a batch (N, ...) from here on
    # A non-finite sample is evaluated at 0 instead (its NaN activations would leak 0 * NaN into the
    # parameter gradients of the other samples) and reported as NaN, whatever f makes of it.
    finite = torch.isfinite(x).flatten(1).all(1).view(-1, *(1,) * (x.dim() - 1))
    z = orbit_logits(f, torch.where(finite, x, torch.zeros_like(x)), rep, output)
    return nan_where_nonfinite(invariance_from_logits(z, form, reduction), x)


def invariance(f: Callable[[Tensor], Tensor], x: Tensor, group: Representation | str, form: str,
               reduction: str = "mean", output: Output = None) -> Tensor:
    """Per-sample invariance error (N,) of f on x (N, ...) under G, in the given form (Eq. 1, 2, Sec. 4.4).

    The metric: f in eval mode, its modes and buffers restored, the result detached (:func:`orbit_invariance`).
    """
    _check(form, reduction)
    rep = as_group(group, x)  # group and shape checked before the model runs
    with audited(f), torch.no_grad():
        return orbit_invariance(f, x, rep, form, reduction, output)


def logit_invariance(f: Callable[[Tensor], Tensor], x: Tensor, group: Representation | str,
                     output: Output = None) -> Tensor:
    """LI_f per sample (N,): 1/2 ||f(x) - f(gx)||^2 averaged over g != e (Eq. 2)."""
    return invariance(f, x, group, "LI", output=output)


def distribution_invariance(f: Callable[[Tensor], Tensor], x: Tensor, group: Representation | str,
                            output: Output = None) -> Tensor:
    """DI_f per sample (N,): KL(softmax f(x) || softmax f(gx)) averaged over g != e (Eq. 1)."""
    return invariance(f, x, group, "DI", output=output)


def normalized_logit_invariance(f: Callable[[Tensor], Tensor], x: Tensor, group: Representation | str,
                                output: Output = None) -> Tensor:
    """NLI_f per sample (N,): ||f(x) - f(gx)||^2 / ||f(x)||^2 averaged over g != e (Sec. 4.4)."""
    return invariance(f, x, group, "NLI", output=output)
