"""Events and the groups that know them (issue 25, defects 2 and 6): shapes declared, not guessed; flips and
translations on H x W images, rotations on squares only, translations by W/n pixels under the name T<n>."""

import re

import numpy as np
import pytest
import torch

from empirical.measure.image_groups import act, as_image_group, image_group, orbit
from empirical.measure.invariance import logit_invariance
from theory import groups


def test_flips_and_translations_act_on_non_square_images():
    """Defect 6: non-square images were refused even for flips and translations."""
    x = torch.randn(2, 3, 28, 20, generator=torch.Generator().manual_seed(0))
    f2 = image_group("F2", (28, 20))
    assert f2.name == "F2[28x20]" and f2.order == 2 and f2.dim == 560
    assert torch.equal(act(f2, x, 1), x.flip(-1))
    t4 = image_group("T4", (28, 20))
    for k in range(4):
        assert torch.equal(act(t4, x, k), torch.roll(x, 5 * k, dims=-1))
    assert torch.equal(act(t4, x.reshape(2, 3, 560), 1).reshape(x.shape), torch.roll(x, 5, -1))  # flat events too
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 560, 4))
    assert logit_invariance(model, x, f2).shape == (2,)
    with pytest.raises(ValueError, match=re.escape("F2[28x20] acts on 560 pixels (28x20 images); got x of shape "
                                                   "(2, 3, 20, 28). Pass a batch x of shape (N, 560), (N, 28, 20) "
                                                   "or (N, C, 28, 20)")):
        logit_invariance(model, x.transpose(-1, -2), f2)


@pytest.mark.parametrize("name", ["R4", "D4"])
def test_rotations_by_90_degrees_need_square_images_and_say_so_in_one_line(name):
    with pytest.raises(ValueError, match=rf"^{name} needs square images \(H = W\); got 28x20: pad them to a square, "
                                         r"or use F2 / T<n>, which act on any H x W$"):
        image_group(name, (28, 20))
    assert np.array_equal(image_group(name, (6, 6)).perms, image_group(name, 6).perms)


def test_translations_by_n_steps_have_a_registered_name_and_t3_keeps_its_meaning():
    """Defect 6: T3 needed a side divisible by 3 and nothing else could say 'translations by W/n pixels'."""
    assert np.array_equal(image_group("T3").perms, groups.translations(36, 3).perms)  # a third of the side
    assert image_group("T3").name == "T3[36x36]" and image_group("t3", 9).order == 3
    t28 = image_group("T28", 28)  # every 1-pixel translation
    assert t28.order == 28 and t28.name == "T28[28x28]"
    assert np.array_equal(image_group("t7", 28).perms, t28.perms[::4])
    with pytest.raises(ValueError, match=r"^T3 translates by W/3 pixels and needs the width W divisible by 3; got "
                                         r"28x28. For this width use T<n> with n in \[1, 2, 4, 7, 14, 28\]$"):
        image_group("T3", 28)
    with pytest.raises(ValueError, match="unknown image group 'T'; known groups: R4, T3, D4, F2 and T<n>"):
        image_group("T")
    with pytest.raises(ValueError, match="W/0"):
        image_group("T0", 6)


def test_an_undeclared_representation_is_read_by_one_rule_whatever_its_size():
    """Defect 2: acceptance depended on d being a perfect square: (N, 8, 2) refused, (N, 7, 2) accepted."""
    model = lambda v: v.reshape(v.shape[0], -1)[:, :3] ** 2  # noqa: E731
    for p in (8, 7):
        rep = groups.cyclic_shift(2 * p)
        x = torch.randn(3, p, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(p))
        assert logit_invariance(model, x, rep).shape == (3,)  # (N, H, W) with H * W = d: an H x W image
        assert logit_invariance(model, x.reshape(3, 2 * p), rep).shape == (3,)  # (N, d): a vector
        assert logit_invariance(model, x.reshape(3, 1, 2 * p), rep).shape == (3,)  # a 1 x d image
        with pytest.raises(ValueError, match=r"declare what it acts on: acting_on\(rep, 'signal' \| 'points'"):
            logit_invariance(model, x.reshape(3, 1, 2 * p).expand(3, 2, 2 * p), rep)  # 2 channels of a signal?


def test_declared_events_fix_the_layout():
    from empirical.measure.events import Event, EventGroup, acting_on

    pts = acting_on(groups.cyclic_shift(16), "points", (8, 2))
    assert isinstance(pts, EventGroup) and pts.event == Event("points", (8, 2)) and pts.perms is not None
    assert as_image_group(pts, torch.zeros(5, 8, 2)) is pts and as_image_group(pts, torch.zeros(5, 16)) is pts
    with pytest.raises(ValueError, match=re.escape("C16 acts on 16 coordinates (8 points in 2 dimensions); got x of "
                                                   "shape (5, 4, 4). Pass a batch x of shape (N, 16), (N, 8, 2) or "
                                                   "(N, C, 8, 2)")):
        as_image_group(pts, torch.zeros(5, 4, 4))
    sig = acting_on(groups.cyclic_shift(15), "signal")
    x = torch.arange(2 * 3 * 15.0).reshape(2, 3, 15)  # channels before the signal
    assert torch.equal(orbit(sig, x)[1], torch.roll(x, 1, -1))
    with pytest.raises(ValueError, match=r"a signal event has shape \(L,\)"):
        Event("signal", (3, 5))
    with pytest.raises(ValueError, match="unknown event kind 'graph'"):
        acting_on(sig, "graph")
    with pytest.raises(ValueError, match="have 12 entries"):
        acting_on(sig, "points", (6, 2))
    with pytest.raises(TypeError, match="needs its event"):
        EventGroup(name="x", perms=sig.perms)
