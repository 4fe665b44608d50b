"""What the metrics read from a model and leave behind (issue 25, defects 1, 3, 5): logits of any declared shape or
an output= adapter, never a reduction over the wrong axis; the audited model untouched; detached results."""

import re

import pytest
import torch
from torch import nn

from empirical.measure.attribution import integrated_gradients, saliency_invariance
from empirical.measure.image_groups import image_group
from empirical.measure.invariance import (distribution_invariance, logit_invariance, normalized_logit_invariance,
                                          orbit_logits)
from empirical.measure.sensitivity import input_jacobian, jacobian_sigma_max

R4 = image_group("R4", 6)
METRICS = (logit_invariance, distribution_invariance, normalized_logit_invariance)


def images(n=4, c=1, seed=0):
    return torch.randn(n, c, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def mlp(seed=0, classes=5):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Linear(16, classes)).double()


class Wrapped(nn.Module):
    """A model returning something other than a logits tensor: a tuple, a dict, or an object with .logits."""

    def __init__(self, model, how):
        super().__init__()
        self.model, self.how = model, how

    def forward(self, x):
        z = self.model(x)
        if self.how == "tuple":
            return z, x.flatten(1)
        if self.how == "dict":
            return {"logits": z, "features": x}
        if self.how == "object":
            return type("Out", (), {"logits": z})()
        return z[:, :, None, None] if self.how == "1x1" else z[:, :, None, None].expand(-1, -1, 2, 2)


def test_conv_head_logits_n_k_1_1_give_the_numbers_of_n_k():
    """Defect 1: (N, K, 1, 1) logits gave LI / K and DI = 0 (the softmax and the sums ran over a size-1 axis)."""
    model, x = mlp(1), images(seed=1)
    conv = Wrapped(model, "1x1")
    for metric in METRICS:
        want = metric(model, x, R4)
        assert want.min() > 1e-4
        torch.testing.assert_close(metric(conv, x, R4), want, rtol=1e-12, atol=0)
    t = torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(saliency_invariance(conv, x, R4, t, steps=4),
                               saliency_invariance(model, x, R4, t, steps=4), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(saliency_invariance(conv, x, R4, steps=4), saliency_invariance(model, x, R4, steps=4),
                               rtol=1e-12, atol=1e-12)  # target = argmax over the classes, not over a 1x1 map
    torch.testing.assert_close(jacobian_sigma_max(conv, x), jacobian_sigma_max(model, x), rtol=1e-12, atol=0)
    assert orbit_logits(conv, x, R4).shape == (4, 4, 5)


@pytest.mark.parametrize("how, hint", [("tuple", "output=lambda out: out[0]"),
                                       ("dict", "output=lambda out: out['logits']"),
                                       ("object", "output=lambda out: out.logits")])
def test_tuples_dicts_and_wrappers_are_refused_naming_the_output_adapter(how, hint):
    """Defect 1: they failed with "'tuple' object has no attribute 'reshape'"; now one line naming output=."""
    model, x = mlp(2), images(seed=2)
    wrapped = Wrapped(model, how)
    pick = {"tuple": lambda out: out[0], "dict": lambda out: out["logits"], "object": lambda out: out.logits}[how]
    calls = [lambda m=m, **kw: m(wrapped, x, R4, **kw) for m in METRICS]
    calls += [lambda **kw: saliency_invariance(wrapped, x, R4, 0, steps=2, **kw),
              lambda **kw: jacobian_sigma_max(wrapped, x, **kw)]
    for call in calls:
        with pytest.raises(TypeError, match=re.escape(hint)) as err:
            call()
        assert "\n" not in str(err.value)
    for metric in METRICS:
        torch.testing.assert_close(metric(wrapped, x, R4, output=pick), metric(model, x, R4), rtol=0, atol=0)
    torch.testing.assert_close(saliency_invariance(wrapped, x, R4, 0, steps=2, output=pick),
                               saliency_invariance(model, x, R4, 0, steps=2), rtol=0, atol=0)
    torch.testing.assert_close(jacobian_sigma_max(wrapped, x, output=pick), jacobian_sigma_max(model, x),
                               rtol=0, atol=0)


def test_logits_of_any_other_shape_are_refused_in_one_line():
    model, x = mlp(3), images(seed=3)
    spatial = Wrapped(model, "2x2")  # (N, K, 2, 2): a map, not logits
    single = lambda v: model(v)[:, 0]  # noqa: E731  (N,): no class axis
    for f in (spatial, single):
        for call in (lambda: logit_invariance(f, x, R4), lambda: distribution_invariance(f, x, R4),
                     lambda: saliency_invariance(f, x, R4, 0, steps=2), lambda: jacobian_sigma_max(f, x)):
            with pytest.raises(ValueError, match=r"logits must be \(N, K\) or \(N, K, 1, \.\.\., 1\); got shape") as e:
                call()
            assert "\n" not in str(e.value)
    pooled = logit_invariance(spatial, x, R4, output=lambda z: z.mean((2, 3)))
    torch.testing.assert_close(pooled, logit_invariance(model, x, R4), rtol=1e-12, atol=0)


class BatchNormCNN(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.conv = nn.Conv2d(1, 3, 3, padding=1, padding_mode="circular")
        self.bn = nn.BatchNorm2d(3)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(3 * 36, 5)

    def forward(self, x):
        return self.head(self.drop(torch.relu(self.bn(self.conv(x)))).flatten(1))


def test_every_metric_leaves_batchnorm_statistics_and_the_mode_bit_identical():
    """Defect 3: one LI call in train mode moved BatchNorm's running mean; sigma_max(J) failed inside torch.func."""
    model = BatchNormCNN().double().train()
    x = images(6, seed=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    runs = {"LI": lambda: logit_invariance(model, x, R4), "DI": lambda: distribution_invariance(model, x, R4),
            "NLI": lambda: normalized_logit_invariance(model, x, R4),
            "SI": lambda: saliency_invariance(model, x, R4, 0, steps=3),
            "IG": lambda: integrated_gradients(model, x, 0, steps=3),
            "J": lambda: jacobian_sigma_max(model, x), "Jmat": lambda: input_jacobian(model, x)}
    values = {}
    for name, run in runs.items():
        values[name] = run()
        after = model.state_dict()
        for k in before:
            assert torch.equal(before[k], after[k]), (name, k)
        assert model.training and model.bn.training and model.drop.training, name
    # evaluated in eval mode: the same numbers as the model put in eval mode by hand (dropout off, running stats)
    model.eval()
    torch.testing.assert_close(values["LI"], logit_invariance(model, x, R4), rtol=0, atol=0)
    torch.testing.assert_close(values["J"], jacobian_sigma_max(model, x), rtol=0, atol=0)
    assert not model.training


def test_a_bound_method_is_audited_like_its_module():
    model = BatchNormCNN().double().train()
    mean = model.bn.running_mean.clone()
    logit_invariance(model.forward, images(seed=5), R4)
    assert torch.equal(model.bn.running_mean, mean) and model.training


def test_results_carry_no_graph():
    """Defect 5: results kept the autograd graph to the parameters (memory grew with the batch)."""
    model, x = mlp(6), images(seed=6)
    assert all(p.requires_grad for p in model.parameters())
    results = [m(model, x, R4) for m in METRICS]
    results += [saliency_invariance(model, x, R4, 0, steps=2), jacobian_sigma_max(model, x),
                integrated_gradients(model, x, 0, steps=2)]
    for r in results:
        assert r.grad_fn is None and not r.requires_grad
    z = orbit_logits(model, x, R4)  # the building block keeps it: the loss is made of it
    assert z.requires_grad
