"""The Markdown summary of ``python -m empirical.duan`` (README.md beside its figures), every number read from the
experiment's document (``empirical.paper.duan_experiment.experiment``), every sentence's verdict computed."""

from __future__ import annotations

from typing import Any

import numpy as np

from empirical.paper.duan_experiment import FIGURES

__all__ = ["group_runs", "summary", "markdown"]


def _lam(lam: float | None) -> str:
    return "" if lam is None else f"{lam:g}"


def _name(method: str, lam: float | None) -> str:
    return {"constrained": "constrained", "da": "DA"}.get(method) or f"λ = {_lam(lam)}"


def group_runs(doc: dict[str, Any], loss: str) -> list[tuple[str, float | None, list[dict]]]:
    """(method, lambda, runs over seeds) in the paper's order: constrained, DA, the lambdas."""
    keys = [("constrained", None), ("da", None)] + [("reg", lam) for lam in doc["settings"]["lambdas"][loss]]
    return [(m, lam, [r for r in doc["runs"] if r["loss"] == loss and r["method"] == m and r["lam"] == lam])
            for m, lam in keys]


def _g(x: float, digits: int = 3) -> str:
    return "0" if x == 0 else f"{x:.{digits}g}"


def _stat(values: list[float], digits: int = 3) -> str:
    """The mean, and the range over seeds when there are several."""
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return _g(v[0], digits)
    return f"{_g(v.mean(), digits)} [{_g(v.min(), digits)}, {_g(v.max(), digits)}]"


def _own(method: str, lam: float | None) -> str:
    return {"constrained": "inv", "da": "da"}.get(method) or f"reg({_lam(lam)})"


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers: per method the means over seeds, DA's invariance under MSE and CE, the curve shapes."""
    out: dict[str, Any] = {}
    for loss in ("mse", "ce"):
        rows = {}
        for method, lam, runs in group_runs(doc, loss):
            if not runs:
                continue
            f = [r["final"] for r in runs]
            row = {k: float(np.mean([x[k] for x in f])) for k in ("accuracy", "relative_w_perp", "relative_w_perp_seen",
                                                                  "w_perp", "w_perp_blind", "grad_norm")}
            row["legs"] = [" ".join(r["w_perp_shape"]["legs"]) for r in runs]
            row["double_descent_seeds"] = sum(r["w_perp_shape"]["double_descent"] for r in runs)
            row["rise_then_fall_seeds"] = sum(r["w_perp_shape"]["rise_then_fall"] for r in runs)
            row["seeds"] = len(runs)
            if loss == "mse":
                row["excess"] = float(np.mean([x["excess"] for x in f]))
                own = _own(method, lam)
                row["distance_own"] = {k: float(np.mean([r["distances"][own][k] for r in runs]))
                                       for k in ("data", "frobenius_seen", "frobenius")}
                row["distance_inv"] = {k: float(np.mean([r["distances"]["inv"][k] for r in runs]))
                                       for k in ("data", "frobenius_seen", "frobenius")}
            rows[_name(method, lam)] = row
        out[loss] = rows
    return out


def _path_lines(doc: dict[str, Any]) -> list[str]:
    """The regularization path in closed form: when does W^reg(lambda) do as well as W^inv on the augmented set?"""
    cf = doc["closed_forms"]
    path, target = cf["reg_path"], cf["inv"]["accuracy"]
    close = [p["lam"] for p in path if abs(p["accuracy"] - target) <= 0.01]
    paper = doc["settings"]["lambdas"]["mse"]
    by = {p["lam"]: p for p in path}
    cells = [f"λ = {_lam(v)}: {by[v]['accuracy']:.3f} (9λ = {_lam(9 * v)}: {by[float(f'{9 * v:.6g}')]['accuracy']:.3f})"
             for v in paper if v in by and float(f"{9 * v:.6g}") in by]
    return [f"The regularization path in closed form ({len(path)} values of λ from {path[0]['lam']:g} to "
            f"{path[-1]['lam']:g}, `duan.json` → `closed_forms` → `reg_path`): W^reg(λ)'s accuracy on the augmented "
            "set "
            + (f"is within 0.01 of W^inv's {target:.3f} from λ = {min(close):g} on" if close else
               f"stays more than 0.01 below W^inv's {target:.3f}")
            + f"; at the paper's λ: {'; '.join(cells)}. The paper does not say how its MSE is normalized: with "
            "PyTorch's default (a mean over the 9 outputs too) its λ is 9λ in the theory's normalization used here."]


