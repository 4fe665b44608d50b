"""The models of Sec. 4.1 and the one definition of group weight-tying (WT) that every architecture shares.

Every architecture is a :class:`Network` split into its first layer ``first`` (affine, flat inputs
(..., d) -> pre-activations (..., *u)) and ``rest`` (the nonlinearity after it, then the remaining
layers, -> logits (..., K)), so that f(x) = rest(first(x)). Built with a group G, the same network is
the weight-tied model of Sec. 4.1:

    f_WT(x) = rest(pool_{g in G} first(g x)),

the first layer applied to every g x and pooled over G before the nonlinearity. A permutation of the
orbit leaves the pool unchanged, so f_WT(g x) = f_WT(x) for every g. ``rest`` never sees which
element produced a pre-activation, hence the definition is the same for any first layer.

Architectures (registered by name in ``empirical.engine.architectures``):

* :class:`MLP` -- the 5-layer perceptron of Sec. 4.1 (1296-128-128-128-128-9); :class:`WeightTiedMLP`
  is the MLP with a group. Both keep their linear layers in ``self.layers``, so their state dicts have
  the keys ``layers.{i}.weight`` / ``layers.{i}.bias`` that the vectorized trainer writes.
* :class:`CNN` -- two strided convolutions and a linear head, no global pooling (which would make it
  translation-invariant by construction), 1.51x the MLP's forward multiply-adds.

All take images (N, 1, H, W), (N, H, W) or flattened inputs (..., d).

Parameter count. ``MLP()`` (1296-128-128-128-128-9, five linear layers with biases) has
216,713 parameters; the paper says "5-layer perceptron ... hidden dimension of 128,
resulting in total of 230k parameters". Five *hidden* layers (six linear layers,
``MLP(depth=6)``) give 233,225, which rounds to the paper's 230k; five linear layers give
217k. We follow the brief's reading (depth = 5 linear layers) and keep ``depth=6`` one
argument away; the paper's count suggests depth 6 may have been meant.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from empirical.measure.image_groups import group_operator, orbit
from theory.groups import Representation

__all__ = ["POOLS", "ACTIVATIONS", "Network", "MLP", "WeightTiedMLP", "CNN", "parameter_count"]

POOLS = ("max", "mean")
ACTIVATIONS = ("relu", "linear")


def parameter_count(module: nn.Module) -> int:
    """The number of trainable scalars of a model (216,713 for ``MLP()``; the paper reports 230k)."""
    return sum(p.numel() for p in module.parameters())


def _flatten(x: Tensor, in_features: int) -> Tensor:
    """(..., in_features) stays; (N, *image) with prod(image) = in_features becomes (N, in_features)."""
    if x.shape[-1] == in_features:
        return x
    if x.dim() >= 2 and math.prod(x.shape[1:]) == in_features:
        return x.reshape(x.shape[0], in_features)
    raise ValueError(f"the model takes inputs (..., {in_features}) or images (N, ...) with {in_features} pixels "
                     f"in all; got shape {tuple(x.shape)}")


def _seeded_uniform(layers: Iterable[nn.Module], seed: int) -> None:
    """PyTorch's default init of Linear / Conv2d, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias,
    drawn layer by layer, weight before bias, from one private generator (the global RNG is not used)."""
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for layer in layers:
            bound = 1.0 / math.sqrt(layer.weight[0].numel())  # fan_in = in_features, or C_in * kh * kw
            for p in (layer.weight, layer.bias):
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)} "
                         f"('linear' removes the nonlinearities: a linear network)")


class Network(nn.Module):
    """f(x) = rest(first(x)); with a group G, WT (Sec. 4.1): f(x) = rest(pool_{g in G} first(g x)).

    Subclasses define ``first`` ((..., d) -> (..., *u), affine), ``rest`` ((..., *u) -> (..., K), starting
    with the nonlinearity) and ``feature_dims`` = len(u). ``features`` / ``head`` split f the same way with
    the group in: features(x) is (..., |G|, *u) for WT, and head pools over that group dim.
    """

    feature_dims = 1  # dims of one sample's first-layer output: 1 for (hidden,), 3 for (H, W, C)

    def __init__(self, in_features: int, group: Representation | None = None, pool: str = "max"):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"unknown pool {pool!r}; choose one of {', '.join(POOLS)}")
        if group is not None and group.dim != in_features:
            raise ValueError(f"group {group.name} acts on R^{group.dim} but the model takes {in_features} inputs; "
                             f"build the group for the input size (e.g. image_group(name, size))")
        self.in_features = in_features
        self.group = group
        self.pool = pool
        # A permutation group's pixel indices follow the module's device (non-persistent: not in the state
        # dict); other representations are cast to x's dtype at each call, so float64 stays float64.
        op = group_operator(group) if group is not None and group.perms is not None else None
        self.register_buffer("operator", op, persistent=False)

    def first(self, x: Tensor) -> Tensor:
        """The first layer's pre-activations u = A x + b, (..., *u), of flat inputs x (..., d)."""
        raise NotImplementedError

    def rest(self, u: Tensor) -> Tensor:
        """The nonlinearity after the first layer, then the remaining layers: (..., *u) -> logits (..., K)."""
        raise NotImplementedError

    def orbit_features(self, xs: Tensor) -> Tensor:
        """The first layer on a given orbit xs (|G|, ..., d), xs[g] = g x: pre-activations (..., |G|, *u)."""
        return torch.movedim(self.first(xs), 0, -(self.feature_dims + 1))

    def features(self, x: Tensor) -> Tensor:
        """first(x), (..., *u); for WT the first layer on every g x, (..., |G|, *u). x is flat, (..., d)."""
        if self.group is None:
            return self.first(x)
        return self.orbit_features(orbit(self.group, x, self.operator))

    def pool_orbit(self, u: Tensor, dim: int) -> Tensor:
        """pool_{g in G} over the group dim ``dim`` of first-layer pre-activations (max, or mean)."""
        return u.amax(dim=dim) if self.pool == "max" else u.mean(dim=dim)

    def head(self, u: Tensor) -> Tensor:
        """Logits (..., K) from ``features``: for WT, pool over G before the nonlinearity, then ``rest``."""
        if self.group is not None:
            u = self.pool_orbit(u, -(self.feature_dims + 1))
        return self.rest(u)

    def affine_split(self) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
        """(affine, head) with f(x) = head(affine(x)) and affine(x) affine in x, (N, ...) -> (N, ...).

        Integrated gradients use it: a straight input path maps to a straight path of first-layer
        pre-activations, so the first layer runs on 2N rows instead of N * steps.
        """
        return (lambda x: self.features(_flatten(x, self.in_features))), self.head

    def forward(self, x: Tensor, *, given_orbit: bool = False) -> Tensor:
        """Logits f(x), (N, K), for images (N, 1, H, W) / (N, H, W) or flat inputs (..., d).

        ``given_orbit=True`` (WT only) takes the orbit itself, x (|G|, ..., d) with x[g] = g x: the trainer
        gathers it from a precomputed table instead of permuting pixels at every step.
        """
        if given_orbit:
            if self.group is None:
                raise ValueError("given_orbit=True is for the weight-tied model; build the network with a group")
            # pooled over the leading group dim itself: a reduction over contiguous slabs (moving G next to
            # the features made the CNN's max-pool backward several times slower than its convolutions)
            return self.rest(self.pool_orbit(self.first(x), 0))
        return self.head(self.features(_flatten(x, self.in_features)))


