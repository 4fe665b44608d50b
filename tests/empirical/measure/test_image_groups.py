"""The torch actions of the theory's groups: equal to rho(g) matrices, rot90 / roll, inverses, orbits, shapes;
the group and shape checks every metric shares."""

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from empirical.measure import image_groups as ig
from tests.strategies import representations
from theory import groups

R4, T3 = ig.image_group("R4"), ig.image_group("T3")
RTOL = 1e-12  # float64 actions are exact for permutations and one matmul for the other representations


def batch(rep, n):
    """Finite float64 batches (n, d) for a representation."""
    return hnp.arrays(np.float64, (n, rep.dim), elements=st.floats(-3, 3, allow_nan=False, width=64))


@given(st.data())
def test_act_equals_theory_matrix(data):
    rep = data.draw(representations("any"))
    n = data.draw(st.integers(1, 4))
    x = data.draw(batch(rep, n))
    g = data.draw(st.lists(st.integers(0, rep.order - 1), min_size=n, max_size=n))
    expected = np.stack([rep.matrices[gi] @ xi for gi, xi in zip(g, x)])
    got = ig.act(rep, torch.from_numpy(x), torch.tensor(g)).numpy()
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL * max(1.0, np.abs(expected).max()))
    for h in range(rep.order):  # the same element for every sample
        np.testing.assert_allclose(ig.act(rep, torch.from_numpy(x), h).numpy(), x @ rep.matrices[h].T,
                                   rtol=RTOL, atol=1e-10)