def _growth(doc: dict[str, Any], loss: str) -> str:
    """The mean growth of DA's ||W||_F over the last fifth of the recorded epochs, in percent."""
    vals = []
    for r in doc["runs"]:
        if r["loss"] == loss and r["method"] == "da":
            norm = r["curves"]["w_norm"]
            vals.append(norm[-1] / norm[int(0.8 * (len(norm) - 1))] - 1)
    return f"{100 * float(np.mean(vals)):.0f}" if vals else "?"


def _still_falling(doc: dict[str, Any], loss: str) -> bool:
    """Whether every DA run's objective fell over the last fifth of the recorded epochs."""
    runs = [r["curves"]["objective"] for r in doc["runs"] if r["loss"] == loss and r["method"] == "da"]
    return bool(runs) and all(o[-1] < o[int(0.8 * (len(o) - 1))] for o in runs)


def _time(doc: dict[str, Any]) -> str:
    text = f"training {doc['train_cpu_seconds']:.0f} s of CPU ({doc['train_seconds']:.0f} s wall)"
    if "cpu_seconds" in doc:
        text += f", the whole command {doc['cpu_seconds']:.0f} s of CPU ({doc['wall_seconds']:.0f} s wall)"
    return text


def _distance_table(doc: dict[str, Any]) -> list[str]:
    targets = list(doc["runs"][0]["distances"]) if doc["runs"] and "distances" in doc["runs"][0] else []
    head = ["trained ↓ / closed form →"] + [f"W^{t}" for t in targets]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, lam, runs in group_runs(doc, "mse"):
        cells = [_name(method, lam)] + [_stat([r["distances"][t]["data"] for r in runs]) for t in targets]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(doc: dict[str, Any]) -> str:
    """README.md for the output folder."""
    s = summary(doc)
    d, cf, sc = doc["data"], doc["closed_forms"], doc["scale"]
    prov = doc["provenance"]
    lambdas = doc["settings"]["lambdas"]
    lines = ["# Duan & Montúfar 2026, §4 and Appendix C.2, regenerated (`python -m empirical.duan`)", "",
             f"Command: `{doc.get('command', 'python -m empirical.duan')}`. Scale **{doc['scale_tag']}**: "
             f"n = {sc['n_train']} images, {sc['epochs']} epochs, {sc['seeds']} initialization seed(s) (data seed "
             f"{doc['seed']}), long DA run {sc['long_epochs']} epochs. Time: {_time(doc)} on {prov['device']} "
             f"(one torch and one BLAS thread); code {prov['code']}, torch {prov['torch']}.",
             "", "Paper's setting: two-layer linear network, 5 hidden units, 14 × 14 MNIST without digit 9, C4 by "
             "rotation, one-hot targets, Adam lr 1e-3; DA with all four rotations; constrained = f(x) = W2 W1 B x; "
             f"regularization λ‖WG‖²_F with λ ∈ {{{', '.join(map(_lam, lambdas['mse']))}}} (MSE), "
             f"{{{', '.join(map(_lam, lambdas['ce']))}}} (cross-entropy). Our choices where the paper is silent "
             "(also in `duan.json` → `choices` and `empirical/paper/duan_experiment.py`):", ""]
    lines += [f"- {k}: {v}" for k, v in doc["choices"].items()]
    # ---- the data
    full_rank = d["rank_s_aug"] == d["d0"]
    lines += ["", "## The data do not span R^196", "",
              f"Of the {d['d0']} pixels, {d['dark_pixels']} are zero in all {d['n']} images and {d['dark_orbits']} "
              f"whole C4 orbits ({4 * d['dark_orbits']} pixels) are zero in every rotation of every image: rank XXᵀ = "
              f"{d['rank_xxt']}, rank S_aug = {d['rank_s_aug']} (S_aug = Σ_g ρ(g)XXᵀρ(g)ᵀ; its nonzero eigenvalues "
              f"span {d['s_aug_eigenvalues_min_max'][0]:.3g} to {d['s_aug_eigenvalues_min_max'][1]:.3g}). "
              + ("The paper's assumption that XXᵀ is invertible (Eq. 5) fails on its own experiment, so "
                 "`theory.duan` cannot be applied as is. " if d["rank_xxt"] < d["d0"] else "")
              + ("The closed forms below are the least-norm optima on the subspace each objective sees "
                 "(`theory/duan_span.py`, which calls `theory.duan` there); on the blind rest a trained network keeps "
                 "whatever W2(t) W1(0) puts there, so trained and closed-form W are compared in the data metric "
                 "‖(W − W*)X_augᵀ‖_F / ‖W* X_augᵀ‖_F (all the loss sees) and in Frobenius norm on the lit pixels."
                 if not full_rank else ""), ""]
    # ---- closed forms
    lines += ["## Closed forms on these data (MSE, rank 5)", "",
              "| optimum | its objective | MSE on the augmented set | accuracy (augmented) | ‖W‖_F | ‖W_⊥‖_F |",
              "|---|---|---|---|---|---|"]
    rows = [("W^inv (Thm. 6, Eq. 4)", cf["inv"]), ("W^da (Prop. 11, Eq. 9)", cf["da"])]
    rows += [(f"W^reg(λ = {k}) (Prop. 8, Eq. 7)", v) for k, v in cf["reg"].items()]
    for name, v in rows:
        lines.append(f"| {name} | {v['objective']:.6f} | {v['augmented_mse']:.4f} | {v['accuracy']:.4f} | "
                     f"{v['w_norm']:.3g} | {_g(v['w_perp'])} |")
    lines += ["", f"‖W^da − W^inv‖_F / ‖W^inv‖_F = {cf['da_vs_inv']:.2g} (Thm. 12 holds here too)."]
    if cf.get("reg_path"):
        lines += ["", *_path_lines(doc)]
    # ---- trained vs closed forms
    m = s["mse"]
    lines += ["", "## Trained (MSE) against the closed forms", "",
              "Means over seeds, [min, max] when there are several. Distances are relative: data metric / Frobenius "
              "on lit pixels / plain Frobenius.", "",
              "| method | accuracy | objective − optimum | ‖W_⊥‖/‖W‖ (lit pixels) | ‖∇θ‖ at the end | to its own "
              "closed form | to W^inv (data metric) |", "|---|---|---|---|---|---|---|"]
    for method, lam, runs in group_runs(doc, "mse"):
        if not runs:
            continue
        own = _own(method, lam)
        f = [r["final"] for r in runs]
        dist = " / ".join(_stat([r["distances"][own][k] for r in runs], 2) for k in ("data", "frobenius_seen",
                                                                                   "frobenius"))
        lines.append(f"| {_name(method, lam)} | {_stat([x['accuracy'] for x in f])} | "
                     f"{_stat([x['excess'] for x in f], 2)} | {_stat([x['relative_w_perp'] for x in f], 2)} "
                     f"({_stat([x['relative_w_perp_seen'] for x in f], 2)}) "
                     f"| {_stat([x['grad_norm'] for x in f], 2)} | W^{own}: {dist} | "
                     f"{_stat([r['distances']['inv']['data'] for r in runs], 2)} |")
    lines += ["", "Every trained W against every closed form (data metric):", "", *_distance_table(doc)]
    da = m.get("DA")
    long_run = doc.get("long_da")
    if da:
        lines += ["", "**Reading.** " + _reading(doc, s, long_run)]
    # ---- double descent
    lines += ["", "## The non-invariant part: double descent?", "",
              f"A curve's legs: its falls and rises larger than {doc['settings']['turn_tolerance']:.0%} of its "
              "maximum (`duan_experiment.pattern`); 'double descent' = a fall, a rise, a fall again.", "",
              "| loss | method | legs of ‖W_⊥‖_F per seed | double descent (seeds) | final ‖W_⊥‖_F (on never-lit "
              "pixels) |",
              "|---|---|---|---|---|"]
    for loss in ("mse", "ce"):
        for name, row in s[loss].items():
            lines.append(f"| {loss.upper()} | {name} | {'; '.join(x or 'flat' for x in row['legs'])} | "
                         f"{row['double_descent_seeds']}/{row['seeds']} | {_g(row['w_perp'])} "
                         f"({_g(row['w_perp_blind'])}) |")
    if long_run:
        c = long_run["curves"]
        sh, shs = long_run["w_perp_shape"], long_run["w_perp_seen_shape"]
        turns = ", ".join(f"{v:.3g} at {e}" for e, v in sh["turns"])
        lines += ["", f"The DA run continued to {long_run['epochs']:,} epochs: ‖W_⊥‖_F legs "
                  f"'{' '.join(sh['legs'])}' (turning points {turns}); on the lit pixels '{' '.join(shs['legs'])}', "
                  f"ending at {c['w_perp_seen'][-1]:.3g}; on the never-lit pixels {c['w_perp_blind'][-1]:.3g}. "
                  f"‖W‖_F grows from {c['w_norm'][0]:.3g} to {c['w_norm'][-1]:.3g} "
                  f"(‖W^da‖_F = {cf['da']['w_norm']:.3g}); "
                  f"objective − optimum {c['excess'][-1]:.2g}; distance to W^da: data "
                  f"{long_run['distances']['da']['data']:.2g}, Frobenius on lit pixels "
                  f"{long_run['distances']['da']['frobenius_seen']:.2g}."]
    # ---- cross-entropy
    ce = s["ce"]
    lines += ["", "## Cross-entropy (Appendix C.2)", "",
              "| method | accuracy (augmented) | ‖W_⊥‖/‖W‖ | on lit pixels | ‖∇θ‖ at the end |",
              "|---|---|---|---|---|"]
    for name, row in ce.items():
        lines.append(f"| {name} | {row['accuracy']:.3f} | {_g(row['relative_w_perp'])} | "
                     f"{_g(row['relative_w_perp_seen'])} | {_g(row['grad_norm'], 2)} |")
    if "DA" in ce and da:
        c = ce["DA"]
        rising = sum("up" in legs and "down" not in legs.split("up", 1)[1] for legs in c["legs"])
        lines += ["", f"DA's trained W under cross-entropy: ‖W_⊥‖/‖W‖ = {_g(c['relative_w_perp'])} "
                  f"({_g(c['relative_w_perp_seen'])} on lit pixels) after {sc['epochs']} epochs, against "
                  f"{_g(da['relative_w_perp'])} ({_g(da['relative_w_perp_seen'])}) under MSE: "
                  + ("relatively closer to invariant than under MSE" if c["relative_w_perp"] < da["relative_w_perp"]
                     else "relatively further from invariant than under MSE")
                  + f". In absolute terms ‖W_⊥‖_F = {_g(c['w_perp'])} ({_g(c['w_perp_blind'])} on never-lit pixels) "
                  f"against {_g(da['w_perp'])} ({_g(da['w_perp_blind'])}) under MSE, and it ends rising in {rising} of "
                  f"{c['seeds']} seeds; over the last fifth of the epochs ‖W‖_F grew by {_growth(doc, 'ce')}% "
                  f"(MSE: {_growth(doc, 'mse')}%)"
                  + (" and the objective still fell in every seed: cross-entropy has not converged, and the relative "
                     "measure divides the growth out." if _still_falling(doc, "ce") else ".")]
    # ---- figures
    lines += ["", "## Figures", ""] + [f"![{k}]({v})" for k, v in FIGURES.items()]
    lines += ["", "## Left out", "",
              "- Appendix C.1 (the spectra of the targets) and C.3 (nonlinear two-layer networks, ε_inv under "
              "distribution shift).",
              "- The paper shows one run per curve; we show every seed and one data draw (the data seed).",
              "- No test-set evaluation: the paper's curves, like ours, are on the (augmented) training set.", ""]
    return "\n".join(lines)


