"""The evaluation's "orbit_acc" metric: computed only when asked, from the same orbit logits, leaving the default
evaluation's keys and numbers as they were."""

import torch

from empirical.engine.evaluation import ORBIT_CONSISTENCY, _orbit_metrics
from empirical.measure.image_groups import image_group


def test_orbit_consistency_is_added_only_when_asked_and_matches_a_loop():
    torch.manual_seed(0)
    rep = image_group("R4", 36)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36 * 36, 9)).eval()
    x = torch.randn(50, 1, 36, 36)
    x[:10] = x[:10] + torch.rot90(x[:10], 1, (-2, -1)) + torch.rot90(x[:10], 2, (-2, -1)) \
        + torch.rot90(x[:10], 3, (-2, -1))  # 10 invariant images: their orbits agree
    y = model(x).argmax(-1)
    y[20:] = (y[20:] + 1) % 9  # 30 misclassified
    plain = _orbit_metrics(model, x, y, rep, chunk=16)
    extra = _orbit_metrics(model, x, y, rep, chunk=16, consistency=True)
    assert list(plain) == ["acc", "LI", "DI", "NLI"]
    assert {k: extra[k] for k in plain} == plain and set(extra) - set(plain) == set(ORBIT_CONSISTENCY)
    with torch.no_grad():
        preds = torch.stack([model(torch.rot90(x, k, (-2, -1))).argmax(-1) for k in range(4)])
        logits = model(x)
    agree = (preds == preds[0]).all(0)
    assert extra["orbit_agree"] == agree.sum().item() / 50 and agree[:10].all()
    assert extra["orbit_acc"] == (preds == y).all(0).sum().item() / 50 <= extra["acc"]
    assert extra["orbit_acc"] <= 20 / 50
    assert abs(extra["logit_norm2"] - logits.pow(2).sum(-1).mean().item()) < 1e-4 * extra["logit_norm2"]
