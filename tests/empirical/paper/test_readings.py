"""The metric readings (empirical.paper.readings) against the library's metrics, scipy/numpy oracles and exact invariance."""

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from scipy.stats import spearmanr

from empirical.paper import readings as rd
from empirical.measure.attribution import saliency_invariance, saliency_map
from empirical.measure.image_groups import act, image_group, orbit
from empirical.measure.invariance import invariance, invariance_from_logits, orbit_logits
from empirical.engine.models import MLP, WeightTiedMLP
from empirical.measure.sensitivity import jacobian_sigma_max

R4, T3 = image_group("R4"), image_group("T3")
GROUPS = {"R4": R4, "T3": T3}


def images(n, seed=0, dtype=torch.float64):
    return torch.randn(n, 1, 36, 36, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def baselines(seed=9):
    mean = images(1, seed)
    return {"black": -0.42, "zero": 0.0, "mean": orbit(R4, mean).mean(0)}


@pytest.mark.parametrize("name", ["R4", "T3"])
def test_ours_equals_the_library(name):
    rep = GROUPS[name]
    model = MLP(seed=1).double()
    x, y = images(6, seed=1), torch.arange(6) % 9
    si = rd.si_readings(model, x, rep, y, {"black": -0.42}, steps=12,
                        choices={c: (o[0],) for c, o in rd.SI_CHOICES.items()})
    assert list(si) == [rd.reading_key(rd.OURS)]
    lib = saliency_invariance(model, x, rep, target=y, baseline=-0.42, steps=12)
    torch.testing.assert_close(si[rd.reading_key(rd.OURS)], lib, rtol=0, atol=1e-12)
    # the maps too, element by element of the orbit
    ig = rd.orbit_attributions(model, x, rep, y, -0.42, 12)
    maps = rd.saliency_maps(ig)
    for g in range(rep.order):
        torch.testing.assert_close(maps[g], saliency_map(model, act(rep, x, g), y, -0.42, steps=12), rtol=0, atol=1e-12)
    # LI and DI: the reduction 'mean_nonid' is the library's metric
    z = orbit_logits(model, x, rep)
    errs = rd.invariance_readings(z)
    for form in rd.ERROR_FORMS:
        torch.testing.assert_close(errs[f"{form}/mean_nonid"], invariance(model, x, rep, form), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(errs[f"{form}/sum_all"], invariance_from_logits(z, form, "sum"), rtol=1e-12,
                                   atol=1e-14)


def test_float32_ours_is_bit_identical_to_the_library():
    """The command checks its recomputation against evaluate() (float32): the same calls give the same bits."""
    model = MLP(seed=2)
    x, y = images(4, seed=2, dtype=torch.float32), torch.tensor([0, 1, 2, 3])
    si = rd.si_readings(model, x, R4, y, {"black": -0.42}, steps=8,
                        choices={c: (o[0],) for c, o in rd.SI_CHOICES.items()})[rd.reading_key(rd.OURS)]
    assert torch.equal(si, saliency_invariance(model, x, R4, target=y, baseline=-0.42, steps=8))


@pytest.mark.parametrize("name", ["R4", "T3"])
def test_an_invariant_model_keeps_its_invariance_under_every_commuting_reading(name):
    """WT scores SI = 1 (|G| for the sum) under every reading except smoothing boundaries that do not commute with
    the group (constant and reflect under the cyclic T3); the flag fires only there, and there for most readings
    (not all: a sample whose surviving pixels stay away from the left and right borders is unaffected)."""
    rep = GROUPS[name]
    model = WeightTiedMLP(rep, seed=3).double()
    x, y = images(5, seed=3), torch.arange(5)
    si = rd.si_readings(model, x, rep, y, baselines(), steps=6)
    assert len(si) == math.prod(len(o) for o in rd.SI_CHOICES.values()) == len(rd.product())
    flagged = {k for k, v in si.items()
               if rd.breaks_invariance("SI", v.mean().item(), rd.parse_key(k)["reduction"], rep.order)}
    expected = {k for k in si if name == "T3" and rd.parse_key(k)["boundary"] in ("constant", "reflect")}
    assert flagged <= expected and len(flagged) >= 0.5 * len(expected)
    for k, v in si.items():
        if k not in expected:
            target = rd.invariant_value("SI", rd.parse_key(k)["reduction"], rep.order)
            torch.testing.assert_close(v, torch.full_like(v, target), rtol=0, atol=1e-9)
    errs = rd.invariance_readings(orbit_logits(model, x, rep))
    assert all(not rd.breaks_invariance(f.split("/")[0], v.abs().max().item(), f.split("/")[1], rep.order)
               for f, v in errs.items())


def test_reflect_smoothing_breaks_t3_invariance_of_a_border_saliency():
    """A lone bright pixel at the left border: after the cyclic shift it sits inside, where every boundary agrees,
    so only the periodic boundary realigns it onto the map of x."""
    model = WeightTiedMLP(T3, seed=4).double()
    x = torch.zeros(3, 1, 36, 36, dtype=torch.float64)
    x[0, 0, 10, 0], x[1, 0, 20, 0], x[2, 0, 30, 35] = 3.0, -2.0, 4.0
    y = model(x).argmax(-1)
    ig = rd.orbit_attributions(model, x, T3, y, 0.0, 8)
    assert (ig.flatten(2).abs().amax(-1) > 0).all()
    for boundary in rd.SI_CHOICES["boundary"]:
        cos = rd.orbit_cosines(rd.saliency_maps(ig, boundary=boundary), T3)
        si = rd.reduce_orbit(cos, "mean_nonid", 1.0)
        assert rd.breaks_invariance("SI", si.mean().item(), "mean_nonid", 3) == (boundary != "wrap"), boundary
        if boundary != "wrap":
            assert (si < 0.99).all()


@pytest.mark.parametrize("name", ["R4", "T3"])
def test_sum_and_mean_relations(name):
    """Eq. 1-3 literally (sum over all g) against ours: SI_sum = (|G| - 1) SI + 1 for nonzero maps (a per-map
    threshold never empties a map; the orbit-wide one can empty m(x) itself, whose identity term is then 0), and
    LI, DI sums = (|G| - 1) x ours; the mean over all g is the sum / |G|."""
    rep = GROUPS[name]
    k = rep.order
    model = MLP(seed=5).double()
    x, y = images(4, seed=5), torch.tensor([3, 1, 4, 1])
    si = rd.si_readings(model, x, rep, y, baselines(), steps=6,
                        choices={"baseline": ("black",), "target": ("label",), "threshold": ("map",), "boundary": ("wrap",),
                                 "kernel": (3,)})
    assert len(si) == 2 * 2 * 3
    for key, v in si.items():
        r = rd.parse_key(key)
        if r["reduction"] != "mean_nonid":
            continue
        total = si[rd.reading_key({**r, "reduction": "sum_all"})]
        every = si[rd.reading_key({**r, "reduction": "mean_all"})]
        torch.testing.assert_close(total, (k - 1) * v + 1, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(every, total / k, rtol=1e-12, atol=1e-12)
    errs = rd.invariance_readings(orbit_logits(model, x, rep))
    for form in rd.ERROR_FORMS:
        ours = errs[f"{form}/mean_nonid"]
        assert (ours > 0).all()
        torch.testing.assert_close(errs[f"{form}/sum_all"], (k - 1) * ours, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(errs[f"{form}/mean_all"], (k - 1) / k * ours, rtol=1e-12, atol=1e-14)


def test_post_processing_matches_numpy_and_scipy():
    """Each post-processing reading against a direct numpy/scipy computation of the same steps."""
    rng = np.random.default_rng(6)
    ig = rng.normal(size=(4, 3, 1, 36, 36))
    ig[2] *= 0.5  # a weaker orbit element: the orbit-wide threshold empties its maps
    t = torch.from_numpy(ig)
    for reading in rd.product({c: rd.SI_CHOICES[c] for c in ("magnitude", "threshold", "order", "boundary",
                                                               "kernel")}):
        m = np.abs(ig).sum(2) if reading["magnitude"] == "abs" else ig.sum(2)

        def smooth(a):
            return np.stack([[gaussian_filter(ai, 1.0, radius=reading["kernel"] // 2, mode=reading["boundary"])
                              for ai in row] for row in a])

        def cut(a):
            axes = (2, 3) if reading["threshold"] == "map" else (0, 2, 3)
            return np.where(np.abs(a) < 0.9 * np.abs(a).max(axis=axes, keepdims=True), 0.0, a)

        expected = smooth(cut(m)) if reading["order"] == "threshold_smooth" else cut(smooth(m))
        got = rd.saliency_maps(t, **reading).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14, err_msg=str(reading))
    orbitwide = rd.saliency_maps(t, threshold="orbit", order="threshold_smooth")
    assert (orbitwide[2] == 0).all() and (orbitwide[0] != 0).any()
    # signed equals abs on attributions that are already non-negative
    torch.testing.assert_close(rd.saliency_maps(t.abs(), magnitude="signed"), rd.saliency_maps(t.abs()))


def test_targets():
    model = MLP(seed=7).double()
    x, y = images(5, seed=7), torch.tensor([8, 7, 6, 5, 4])
    assert torch.equal(rd.orbit_targets(model, x, R4, "label", y), y.expand(4, 5))
    assert torch.equal(rd.orbit_targets(model, x, R4, "pred_x"), model(x).argmax(-1).expand(4, 5))
    per = rd.orbit_targets(model, x, R4, "pred_gx")
    assert torch.equal(per, torch.stack([model(act(R4, x, g)).argmax(-1) for g in range(4)]))
    tied = WeightTiedMLP(R4, seed=7).double()
    assert torch.equal(rd.orbit_targets(tied, x, R4, "pred_gx"), rd.orbit_targets(tied, x, R4, "pred_x"))
    with pytest.raises(ValueError, match="labels"):
        rd.orbit_targets(model, x, R4, "label")


def test_jacobian_readings_against_autograd():
    """sigma_max of the logits' / softmax's Jacobian, and the raw-pixel reading as the Jacobian through
    x = (p - mean) / std, each computed directly with autograd and an SVD."""
    model = MLP(in_features=36, hidden=8, depth=3, classes=4, seed=8).double()
    mean, std = 0.13, 0.31
    p = torch.rand(3, 36, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    x = (p - mean) / std
    got = rd.jacobian_readings(model, x, std)
    for name, head in (("logits", lambda z: z), ("softmax", lambda z: z.softmax(-1)),
                       ("log_softmax", lambda z: z.log_softmax(-1))):
        for i in range(3):
            jn = torch.autograd.functional.jacobian(lambda v: head(model(v[None]))[0], x[i])
            jr = torch.autograd.functional.jacobian(lambda q: head(model(((q - mean) / std)[None]))[0], p[i])
            assert got[f"{name}/normalized"][i].item() == pytest.approx(torch.linalg.svdvals(jn)[0].item(), rel=1e-9)
            assert got[f"{name}/raw"][i].item() == pytest.approx(torch.linalg.svdvals(jr)[0].item(), rel=1e-9)
    torch.testing.assert_close(got["logits/normalized"], jacobian_sigma_max(model, x))
    v = torch.tensor([3.0, 1.0, 2.0])
    assert (rd.aggregate(v, "mean"), rd.aggregate(v, "median"), rd.aggregate(v, "max")) == (2.0, 2.0, 3.0)


def test_rank_correlation_against_scipy():
    rng = np.random.default_rng(10)
    a = rng.integers(0, 4, size=(5, 6, 6)).astype(float)  # many ties
    b = a + rng.normal(scale=2.0, size=a.shape)
    b[3] = 7.0  # a constant map: no ranks to correlate
    got = rd.rank_correlation(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    for i in range(5):
        expected = 0.0 if i == 3 else spearmanr(a[i].ravel(), b[i].ravel()).statistic
        assert got[i] == pytest.approx(expected, abs=1e-12)
    mask = rng.random(size=a.shape) < 0.5
    got = rd.rank_correlation(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(mask)).numpy()
    for i in (0, 1, 2, 4):
        expected = spearmanr(a[i][mask[i]], b[i][mask[i]]).statistic
        assert got[i] == pytest.approx(expected, abs=1e-12)
    a[1, 2, 2] = np.nan
    assert np.isnan(rd.rank_correlation(torch.from_numpy(a), torch.from_numpy(b)).numpy()[1])


def test_fragility_measures():
    """Survivors against a numpy count, peak agreement and the steadier similarities on an invariant model (all
    agree) and on a plain MLP (the thresholded SI falls far below the steadier variants)."""
    ig = torch.zeros(2, 3, 1, 6, 6, dtype=torch.float64)
    ig[0, 0, 0, 1, 1], ig[0, 0, 0, 2, 2] = 1.0, 0.95  # two survivors
    ig[0, 1, 0, 3, 3] = -2.0  # one
    ig[1] = 0.5  # a flat map: all 36 survive; ig[0, 2] is zero: nothing survives
    counts = rd.surviving_pixels(ig)
    expected = [[(np.abs(m) >= 0.9 * np.abs(m).max()).sum() if np.abs(m).max() > 0 else 0 for m in row]
                for row in ig.squeeze(2).numpy()]
    assert counts.tolist() == expected == [[2, 1, 0], [36, 36, 36]]
    for rep in GROUPS.values():
        x, y = images(6, seed=11), torch.arange(6)
        ig = rd.orbit_attributions(WeightTiedMLP(rep, seed=11).double(), x, rep, y, 0.0, 6)
        assert rd.peak_agreement(ig, rep).all()
        for v in rd.stable_similarities(ig, rep).values():
            torch.testing.assert_close(v, torch.ones_like(v), rtol=0, atol=1e-9)
        ig = rd.orbit_attributions(MLP(seed=11).double(), x, rep, y, 0.0, 6)
        stable = rd.stable_similarities(ig, rep)
        si = rd.reduce_orbit(rd.orbit_cosines(rd.saliency_maps(ig), rep), "mean_nonid", 1.0)
        assert si.mean() < 0.5 < stable["soft_cosine"].mean() and stable["spearman"].mean() < 0.9
        assert rd.peak_agreement(ig, rep).float().mean() < 0.5


def test_reading_keys_and_enumeration():
    key = rd.reading_key(rd.OURS)
    assert key == "black/label/abs/map/threshold_smooth/wrap/3/mean_nonid" and rd.parse_key(key) == rd.OURS
    singles = rd.one_at_a_time()
    assert len(singles) == sum(len(o) - 1 for o in rd.SI_CHOICES.values())
    assert all(sum(r[c] != rd.OURS[c] for c in rd.OURS) == 1 for _, _, r in singles)
    assert rd.product()[0] == rd.OURS and len({rd.reading_key(r) for r in rd.product()}) == 1296
    with pytest.raises(ValueError, match="unknown option"):
        rd.parse_key("black/label/abs/map/threshold_smooth/nearest/3/mean_nonid")
    assert rd.invariant_value("SI", "sum_all", 4) == 4 and rd.invariant_value("SI", "mean_all", 4) == 1
    assert rd.breaks_invariance("SI", float("nan"), "mean_nonid", 4) and not rd.breaks_invariance("LI", 1e-9,
                                                                                                  "sum_all", 4)