def _reading(doc: dict[str, Any], s: dict[str, Any], long_run: dict[str, Any] | None) -> str:
    """One paragraph: how close DA and the constrained model come to the optimum, in loss, predictions and weights."""
    m = s["mse"]
    da, con = m["DA"], m.get("constrained")
    parts = [f"After {doc['scale']['epochs']} epochs DA's objective is within {da['excess']:.2g} of the optimum "
             f"(relative {da['excess'] / doc['closed_forms']['da']['objective']:.1g}) and its predictions on the "
             f"augmented set within {da['distance_own']['data']:.2g} of W^da's, but its weights on the lit pixels are "
             f"{da['distance_own']['frobenius_seen']:.2g} away (relative Frobenius)"]
    if con:
        parts.append(f"the constrained model: {con['excess']:.2g}, {con['distance_own']['data']:.2g} and "
                     f"{con['distance_own']['frobenius_seen']:.2g}")
    text = "; ".join(parts) + (f". ‖W^da‖_F = {doc['closed_forms']['da']['w_norm']:.3g}: the optimum puts large "
                               "weights on pixels lit in few images (small eigenvalues of S_aug), which Adam reaches "
                               "only slowly")
    if long_run:
        text += (f"; continued to {long_run['epochs']:,} epochs, DA reaches {long_run['distances']['da']['data']:.2g} "
                 f"(data) and {long_run['distances']['da']['frobenius_seen']:.2g} (lit pixels)")
    return text + "."
