"""Penultimate-layer representations and the geometry of orbits in them (paper Sec. 4.2, Figure 2).

Figure 2 of the paper traces the orientations of one sample through a t-SNE of the DA model's
penultimate layer. t-SNE distorts distances, so the numbers here are measured in the representation
space itself, on a pool of N samples and their full orbits, z (N, |G|, d) with z[i, g] the
representation of g x_i:

- orbit spread of sample i: the mean Euclidean distance between two different members of its orbit;
- for each orbit member, the distance to the nearest same-class member of another orbit and to the
  nearest member of another class;
- same-orbit NN: whether an orbit member's nearest neighbour (itself excluded) among all N |G|
  representations is a member of its own orbit (ties count as its own orbit);
- class agreement: whether its nearest neighbour among the other orbits has its class.

The representation is the input of the network's last linear map (the logits are W z + b), captured
by intercepting the ``torch.nn.functional.linear`` call that uses the last ``nn.Linear``'s bias (or
weight). A module forward hook would not do: the CNN applies its head with ``F.linear`` on a permuted
copy of the weight, never through ``nn.Linear.__call__``; the CNN's representation is then its
feature maps in (H, W, C) order, a fixed permutation of ``nn.Flatten``'s (C, H, W), which changes no
distance. Distances are exact Euclidean (no matrix-product shortcut), in float64. :func:`tsne` gives the
figure's 2-D embedding (scikit-learn, imported when called).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from empirical.measure.image_groups import orbit
from theory.groups import Representation

__all__ = ["penultimate", "orbit_representations", "orbit_distances", "orbit_spread", "nearest_neighbours",
           "latent_geometry", "tsne"]


class _LastLinearInput(TorchFunctionMode):
    """Records the input of every ``F.linear`` call whose bias (or weight) is the given layer's."""

    def __init__(self, layer: nn.Linear):
        super().__init__()
        self.layer, self.seen = layer, None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.linear:
            weight = args[1] if len(args) > 1 else kwargs.get("weight")
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            if (bias is not None and bias is self.layer.bias) or weight is self.layer.weight:
                self.seen = args[0] if args else kwargs["input"]
        return func(*args, **kwargs)


@torch.no_grad()
def penultimate(model: nn.Module, x: Tensor, chunk: int = 1024) -> Tensor:
    """The input of the model's last ``nn.Linear`` for each sample, (N, d) (Figure 2's penultimate layer)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer: no penultimate representation to take")
    last = linears[-1]
    out = []
    for s in range(0, len(x), chunk):
        with _LastLinearInput(last) as probe:
            model(x[s:s + chunk])
        if probe.seen is None:
            raise RuntimeError(f"the last nn.Linear of {type(model).__name__} was not applied in its forward pass")
        out.append(probe.seen.reshape(len(x[s:s + chunk]), -1))
    return torch.cat(out)


def orbit_representations(model: nn.Module, x: Tensor, rep: Representation, chunk: int = 1024) -> Tensor:
    """z[i, g] = penultimate(g x_i), (N, |G|, d) for samples x (N, ...)."""
    xs = orbit(rep, x)  # (|G|, N, ...)
    z = penultimate(model, xs.flatten(0, 1), chunk)
    return z.unflatten(0, (rep.order, len(x))).transpose(0, 1)


def _as_points(z) -> Tensor:
    z = torch.as_tensor(np.asarray(z) if not isinstance(z, Tensor) else z).detach().to("cpu", torch.float64)
    if z.dim() != 3:
        raise ValueError(f"orbit representations must be (N, |G|, d); got shape {tuple(z.shape)}")
    return z


def orbit_distances(z) -> Tensor:
    """Euclidean distance between every two orbit members, (N, |G|, N, |G|), float64 (z: (N, |G|, d))."""
    z = _as_points(z)
    n, k, _ = z.shape
    flat = z.reshape(n * k, -1)
    d = torch.cdist(flat, flat, compute_mode="donot_use_mm_for_euclid_dist")
    return d.reshape(n, k, n, k)


def _spread(d: Tensor) -> Tensor:
    n, k = d.shape[:2]
    if k < 2:
        return d.new_zeros(n)
    idx = torch.arange(n)
    block = d[idx, :, idx, :]  # (N, |G|, |G|)
    return block.sum((1, 2)) / (k * (k - 1))


def orbit_spread(z) -> Tensor:
    """Mean distance between two different members of each sample's orbit, (N,) (0 for an invariant model)."""
    return _spread(orbit_distances(z))


