"""Group axioms for every constructor, and the derived objects (Reynolds operator, fixed subspace, orbit)."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import representations, vectors
from theory import groups as G

CONSTRUCTED = [
    G.cyclic_shift(1), G.cyclic_shift(6), G.rotations(4), G.rotations(5), G.translations(6), G.translations(9, n=3),
    G.dihedral(3), G.dihedral(6), G.symmetric(4), G.regular(G.dihedral(4)),
    G.direct_sum(G.cyclic_shift(4), G.regular(G.cyclic_shift(4))),
    G.random_orthogonal(G.dihedral(5), np.random.default_rng(0)),
    G.random_invertible(G.symmetric(3), np.random.default_rng(1)),
    G.direct_sum(G.random_invertible(G.cyclic_shift(3), np.random.default_rng(2)), G.cyclic_shift(3)),
]
RTOL = 1e-9


def check_axioms(rep: G.Representation) -> None:
    """Closure, identity, inverses and rho(ab) = rho(a) rho(b), checked on the matrices."""
    m = rep.matrices
    n, d = rep.order, rep.dim
    assert m.shape == (n, d, d)
    np.testing.assert_allclose(m[0], np.eye(d), atol=RTOL)
    table = G.cayley_table(rep)  # raises when not closed
    for a in range(n):
        for b in range(n):
            np.testing.assert_allclose(m[a] @ m[b], m[table[a, b]], atol=RTOL * max(1, np.abs(m).max()))
    inv = G.inverse_indices(rep)
    np.testing.assert_allclose(m @ m[inv], np.broadcast_to(np.eye(d), m.shape), atol=1e-8)
    assert sorted(table[0]) == list(range(n)), "left multiplication must permute the group"
    assert len({m[g].round(8).tobytes() for g in range(n)}) == n, "elements must be distinct"
    for a in range(n):  # associativity of the table: (ab)c = a(bc)
        np.testing.assert_array_equal(table[table[a]], table[a][table])


@pytest.mark.parametrize("rep", CONSTRUCTED, ids=lambda r: r.name)
def test_constructors_satisfy_group_axioms(rep):
    check_axioms(rep)


@given(representations())
def test_random_representations_satisfy_group_axioms(rep):
    check_axioms(rep)


def test_orders_and_dimensions():
    assert (G.rotations(36).order, G.rotations(36).dim) == (4, 1296)
    assert (G.translations(36).order, G.translations(36).dim) == (3, 1296)
    assert G.dihedral(5).order == 10 and G.symmetric(4).order == 24
    assert G.regular(G.dihedral(4)).dim == 8


def test_image_group_permutations_match_numpy_transforms():
    img = np.arange(36 * 36, dtype=float).reshape(36, 36)
    r4, t3 = G.rotations(36), G.translations(36)
    for k in range(4):
        np.testing.assert_array_equal(r4.act(k, img.ravel()), np.rot90(img, k).ravel())
    for k in range(3):
        np.testing.assert_array_equal(t3.act(k, img.ravel()), np.roll(img, 12 * k, axis=1).ravel())
        np.testing.assert_array_equal(img.ravel() @ t3.matrices[k].T, t3.act(k, img.ravel()))


@given(representations(), st.data())
def test_reynolds_is_a_projector_onto_the_fixed_subspace(rep, data):
    p = G.reynolds(rep)
    np.testing.assert_allclose(p @ p, p, atol=1e-8)
    basis = G.fixed_subspace(rep)
    np.testing.assert_allclose(rep.matrices @ basis, np.broadcast_to(basis, (rep.order, *basis.shape)), atol=1e-8)
    np.testing.assert_allclose(p @ basis, basis, atol=1e-8)
    assert np.linalg.matrix_rank(p, tol=1e-8) == basis.shape[1]
    x = data.draw(vectors(rep.dim))
    px = p @ x
    np.testing.assert_allclose(rep.matrices @ px, np.broadcast_to(px, (rep.order, rep.dim)), atol=1e-7)
    if G.is_orthogonal(rep):
        np.testing.assert_allclose(p, p.T, atol=1e-9)  # orthogonal projector
        np.testing.assert_allclose(basis @ basis.T, p, atol=1e-8)


@given(representations(), st.data())
def test_orbit_is_closed_and_starts_at_x(rep, data):
    x = data.draw(vectors(rep.dim))
    o = G.orbit(rep, x)
    assert o.shape == (rep.order, rep.dim)
    np.testing.assert_array_equal(o[0], x)
    table = G.cayley_table(rep)
    for h in range(rep.order):
        np.testing.assert_allclose(G.orbit(rep, o[h]), o[table[:, h]], atol=1e-8 * (1 + np.abs(x).max()))


def test_fixed_subspace_of_permutation_group_matches_svd():
    rep = G.rotations(6)
    dense = G.from_matrices("dense R4", rep.matrices)
    a, b = G.fixed_subspace(rep), G.fixed_subspace(dense)
    np.testing.assert_allclose(a @ a.T, b @ b.T, atol=1e-10)
    assert a.shape == (36, 9)


def test_orthogonality_detected():
    assert G.is_orthogonal(G.random_orthogonal(G.symmetric(3), np.random.default_rng(0)))
    assert not G.is_orthogonal(G.random_invertible(G.symmetric(3), np.random.default_rng(0)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: G.translations(35), "divisible by"),
        (lambda: G.rotations((4, 5)), "square"),
        (lambda: G.rotations(0), "positive"),
        (lambda: G.dihedral(2), "n >= 3"),
        (lambda: G.symmetric(9), "n <= 7"),
        (lambda: G.from_matrices("bad", np.stack([2 * np.eye(2), np.eye(2)])), "identity"),
        (lambda: G.from_permutations("bad", [[0, 0, 1]]), "permutation"),
        (lambda: G.cayley_table(G.from_matrices("half", np.stack([np.eye(2), 0.5 * np.eye(2)]))), "not closed"),
        (lambda: G.direct_sum(G.cyclic_shift(3), G.cyclic_shift(4)), "same group"),
        (lambda: G.conjugate(G.cyclic_shift(3), np.eye(2)), "(3, 3)"),
        (lambda: G.act(G.cyclic_shift(3), 1, np.zeros(4)), "R^3"),
    ],
)
def test_invalid_input_raises_clear_value_error(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
