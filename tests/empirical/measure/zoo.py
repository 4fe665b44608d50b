"""Models nobody on the team wrote, events of every kind and their groups: the fixtures of the any-model tests.

Architectures (all float64-ready, built for one event shape (C, *event)):
  mlp       Flatten -> Linear -> ReLU -> Linear: logits (N, K)
  bn        Flatten -> Linear -> BatchNorm1d -> ReLU -> Linear (a CNN with BatchNorm2d for images)
  convhead  ... -> a 1x1 Conv2d head without a flatten: logits (N, K, 1, 1)
Invariant models by construction: :class:`OrbitAveraged` (f(x) = mean_g h(g x)). :class:`GroupPool` writes in
place into a tensor it allocates, as e2cnn's GroupPooling does: torch.func.vmap cannot run it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from empirical.measure.events import acting_on
from empirical.measure.groups import image_group
from empirical.measure.image_groups import orbit
from theory import groups

K = 4


class GroupPool(nn.Module):
    """Max over each field's `size` channels, written in place into a fresh tensor (vmap cannot run this)."""

    def __init__(self, fields: int, size: int):
        super().__init__()
        self.fields, self.size = fields, size

    def forward(self, x):
        out = torch.empty(x.shape[0], self.fields, *x.shape[2:], dtype=x.dtype, device=x.device)
        for i in range(self.fields):
            out[:, i] = x[:, i * self.size:(i + 1) * self.size].amax(1)
        return out


class OrbitAveraged(nn.Module):
    """f(x) = (1/|G|) sum_g h(g x): invariant by construction, whatever h returns ((N, K) or (N, K, 1, 1))."""

    def __init__(self, h: nn.Module, rep):
        super().__init__()
        self.h, self.rep = h, rep

    def forward(self, x):
        k, n = self.rep.order, x.shape[0]
        z = self.h(orbit(self.rep, x).reshape(k * n, *x.shape[1:]))
        return z.reshape(k, n, *z.shape[1:]).mean(0)


class ConvHead(nn.Module):
    """Logits as a (N, K, 1, 1) map: the (N, K) logits of ``body`` through a 1x1 convolution, no flatten."""

    def __init__(self, body: nn.Module, width: int):
        super().__init__()
        self.body, self.head = body, nn.Conv2d(width, K, 1)

    def forward(self, x):
        return self.head(self.body(x)[:, :, None, None])


class Unsqueezed(nn.Module):
    """The same model with its (N, K) logits returned as (N, K, 1, 1)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)[:, :, None, None]


def build(arch: str, shape: tuple[int, ...], seed: int = 0, width: int = 8) -> nn.Module:
    """An architecture for inputs (N, *shape), float64, its parameters drawn from ``seed``."""
    torch.manual_seed(seed)
    d = math.prod(shape)
    if arch == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(d, width), nn.ReLU(), nn.Linear(width, K))
    elif arch == "bn" and len(shape) == 3:  # images (C, H, W): a CNN with BatchNorm
        c, h, w = shape
        model = nn.Sequential(nn.Conv2d(c, 3, 3, padding=1, padding_mode="circular"), nn.BatchNorm2d(3), nn.ReLU(),
                              nn.Flatten(), nn.Linear(3 * h * w, K))
    elif arch == "bn":
        model = nn.Sequential(nn.Flatten(), nn.Linear(d, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, K))
    elif arch == "convhead":
        model = ConvHead(nn.Sequential(nn.Flatten(), nn.Linear(d, width), nn.Tanh()), width)
    else:
        raise ValueError(arch)
    model = model.double()
    with torch.no_grad():  # non-trivial BatchNorm statistics and affine maps
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.normal_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.2)
                m.bias.normal_(0, 0.2)
    return model


ARCHS = ("mlp", "bn", "convhead")


def lifted_points(p: int, dim: int):
    """Permutations of p points (cyclic) and the swap of the first two coordinates, on (P, D) point sets."""
    idx = np.arange(p * dim).reshape(p, dim)
    gens = [np.roll(idx, 1, axis=0).ravel()]
    if dim >= 2:
        swap = idx.copy()
        swap[:, [0, 1]] = swap[:, [1, 0]]
        gens.append(swap.ravel())
    return acting_on(groups.from_generators(f"C{p}xS[{p}x{dim}]", gens), "points", (p, dim))


# (label, group, channels): every kind of event, square and non-square images, registered and declared groups.
def cases():
    return [
        ("R4 6x6", image_group("R4", 6), 1),
        ("D4 6x6", image_group("D4", 6), 2),
        ("F2 4x6", image_group("F2", (4, 6)), 1),
        ("T3 4x6", image_group("T3", (4, 6)), 2),
        ("T2 5x4", image_group("T2", (5, 4)), 1),
        ("C7 signal", acting_on(groups.cyclic_shift(7), "signal"), 2),
        ("D5 signal", acting_on(groups.dihedral(5), "signal"), 1),
        ("points 4x2", lifted_points(4, 2), 0),
        ("points 3x3", lifted_points(3, 3), 0),
        ("S3 vector", acting_on(groups.symmetric(3), "vector"), 0),
    ]


def input_shape(rep, channels: int) -> tuple[int, ...]:
    """One sample's shape: (C, *event) with C channels, or the bare event for channels = 0."""
    return ((channels,) if channels else ()) + rep.event.shape


def batch(shape, n=3, seed=0):
    return torch.randn(n, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
