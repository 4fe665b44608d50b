"""python -m empirical.bridge: its pieces against independent oracles, then --quick end to end."""

import argparse
import json
import math
from functools import lru_cache

import numpy as np
import pytest

from empirical.engine.store import load_json
from tests.fixtures import needs_full_data
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from empirical import bridge
from empirical.cli import add_arguments, context_from_args
from empirical.bridge.deep import run_checks
from empirical.bridge.layers import decay_timing
from empirical.paper.grid import variants
from empirical.bridge.linear import epoch_grid, flow_lr, flow_path, flow_time_per_epoch, linear_metrics
from empirical.bridge.sigma import difference_subspace, orbit_covariance, symmetrize
from empirical.bridge.subspace import split_sensitivity
from empirical.engine.config import RunConfig
from empirical.engine.results import RunResult
from tests.strategies import matrices, orthogonal_representations, representations, vectors
from theory import deep_linear as dl
from theory import groups
from theory import linear_flow as lf
from theory.deep_claims import minimal_counterexample

RTOL = 1e-9
matrices = lru_cache(maxsize=None)(matrices)
vectors = lru_cache(maxsize=None)(vectors)


def integer_data(d: int, n: int):
    """Small-integer data (n, d): ranks of difference matrices are then unambiguous."""
    return hnp.arrays(np.float64, (n, d), elements=st.integers(-3, 3).map(float))


@st.composite
def data(draw, kind="any", integer=False):
    rep = draw(representations(kind))
    n = draw(st.integers(1, 4))
    x = draw(integer_data(rep.dim, n) if integer else vectors(rep.dim, n))
    return rep, x


# ---- Sigma, Sigma_train and S --------------------------------------------------------------------------------------

@given(data())
def test_orbit_covariance_equals_sigma_orbit(case):
    rep, x = case
    ref = lf.sigma_orbit(x, rep)
    got = orbit_covariance(x, rep, chunk=2)  # several chunks
    assert np.allclose(got, ref, rtol=RTOL, atol=RTOL * max(1.0, np.abs(ref).max()))
    assert np.array_equal(got, got.T)


@given(data())
def test_symmetrize_is_the_expected_sigma_of_an_augmented_epoch(case):
    rep, x = case
    augmented = np.mean([lf.sigma_orbit(rep.act(a, x), rep) for a in range(rep.order)], axis=0)
    got = symmetrize(lf.sigma_orbit(x, rep), rep)
    assert np.allclose(got, augmented, rtol=RTOL, atol=RTOL * max(1.0, np.abs(augmented).max()))


@given(data(integer=True))
def test_difference_subspace_is_the_range_of_sigma(case):
    rep, x = case
    sub = difference_subspace(x, rep)
    b = sub.basis
    assert np.allclose(b.T @ b, np.eye(sub.rank), atol=1e-10)
    diffs = (x[None] - groups.orbit(rep, x)).reshape(-1, rep.dim)
    # numpy's SVD rank of the whole difference matrix (no column drop, no QR); the round-off of rho(g) x is
    # ~eps ||rho|| ||x||, so the tolerance is relative to that scale, not to the differences' own s_max
    noise = np.linalg.norm(x, 2) * np.linalg.norm(rep.matrices, 2, axis=(1, 2)).max()
    sv_scale = max(np.linalg.norm(diffs, 2), noise if rep.perms is None else 0.0)
    assert sub.rank == np.linalg.matrix_rank(diffs, tol=max(diffs.shape) * np.finfo(float).eps * sv_scale)
    scale = max(1.0, np.abs(diffs).max())
    assert np.abs(diffs - diffs @ b @ b.T).max() <= 1e-9 * scale  # every x - gx lies in S
    sigma = lf.sigma_orbit(x, rep)
    pi = np.eye(rep.dim) - sub.projector()
    assert np.abs(sigma @ pi).max() <= 1e-9 * max(1.0, np.abs(sigma).max())  # ker Sigma = S^perp
    # the invariant readouts Fix(rho^T) (= Fix(G) for orthogonal rho) lie in ker Sigma
    assert np.abs(b.T @ lf.invariant_projector(rep)).max(initial=0.0) <= 1e-8
    if sub.structural_kernel_dim is not None:
        assert sub.fixed_dim <= sub.structural_kernel_dim <= rep.dim - sub.rank
    # augmenting the data does not change S (span{x - gx} is G-invariant); rho(h) rho(a) x carries round-off
    # of order cond(rho) * eps, above numpy's default rank tolerance for ill-conditioned non-orthogonal rho
    loose = difference_subspace(x, rep, rtol=1e-9)
    aug = difference_subspace(np.concatenate([rep.act(a, x) for a in range(rep.order)]), rep, rtol=1e-9)
    assert aug.rank == loose.rank and np.allclose(aug.projector(), loose.projector(), atol=1e-7)


