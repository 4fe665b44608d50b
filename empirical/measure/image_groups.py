"""The theory's groups acting on torch tensors: rho(g) x for batches of images (paper Sec. 3.1, 4.1).

The image groups R4 (rotations by k * 90 degrees) and T3 (cyclic translations by k * s/3
pixels along x) are the very :class:`theory.groups.Representation` objects the theory
reasons about; here they act on torch tensors. A permutation representation acts by an
index gather ``(rho(g) x)[i] = x[perms[g, i]]`` (exact, differentiable, works under
``torch.func.vmap`` and on any device); any other representation (e.g. a randomly
conjugated one) acts by a matmul with rho(g) cast to x's dtype.

Shapes: an EventGroup acts on the trailing dims of x that hold its declared event, or on the
flattened event (..., d) ((N, 1, 36, 36), (N, 36, 36), (N, 1296), (R, N, 1296), ... for R4);
a plain representation on the trailing dims whose sizes multiply to ``rep.dim``. The dims
before them are batch dims. A group element g is a Python int (the same element for every sample) or an
integer tensor that broadcasts, with torch's (right-aligned) rules, to the batch shape:
per-sample elements. A size-1 channel dim just before the pixels counts as a batch dim
or as part of the image, whichever lets g fit: g of shape (N,) acts on (N, 1, 36, 36).
The index tensor is built on x's device on every call (nothing is cached globally);
:func:`group_operator` builds it once for callers that keep it (a module buffer).

Checks the metrics share: :func:`as_group` turns the ``group`` argument of every metric (a registered
name, a representation, or an :class:`~empirical.measure.events.EventGroup` that declares its event) into
the EventGroup it acts with and checks x's shape against the event (``empirical.measure.events``);
:func:`as_image_group` is the same check returning the representation given. :func:`nan_where_nonfinite`
gives NaN for a sample with a non-finite input or output, so a broken sample never reads as a plausible
number.
"""

from __future__ import annotations

import torch
from torch import Tensor

from empirical.measure.events import EventGroup, describe, event_for
from empirical.measure.groups import group_names, image_group
from theory import groups
from theory.groups import Representation

__all__ = ["IMAGE_GROUPS", "image_group", "as_group", "as_image_group", "nan_where_nonfinite", "group_operator", "act",
           "inverse_act", "orbit"]

IMAGE_GROUPS = group_names()  # the registry's names (empirical.measure.groups), re-exported for the metrics' users
_NAMES = ", ".join(repr(n) for n in IMAGE_GROUPS)


def _representation(group: Representation | str) -> Representation:
    if isinstance(group, Representation):
        return group
    if isinstance(group, str):
        return image_group(group)
    raise TypeError(f"group must be a theory.groups.Representation or one of the names {_NAMES}; "
                    f"got {type(group).__name__}")