def _nearest(d: Tensor, labels: Tensor) -> dict[str, Tensor]:
    n, k = d.shape[:2]
    own = torch.eye(n, dtype=torch.bool)[:, None, :, None].expand(n, k, n, k)
    self_ = (torch.eye(n * k, dtype=torch.bool)).reshape(n, k, n, k)
    same_cls = (labels[:, None] == labels[None, :])[:, None, :, None].expand(n, k, n, k)
    inf = torch.tensor(float("inf"), dtype=d.dtype)
    flat = lambda t: t.reshape(n, k, n * k)  # noqa: E731
    other_orbit = flat(torch.where(own, inf, d))
    nn_same_class = flat(torch.where(own | ~same_cls, inf, d)).amin(-1)
    nn_other_class = flat(torch.where(same_cls, inf, d)).amin(-1)
    nn_own_orbit = flat(torch.where(~own | self_, inf, d)).amin(-1)
    nearest_other = other_orbit.argmin(-1)  # (N, |G|) flat index of the nearest other-orbit member
    agree = labels[nearest_other // k] == labels[:, None]
    nan = torch.tensor(float("nan"), dtype=d.dtype)
    missing = other_orbit.amin(-1).isinf()
    return {"nn_same_class": torch.where(nn_same_class.isinf(), nan, nn_same_class),
            "nn_other_class": torch.where(nn_other_class.isinf(), nan, nn_other_class),
            "same_orbit_nn": nn_own_orbit <= other_orbit.amin(-1),
            "class_agreement": torch.where(missing, nan, agree.to(d.dtype))}


def nearest_neighbours(z, labels) -> dict[str, Tensor]:
    """Per orbit member (N, |G|): distances to the nearest same-class sample of another orbit ('nn_same_class')
    and to the nearest other-class sample ('nn_other_class'; NaN where there is none), whether its nearest
    neighbour is in its own orbit ('same_orbit_nn', bool) and whether its nearest other-orbit neighbour has
    its class ('class_agreement', 1.0 / 0.0)."""
    d = orbit_distances(z)
    return _nearest(d, torch.as_tensor(np.asarray(labels)).long().reshape(-1))


def latent_geometry(z, labels) -> dict[str, float]:
    """Figure 2's numbers for one model: mean orbit spread, nearest same- / other-class distances, their
    ratios, the same-orbit-NN fraction and the class agreement, from z (N, |G|, d) and labels (N,)."""
    d = orbit_distances(z)
    labels = torch.as_tensor(np.asarray(labels)).long().reshape(-1)
    if len(labels) != d.shape[0]:
        raise ValueError(f"{d.shape[0]} orbits but {len(labels)} labels")
    nb = _nearest(d, labels)
    spread = _spread(d).mean().item()
    same, other = nb["nn_same_class"].nanmean().item(), nb["nn_other_class"].nanmean().item()

    def ratio(a: float, b: float) -> float:
        if math.isnan(b):
            return math.nan
        return a / b if b > 0 else (0.0 if a == 0 else math.inf)

    return {"spread": spread, "nn_same_class": same, "nn_other_class": other,
            "spread_over_same_class": ratio(spread, same), "spread_over_other_class": ratio(spread, other),
            "same_orbit_nn": nb["same_orbit_nn"].double().mean().item(),
            "class_agreement": nb["class_agreement"].nanmean().item()}


def tsne(points, seed: int = 0, perplexity: float = 30.0, threads: int = 1) -> np.ndarray:
    """A 2-D t-SNE embedding (M, 2) of points (M, d) (Figure 2), scikit-learn's, PCA init, ``seed`` its random_state.

    One OpenMP thread by default: the embedding then does not depend on the machine's thread count, and on a
    busy CPU it is several times faster than an oversubscribed parallel run (256 points: 3 s vs 13 s, measured).
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    points = np.asarray(points, dtype=np.float64)
    perplexity = min(perplexity, max((len(points) - 1) / 3.0, 1.0))  # scikit-learn requires perplexity < M
    with threadpool_limits(threads):
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)
