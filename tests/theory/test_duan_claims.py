"""DUAN_CLAIMS (theory/duan_claims.py, duan_landscape_claims.py): each seeded check returns the verdict the mathematics
predicts, counterexamples replay from their JSON, and the claims are registered in theory.claims.all_claims()."""

import json
import re

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from theory import duan, groups
from theory import duan_path as dp
from theory.claim import Verdict, claim_rng
from theory.claims import all_claims, check_all
from theory.duan_claims import DUAN_CLAIMS, OPTIMUM_CLAIMS
from theory.linear_flow import invariance_defect

BY_ID = {c.id: c for c in DUAN_CLAIMS}
# The verdict each claim must return: True where it holds (the paper's statement, or an extension proved here),
# False where a counterexample exists (Thm. 9's continuity as stated, and naive extensions beyond an assumption).
EXPECTED = {
    "duan_prop4_generators": True,
    "duan_prop4_single_non_generator": False,
    "duan_thm6_constrained_optimum": True,
    "duan_thm6_without_rank_assumption": True,
    "duan_thm6_unique_with_tied_singular_values": False,
    "duan_prop8_regularized_optimum": True,
    "duan_prop8_generator_independent": False,
    "duan_thm9_limits_and_rates": True,
    "duan_thm9_limit_any_penalty": True,
    "duan_thm9_continuity_as_stated": False,
    "duan_thm9_continuity_with_gap": True,
    "duan_prop11_da_optimum": True,
    "duan_prop11_invariant_unitary": True,
    "duan_prop11_invariant_nonunitary": True,
    "duan_thm12_da_equals_constrained": True,
    "duan_thm12_nonunitary": True,
    "duan_eq34_eq42_nonunitary": False,
    "duan_prop13_critical_points": True,
    "duan_prop13_strict_saddles": True,
    "duan_prop13_repeated_singular_values": False,
    "duan_prop13_count_narrow_output": False,
    "duan_seed_limits_relation": True,
    "duan_seed_flow_from_least_squares": False,
}
CASES = 12  # as in tests/theory/test_flow_demo.py (--cases 12, seed 0): every boundary meets a counterexample
LOSS_RATIO = {"duan_thm6_constrained_optimum", "duan_thm6_without_rank_assumption", "duan_prop8_regularized_optimum",
              "duan_prop11_da_optimum"}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, Verdict]:
    with threadpool_limits(limits=1, user_api="blas"):
        return {c.id: c.check(claim_rng(0, c.id), CASES) for c in DUAN_CLAIMS}


def test_ids_statements_and_registration():
    ids = [c.id for c in DUAN_CLAIMS]
    assert ids == list(EXPECTED), "a claim was added, renamed or moved: record its expected verdict here"
    assert all(re.fullmatch(r"duan_[a-z0-9_]+", i) for i in ids)
    for c in DUAN_CLAIMS:
        assert c.statement.startswith("Duan & Montúfar 2026") and c.statement.endswith(".")
        assert c.expected is EXPECTED[c.id]
    # registered after the seed paper's claims, in this order
    assert [c.id for c in all_claims()][-len(ids):] == ids


def test_check_all_gives_the_duan_claims_the_linear_case_count():
    verdicts = {v.claim: v for v in check_all(seed=1, cases=2, deep_cases=1)}
    assert all(verdicts[i].cases == 2 for i in EXPECTED)


@pytest.mark.parametrize("claim_id", list(EXPECTED))
def test_verdict_is_the_expected_one(verdicts, claim_id):
    v = verdicts[claim_id]
    assert v.claim == claim_id and v.cases == CASES and v.statement == BY_ID[claim_id].statement
    assert v.holds is EXPECTED[claim_id], v.detail
    assert (v.counterexample is None) == v.holds
    json.dumps(v.to_json())  # JSON-ready, arrays included
    if claim_id in LOSS_RATIO:  # the closed form is never beaten by a trained network, and is reached
        assert 1 - 1e-8 <= v.worst_ratio <= 1 + 1e-9


