"""THE group registry: every registered group is a pixel-permutation group the theory and the data share."""

import numpy as np
import pytest
import torch

from empirical.data import transforming as data
from empirical.measure.groups import GROUPS, group_names, image_group
from empirical.measure.image_groups import act, orbit
from theory import groups


@pytest.mark.parametrize("name", group_names())
def test_every_registered_group_is_a_closed_permutation_group(name):
    rep = image_group(name, 12)
    assert rep.perms is not None and rep.dim == 144 and np.array_equal(rep.perms[0], np.arange(144))
    table = groups.cayley_table(rep)  # raises unless closed under composition
    assert all(sorted(row) == list(range(rep.order)) for row in table)  # a Latin square: a group
    assert np.array_equal(data.make_group(name).perms, image_group(name).perms)  # the data's group is the same


@pytest.mark.parametrize("name", group_names())
def test_orbit_is_permuted_by_the_group(name):
    # g . orbit(x) is orbit(x) reordered: the set is invariant, the defining property the WT model relies on
    rep = image_group(name, 6)
    x = torch.randn(1, 36, dtype=torch.float64)
    o = orbit(rep, x).squeeze(1)
    for g in range(rep.order):
        moved = act(rep, o, g)
        assert sorted(map(tuple, moved.tolist())) == sorted(map(tuple, o.tolist()))


def test_d4_and_f2_are_the_square_symmetries():
    img = torch.arange(36.0).view(1, 6, 6)
    d4 = {tuple(act(image_group("D4", 6), img.flatten(1), g).flatten().tolist()) for g in range(8)}
    want = {tuple(torch.rot90(t, k, (-2, -1)).flatten().tolist()) for t in (img, img.flip(-1)) for k in range(4)}
    assert d4 == want and len(d4) == 8
    f2 = [act(image_group("F2", 6), img.flatten(1), g).view(6, 6) for g in range(2)]
    assert torch.equal(f2[0], img[0]) and torch.equal(f2[1], img[0].flip(-1))
    r4 = {tuple(p) for p in image_group("R4", 6).perms}
    assert r4 <= {tuple(p) for p in image_group("D4", 6).perms}  # R4 is a subgroup of D4


def test_paper_groups_keep_their_element_order():
    # The element order fixes each sample's drawn g, so cached runs depend on it: R4 and T3 must not move.
    assert np.array_equal(image_group("R4").perms, groups.rotations(36).perms)
    assert np.array_equal(image_group("T3").perms, groups.translations(36, 3).perms)
    assert list(GROUPS)[:2] == ["R4", "T3"]