def _check_batch(x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor batch of inputs; got {type(x).__name__}")


def as_group(group: Representation | str, x: Tensor) -> EventGroup:
    """The group a metric acts with on the batch x (N, ...): an EventGroup whose event fits x, else ValueError.

    ``group`` is a registered name (36 x 36 images; ``image_group(name, (H, W))`` for other sizes), an
    EventGroup (its declared event), or a plain representation (resolved by
    :func:`empirical.measure.events.event_for`: (N, d) a vector, (N, *C, H, W) with H * W = d an image).
    A mismatch raises here, before the model runs, instead of acting on a slice of each sample.
    """
    rep = _representation(group)
    _check_batch(x)
    return event_for(rep, tuple(x.shape))


def as_image_group(group: Representation | str, x: Tensor | None = None) -> Representation:
    """The representation a metric acts with: ``group`` itself, or image_group(group) for a name (36 x 36).

    With x, also checks that x is a batch the group acts on (see :func:`as_group`).
    """
    rep = _representation(group)
    if x is not None:
        _check_batch(x)
        event_for(rep, tuple(x.shape))
    return rep


def nan_where_nonfinite(values: Tensor, *inputs: Tensor) -> Tensor:
    """values (N, ...) with sample n set to NaN wherever any inputs[i][n] (N, ...) has a non-finite entry."""
    if values.dim() == 0:
        raise ValueError("values must have a sample dim (N, ...); got a scalar")
    ok = torch.ones(values.shape[0], dtype=torch.bool, device=values.device)
    for t in inputs:
        if t.dim() == 0 or t.shape[0] != values.shape[0]:
            raise ValueError(f"every input must hold the {values.shape[0]} samples of values along dim 0; "
                             f"got shape {tuple(t.shape)}")
        finite = torch.isfinite(t)
        finite = finite.flatten(1).all(1) if finite.dim() > 1 else finite
        ok = ok & finite  # devices must agree: nothing is moved here
    return torch.where(ok.view(-1, *(1,) * (values.dim() - 1)), values, values.new_full((), float("nan")))


def group_operator(rep: Representation, device=None, dtype: torch.dtype = torch.float32) -> Tensor:
    """rho as one tensor on ``device``: perms (|G|, d) int64 for a permutation rep, else matrices (|G|, d, d)."""
    if rep.perms is not None:
        return torch.tensor(rep.perms, dtype=torch.int64, device=device)
    return torch.tensor(rep.matrices, dtype=dtype, device=device)


def _event_ndim(rep: Representation, shape: torch.Size) -> int:
    """How many trailing dims of ``shape`` the group acts on; ValueError if none fits.

    An EventGroup: its event's dims when they end ``shape``, else 1 for the flattened event (..., d). A plain
    representation: the smallest k >= 1 with prod(shape[-k:]) == rep.dim.
    """
    if isinstance(rep, EventGroup):
        ev = rep.event
        if len(shape) >= ev.ndim and tuple(shape[len(shape) - ev.ndim:]) == ev.shape:
            return ev.ndim
        if len(shape) >= 1 and shape[-1] == rep.dim:
            return 1
        raise ValueError(f"{describe(rep)}; got shape {tuple(shape)}. Pass x of shape (..., "
                         f"{', '.join(map(str, ev.shape))}) or flattened (..., {rep.dim})")
    size = 1
    for k in range(1, len(shape) + 1):
        size *= shape[-k]
        if size == rep.dim:
            return k
        if size > rep.dim or size == 0:
            break
    raise ValueError(f"{describe(rep)}; got shape {tuple(shape)}. Pass x of shape (..., {rep.dim}) or "
                     f"(..., H, W) / (..., 1, H, W) with H * W = {rep.dim}")


def _operator_for(rep: Representation, x: Tensor, operator: Tensor | None) -> Tensor:
    if operator is None:
        return group_operator(rep, device=x.device, dtype=x.dtype)
    if operator.shape[0] != rep.order or operator.shape[1] != rep.dim:
        raise ValueError(f"operator of shape {tuple(operator.shape)} does not belong to {rep.name} "
                         f"(|G| = {rep.order}, d = {rep.dim}); build it with group_operator(rep)")
    return operator


def _element(rep: Representation, g) -> int:
    """A Python int group element, range-checked."""
    if isinstance(g, bool) or not hasattr(g, "__index__"):
        raise ValueError(f"a group element is an int or an integer tensor, got {type(g).__name__}")
    g = g.__index__()
    if not 0 <= g < rep.order:
        raise ValueError(f"{rep.name} has elements 0..{rep.order - 1}; got g = {g}")
    return g


def _check_tensor(g: Tensor) -> None:
    if g.is_floating_point() or g.is_complex() or g.dtype == torch.bool:
        raise ValueError(f"group elements must be an integer tensor, got dtype {g.dtype}")


def _flatten(rep: Representation, x: Tensor) -> Tensor:
    """x (..., *pixels) -> (..., d)."""
    k = _event_ndim(rep, x.shape)
    return x.reshape(*x.shape[: x.dim() - k], rep.dim)


def _fit_batch(rep: Representation, x: Tensor, g: Tensor) -> tuple[int, ...]:
    """The batch shape of x that g broadcasts to (trailing size-1 dims of it may be pixel dims)."""
    batch = tuple(x.shape[: x.dim() - _event_ndim(rep, x.shape)])
    candidates = [batch]
    while batch and batch[-1] == 1:
        batch = batch[:-1]
        candidates.append(batch)
    for cand in candidates:
        try:
            if tuple(torch.broadcast_shapes(tuple(g.shape), cand)) == cand:
                return cand
        except RuntimeError:
            pass
    raise ValueError(f"g of shape {tuple(g.shape)} does not broadcast to the batch shape {candidates[0]} of x "
                     f"(shape {tuple(x.shape)}); pass one element per sample, e.g. g of shape {candidates[-1]}")


def act(rep: Representation, x: Tensor, g: int | Tensor, operator: Tensor | None = None) -> Tensor:
    """rho(g) x for x (..., d) or (..., [1,] H, W); g an int or an int64 tensor broadcasting to the batch dims.

    ``operator`` is an optional precomputed :func:`group_operator` (e.g. a module buffer on x's device).
    Tensor elements are not range-checked (that would synchronize a GPU); ints are.
    """
    op = _operator_for(rep, x, operator)
    perm = rep.perms is not None
    if isinstance(g, Tensor):
        _check_tensor(g)
        if g.dim() > 0:
            batch = _fit_batch(rep, x, g)
            flat = x.reshape(*batch, rep.dim)
            g = g.to(op.device).reshape((1,) * (len(batch) - g.dim()) + tuple(g.shape))
            if perm:
                return torch.take_along_dim(flat, op[g], dim=-1).reshape(x.shape)
            every = torch.einsum("gij,...j->g...i", op.to(x.dtype), flat)  # (|G|, *batch, d)
            return torch.take_along_dim(every, g[None, ..., None], dim=0)[0].reshape(x.shape)
        index = op[g.to(op.device)]  # a 0-dim tensor: one element for all samples (also under vmap)
    else:
        index = op[_element(rep, g)]
    flat = _flatten(rep, x)
    out = flat[..., index] if perm else flat @ index.to(x.dtype).mT
    return out.reshape(x.shape)


def inverse_act(rep: Representation, x: Tensor, g: int | Tensor, operator: Tensor | None = None) -> Tensor:
    """rho(g)^{-1} x = rho(g^{-1}) x, same shapes and broadcasting as :func:`act`."""
    inv = groups.inverse_indices(rep)
    if isinstance(g, Tensor):
        _check_tensor(g)
        return act(rep, x, torch.as_tensor(inv, device=g.device)[g], operator)
    return act(rep, x, int(inv[_element(rep, g)]), operator)


def orbit(rep: Representation, x: Tensor, operator: Tensor | None = None) -> Tensor:
    """The orbit {rho(g) x : g in G} stacked as (|G|, *x.shape); element 0 is x itself."""
    op = _operator_for(rep, x, operator)
    flat = _flatten(rep, x)
    if rep.perms is not None:
        # One contiguous gather per element (|G| is small): faster on a CPU than one fancy
        # index (*batch, |G|, d) followed by the transposing copy to (|G|, *batch, d).
        out = torch.stack([flat.index_select(-1, p) for p in op])
    else:
        out = torch.einsum("gij,...j->g...i", op.to(x.dtype), flat)
    return out.reshape(rep.order, *x.shape)
