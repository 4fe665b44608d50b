"""The convnet (issue 29): a textbook 3x3 CNN; with circular padding T3-invariant by construction, with zeros not."""

import pytest
import torch
from torch import nn

from empirical.engine.architectures import build, forward_macs
from empirical.engine.convnet import ConvNet
from empirical.engine.models import parameter_count
from empirical.measure.groups import image_group
from empirical.measure.invariance import logit_invariance


def textbook(net: ConvNet) -> nn.Sequential:
    """The same network written as nn.Sequential layers, sharing the convnet's parameters."""
    return nn.Sequential(nn.Unflatten(1, (1, 36, 36)), net.conv1, nn.ReLU(), nn.MaxPool2d(2), net.conv2, nn.ReLU(),
                         nn.MaxPool2d(2), net.conv3, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), net.fc)


@pytest.mark.parametrize("arch", ["convnet", "convnet_circular"])
def test_the_convnet_is_the_textbook_network(arch):
    net = build(arch, seed=3).double()
    x = torch.randn(5, 1296, dtype=torch.float64)
    torch.testing.assert_close(net(x), textbook(net)(x), rtol=1e-12, atol=1e-12)
    assert net.conv1.padding_mode == ("circular" if arch.endswith("circular") else "zeros")


def test_circular_padding_is_t3_invariant_by_construction_and_zero_padding_is_not():
    x = torch.randn(16, 1296, dtype=torch.float64)
    t3 = image_group("T3")
    for seed in range(3):
        circ, zero = build("convnet_circular", seed=seed).double(), build("convnet", seed=seed).double()
        scale = circ(x).pow(2).sum(-1).mean()
        assert logit_invariance(circ, x, t3).max() <= 1e-24 * scale  # round-off only
        assert logit_invariance(zero, x, t3).mean() > 1e-8 * zero(x).pow(2).sum(-1).mean()
    assert logit_invariance(build("convnet_circular", seed=0).double(), x, image_group("R4")).mean() > 1e-10


def test_its_cost_is_stated():
    net = build("convnet", seed=0)
    assert parameter_count(net) == 23_881 and forward_macs(net) == 3_173_184
    assert forward_macs(net) / forward_macs(build("mlp", seed=0)) == pytest.approx(14.7, abs=0.05)


def test_it_refuses_what_it_cannot_take():
    with pytest.raises(ValueError, match="multiple of 4"):
        ConvNet(in_features=30 * 30)
    with pytest.raises(ValueError, match="unknown padding"):
        ConvNet(padding="reflect")
