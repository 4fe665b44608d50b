"""Figure 1: saliency maps and predictions over one sample's orbit (empirical.measure.orbit_maps) and the command."""

import json

import pytest
import torch

from empirical import figure1
from empirical.engine.architectures import build
from empirical.measure.attribution import saliency_map
from empirical.measure.groups import image_group
from empirical.measure.image_groups import act, inverse_act, orbit
from empirical.measure.orbit_maps import orbit_maps, orbit_probabilities, realign, realigned_maps, sample_si
from tests.fixtures import needs_full_data

R4 = image_group("R4")


def images(n, seed=0):
    return torch.randn(n, 1, 36, 36, generator=torch.Generator().manual_seed(seed))


def test_realign_undoes_the_orientation_of_each_column():
    rep = image_group("R4", 6)
    m0 = torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(0))
    maps = torch.stack([act(rep, m0, g) for g in range(4)], 1)  # column g: the map of x turned by g
    assert not torch.equal(maps[:, 1], maps[:, 0])
    aligned = realign(rep, maps)
    for g in range(4):
        assert torch.equal(aligned[:, g], m0)
    assert torch.allclose(sample_si(aligned), torch.ones(2))


def test_realigned_maps_is_the_definition_figure_3_used():
    # the function moved from empirical.saliency: g^{-1} m_f(g x) computed the way it was written there
    net, x, y = build("mlp", seed=0).eval(), images(2), torch.tensor([1, 4])
    k, n = R4.order, 2
    m = saliency_map(net, orbit(R4, x).flatten(0, 1), y.repeat(k), baseline=-0.4, steps=4).unflatten(0, (k, n))
    before = inverse_act(R4, m, torch.arange(k)[:, None]).transpose(0, 1)
    assert torch.equal(realigned_maps(net, x, y, R4, -0.4, 4), before)
    assert torch.equal(orbit_maps(net, x, y, R4, -0.4, 4), m.transpose(0, 1))


def test_weight_tying_has_identical_predictions_and_aligned_maps_over_the_orbit():
    x, y = images(2, seed=1), torch.tensor([0, 3])
    wt = build("mlp", group=R4, seed=0).eval()
    p = orbit_probabilities(wt, x, R4)
    assert p.shape == (2, 4, 9) and torch.allclose(p.sum(-1), torch.ones(2, 4))
    torch.testing.assert_close(p, p[:, :1].expand_as(p), atol=1e-6, rtol=0)
    assert (sample_si(realigned_maps(wt, x, y, R4, 0.0, 8)) > 0.999).all()
    mlp = build("mlp", seed=0).eval()  # no weight-tying: neither holds
    q = orbit_probabilities(mlp, x, R4)
    assert (q - q[:, :1]).abs().max() > 1e-3
    assert (sample_si(realigned_maps(mlp, x, y, R4, 0.0, 8)) < 0.99).all()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    # one run cache for this file and test_latent.py: the second to run trains nothing (the store locks it)
    return tmp_path_factory.getbasetemp() / "orbit-figures-cache"


@needs_full_data()
def test_figure1_command_quick(tmp_path, cache):
    out = tmp_path / "out"
    argv = ["--quick", "--epochs", "2", "--seeds", "1", "--sample", "5", "--out", str(out), "--cache-dir", str(cache),
            "--quiet"]
    assert figure1.main(argv) == 0
    doc = json.loads((out / "fig1_saliency_orbit.json").read_text())
    (fig,) = doc["figures"]
    assert fig["group"] == "R4" and fig["sample"] == 5 and 0 <= fig["label"] < 9 and doc["scale_tag"] == "quick-e2-s1"
    assert doc["provenance"]["engine"] and set(fig["models"]) == {"DA", "WT"}
    for m in fig["models"].values():
        p = torch.tensor(m["probs"])
        assert p.shape == (4, 9) and torch.allclose(p.sum(1), torch.ones(4), atol=1e-5)
        assert m["predicted"] == p.argmax(1).tolist() and 0 <= m["SI"] <= 1 + 1e-6
    wt = torch.tensor(fig["models"]["WT"]["probs"])
    assert fig["models"]["WT"]["SI"] > 0.999 and (wt - wt[:1]).abs().max() < 1e-5
    assert (out / "fig1_saliency_orbit.png").stat().st_size > 0
    assert figure1.main([*argv[:-1], "--sample", "10000000", "--quiet"]) == 1  # no such test sample: one-line error