@given(st.data())
def test_inverse_act_undoes_act(data):
    rep = data.draw(representations("any"))
    x = torch.from_numpy(data.draw(batch(rep, 3)))
    g = torch.tensor(data.draw(st.lists(st.integers(0, rep.order - 1), min_size=3, max_size=3)))
    torch.testing.assert_close(ig.inverse_act(rep, ig.act(rep, x, g), g), x, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(ig.act(rep, ig.inverse_act(rep, x, 1 % rep.order), 1 % rep.order), x,
                               rtol=1e-9, atol=1e-9)


@given(st.data())
def test_orbit_is_closed_and_starts_at_x(data):
    rep = data.draw(representations("any"))
    x = torch.from_numpy(data.draw(batch(rep, 2)))
    orb = ig.orbit(rep, x)
    assert orb.shape == (rep.order, *x.shape)
    torch.testing.assert_close(orb[0], x, rtol=0, atol=0)
    table = groups.cayley_table(rep)
    for h in range(rep.order):
        for g in range(rep.order):
            torch.testing.assert_close(ig.act(rep, orb[g], h), orb[table[h, g]], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shape", [(5, 1, 36, 36), (5, 36, 36), (5, 1296)])
def test_r4_is_rot90_and_t3_is_roll(shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    img = x.reshape(5, 36, 36)
    for k in range(4):
        torch.testing.assert_close(ig.act(R4, x, k).reshape(5, 36, 36), torch.rot90(img, k, dims=(-2, -1)),
                                   rtol=0, atol=0)
    for k in range(3):
        torch.testing.assert_close(ig.act(T3, x, k).reshape(5, 36, 36), torch.roll(img, 12 * k, dims=-1),
                                   rtol=0, atol=0)
    assert ig.act(R4, x, 1).shape == x.shape


def test_image_group_names():
    assert (R4.order, R4.dim, T3.order, T3.dim) == (4, 1296, 3, 1296)
    assert np.array_equal(ig.image_group("R4", 6).perms, groups.rotations(6).perms)
    assert np.array_equal(ig.image_group("t3", 9).perms, groups.translations(9, 3).perms)
    with pytest.raises(ValueError, match="R4, T3, D4, F2"):
        ig.image_group("Q8")


def test_per_sample_elements_broadcast_over_batch_dims():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 5, 1296, generator=gen)
    g = torch.randint(0, 4, (5,), generator=gen)
    y = ig.act(R4, x, g)  # g broadcasts over the leading dim, torch-style
    for r in range(2):
        for n in range(5):
            torch.testing.assert_close(y[r, n], ig.act(R4, x[r, n], int(g[n])), rtol=0, atol=0)
    g2 = torch.randint(0, 4, (2, 5), generator=gen)
    y2 = ig.act(R4, x, g2)
    torch.testing.assert_close(y2[1, 3], ig.act(R4, x[1, 3], int(g2[1, 3])), rtol=0, atol=0)
    img = torch.randn(5, 1, 36, 36, generator=gen)  # a size-1 channel: g (N,) still means one per sample
    yi = ig.act(R4, img, g)
    for n in range(5):
        torch.testing.assert_close(yi[n], torch.rot90(img[n], int(g[n]), dims=(-2, -1)), rtol=0, atol=0)
    one = img[:1]
    torch.testing.assert_close(ig.act(R4, one, g[:1]), ig.act(R4, one, int(g[0])), rtol=0, atol=0)
    torch.testing.assert_close(ig.act(R4, img, torch.tensor(3)), ig.act(R4, img, 3), rtol=0, atol=0)


def test_nonpermutation_rep_keeps_dtype_and_matches_per_sample():
    rep = groups.random_invertible(groups.rotations(3), np.random.default_rng(0), spread=0.5)
    x = torch.randn(4, 3, 3, dtype=torch.float32, generator=torch.Generator().manual_seed(2))
    g = torch.tensor([0, 1, 2, 3])
    y = ig.act(rep, x, g)
    assert y.dtype == torch.float32 and y.shape == x.shape
    m = torch.tensor(rep.matrices, dtype=torch.float32)
    expected = torch.stack([(m[i] @ x[i].reshape(9)).reshape(3, 3) for i in range(4)])
    torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-5)


def test_vmap_and_gradients():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(6, 1, 36, 36, generator=gen, requires_grad=True)
    g = torch.randint(0, 3, (6,), generator=gen)
    out = torch.func.vmap(lambda xi, gi: ig.act(T3, xi, gi))(x, g)
    torch.testing.assert_close(out, ig.act(T3, x, g), rtol=0, atol=0)
    w = torch.randn(6, 1, 36, 36, generator=gen)
    (ig.act(T3, x, g) * w).sum().backward()
    # d/dx <w, rho(g) x> = rho(g)^T w = rho(g)^{-1} w for a permutation
    torch.testing.assert_close(x.grad, ig.inverse_act(T3, w, g), rtol=0, atol=0)


def test_operator_buffer_matches_fresh_index():
    op = ig.group_operator(R4)
    assert op.dtype == torch.int64 and op.shape == (4, 1296)
    x = torch.randn(3, 1296, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(ig.orbit(R4, x, op), ig.orbit(R4, x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="group_operator"):
        ig.act(R4, x, 1, operator=ig.group_operator(T3))


def test_errors_name_the_expected_shape():
    with pytest.raises(ValueError, match=r"R4\[36x36\] acts on 1296 pixels \(36x36 images\); got shape \(2, 28, 28\)"):
        ig.act(R4, torch.zeros(2, 28, 28), 1)
    with pytest.raises(ValueError, match="elements 0..3"):
        ig.act(R4, torch.zeros(2, 1296), 4)
    with pytest.raises(ValueError, match="integer"):
        ig.act(R4, torch.zeros(2, 1296), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="int"):
        ig.act(R4, torch.zeros(2, 1296), 1.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        ig.act(R4, torch.zeros(5, 1, 36, 36), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="acts on 1296 pixels"):
        ig.orbit(T3, torch.zeros(3, 1295))


@given(st.data())
def test_as_image_group_passes_a_representation_through_and_checks_the_batch(data):
    rep = data.draw(representations("any"))
    x = torch.from_numpy(data.draw(batch(rep, data.draw(st.integers(0, 3)))))
    assert ig.as_image_group(rep) is rep and ig.as_image_group(rep, x) is rep
    side = math.isqrt(rep.dim)
    if side * side == rep.dim:
        assert ig.as_image_group(rep, x.reshape(-1, 1, side, side)) is rep
        assert ig.as_image_group(rep, x.reshape(-1, side, side)) is rep
    with pytest.raises(ValueError, match=re.escape(f"acts on R^{rep.dim} (no declared event)")):
        ig.as_image_group(rep, torch.zeros(2, rep.dim + 1))
    with pytest.raises(ValueError, match=re.escape(f"acts on R^{rep.dim} (no declared event)")):
        ig.as_image_group(rep, torch.zeros(rep.dim))  # one sample without its batch dim


def test_as_image_group_resolves_registered_names():
    for name, rep in (("R4", R4), ("T3", T3), ("r4", R4)):
        got = ig.as_image_group(name, torch.zeros(2, 1, 36, 36))
        assert got.name == rep.name and np.array_equal(got.perms, rep.perms)
    with pytest.raises(ValueError, match="unknown image group .Q8.; known groups: R4, T3, D4, F2"):
        ig.as_image_group("Q8")


@pytest.mark.parametrize("bad", [4, None, 1.5, ["R4"], np.eye(3)])
def test_as_image_group_names_what_to_pass(bad):
    expected = f"group must be a theory.groups.Representation or one of the names 'R4', 'T3', 'D4', 'F2'; got {type(bad).__name__}"
    with pytest.raises(TypeError, match=re.escape(expected)):
        ig.as_image_group(bad)
    with pytest.raises(TypeError, match="'R4', 'T3', 'D4', 'F2'"):
        ig.image_group(bad)


def test_as_image_group_names_the_expected_shape():
    with pytest.raises(ValueError, match=re.escape("R4[36x36] acts on 1296 pixels (36x36 images); got x of shape "
                                                   "(2, 28, 28). Pass a batch x of shape (N, 1296), (N, 36, 36) "
                                                   "or (N, C, 36, 36)")):
        ig.as_image_group("R4", torch.zeros(2, 28, 28))
    for shape in [(2, 1, 6, 216), (2, 1, 1296), (2, 1295)]:  # 1296 pixels, but not 36 x 36 images
        with pytest.raises(ValueError, match=re.escape(f"got x of shape {shape}")):
            ig.as_image_group(R4, torch.zeros(shape))
    small = ig.image_group("R4", 6)  # 36 pixels: would act on each 36-pixel row of a 36x36 image
    with pytest.raises(ValueError, match=re.escape("(N, 36), (N, 6, 6) or (N, C, 6, 6)")):
        ig.as_image_group(small, torch.zeros(2, 1, 36, 36))
    assert ig.as_image_group(small, torch.zeros(2, 3, 6, 6)) is small  # channels are batch dims of the action
    with pytest.raises(TypeError, match="torch.Tensor"):
        ig.as_image_group(R4, np.zeros((2, 1296)))


def test_nan_where_nonfinite_marks_whole_samples():
    values = torch.arange(12.0).reshape(4, 3)
    x = torch.zeros(4, 2, 2)
    x[1, 0, 1], x[3, 1, 1] = float("nan"), -float("inf")
    out = torch.zeros(4, 5)
    out[2, 4] = float("inf")
    got = ig.nan_where_nonfinite(values, x, out)
    assert torch.isnan(got[1:]).all() and torch.equal(got[0], values[0])
    assert torch.equal(ig.nan_where_nonfinite(values), values)
    assert ig.nan_where_nonfinite(torch.zeros(0), torch.zeros(0, 7)).shape == (0,)
    with pytest.raises(ValueError, match="4 samples"):
        ig.nan_where_nonfinite(values, torch.zeros(3, 2))
