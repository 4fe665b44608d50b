"""A CNN as researchers train one: 3x3 convolutions with padding, ReLU, 2x2 max-pooling, global average pooling.

conv3x3(1 -> c1) -> ReLU -> maxpool 2 -> conv3x3(c1 -> c2) -> ReLU -> maxpool 2 -> conv3x3(c2 -> c3) -> ReLU
-> mean over H x W -> Linear(c3 -> classes). With ``padding="circular"`` every convolution commutes with cyclic
shifts and each 2x2 pool with cyclic shifts by 2 pixels, so the two pools commute with shifts by multiples of 4
and the global mean is blind to them: on 36 x 36 images the network is invariant to T3's 12-pixel cyclic
x-shifts by construction, without DA, WT or IR. Zero padding breaks that at the borders.

Defaults (c1, c2, c3) = (16, 32, 64) on 36 x 36 images: 23,881 parameters and 3,173,184 forward multiply-adds
per sample (14.7x the MLP's 216,192, 9.7x the patch cnn's 325,632; ``empirical.engine.architectures.forward_macs``,
tested).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from empirical.engine.models import Network, _check_activation, _seeded_uniform
from theory.groups import Representation

__all__ = ["PADDINGS", "ConvNet"]

PADDINGS = ("zeros", "circular")


class ConvNet(Network):
    """Three padded 3x3 convolutions, two 2x2 max-pools, global average pooling, a linear head (module doc)."""

    feature_dims = 3  # the first layer's maps (c1, H, W)

    def __init__(self, in_features: int = 1296, classes: int = 9, channels: tuple[int, int, int] = (16, 32, 64),
                 padding: str = "zeros", seed: int | None = None, activation: str = "relu",
                 group: Representation | None = None, pool: str = "max"):
        side = math.isqrt(in_features)
        if side * side != in_features or side % 4:
            raise ValueError(f"the convnet takes square images whose side is a multiple of 4 (two 2x2 pools); "
                             f"got {in_features} pixels")
        if padding not in PADDINGS:
            raise ValueError(f"unknown padding {padding!r}; choose one of {', '.join(PADDINGS)}")
        if min(channels) < 1 or classes < 1:
            raise ValueError(f"the convnet needs positive channels and classes; got {channels}, {classes}")
        _check_activation(activation)
        super().__init__(in_features, group, pool)
        self.side, self.padding, self.activation = side, padding, activation
        c1, c2, c3 = channels
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1, padding_mode=padding)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, padding_mode=padding)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1, padding_mode=padding)
        self.fc = nn.Linear(c3, classes)
        if seed is not None:
            _seeded_uniform([self.conv1, self.conv2, self.conv3, self.fc], seed)

    def _act(self, h: Tensor) -> Tensor:
        return torch.relu(h) if self.activation == "relu" else h

    def first(self, x: Tensor) -> Tensor:
        """conv1 of flat images x (..., side^2): pre-activations (..., c1, side, side)."""
        lead = x.shape[:-1]
        h = self.conv1(x.reshape(-1, 1, self.side, self.side))
        return h.reshape(*lead, *h.shape[1:])

    def rest(self, u: Tensor) -> Tensor:
        """ReLU, pool, conv2, ReLU, pool, conv3, ReLU, global mean, Linear: (..., c1, H, W) -> (..., K)."""
        lead = u.shape[:-3]
        h = F.max_pool2d(self._act(u.reshape(-1, *u.shape[-3:])), 2)
        h = F.max_pool2d(self._act(self.conv2(h)), 2)
        h = self._act(self.conv3(h)).mean(dim=(-2, -1))
        return self.fc(h).reshape(*lead, -1)
