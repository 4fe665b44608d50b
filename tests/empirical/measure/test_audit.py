"""The audit's core: one batch's per-sample metrics are the metrics themselves, distributions are numpy's, and the
verdict rule fires clause by clause in the order WT < IR < between < DA."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from empirical.measure import audit as au
from empirical.measure.attribution import saliency_invariance
from empirical.measure.groups import image_group
from empirical.measure.image_groups import act
from empirical.measure.invariance import distribution_invariance, logit_invariance
from empirical.measure.layers import layer_invariance
from empirical.measure.lie import lie_derivative, rotate
from empirical.measure.sensitivity import jacobian_sigma_max

R4 = image_group("R4", 8)
REFS = {"WT": {"LI": 1e-10, "DI": 1e-11, "SI": 1.0}, "IR": {"LI": 0.01, "DI": 4e-4, "SI": 0.965},
        "DA": {"LI": 99.0, "DI": 0.32, "SI": 0.40}}


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4)).double()


def test_batch_metrics_are_the_metrics_of_the_moved_batch():
    f = model()
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    g = torch.tensor([0, 1, 2, 3, 1, 2])
    spec = au.AuditSpec(steps=5, layers=True, lie=("rotation",))
    out = au.batch_metrics(f, x, y, {"R4": R4}, spec, baseline=-0.5, moved={"R4": g})
    xg = act(R4, x, g)
    torch.testing.assert_close(out["R4/LI"], logit_invariance(f, xg, R4))
    torch.testing.assert_close(out["R4/DI"], distribution_invariance(f, xg, R4))
    torch.testing.assert_close(out["R4/SI"], saliency_invariance(f, xg, R4, y, -0.5, steps=5), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(out["sigma_max_J"], jacobian_sigma_max(f, x))
    torch.testing.assert_close(out["lie_rotation"], lie_derivative(f, x, rotate))
    torch.testing.assert_close(out["R4/layer/1"], layer_invariance(f, xg, R4)["1"])
    orbit_pred = torch.stack([f(act(R4, xg, k)).argmax(-1) for k in range(4)])
    assert torch.equal(out["R4/orbit_agree"].bool(), (orbit_pred == orbit_pred[0]).all(0))
    assert torch.equal(out["R4/orbit_acc"].bool(), (orbit_pred == y).all(0))
    assert torch.equal(out["acc"].bool(), f(x).argmax(-1) == y)
    assert all(v.shape == (6,) and v.device.type == "cpu" for v in out.values())


def test_distribution_matches_numpy_and_counts_nan_apart():
    v = torch.tensor([3.0, 1.0, float("nan"), 2.0, 0.0, 10.0, float("inf")], dtype=torch.float64)
    d = au.distribution(v, bins=4, log=True)
    finite = np.array([3.0, 1.0, 2.0, 0.0, 10.0])
    assert d["n"] == 7 and d["nan"] == 2
    assert d["median"] == np.median(finite) and d["mean"] == pytest.approx(finite.mean())
    assert d["iqr"] == pytest.approx(np.percentile(finite, 75) - np.percentile(finite, 25))
    assert d["hist"]["nonpositive"] == 1 and sum(d["hist"]["counts"]) == 4  # the 0 is counted apart on a log axis
    assert d["hist"]["edges"][0] == pytest.approx(1.0) and d["hist"]["edges"][-1] == pytest.approx(10.0)
    lin = au.distribution(v, bins=5)
    assert sum(lin["hist"]["counts"]) == 5 and lin["hist"]["edges"][0] == 0.0
    assert math.isnan(au.distribution(torch.tensor([float("nan")]))["median"])


def test_per_class_groups_by_label():
    pc = au.per_class(torch.tensor([1.0, 2.0, 3.0, float("nan")]), torch.tensor([0, 1, 1, 1]))
    assert pc == {0: {"n": 1, "mean": 1.0, "median": 1.0}, 1: {"n": 2, "mean": 2.5, "median": 2.0}}


@pytest.mark.parametrize("means,label", [
    ({"LI": 1e-10, "DI": 1e-11, "NLI": 1e-13, "SI": 1.0}, au.VERDICTS[0]),
    ({"LI": 0.02, "DI": 5e-4, "NLI": 2e-4, "SI": 0.96}, au.VERDICTS[1]),
    ({"LI": 2.0, "DI": 0.02, "NLI": 0.01, "SI": 0.80}, au.VERDICTS[2]),
    ({"LI": 90.0, "DI": 0.30, "NLI": 0.12, "SI": 0.41}, au.VERDICTS[3]),
    ({"LI": 0.02, "DI": 0.2, "NLI": 2e-4, "SI": 0.96}, au.VERDICTS[2]),  # high SI, DA-like DI: not IR-like
])
def test_verdict_rule_clause_by_clause(means, label):
    v = au.verdict(means, REFS)
    assert v["label"] == label and v["rank"] == au.VERDICTS.index(label)


def test_positions_are_zero_at_ir_and_one_at_da_and_without_references_only_exactness_is_decided():
    at_ir = au.positions({**REFS["IR"], "NLI": 1.0}, REFS)
    at_da = au.positions({**REFS["DA"], "NLI": 1.0}, REFS)
    assert all(abs(p) < 1e-12 for p in at_ir.values()) and all(abs(p - 1) < 1e-12 for p in at_da.values())
    assert au.verdict({"LI": 0.0, "DI": 0.0, "NLI": 0.0, "SI": 1.0}, None)["label"] == au.VERDICTS[0]
    none = au.verdict({"LI": 1.0, "DI": 0.1, "NLI": 0.1, "SI": 0.5}, None)
    assert none["label"] == au.VERDICTS[4] and none["rank"] is None
    assert "first match" in au.VERDICT_RULE and f"{au.SI_TARGET}" in au.VERDICT_RULE


def test_spec_refuses_unknown_settings():
    with pytest.raises(ValueError, match="rotation, translation"):
        au.AuditSpec(lie=("scaling",))
    with pytest.raises(ValueError, match="reference, fast"):
        au.AuditSpec(ig_method="exact")