@given(orthogonal_representations().flatmap(lambda rep: st.tuples(st.just(rep), integer_data(rep.dim, 3))))
def test_data_are_orthogonal_to_the_kernel_beyond_fix(case):
    # v in ker Sigma => v^T x = v^T gx for all g => v^T x = (P_G v)^T x: so x is orthogonal to range(Pi - P_G),
    # and no gradient of any loss of the data moves a linear W there under SGD.
    rep, x = case
    pi = np.eye(rep.dim) - difference_subspace(x, rep).projector()
    assert np.abs(x @ (pi - groups.reynolds(rep))).max() <= 1e-9 * max(1.0, np.abs(x).max())


def test_difference_subspace_falls_back_when_gesdd_does_not_converge(monkeypatch):
    # OpenBLAS's divide-and-conquer SVD can fail to converge (T3's quick data on 2 threads): same S from gesvd
    rep = groups.cyclic_shift(6)
    x = np.random.default_rng(3).standard_normal((4, 6))
    ref = difference_subspace(x, rep)

    def fails(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(np.linalg, "svd", fails)
    got = difference_subspace(x, rep)
    assert got.rank == ref.rank and np.allclose(got.projector(), ref.projector(), atol=1e-12)
    assert np.allclose(got.singular_values, ref.singular_values, rtol=1e-12)


def test_structural_kernel_counts_dead_pixel_orbits():
    # C4 on R^4 plus a second copy that every image leaves at a constant: that orbit is dead.
    rep = groups.direct_sum(groups.cyclic_shift(4), groups.cyclic_shift(4))
    x = np.array([[1.0, 2.0, 0.0, 5.0, 7.0, 7.0, 7.0, 7.0], [0.0, 1.0, 1.0, 3.0, 7.0, 7.0, 7.0, 7.0]])
    sub = difference_subspace(x, rep)
    assert sub.fixed_dim == 2 and sub.structural_kernel_dim == 2 + 3
    assert sub.rank == 3 and not sub.live[4:].any() and sub.live[:4].all()
    f = sub.frozen_projector(groups.reynolds(rep))
    expected = np.zeros((8, 8))
    expected[4:, 4:] = np.eye(4) - 0.25
    assert np.allclose(f, expected)


# ---- the closed-form path ------------------------------------------------------------------------------------------

@given(data(integer=True), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_flow_path_matches_the_theory_closed_form(case, k, seed):
    rep, x = case
    sigma = lf.sigma_orbit(x, rep)
    assume(np.abs(sigma).max() > 0)
    w0 = np.random.default_rng(seed).standard_normal((k, rep.dim))
    lam_max = np.linalg.eigvalsh(sigma)[-1]
    ts = np.array([0.0, 0.1, 1.0, 10.0]) / lam_max
    sub = difference_subspace(x, rep)
    pg, pi = groups.reynolds(rep), np.eye(rep.dim) - sub.projector()
    ref = lf.flow_closed_form(w0, sigma, ts)
    for basis in (None, sub.basis):
        got = flow_path(w0, sigma, ts, {"PG": pg, "Pi": pi}, basis)
        for i, w in enumerate(ref):
            scale = np.linalg.norm(w0)
            assert math.isclose(got["dist_PG"][i], np.linalg.norm(w - w0 @ pg) / scale, rel_tol=1e-7, abs_tol=1e-9)
            assert math.isclose(got["dist_Pi"][i], np.linalg.norm(w - w0 @ pi) / scale, rel_tol=1e-7, abs_tol=1e-9)
            assert math.isclose(got["sigma_max"][i], lf.spectral_norm(w), rel_tol=1e-7, abs_tol=1e-12)
            assert math.isclose(got["LI"][i], lf.logit_invariance(w, sigma), rel_tol=1e-6,
                                abs_tol=1e-9 * lf.logit_invariance(w0, sigma) + 1e-300)
    # t = 0 is W(0) itself; with S's basis the limit W(0) Pi is reached exactly
    t_end = 1e6 / sub.singular_values[:sub.rank].min() ** 2  # lambda_min(Sigma) t = 1e6 on S
    path = flow_path(w0, sigma, np.array([0.0, t_end]), {"PG": pg, "Pi": pi}, sub.basis)
    assert math.isclose(path["dist_PG"][0], np.linalg.norm(w0 - w0 @ pg) / np.linalg.norm(w0), rel_tol=1e-12)
    assert path["dist_Pi"][1] < 1e-12


def test_flow_time_per_epoch_of_flow_lr_is_rate_times_steps():
    tau, n, order = 3.7e-6, 1000, 4
    for batch in (500, 300, 1000):
        lr = flow_lr(tau, n, order, rate=0.25)
        c = RunConfig(model="IR", form="LI", nu=1.0, ce=0.0, optimizer="sgd", lr=lr, batch_size=batch, n_train=n)
        steps = math.ceil(n / batch)
        assert math.isclose(flow_time_per_epoch(c, order) / tau, 0.25 * steps, rel_tol=5e-3)  # lr has 3 digits
    with pytest.raises(ValueError, match="tau > 0"):
        flow_lr(0.0, n, order)


@given(st.integers(1, 400))
def test_epoch_grid_is_sorted_unique_and_ends_at_epochs(epochs):
    grid = epoch_grid(epochs)
    assert grid[0] == 1 and grid[-1] == epochs and grid == sorted(set(grid)) and len(grid) <= 7


def test_linear_metrics_of_invariant_and_frozen_weights():
    rep = groups.direct_sum(groups.cyclic_shift(4), groups.cyclic_shift(4))
    x = np.array([[1.0, 2.0, 0.0, 5.0, 7.0, 7.0, 7.0, 7.0], [0.0, 1.0, 1.0, 3.0, 7.0, 7.0, 7.0, 7.0]])
    sub = difference_subspace(x, rep)
    pg, pi = groups.reynolds(rep), np.eye(8) - sub.projector()
    frozen = sub.frozen_projector(pg)
    w0 = np.random.default_rng(0).standard_normal((3, 8))
    m = linear_metrics(w0 @ pg, w0, pg, pi, frozen)
    assert m["noninvariant_fraction"] < 1e-12 and m["data_noninvariant_fraction"] < 1e-12 and m["dist_W0PG"] < 1e-12
    m = linear_metrics(w0 @ pi, w0, pg, pi, frozen)  # the flow's limit: frozen part untouched, LI-visible part gone
    assert m["frozen_drift"] < 1e-12 and m["data_noninvariant_fraction"] < 1e-12 and m["dist_W0Pi"] < 1e-12
    assert math.isclose(m["frozen_fraction"], np.linalg.norm(w0 @ frozen) / np.linalg.norm(w0 @ pi), rel_tol=1e-12)


# ---- part 4: the subspace split -------------------------------------------------------------------------------------

@given(matrices(3, 7), st.integers(0, 7), st.integers(0, 2**32 - 1))
def test_split_sensitivity_of_a_linear_map(w, r, seed):
    basis = np.linalg.qr(np.random.default_rng(seed).standard_normal((7, 7)))[0][:, :r]
    p_s = basis @ basis.T
    jac = np.stack([w, w])  # a linear model: J(x) = W at every x
    got = split_sensitivity(jac, basis)
    assert np.allclose(got["S"], np.linalg.norm(w @ p_s, 2), rtol=1e-9, atol=1e-12)
    assert np.allclose(got["perp"], np.linalg.norm(w @ (np.eye(7) - p_s), 2), rtol=1e-9, atol=1e-12)
    assert np.allclose(got["J"], np.linalg.norm(w, 2), rtol=1e-9, atol=1e-12)
    if np.abs(w).max() > 0:
        wn = w / np.abs(w).max()  # the share is scale-free; normalizing keeps tiny W out of float underflow
        assert np.allclose(got["energy_in_S"], np.sum((wn @ p_s) ** 2) / np.sum(wn ** 2), rtol=1e-9, atol=1e-12)
    else:
        assert np.all(got["energy_in_S"] == 0)
    assert np.all(got["J"] <= np.sqrt(got["S"] ** 2 + got["perp"] ** 2) * (1 + 1e-9) + 1e-12)
    assert np.all(np.maximum(got["S"], got["perp"]) <= got["J"] * (1 + 1e-9) + 1e-12)


def test_split_sensitivity_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="J must be"):
        split_sensitivity(np.zeros((2, 3, 5)), np.eye(4)[:, :2])


# ---- part 2: the deep-linear checks on exact trajectories ----------------------------------------------------------

def _fake_run(trajectory, sigma, every_epoch: int) -> tuple[list[np.ndarray], RunResult]:
    """A RunResult whose history is a theory trajectory (as the engine records it: epochs 1.., not 0)."""
    layers0 = [w[0] for w in trajectory]
    steps = range(every_epoch, len(trajectory[0]), every_epoch)
    at = lambda i: tuple(w[i] for w in trajectory)  # noqa: E731
    history = {"probe_sigma_max_J": [float(dl.end_to_end_spectral(at(i))) for i in steps],
               "layer_sigma_max": [dl.layer_spectral_norms(at(i)).tolist() for i in steps],
               "train_penalty": [dl.logit_invariance(at(i), sigma) for i in steps]}
    last = at(len(trajectory[0]) - 1)
    config = RunConfig(depth=len(layers0), hidden=2, activation="linear", model="IR", form="LI", nu=1.0, ce=0.0,
                       optimizer="sgd", select="last")
    state = {f"layers.{k}.weight": torch.as_tensor(w) for k, w in enumerate(last)}
    return layers0, RunResult(config=config, state_dict=state, best_epoch=0, best_val_acc=0.0, history=history)


def test_run_checks_on_a_balanced_gradient_descent_trajectory():
    rep = groups.cyclic_shift(5)
    x = np.random.default_rng(1).standard_normal((3, 5))
    sigma = lf.sigma_orbit(x, rep)
    layers0 = dl.initialize((5, 3, 3, 2), "balanced", 7)
    alpha = 0.05 * dl.flow_time_scale(layers0, sigma)
    traj = dl.gradient_descent(layers0, sigma, alpha, 2000, every=1)
    l0, res = _fake_run(traj, sigma, every_epoch=100)
    c = run_checks(l0, res)
    assert c["worst_increase"] <= 1 + 1e-9 and c["bound_ratio"] <= 1 + 1e-9  # balanced: sigma_max non-increasing
    assert c["frobenius_loss_spread"] < 0.05 and c["balancedness_drift"] < 1e-2  # flow invariants, to O(alpha)
    assert c["final_over_initial"] < 1 and c["li_final_over_first"] < 1
    assert len(c["sigma_max"]) == 21 and c["sigma_max"][0] == pytest.approx(dl.end_to_end_spectral(layers0))


def test_run_checks_sees_the_minimal_counterexample_increase():
    case = minimal_counterexample()  # sigma_max(W) = 5 grows at first under the flow (d/dt ||W||^2 = 12)
    alpha = 1e-3 * dl.flow_time_scale(case.layers, case.sigma)
    traj = dl.gradient_descent(case.layers, case.sigma, alpha, 400, every=1)
    l0, res = _fake_run(traj, case.sigma, every_epoch=20)
    c = run_checks(l0, res)
    assert c["worst_increase"] > 1.0001 and c["max_over_initial"] > 1.0001
    assert c["last_layer_worst_increase"] <= 1 + 1e-9  # the last layer never grows (any init)


# ---- part 3: decay timing --------------------------------------------------------------------------------------------

def test_decay_timing_on_hand_made_curves():
    da = np.full(10, 10.0)
    ir = np.array([8.0, 11.0, 12.0, 11.0, 9.0, 7.0, 5.0, 3.0, 2.5, 2.0])
    t = decay_timing(ir, da)
    assert t["peak_epoch"] == 3 and t["peak"] == 12.0
    assert t["cross_epoch"] == 5  # below DA from epoch 5 to the end (epoch 1 does not count: it rises again)
    assert t["half_decay_epoch"] == 6  # first epoch after the peak at or below 12 - (12 - 2) / 2 = 7
    assert t["final_over_peak"] == pytest.approx(2.0 / 12.0)
    assert decay_timing(np.full(4, 11.0), np.full(4, 10.0))["cross_epoch"] is None


# ---- the command, end to end --------------------------------------------------------------------------------------

needs_data = needs_full_data("mnist")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    root = tmp_path_factory.mktemp("bridge")
    out, cache = root / "out", root / "cache"
    argv = ["--quick", "--epochs", "1", "--seeds", "1", "--groups", "R4", "--out", str(out), "--cache-dir", str(cache),
            "--quiet", "--theory-cases", "1"]
    assert bridge.main(argv) == 0
    return json.loads((out / "bridge.json").read_text()), out, cache, argv


@needs_data
def test_quick_linear_matches_the_closed_form(quick):
    result = quick[0]
    lin = result["linear"]["R4"]
    sub = lin["subspace"]
    assert sub["rank_S"] + sub["ker_dim"] == 1296 and sub["fixed_dim"] == 324
    assert sub["fixed_dim"] <= sub["structural_ker_dim"] <= sub["ker_dim"]
    assert sub["largest_dropped_sv_rel"] < 1e-3 * sub["smallest_kept_sv_rel"]  # a clear gap at the rank cut
    assert lin["sigma_outside_S_rel"] < 1e-10 and lin["limit"]["W0Pi_train_LI_rel"] < 1e-10
    assert lin["data_on_Pi_minus_PG_rel"] < 1e-10
    for p in lin["pure_flow"]["points"]:  # the engine's SGD follows W(0) expm(-Sigma_train t)
        assert p["dist_W0Pi"][0] == pytest.approx(p["closed_dist_W0Pi"][0], rel=1e-2)
        assert p["dist_W0PG"][0] == pytest.approx(p["closed_dist_W0PG"][0], rel=1e-2)
        assert p["kernel_drift"][0] < 1e-5  # W Pi is exactly conserved (float32 round-off)
    assert lin["pure_flow"]["sigma_max_history_rel_err"] < 1e-2
    rows = [(r["model"], r["nu"], r["select"]) for r in lin["nu_sweep"]]
    assert rows[:2] == [("DA", 0.0, "best_val"), ("DA", 0.0, "last")] and len(rows) == 8  # quick: 3 nu values
    for r in lin["nu_sweep"]:
        assert r["frozen_drift"][0] < 1e-4  # dead-pixel orbits: never moved by CE, LI or Adam
        assert r["noninvariant_fraction"][0] >= r["frozen_fraction"][0] * (1 - 1e-9)


@needs_data
def test_quick_deep_layers_and_subspace(quick):
    result, out, cache, _ = quick
    deep = result["deep_linear"]["R4"]
    assert set(deep["flow"]) == {"glorot", "he", "orthogonal", "balanced"}
    for a in deep["flow"].values():
        assert len(a["sigma_max_mean"]) == 2  # epoch 0 (init) and epoch 1
        assert a["max_bound_ratio"] <= 1 + 1e-4 and a["max_last_layer_worst_increase"] <= 1 + 1e-4
        assert a["max_balancedness_drift"] < 1e-5 and a["max_frobenius_loss_spread"] < 0.05
    assert {v["claim"] for v in result["deep_linear_theory"]} >= {"deep_linear_balanced_init_spectral"}
    curves = result["layers"]["groups"]["R4"]
    assert list(curves) == ["DA", "IR-LI", "IR-DI", "IR-NLI"]
    for c in curves.values():
        assert len(c["J"]) == 1 and len(c["layers"][0]) == 5
    assert [r["model"] for r in result["layers"]["fig5_rows"]] == list(curves)
    sub = result["subspace"]["R4"]
    assert set(sub["models"]) == {"WT", "DA", "IR"}
    for m in sub["models"].values():
        assert m["S"][0] > 0 and m["perp"][0] > 0 and 0 <= m["energy_in_S"][0] <= 1
        assert m["J"][0] <= math.hypot(m["S"][0], m["perp"][0]) * (1 + 1e-6)
    for name in ("linear", "deep_linear", "layers", "subspace"):
        assert (out / f"bridge_{name}.png").stat().st_size > 0


@needs_data
def test_quick_reuses_figure5_runs_and_the_cache(quick):
    result, out, cache, argv = quick
    ctx = context_from_args(add_arguments(argparse.ArgumentParser()).parse_known_args(argv)[0])
    configs, _ = variants(ctx, "R4")  # the tunings come from the cache
    assert {label: runs[0].nu for label, runs in configs.items()} == {
        r["model"]: r["nu"] for r in result["layers"]["fig5_rows"]}
    for runs in configs.values():
        for c in runs:  # spectral.spectral wrote a test-split evaluation with sigma_max(J) for this very config
            evals = [load_json(p) for p in ctx.runs_dir.glob(f"{c.key()}.eval-*.json")]
            assert any(e["split"] == "test" and "sigma_max_J" in e for e in evals)
    before = {p: p.stat().st_mtime_ns for p in ctx.runs_dir.iterdir()}
    assert bridge.main([*argv, "--parts", "layers", "subspace"]) == 0
    assert {p: p.stat().st_mtime_ns for p in ctx.runs_dir.iterdir()} == before
    merged = json.loads((out / "bridge.json").read_text())  # the parts not rerun are kept
    assert merged["parts"] == list(bridge.PARTS) and merged["linear"] == result["linear"]
    assert not list(ctx.runs_dir.glob("stack-*.ckpt"))


def test_merge_keeps_the_parts_not_rerun_with_their_scales():
    full, short = {"epochs": 300, "seeds": 4}, {"epochs": 30, "seeds": 1}
    old = {"groups": ["R4"], "parts": ["linear", "layers"], "scale": full, "device": "cpu", "linear": {"R4": 1},
           "layers": {"old": 1}}  # a file without part_scales: its parts take the top-level scale
    new = {"groups": ["R4"], "parts": ["layers"], "scale": short, "device": "cpu", "layers": {"new": 2},
           "part_scales": {"layers": {**short, "device": "cpu"}}}
    out = bridge.merge(old, new)
    assert out["parts"] == ["linear", "layers"] and out["linear"] == {"R4": 1} and out["layers"] == {"new": 2}
    assert out["part_scales"] == {"linear": {**full, "device": "cpu"}, "layers": {**short, "device": "cpu"}}
    assert out["scale"].startswith("mixed") and out["scale_tag"] == "mixed"
    again = bridge.merge(out, {**new, "parts": ["linear"], "linear": {"R4": 3},
                               "part_scales": {"linear": {**short, "device": "cpu"}}})  # a mixed file merges again
    assert again["layers"] == {"new": 2} and again["linear"] == {"R4": 3}
    assert again["part_scales"]["layers"] == {**short, "device": "cpu"} and again["scale"] == short
    assert bridge.merge({**old, "groups": ["T3"]}, new) == new  # other groups: nothing to keep
    assert bridge.merge(None, new) == new


def test_merge_keeps_each_parts_provenance_and_names_an_older_one():
    old = {"groups": ["R4"], "parts": ["linear", "layers"], "scale": {}, "linear": 1, "layers": 1}  # none recorded
    v1, v2 = {"code": "aaa", "engine": 1}, {"code": "bbb", "engine": 2}
    new = {"groups": ["R4"], "parts": ["linear"], "scale": {}, "linear": 2, "part_scales": {"linear": {}},
           "provenance": v2, "part_provenance": {"linear": v2}}
    out = bridge.merge(old, new)
    # the kept part predates provenance records: the file's provenance is unknown, not the new run's
    assert out["part_provenance"] == {"linear": v2, "layers": None} and out["provenance"] == {}
    out = bridge.merge({**old, "provenance": v1}, new)
    assert out["part_provenance"] == {"linear": v2, "layers": v1}
    assert out["provenance"] == {"code": "linear bbb, layers aaa", "engine": 1}  # the oldest engine is reported
    again = bridge.merge(out, {**new, "parts": ["layers"], "layers": 3, "part_scales": {"layers": {}},
                               "part_provenance": {"layers": v2}})
    assert again["part_provenance"] == {"linear": v2, "layers": v2} and again["provenance"] == v2


def _context(tmp_path, *options):
    return context_from_args(add_arguments(argparse.ArgumentParser()).parse_args(
        [*options, "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]))


def test_quick_parts_run_one_seed_and_the_full_scale_is_untouched(tmp_path):
    quick = _context(tmp_path, "--quick")
    parts = bridge.part_contexts(quick)
    assert set(parts) == set(bridge.PARTS)
    for c in parts.values():  # one seed; everything else (n_train: Sigma and S are shared) as the command's scale
        assert c.scale.seeds == 1 and {**vars(c.scale), "seeds": quick.scale.seeds} == vars(quick.scale)
        assert (c.device, c.cache_dir, c.out, c.stack) == (quick.device, quick.cache_dir, quick.out, quick.stack)
    kept = bridge.part_contexts(_context(tmp_path, "--quick", "--seeds", "3"), keep=("seeds",))
    assert all(c.scale.seeds == 3 for c in kept.values())  # an option given on the command line wins
    full = _context(tmp_path)
    assert all(c is full for c in bridge.part_contexts(full).values())
    custom = _context(tmp_path, "--epochs", "7")
    assert all(c is custom for c in bridge.part_contexts(custom).values())


def test_the_package_runs_as_a_module():
    import importlib

    assert importlib.import_module("empirical.bridge.__main__").main is bridge.main


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        bridge.main(["--help"])
    text = capsys.readouterr().out
    assert e.value.code == 0 and "--quick" in text and "--parts" in text


def test_unknown_part_is_rejected():
    with pytest.raises(ValueError, match="unknown parts"):
        bridge.bridge(None, ("R4",), ("linear", "nonsense"))
