"""R independent MLPs held as stacked weight tensors, so one batched matmul trains them all: the MLP's fast path.

Every registered architecture, the MLP included, also trains through the generic ``torch.func`` engine
(``empirical.engine.functional``); this hand-tuned path is kept for the MLP because the cached results were
trained by it (bit for bit) and it is faster; the tests show both give the same training trajectory.

Layer i of run r is ``weight[i][r]`` (in, out), the transpose of ``nn.Linear``'s layout, and
``bias[i][r]`` (out,): the forward is then x @ W with no transpose, and the weight gradient is
computed directly in the parameter's own layout (a transposed parameter costs one copy of its
gradient per step, ~7 % of a DA step on a CPU). ``unstack`` returns run r's parameters in
``nn.Linear``'s layout under the state-dict keys of
:class:`empirical.engine.models.MLP` (``layers.{i}.weight`` / ``layers.{i}.bias``), so a trained
run loads straight into the models the metrics are computed on. Stacking is exact
arithmetic per run: nothing mixes runs, and Adam (elementwise) on the stacked tensors
is R independent Adams.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from empirical.engine.models import ACTIVATIONS
from theory.deep_linear import INIT_SCHEMES, initialize

__all__ = ["INITS", "ACTIVATIONS", "init_stack", "stacked_forward", "unstack", "layer_sizes", "forward_macs"]


def layer_sizes(in_features: int = 1296, hidden: int = 128, depth: int = 5, classes: int = 9) -> list[tuple[int, int]]:
    """(in, out) of each of the ``depth`` linear layers of the MLP of Sec. 4.1."""
    dims = [in_features] + [hidden] * (depth - 1) + [classes]
    return list(zip(dims[:-1], dims[1:]))


def forward_macs(sizes: list[tuple[int, int]], group_order: int = 1, tied_first: bool = False) -> int:
    """Multiply-adds of one forward pass per input sample (the first layer |G| times for a tied model)."""
    first = sizes[0][0] * sizes[0][1] * (group_order if tied_first else 1)
    return first + sum(i * o for i, o in sizes[1:])


INITS = ("torch",) + INIT_SCHEMES


def init_stack(seeds: list[int], sizes: list[tuple[int, int]], device: torch.device | str = "cpu",
               init: str = "torch") -> list[Tensor]:
    """Parameters [W_1, b_1, ..., W_L, b_L], each (R, ...), one initialization per seed.

    'torch' is ``nn.Linear``'s default: weight and bias from U(-1/sqrt(in), 1/sqrt(in)). The
    theory's schemes ('glorot', 'he', 'gaussian', 'orthogonal', 'balanced') come from
    ``theory.deep_linear.initialize`` (the same layers the deep-linear theory studies) with zero
    biases. Each run draws from its own seed, so its initialization does not depend on its stack.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {INITS}")
    params: list[list[Tensor]] = [[] for _ in range(2 * len(sizes))]
    for seed in seeds:
        if init == "torch":
            gen = torch.Generator().manual_seed(int(seed))
            for i, (fan_in, fan_out) in enumerate(sizes):
                bound = 1.0 / math.sqrt(fan_in)
                params[2 * i].append(((torch.rand(fan_out, fan_in, generator=gen) * 2 - 1) * bound).T)
                params[2 * i + 1].append((torch.rand(fan_out, generator=gen) * 2 - 1) * bound)
        else:
            widths = [sizes[0][0]] + [o for _, o in sizes]
            for i, w in enumerate(initialize(widths, init, int(seed))):
                params[2 * i].append(torch.as_tensor(w, dtype=torch.float32).T)
                params[2 * i + 1].append(torch.zeros(w.shape[0]))
    return [torch.stack(p).contiguous().to(device) for p in params]


def stacked_forward(params: list[Tensor], x: Tensor, pool_orbit: int = 0, pool: str = "max",
                    activation: str = "relu") -> Tensor:
    """Logits (R, B, K) of R MLPs on their own inputs x (R, B', d); ReLU (or nothing: 'linear') between layers.

    With ``pool_orbit = |G|`` the input holds each sample's orbit as (R, |G| * B, d), ordered
    group-major, and the first layer's outputs are pooled over the group before the ReLU: the
    weight-tied model of Sec. 4.1 (see :class:`empirical.engine.models.WeightTiedMLP`).
    """
    h = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        w, b = params[2 * i], params[2 * i + 1]
        h = torch.baddbmm(b.unsqueeze(1), h, w)
        if i == 0 and pool_orbit:
            h = h.unflatten(1, (pool_orbit, -1))
            h = h.amax(dim=1) if pool == "max" else h.mean(dim=1)
        if i < n_layers - 1 and activation == "relu":
            h = torch.relu(h)
    return h


def unstack(params: list[Tensor], r: int) -> dict[str, Tensor]:
    """Run r's parameters as an ``empirical.engine.models.MLP`` state dict (CPU copies, ``nn.Linear`` layout)."""
    out = {}
    for i in range(len(params) // 2):
        out[f"layers.{i}.weight"] = params[2 * i][r].detach().T.cpu().contiguous()
        out[f"layers.{i}.bias"] = params[2 * i + 1][r].detach().cpu().clone()
    return out
