"""A model's saliency maps and predictions over the orbit of a sample (paper Figures 1 and 3, Eq. 3).

For samples x (N, ...) and every group element g: the saliency map m_f(g x) of the transformed
sample (Sec. 4.1's m_f, target the label of x for every g), the same map realigned to x's
orientation, g^{-1} m_f(g x), and the predicted class distribution softmax f(g x). For a genuinely
invariant decision process the realigned maps of one sample agree (SI_f = 1, Eq. 3) and the
distributions are identical. Element 0 of every group is the identity.
"""

from __future__ import annotations

import torch
from torch import Tensor

from empirical.measure.attribution import saliency_cosine, saliency_map
from empirical.measure.image_groups import inverse_act, orbit
from theory.groups import Representation

__all__ = ["orbit_maps", "realign", "realigned_maps", "orbit_probabilities", "sample_si"]


def orbit_maps(model, x: Tensor, y: Tensor, rep: Representation, baseline: float, steps: int) -> Tensor:
    """m_f(g x) for every sample and g, (N, |G|, H, W) (Figure 1's top row), target y (N,) for every g."""
    n, k = len(x), rep.order
    xs = orbit(rep, x).flatten(0, 1)
    m = saliency_map(model, xs, y.repeat(k), baseline=baseline, steps=steps)
    return m.unflatten(0, (k, n)).transpose(0, 1)


def realign(rep: Representation, maps: Tensor) -> Tensor:
    """g^{-1} m_g for maps (N, |G|, H, W) whose column g belongs to g x: all in x's orientation, same shape."""
    k = rep.order
    return inverse_act(rep, maps.transpose(0, 1), torch.arange(k, device=maps.device)[:, None]).transpose(0, 1)


def realigned_maps(model, x: Tensor, y: Tensor, rep: Representation, baseline: float, steps: int) -> Tensor:
    """g^{-1} m_f(g x) for every g and sample, (N, |G|, H, W) (Eq. 3's aligned maps; Figure 1's bottom row)."""
    return realign(rep, orbit_maps(model, x, y, rep, baseline, steps))


@torch.no_grad()
def orbit_probabilities(model, x: Tensor, rep: Representation) -> Tensor:
    """softmax f(g x) for every sample and g, (N, |G|, K) (Figure 1's class distributions)."""
    k, n = rep.order, len(x)
    logits = model(orbit(rep, x).flatten(0, 1))
    return torch.softmax(logits, -1).unflatten(0, (k, n)).transpose(0, 1)


def sample_si(realigned: Tensor) -> Tensor:
    """SI_f per sample (N,) from realigned maps (N, |G|, H, W): cosine of m_f(x) with each g != e, averaged (Eq. 3)."""
    if realigned.shape[1] < 2:
        return torch.ones(realigned.shape[0], dtype=realigned.dtype, device=realigned.device)
    return saliency_cosine(realigned[:, :1], realigned[:, 1:]).mean(1)
