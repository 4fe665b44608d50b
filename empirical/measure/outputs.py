"""What a metric reads from a model, and what it leaves behind: checked logits, and the audited model untouched.

Logits. Every metric reads f(x) as logits (N, K). A model may return them as (N, K) or as
(N, K, 1, ..., 1) (a convolutional head without a flatten); the rule is one: the trailing size-1 dims
are dropped, (N, K, 1, 1) -> (N, K). Any other shape ((N,), (N, K, H, W) with H * W > 1, another batch
size) is refused with one line, never reduced over the wrong axis. A model returning a tuple, a dict or
a wrapper object (e.g. ``out.logits``) is refused with a message naming the ``output=`` argument every
metric takes: a callable from the model's return value to the logits, e.g. ``output=lambda out: out[0]``.

The audit does not touch the model. :func:`audited` runs a metric with every submodule of an
``nn.Module`` (or of the module behind a bound method) in eval mode, then restores each submodule's
mode and every buffer, by object and by value (BatchNorm's running statistics and counter are
bit-identical afterwards, even if the model wrote them in eval mode). Any other callable is run as it is.
The metrics return detached values; a differentiable training term is ``empirical.measure.loss``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
from torch import Tensor, nn

__all__ = ["as_logits", "logits_of", "audited", "module_of"]

Output = Callable[[Any], Tensor] | None


def _hint(out: Any) -> str:
    """An ``output=`` example for a return value that is not a tensor."""
    if isinstance(out, (tuple, list)):
        return "output=lambda out: out[0]"
    if isinstance(out, dict):
        keys = list(out)
        return f"output=lambda out: out[{keys[0]!r}] (keys: {', '.join(map(repr, keys[:8]))})" if keys else \
            "output=<callable picking the logits>"
    if isinstance(getattr(out, "logits", None), Tensor):
        return "output=lambda out: out.logits"
    return "output=<callable picking the logits>"


def as_logits(out: Any, n: int | None = None, output: Output = None) -> Tensor:
    """The model's return value as logits (n, K): ``output(out)`` if given, trailing size-1 dims dropped.

    Raises TypeError (not a tensor: names ``output=``) or ValueError (a shape that is not (n, K, 1, ..., 1)).
    An (n, K) tensor is returned as the very same object.
    """
    if output is not None:
        out = output(out)
    if not isinstance(out, Tensor):
        raise TypeError(f"the model returned a {type(out).__name__}, not a logits tensor; pass "
                        f"{_hint(out)} to pick the (N, K) logits")
    shape = tuple(out.shape)
    if len(shape) < 2 or any(s != 1 for s in shape[2:]) or (n is not None and shape[0] != n):
        batch = f" for a batch of {n}" if n is not None else ""
        raise ValueError(f"logits must be (N, K) or (N, K, 1, ..., 1); got shape {shape}{batch}: pass output= "
                         f"a callable that returns them as (N, K) (e.g. output=lambda z: z.mean((2, 3)) to pool "
                         f"a spatial map)")
    return out if len(shape) == 2 else out.reshape(shape[0], shape[1])


def logits_of(f: Callable[[Tensor], Any], output: Output = None) -> Callable[[Tensor], Tensor]:
    """f followed by :func:`as_logits` on the input's batch size: x (N, ...) -> (N, K)."""
    def checked(x: Tensor) -> Tensor:
        return as_logits(f(x), x.shape[0], output)
    return checked


def module_of(f: Any) -> nn.Module | None:
    """The nn.Module a metric audits: f itself, or the module a bound method belongs to; None otherwise."""
    if isinstance(f, nn.Module):
        return f
    owner = getattr(f, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


@contextmanager
def audited(f: Any) -> Iterator[None]:
    """Run the block with f's module in eval mode; afterwards every submodule's mode and buffer is as before."""
    model = module_of(f)
    if model is None:
        yield
        return
    modules = list(model.modules())
    modes = [m.training for m in modules]
    saved = [(m, name, b, b.detach().clone()) for m in modules for name, b in m._buffers.items() if b is not None]
    try:
        model.eval()
        yield
    finally:
        for m, mode in zip(modules, modes):
            m.training = mode
        with torch.no_grad():
            for m, name, b, copy in saved:
                if m._buffers.get(name) is not b:
                    m._buffers[name] = b  # a buffer replaced by a new tensor: put the caller's object back
                b.copy_(copy)
