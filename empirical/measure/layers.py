"""Layer-wise invariance: where along a network invariance is gained or lost (paper Sec. 3.2, per layer).

For a model f = f_L o ... o f_1 and every submodule m (named as in ``model.named_modules()``; the model
itself is ""), let a_m(x) be m's output on x, flattened to a vector. With x_1 .. x_N the batch and
g != e the non-identity elements of the group, the layer's normalized invariance error of sample n is

    LI_m(x_n) = mean_{g != e} ||a_m(g x_n) - a_m(x_n)||^2  /  D_m,
    D_m       = mean_{i != j} ||a_m(x_i) - a_m(x_j)||^2  =  2 N / (N - 1) * mean_i ||a_m(x_i) - mean_j a_m(x_j)||^2.

Normalization: D_m is the mean squared distance between two different samples of the batch at that layer,
so LI_m = 0 means the layer's output does not move along x's orbit, and LI_m = 1 means moving along the
orbit changes the layer as much as switching to another sample. It does not depend on the scale or offset of
a layer's activations (LI_m(c a + b) = LI_m(a)), so layers of different widths and magnitudes are comparable;
it does depend on the batch through D_m (pass a batch of N >= 2 representative samples). A layer with D_m = 0
reads 0 if it is also constant on every orbit, inf otherwise. The last entry, "", is the model's output.

One forward of the model on the stacked orbit (|G| N samples) with a forward hook on every module; the
model runs in eval mode with its modes and buffers restored, and the results are detached. Modules whose
output is not a tensor with the |G| N samples along dim 0 (tuples, reshaped batches) are left out; a module
called k > 1 times per forward reports its calls as name, name#2, ..., name#k.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor, nn

from empirical.measure.image_groups import as_group, nan_where_nonfinite, orbit
from empirical.measure.outputs import Output, as_logits, audited
from theory.groups import Representation

__all__ = ["layer_invariance", "normalized_orbit_error"]


def normalized_orbit_error(a: Tensor, finite: Tensor | None = None) -> Tensor:
    """LI_m per sample (N,) from one layer's orbit activations a (|G|, N, ...): the formula of the module docstring.

    ``finite`` (N,) bool marks the samples that enter D_m (default all); the others are NaN.
    """
    k, n = a.shape[:2]
    a = a.reshape(k, n, -1)
    ok = torch.ones(n, dtype=torch.bool, device=a.device) if finite is None else finite
    if int(ok.sum()) < 2:
        raise ValueError("layer-wise invariance is normalized by the spread of the batch: pass at least 2 samples")
    num = (a[1:] - a[:1]).square().sum(-1).mean(0) if k > 1 else a.new_zeros(n)
    base = a[0][ok]
    m = base.shape[0]
    den = 2.0 * m / (m - 1) * (base - base.mean(0)).square().sum(-1).mean()
    out = torch.where(den > 0, num / den.clamp_min(torch.finfo(a.dtype).tiny),
                      torch.where(num > 0, num.new_full((), float("inf")), num.new_zeros(())))
    return torch.where(ok, out, out.new_full((), float("nan")))


def layer_invariance(model: nn.Module, x: Tensor, group: Representation | str, layers: Iterable[str] | None = None,
                     output: Output = None) -> dict[str, Tensor]:
    """{module name: LI_m per sample (N,)} for every module of ``model`` (or the names in ``layers``), forward order.

    x (N, ...) a batch the group acts on (N >= 2); the normalization is the module docstring's. NaN for a
    sample with a non-finite input (it is left out of D_m).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"layer-wise invariance hooks the modules of an nn.Module; got {type(model).__name__}")
    rep = as_group(group, x)
    named = dict(model.named_modules())
    wanted = list(named) if layers is None else list(layers)
    missing = [w for w in wanted if w not in named]
    if missing:
        raise ValueError(f"no module named {missing[0]!r} in the model; names are those of model.named_modules(), "
                         f"e.g. {', '.join(repr(k) for k in list(named)[:6])}")
    k, n = rep.order, x.shape[0]
    finite = torch.isfinite(x).flatten(1).all(1)
    xs = orbit(rep, torch.where(finite.view(-1, *(1,) * (x.dim() - 1)), x, torch.zeros_like(x)))
    seen: dict[str, list[Tensor]] = {}

    def hook(name):
        def record(module, inputs, out):
            if isinstance(out, Tensor) and out.dim() >= 1 and out.shape[0] == k * n:
                seen.setdefault(name, []).append(out.detach())
        return record

    handles = [named[w].register_forward_hook(hook(w)) for w in wanted if w != ""]
    try:
        with audited(model), torch.no_grad():
            out = model(xs.reshape(k * n, *x.shape[1:]))
            if "" in wanted:  # the model's own output is read as logits (checked, or picked by output=)
                seen[""] = [as_logits(out, k * n, output)]
    finally:
        for h in handles:
            h.remove()
    result = {}
    for name, outs in seen.items():
        for i, a in enumerate(outs):
            key = name if i == 0 else f"{name}#{i + 1}"
            result[key] = nan_where_nonfinite(normalized_orbit_error(a.reshape(k, n, -1), finite), x)
    return result
