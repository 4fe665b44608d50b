"""The invariance regularizer as a loss (issue 25, defect 7): the metric's formula, value and gradient."""

import pytest
import torch
from torch import nn

from empirical import invariance_loss
from empirical.measure.image_groups import image_group
from empirical.measure.invariance import INVARIANCE_FORMS, invariance, invariance_from_logits, orbit_logits

T3 = image_group("T3", 6)


def mlp(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Linear(16, 5)).double()


@pytest.mark.parametrize("form", INVARIANCE_FORMS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_the_loss_is_the_metric_in_value_and_its_gradient_is_the_formulas(form, reduction):
    model = mlp(1)
    x = torch.randn(7, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    loss = invariance_loss(model, x, T3, form, reduction=reduction)
    assert loss.dim() == 0 and loss.requires_grad
    assert torch.equal(loss.detach(), invariance(model, x, T3, form, reduction).mean())  # bit for bit
    grads = torch.autograd.grad(loss, list(model.parameters()))
    by_hand = invariance_from_logits(orbit_logits(model, x, T3), form, reduction).mean()
    for g, h in zip(grads, torch.autograd.grad(by_hand, list(model.parameters()))):
        assert torch.equal(g, h)
    assert max(g.abs().max() for g in grads) > 0


def test_the_loss_trains_a_model_towards_invariance_and_runs_it_as_it_is():
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 5)).double()
    x = torch.randn(16, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    start = invariance(model, x, T3, "LI").mean()
    mean = model[2].running_mean.clone()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):
        loss = invariance_loss(model, x, T3, "LI")
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert not torch.equal(model[2].running_mean, mean)  # a training forward: BatchNorm saw the orbit batch
    assert invariance(model, x, T3, "LI").mean() < 0.1 * start