def test_holding_claims_report_tight_numbers(verdicts):
    assert verdicts["duan_prop4_generators"].worst_ratio <= 1e-8
    assert -1.05 <= verdicts["duan_thm9_limits_and_rates"].worst_ratio <= -0.95
    assert verdicts["duan_thm9_continuity_with_gap"].worst_ratio <= 1e-6
    assert verdicts["duan_prop11_invariant_nonunitary"].worst_ratio <= 1e-8
    assert verdicts["duan_thm12_nonunitary"].worst_ratio <= 1e-8
    assert verdicts["duan_prop13_strict_saddles"].worst_ratio < 0  # every non-global point has a negative direction


def rep_from(cex):
    if "perms" in cex:
        return groups.from_permutations(cex["group"], np.array(cex["perms"]))
    return groups.from_matrices(cex["group"], np.array(cex["rho"]))


def cex_of(verdicts, claim_id):
    return json.loads(json.dumps(verdicts[claim_id].to_json()))["counterexample"]


def test_thm9_counterexample_replays(verdicts):
    """The reported jump of the path, rebuilt from the JSON alone: W^reg on both sides of the jump differ by the
    reported amount, and both are optimal (their objectives meet at the jump)."""
    cex = cex_of(verdicts, "duan_thm9_continuity_as_stated")
    rep, x, y, r = rep_from(cex), np.array(cex["X"]), np.array(cex["Y"]), cex["r"]
    assert cex["assumptions_hold"] and cex["jump"] > 0.05
    g = duan.constraint_matrix(rep)
    a, b = cex["lambda_a"], cex["lambda_b"]
    assert b - a <= 1e-9 * b
    w_a, w_b = duan.regularized_optimum(x, y, g, a, r), duan.regularized_optimum(x, y, g, b, r)
    scale = np.linalg.norm(duan.constrained_optimum(x, y, g, r))
    assert np.linalg.norm(w_b - w_a) / scale == pytest.approx(cex["jump"], rel=1e-6)
    mid = 0.5 * (a + b)
    assert duan.regularized_loss(w_a, x, y, g, mid) == pytest.approx(duan.regularized_loss(w_b, x, y, g, mid), rel=1e-8)
    # the full-rank assumption of Thm. 9 holds along the path
    path = dp.PathInstance(rep, x, y, g, r).path
    for lam in (0.0, a, 10 * b):
        s = np.linalg.svd(path.target(lam), compute_uv=False)
        assert s[min(x.shape[0], y.shape[0]) - 1] > 1e-6 * s[0]


def test_non_generator_counterexample_replays(verdicts):
    cex = cex_of(verdicts, "duan_prop4_single_non_generator")
    rep, w, h = rep_from(cex), np.array(cex["W"]), cex["h"]
    assert not cex["h_generates_G"]
    assert np.allclose(w @ (np.eye(rep.dim) - rep.matrices[h]), 0, atol=1e-12)
    assert invariance_defect(w, rep) == pytest.approx(cex["ratio"], rel=1e-9) and cex["ratio"] > 0.1


def test_seed_flow_counterexample_replays(verdicts):
    """The LI flow from W_LS ends at W_LS Pi; W^inv = W_LS Pi_S differs by the reported amount."""
    from theory.duan_landscape import invariant_basis

    cex = cex_of(verdicts, "duan_seed_flow_from_least_squares")
    rep, x, y = rep_from(cex), np.array(cex["X"]), np.array(cex["Y"])
    basis = invariant_basis(rep)
    w_ls = duan.least_squares(x, y)
    w_inv = duan.constrained_optimum(x, y, duan.constraint_matrix(rep), basis.shape[1])
    dist = np.linalg.norm(w_ls @ basis @ basis.T - w_inv) / np.linalg.norm(w_inv)
    assert dist == pytest.approx(cex["ratio"], rel=1e-8) and dist > 1e-3


def test_same_seed_same_verdict_other_seed_other_draws():
    claim = BY_ID["duan_thm12_nonunitary"]
    a, b, c = (claim.check(claim_rng(s, claim.id), 4) for s in (5, 5, 6))
    assert json.dumps(a.to_json()) == json.dumps(b.to_json())
    assert a.worst_ratio != c.worst_ratio


def test_optimum_claims_come_first():
    assert [c.id for c in DUAN_CLAIMS[: len(OPTIMUM_CLAIMS)]] == [c.id for c in OPTIMUM_CLAIMS]
    with pytest.raises(ValueError, match="cases"):
        DUAN_CLAIMS[0].check(np.random.default_rng(0), 0)
