"""The affine first layer of any model, found by watching it run: f(x) = head(A x + c), without the model saying so.

Integrated gradients integrate the gradient of f along the straight path b + a (x - b). When f starts with an
affine layer u = A x + c (an ``nn.Linear`` or ``nn.Conv1d/2d/3d`` fed the input itself), the path in u is
straight too, u(a) = u(b) + a (u(x) - u(b)), and the gradient's integral is A^T (the integral of grad head along
that path): the first layer runs on 2 N rows instead of N * steps, and its backward once. Our networks declare
the split (``affine_split()``); :func:`affine_split` finds it in other ``nn.Module`` s.

How it is found, and when it is not used (then the caller runs the whole model, as before):

1. One forward of the model on two samples with a pre-hook on every leaf module records the calls in order.
   Shape-only leaves (``nn.Flatten``, ``nn.Unflatten``, ``nn.Identity``) are skipped; the next leaf must be an
   ``nn.Linear`` / ``nn.ConvNd`` of torch's own ``forward`` (not a subclass that overrides it), called exactly
   once, on a tensor holding the two samples' values in the input's order (a reshape of x).
2. ``head(u)`` runs the model on a NaN input with that layer answering u instead of computing. A model that
   reads its input anywhere else (a skip connection from x) gets NaN there.
3. The split is checked where it will be used: head(affine(p)) must equal f(p) (to 1e-5 relative, NaN where f
   is NaN) at the points p given, e.g. samples, baselines and their midpoints; otherwise it is not used.
   A TorchScript module (no hooks), a bound method or a plain function is run whole.

The model is left as it was: the hooks are removed and the layer's own ``forward`` comes back (``finally``).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from empirical.measure.outputs import Output, as_logits

__all__ = ["AFFINE_LAYERS", "affine_split"]

AFFINE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_SHAPE_ONLY = (nn.Flatten, nn.Unflatten, nn.Identity)
_FORWARDS = {c.forward for c in AFFINE_LAYERS}


def _first_call(model: nn.Module, probe: Tensor) -> tuple[nn.Module, Tensor, int] | None:
    """(the first non-shape leaf module the model calls, its input, how often it is called) or None."""
    calls: list[tuple[nn.Module, Tensor]] = []

    def record(module, args):
        calls.append((module, args[0] if args and isinstance(args[0], Tensor) else None))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = []
    try:
        for m in leaves:
            handles.append(m.register_forward_pre_hook(record))
        with torch.no_grad():
            model(probe)
    finally:
        for h in handles:
            h.remove()
    first = next(((m, z) for m, z in calls if not isinstance(m, _SHAPE_ONLY)), None)
    if first is None:
        return None
    return first[0], first[1], sum(m is first[0] for m, _ in calls)


@contextmanager
def _answering(layer: nn.Module, value: Callable[[], Tensor]) -> Iterator[None]:
    """``layer`` returns value() instead of computing, for the block; its own forward comes back afterwards."""
    own = layer.__dict__.get("forward")
    layer.forward = lambda *args, **kwargs: value()
    try:
        yield
    finally:
        if own is None:
            del layer.forward
        else:
            layer.forward = own


def affine_split(f, points: Tensor, output: Output = None
                 ) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]] | None:
    """(affine, head) with f(x) = head(affine(x)) and affine an ``nn.Linear`` / ``nn.ConvNd`` fed x; None if not found.

    ``affine`` maps inputs x (N, ...) to the layer's output u (N, ...); ``head`` maps u (M, ...) to the model's
    return value for M samples. Found on the first and last of ``points`` (M >= 1 inputs, in the layout the model
    takes) and checked on all of them, as the module docstring says; never raises for a model it cannot split (it
    returns None).
    """
    if not isinstance(f, nn.Module) or isinstance(f, torch.jit.ScriptModule) or points.dim() < 1 \
            or points.shape[0] < 1:
        return None
    x = points
    probe = torch.cat([x[:1], x[-1:]])
    try:
        found = _first_call(f, probe)
    except Exception:  # noqa: BLE001 - a model we cannot watch is run whole
        return None
    if found is None:
        return None
    layer, z, count = found
    if (type(layer).forward not in _FORWARDS or count != 1 or z is None or z.dim() < 1
            or z.shape[0] != probe.shape[0] or z.numel() != probe.numel()
            or not torch.equal(z.reshape(-1), probe.reshape(-1))):
        return None
    shape = tuple(z.shape[1:])

    def affine(v: Tensor) -> Tensor:
        return layer(v.reshape(v.shape[0], *shape))

    blank: list[Tensor] = []

    def head(u: Tensor) -> Tensor:
        rows = u.shape[0]
        if not blank or blank[0].shape[0] < rows:  # one NaN input, reused: the model must not read it
            blank[:] = [x.new_full((rows, *x.shape[1:]), float("nan"))]
        with _answering(layer, lambda: u):
            return f(blank[0][:rows])

    try:
        check = x
        with torch.no_grad():
            whole = as_logits(f(check), check.shape[0], output)
            split = as_logits(head(affine(check)), check.shape[0], output)
        scale = float(whole.abs().nan_to_num(0.0, 0.0, 0.0).max()) + 1e-30
        if not torch.allclose(split, whole, rtol=1e-5, atol=1e-5 * scale, equal_nan=True):
            return None
    except Exception:  # noqa: BLE001 - e.g. a model that refuses the NaN input: run it whole
        return None
    return affine, head
