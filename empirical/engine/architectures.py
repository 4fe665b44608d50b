"""THE architecture registry: name -> module factory (an immutable mapping; "mlp" is the paper's and the default).

Every registered module is an ``empirical.engine.models.Network``: a first layer ``first`` and the rest
``rest``, so that weight-tying (WT, Sec. 4.1) is the same construction for all of them,
f(x) = rest(pool_{g in G} first(g x)), and every orbit metric (LI, DI, SI, sigma_max(J)) applies.
Every architecture trains through the generic stacked engine (``empirical.engine.functional``); the MLP
also has the hand-tuned stacked path (``empirical.engine.stacked``), which ``fast`` marks.

Adding an architecture = its ``Network`` subclass + one entry below; ``tests/empirical/
engine/test_architectures.py`` then checks its WT invariance on every registered group, the orbit metrics,
its training and its cost against the MLP's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from empirical.engine.convnet import ConvNet
from empirical.engine.models import CNN, MLP, Network, WeightTiedMLP
from theory.groups import Representation

__all__ = ["Architecture", "ARCHITECTURES", "DEFAULT_ARCH", "architecture", "build", "forward_macs"]


@dataclass(frozen=True)
class Architecture:
    """One registry entry: how to build the network, which ``RunConfig`` fields size it, whether it has a fast path."""

    name: str
    factory: Callable[..., Network]  # factory(in_features=, classes=, seed=, activation=, group=, pool=, **options)
    summary: str
    options: tuple[str, ...] = ()  # RunConfig fields passed to the factory (the mlp's hidden and depth)
    fast: bool = False  # empirical.engine.stacked has a hand-tuned stacked path for it (theory inits included)
    invariant_to: tuple[str, ...] = ()  # registered groups it is invariant to by construction, untied (tested)


def _mlp(*, group: Representation | None = None, pool: str = "max", **kw) -> MLP:
    """MLP, or WeightTiedMLP with a group (the classes the paper's experiments name)."""
    return MLP(pool=pool, **kw) if group is None else WeightTiedMLP(group, pool=pool, **kw)


ARCHITECTURES: Mapping[str, Architecture] = MappingProxyType({
    "mlp": Architecture("mlp", _mlp, "the paper's 5-layer perceptron, 1296-128-128-128-128-9 (Sec. 4.1)",
                        options=("hidden", "depth"), fast=True),
    "cnn": Architecture("cnn", CNN, "conv 9x9/9 (96) -> conv 2x2/2 (128) -> Linear(512); no global pooling"),
    "convnet": Architecture("convnet", functools.partial(ConvNet, padding="zeros"),
                            "3x3 convs (16, 32, 64), zero padding, 2x2 max-pools, global average pool, Linear(64)"),
    "convnet_circular": Architecture("convnet_circular", functools.partial(ConvNet, padding="circular"),
                                     "the convnet with circular padding: T3-invariant by construction on 36x36",
                                     invariant_to=("T3",)),
})
DEFAULT_ARCH = "mlp"


def architecture(name: str) -> Architecture:
    """The registry entry called ``name``; ValueError naming the registered ones otherwise."""
    try:
        return ARCHITECTURES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)} "
                         f"(empirical.engine.architectures.ARCHITECTURES)") from None


def build(name: str, *, group: Representation | None = None, pool: str = "max", seed: int | None = None,
          in_features: int = 1296, classes: int = 9, activation: str = "relu", **options) -> Network:
    """The network ``name`` on inputs (..., in_features); with ``group`` its WT version (Sec. 4.1).

    ``seed`` draws the module's default initialization from a private generator (the init of a run then
    depends on its seed alone); ``options`` are the architecture's own sizes (``hidden``, ``depth`` for mlp).
    """
    entry = architecture(name)
    unknown = set(options) - set(entry.options)
    if unknown:
        raise ValueError(f"architecture {name!r} takes no option {', '.join(sorted(unknown))}; "
                         f"its options are {', '.join(entry.options) or 'none'}")
    return entry.factory(in_features=in_features, classes=classes, seed=seed, activation=activation, group=group,
                         pool=pool, **options)


def forward_macs(net: nn.Module, in_features: int | None = None, *, first: bool = False) -> int:
    """Multiply-adds of one forward pass per input sample, counted by torch's FLOP counter (matmuls, convolutions).

    A WT network counts its first layer |G| times; ``first=True`` counts the first layer alone (on one
    sample, untransformed). One zero sample runs through ``net``.
    """
    d = in_features if in_features is not None else net.in_features
    p = next(net.parameters())
    x = torch.zeros(1, d, dtype=p.dtype, device=p.device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net.first(x) if first else net(x)
    return counter.get_total_flops() // 2