class MLP(Network):
    """The perceptron of Sec. 4.1: ``depth`` Linear layers, ReLU between, widths in -> hidden -> ... -> classes.

    ``activation="linear"`` drops the ReLUs (the deep linear network of the theory). With ``group`` it is
    the weight-tied MLP (see :class:`WeightTiedMLP`).

    ``seed`` makes the initialization reproducible (``nn.Linear``'s U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    for weights and biases, drawn layer by layer, weight before bias, from one generator).
    """

    def __init__(self, in_features: int = 1296, hidden: int = 128, depth: int = 5, classes: int = 9,
                 seed: int | None = None, activation: str = "relu", group: Representation | None = None,
                 pool: str = "max"):
        if depth < 1 or min(in_features, hidden, classes) < 1:
            raise ValueError(f"MLP needs depth >= 1 and positive widths; got depth={depth}, "
                             f"in_features={in_features}, hidden={hidden}, classes={classes}")
        _check_activation(activation)
        super().__init__(in_features, group, pool)
        self.activation = activation
        dims = [in_features] + [hidden] * (depth - 1) + [classes]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        if seed is not None:
            _seeded_uniform(self.layers, seed)
        # WT's first layer on a permutation orbit by permuted weight columns (see ``features``).
        inverse = torch.argsort(self.operator, dim=-1) if self.operator is not None else None
        self.register_buffer("inverse_operator", inverse, persistent=False)

    def first(self, x: Tensor) -> Tensor:
        """u = W_1 x + b_1, (..., hidden), of flat x (..., d)."""
        return self.layers[0](x)

    def rest(self, u: Tensor) -> Tensor:
        """ReLU, then the remaining Linear layers (ReLU between): (..., hidden) -> logits (..., classes)."""
        h = u
        for layer in self.layers[1:]:
            h = layer(torch.relu(h) if self.activation == "relu" else h)
        return h

    def features(self, x: Tensor) -> Tensor:
        """W_1 x + b_1, (..., hidden); for WT u_g = W_1 rho(g) x + b_1 for every g, (..., |G|, hidden)."""
        if self.inverse_operator is None:
            return super().features(x)
        # For a permutation, W_1 rho(g) x = W_1[:, perm_g^-1] x: permuting the weight's columns (|G| d hidden
        # numbers) is cheaper than gathering the input's orbit (|G| x the batch); then one matrix product
        # with |G| * hidden outputs. Same numbers as the definition (tests compare them in float64).
        first = self.layers[0]
        w = first.weight[:, self.inverse_operator]  # (hidden, |G|, d)
        u = F.linear(x, w.transpose(0, 1).flatten(0, 1))  # (..., |G| * hidden)
        return u.unflatten(-1, (self.group.order, -1)) + first.bias


