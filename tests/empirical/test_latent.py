"""Figure 2: penultimate representations, the orbit geometry in them, the claim's criterion, and the command."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from empirical import latent, report
from empirical.paper import paper_claims
from empirical.engine.architectures import build
from empirical.measure.groups import image_group
from empirical.paper.latent_claims import latent_finding, latent_verdict
from empirical.measure.representations import (latent_geometry, nearest_neighbours, orbit_representations, orbit_spread,
                                       penultimate, tsne)
from tests.fixtures import needs_full_data


def hand_built():
    """Three 2-element orbits on a line: A = {0, 10}, B = {1, 11} (class 0), C = {100, 130} (class 1)."""
    z = torch.tensor([[[0.0], [10.0]], [[1.0], [11.0]], [[100.0], [130.0]]])
    return z, [0, 0, 1]


def test_hand_built_orbits_give_the_distances_worked_out_by_hand():
    z, labels = hand_built()
    assert orbit_spread(z).tolist() == [10.0, 10.0, 30.0]
    nb = nearest_neighbours(z, labels)
    assert nb["nn_same_class"][:2].tolist() == [[1.0, 1.0], [1.0, 1.0]] and nb["nn_same_class"][2].isnan().all()
    assert nb["nn_other_class"].tolist() == [[100.0, 90.0], [99.0, 89.0], [89.0, 119.0]]
    # A and B: the other sample's member is nearer than the own orbit's; C's members are each other's nearest
    assert nb["same_orbit_nn"].tolist() == [[False, False], [False, False], [True, True]]
    assert nb["class_agreement"].tolist() == [[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]
    g = latent_geometry(z, labels)
    assert g["spread"] == pytest.approx(50 / 3) and g["nn_same_class"] == 1.0
    assert g["nn_other_class"] == pytest.approx(586 / 6)
    assert g["spread_over_same_class"] == pytest.approx(50 / 3)
    assert g["spread_over_other_class"] == pytest.approx((50 / 3) / (586 / 6))
    assert g["same_orbit_nn"] == pytest.approx(2 / 6) and g["class_agreement"] == pytest.approx(4 / 6)


def test_an_exactly_invariant_representation_has_zero_spread_and_its_orbit_as_neighbours():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(20, 1, 7, generator=gen).expand(20, 4, 7)  # every orientation maps to the same point
    labels = torch.randint(0, 3, (20,), generator=gen)
    g = latent_geometry(z, labels)
    assert g["spread"] == 0.0 and g["spread_over_same_class"] == 0.0 and g["same_orbit_nn"] == 1.0
    assert g["nn_same_class"] > 0


def test_penultimate_is_the_input_of_the_last_linear_layer():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(5, 1, 6, 6, generator=gen)
    identity_head = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))  # the penultimate layer is the input itself
    assert torch.equal(penultimate(identity_head, x), x.flatten(1))
    for group in (None, image_group("R4")):
        net = build("mlp", group=group, seed=0).eval()
        xs = torch.randn(6, 1296, generator=gen)
        z = penultimate(net, xs, chunk=4)  # two chunks
        last = net.layers[-1]
        assert z.shape == (6, 128)
        torch.testing.assert_close(z @ last.weight.T + last.bias, net(xs).detach())
    with pytest.raises(ValueError, match="no nn.Linear"):
        penultimate(nn.Flatten(), x)


def test_penultimate_of_the_cnn_is_its_flattened_feature_maps():
    # the CNN applies its head with F.linear on a permuted weight, never through nn.Linear.__call__
    net = build("cnn", seed=0).eval()
    x = torch.randn(3, 1, 36, 36, generator=torch.Generator().manual_seed(5))
    z = penultimate(net, x)
    h = torch.relu(net.conv2(torch.relu(net.conv1(x)))).flatten(1)  # the textbook layers, (C, H, W) order
    assert z.shape == h.shape == (3, 512)
    torch.testing.assert_close(z.sort(1).values, h.sort(1).values)  # the same features in another order
    torch.testing.assert_close(z.norm(dim=1), h.norm(dim=1))


def test_identity_representation_measures_distances_between_rotated_inputs():
    rep = image_group("R4", 4)
    x = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    z = orbit_representations(nn.Sequential(nn.Flatten(), nn.Linear(16, 2)), x, rep)
    assert z.shape == (3, 4, 16)
    expected = np.mean([[np.linalg.norm(np.rot90(a, i) - np.rot90(a, j)) for i in range(4) for j in range(4) if i != j]
                        for a in x[:, 0].numpy()], axis=1)
    np.testing.assert_allclose(orbit_spread(z).numpy(), expected, rtol=1e-5)


def test_weight_tying_is_invariant_in_its_penultimate_layer_up_to_round_off():
    rep = image_group("R4")
    x = torch.randn(12, 1, 36, 36, generator=torch.Generator().manual_seed(2))
    wt = build("mlp", group=rep, seed=3).eval()
    g = latent_geometry(orbit_representations(wt, x, rep), [0] * 6 + [1] * 6)
    assert g["spread_over_same_class"] < 1e-5 and g["same_orbit_nn"] == 1.0
    da = build("mlp", seed=3).eval()  # no weight-tying: the orientations spread out
    assert latent_geometry(orbit_representations(da, x, rep), [0] * 6 + [1] * 6)["spread_over_same_class"] > 0.1


def test_tsne_is_deterministic_for_a_seed():
    pts = np.random.default_rng(0).normal(size=(40, 5))
    a, b = tsne(pts, seed=0), tsne(pts, seed=0)
    assert a.shape == (40, 2) and np.array_equal(a, b)


def model_entry(ratio, same_orbit, agreement):
    return {k: [v, 0.0] for k, v in (("spread_over_same_class", ratio), ("spread_over_other_class", ratio / 2),
                                      ("same_orbit_nn", same_orbit), ("class_agreement", agreement))} | {
        "per_seed": [{}]}


def latent_doc(r4_da=(2.0, 0.1, 0.9), t3_da=(2.0, 0.1, 0.9), wt_ratio=1e-6):
    groups = [{"group": g, "order": k, "n_pool": 500, "models": {
        "DA": model_entry(*da), "IR": model_entry(0.5, 0.8, 0.9), "WT": model_entry(wt_ratio, 1.0, 0.9)}}
        for g, k, da in (("R4", 4, r4_da), ("T3", 3, t3_da))]
    return {"groups": groups, "scale_tag": "full"}


@pytest.mark.parametrize("doc, verdict", [
    (latent_doc(), "holds"),
    (latent_doc(r4_da=(0.9, 0.1, 0.9)), "holds only for T3"),  # R4's orbits no wider than the class spacing
    (latent_doc(t3_da=(2.0, 0.6, 0.9)), "holds only for R4"),  # T3: most orientations are each other's neighbours
    (latent_doc(r4_da=(2.0, 0.1, 0.7)), "holds only for T3"),  # R4: orientations leave their class
    (latent_doc(wt_ratio=0.01), "fails"),  # the control: WT's orbits must collapse, else the measurement is off
])
def test_the_criterion_per_group(doc, verdict):
    got, evidence = latent_verdict(doc)
    assert got == verdict and "R4, 500 samples x 4 orientations" in evidence


def test_latent_finding_reads_the_file_and_the_report_uses_it(tmp_path):
    assert latent_finding(tmp_path)[0] == "not measured"
    (tmp_path / "fig2_latent.json").write_text(json.dumps(latent_doc(r4_da=(0.5, 0.9, 0.9))))
    assert latent_finding(tmp_path)[0] == "holds only for T3"
    data = paper_claims.load_outputs(tmp_path)
    f = {x.id: x for x in paper_claims.paper_findings(data)}["fig2_latent_orbits_far_apart"]
    assert f.verdict == "holds only for T3" and f.command == "python -m empirical.latent"
    readme = report.readme_markdown(data, paper_claims.paper_findings(data), [], "# head")
    assert "## Figure 2 (`python -m empirical.latent`)" in readme and "| R4 | DA | 0.5 ± 0 |" in readme
    assert {x.id: x for x in paper_claims.paper_findings({})}["fig2_latent_orbits_far_apart"].verdict == "not measured"


@needs_full_data()
def test_latent_command_quick(tmp_path, tmp_path_factory):
    # one run cache for this file and test_figure1.py: the second to run trains nothing (the store locks it)
    out, cache = tmp_path / "out", tmp_path_factory.getbasetemp() / "orbit-figures-cache"
    argv = ["--quick", "--epochs", "2", "--seeds", "1", "--groups", "R4", "--pool", "40", "--out", str(out),
            "--cache-dir", str(cache), "--quiet"]
    assert latent.main(argv) == 0
    doc = json.loads((out / "fig2_latent.json").read_text())
    (entry,) = doc["groups"]
    assert entry["group"] == "R4" and entry["order"] == 4 and entry["n_pool"] == 40
    assert doc["scale_tag"] == "quick-e2-s1"
    m = entry["models"]
    assert set(m) == {"DA", "IR", "WT"} and all(len(r["per_seed"]) == 1 for r in m.values())
    assert m["WT"]["spread_over_same_class"][0] < 1e-3 and m["WT"]["same_orbit_nn"][0] == 1.0
    assert m["DA"]["spread_over_same_class"][0] > 1e-2 and 0 <= m["DA"]["class_agreement"][0] <= 1
    assert all(math.isfinite(r["nn_other_class"][0]) for r in m.values())
    assert (out / "fig2_latent.png").stat().st_size > 0
    assert latent_finding(out)[0] in ("holds", "fails")  # one group: no conditional verdict