class WeightTiedMLP(MLP):
    """The group-invariant model of Sec. 4.1: the MLP whose first layer sees every g x, pooled over G before the ReLU.

    h(x) = pool_{g in G} (W_1 rho(g) x + b_1), then ReLU and the remaining layers (:class:`Network`'s WT).
    Same state-dict keys as :class:`MLP` (the group's pixel indices are non-persistent buffers).

    Why max pooling by default: mean pooling collapses the first layer to
    mean_g W_1 rho(g) x + b_1 = W_1 P_G x + b_1 with P_G the Reynolds operator, so the network
    only ever sees the group-averaged image (for R4 the average of the four rotations, for T3
    of the three shifts): every x with the same P_G x gets the same logits, e.g. a digit and
    its rotation average. Max pooling is a nonlinear invariant that keeps more of x
    (``pool="mean"`` is one argument away; tests check both statements).
    """

    def __init__(self, group: Representation, pool: str = "max", in_features: int = 1296, hidden: int = 128,
                 depth: int = 5, classes: int = 9, seed: int | None = None, activation: str = "relu"):
        if pool not in POOLS:
            raise ValueError(f"unknown pool {pool!r}; choose one of {', '.join(POOLS)}")
        super().__init__(in_features, hidden, depth, classes, seed, activation, group=group, pool=pool)


class CNN(Network):
    """conv(1->c1, p x p, stride p) -> ReLU -> conv(c1->c2, 2x2, stride 2) -> ReLU -> flatten -> Linear -> classes.

    Defaults on 36 x 36 images (p = 9, c1 = 96, c2 = 128): 4 x 4 x 96 then 2 x 2 x 128 feature maps and a
    Linear(512 -> 9) head; 61,769 parameters and 325,632 forward multiply-adds per sample (124,416 +
    196,608 + 4,608; 1.51x the MLP's 216,192, ``empirical.engine.architectures.forward_macs``). No global
    pooling: the head sees where a feature is, so invariance to R4 or T3 is not built in.

    Why patch convolutions (kernel = stride): the patches tile the image, so im2col is a reshape and each
    convolution is one matrix product over channels-last rows, batched over runs under ``torch.func.vmap``
    (a training step is ~2x faster on one CPU thread than with ``nn.Conv2d``, measured); 9 x 9 patches
    give the first product 81-long rows (6 x 6 patches, 36-long rows, gave 13 % fewer FLOP/s). The
    first layer's maps are stored blocked, (..., H2, W2, 2, 2, c1) with conv1 position (2 i + a, 2 j + b)
    at [i, j, a, b], so conv2's 2 x 2 patches are contiguous and need no copy. The parameters keep
    ``nn.Conv2d`` / ``nn.Linear`` layouts and the head reads (C, H, W) as ``nn.Flatten`` does, so the
    state dict loads into the textbook ``nn.Sequential`` (tests compare them).
    """

    feature_dims = 5

    def __init__(self, in_features: int = 1296, classes: int = 9, channels: tuple[int, int] = (96, 128),
                 patch: int = 9, seed: int | None = None, activation: str = "relu",
                 group: Representation | None = None, pool: str = "max"):
        side = math.isqrt(in_features)
        if side * side != in_features or patch < 1 or side % (2 * patch):
            raise ValueError(f"the CNN takes square images whose side is a multiple of 2 * patch = {2 * patch}; "
                             f"got {in_features} pixels (use the mlp, or another patch size)")
        if min(channels) < 1 or classes < 1:
            raise ValueError(f"the CNN needs positive channels and classes; got {channels}, {classes}")
        _check_activation(activation)
        super().__init__(in_features, group, pool)
        self.activation, self.patch, self.grid = activation, patch, side // (2 * patch)  # grid: H2 = W2
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, patch, stride=patch)
        self.conv2 = nn.Conv2d(c1, c2, 2, stride=2)
        self.fc = nn.Linear(c2 * self.grid ** 2, classes)
        if seed is not None:
            _seeded_uniform([self.conv1, self.conv2, self.fc], seed)

    def _act(self, h: Tensor) -> Tensor:
        return torch.relu(h) if self.activation == "relu" else h

    def first(self, x: Tensor) -> Tensor:
        """conv1 of flat images x (..., side^2): pre-activations (..., H2, W2, 2, 2, c1), blocked channels-last."""
        p, m = self.patch, self.grid
        # pixel row (2 i + a) p + k, column (2 j + b) p + l  ->  [i, j, a, b, k * p + l]
        lead = x.shape[:-1]
        blocks = x.reshape(*lead, m, 2, p, m, 2, p).movedim((-6, -3, -5, -2, -4, -1), (-6, -5, -4, -3, -2, -1))
        return F.linear(blocks.reshape(*lead, m, m, 2, 2, p * p), self.conv1.weight.flatten(1), self.conv1.bias)

    def rest(self, u: Tensor) -> Tensor:
        """ReLU, conv2 (2x2, stride 2), ReLU, Linear on (C, H, W)-flat maps: (..., H2, W2, 2, 2, c1) -> (..., K)."""
        m = self.grid
        patches = self._act(u).flatten(-3)  # (..., H2, W2, 4 c1): each row one 2 x 2 patch, (a, b, channel)-major
        h = self._act(F.linear(patches, self.conv2.weight.permute(0, 2, 3, 1).flatten(1), self.conv2.bias))
        # The head's weight is read in (C, H, W) order as nn.Flatten lays it out; permuting the small weight
        # (K x 512) instead of the maps keeps the activations' gradient contiguous (a transposed one made
        # ReLU's backward the slowest op of a step, measured).
        w = self.fc.weight.unflatten(1, (-1, m, m)).permute(0, 2, 3, 1).flatten(1)
        return F.linear(h.flatten(-3), w, self.fc.bias)
