"""Duan & Montúfar 2026, §4 and Appendix C.2: a two-layer linear network on 14 x 14 MNIST learning C4 invariance by
data augmentation (DA), hard-wiring ("constrained") and regularization, beside the closed-form optima of
``theory.duan`` (through ``theory.duan_span``, because these data do not span R^196).

The paper's settings (§4.1–4.3, Figures 1–4; Appendix C.2, Figures 6–9):

- 1,000 MNIST images without digit 9 (9 classes), downsampled to 14 x 14 (inputs in R^196); C4 acts by rotating the
  image by multiples of 90 degrees; DA uses all four rotations of every image (4,000 samples);
- a two-layer linear network x -> W2 W1 x with 5 hidden units (end-to-end W = W2 W1, rank <= 5), one-hot targets,
  MSE loss; Adam, lr 1e-3, betas (0.9, 0.999);
- hard-wiring as f(x) = W2 W1 B x with W1 in R^{5 x 49} and B in R^{49 x 196}, B G = 0 ("feature averaging");
- regularization lambda ||W G||_F^2, G = I - rho(g) for the generator g (Prop. 4), lambda in {1e-3, 1e-2, 1e-1} with
  MSE and {1e-2, 1e-1, 1} with cross-entropy; trained without augmentation, its accuracy measured on the augmented
  set "to make a fair comparison" (Figure 2);
- Figure 1: entries of W in columns 45, 52, 143, 150 (one C4 orbit of pixels) against epochs, DA + MSE;
  Figure 2: accuracy on the augmented set of the three methods; Figure 3: ||W_perp||_F, W_perp the non-invariant part
  of W; Figure 4: ||W - W_perp||_F^2 / ||W||_F^2; their axes run to 2,500 epochs.

Choices the paper leaves open, ours (recorded in the output JSON under "choices"):

- the 1,000 images: drawn uniformly without replacement from the 54,051 training images of digits 0–8, with
  ``numpy.random.default_rng(seed)``; every run of one invocation uses the same images;
- downsampling: the mean of each 2 x 2 block of the [0, 1] pixels (pixel / 255); no centring, no bias (the paper's
  model is a linear map R^196 -> R^9). The 2 x 2 mean commutes exactly with rot90, so the C4 orbit of a downsampled
  image is the downsampled orbit;
- rho(g): ``theory.groups.rotations(14)``, element 1 = ``np.rot90(image, 1)``, the generator in G = I - rho(g);
- the loss normalization of the theory (Eq. 4, 7, 9): MSE = 1/n ||W X - Y||_F^2 (summed over the 9 outputs, mean over
  samples), so lambda means what Prop. 8 means and the trained objective is the one ``theory.duan`` solves;
  cross-entropy = the mean over samples; the penalty uses the end-to-end W = W2 W1;
- full-batch training: one Adam step per epoch on the whole training set (4,000 augmented samples for DA, the 1,000
  images otherwise). The paper's "converge ... around 500 epochs" and its per-epoch curves fit full batches;
  mini-batches of 64 converge within ~50 epochs;
- 2,500 epochs (the paper's axes); PyTorch's default initialization of bias-free ``nn.Linear`` layers
  (U(+-1/sqrt(fan_in))), seeded ``torch.manual_seed(seed + k)`` for the k-th seed; float32 training, float64
  measurements;
- B = the orbit means (row o: 1/4 on the four pixels of orbit o); the features are summed in sorted order, so the
  hard-wired model is invariant bit for bit;
- W_perp = W (I - Gbar), Gbar = (1/4) sum_g rho(g) (the Frobenius-orthogonal projection onto the non-invariant maps:
  rho is a permutation); Figure 1's four panels show rows (classes) 0–3 (the paper does not say which).

Beyond the paper: a single DA + MSE run continued to ``long_epochs`` (did ||W_perp|| fall back?); ||W_perp|| split into
the part the augmented data see and the part on pixels no image lights (zero in every rotation of every image: the
loss never moves it); distances of every trained W to W^inv, W^da and W^reg(lambda); a "double descent" test
(:func:`zigzag`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from empirical.engine.results import provenance
from theory import duan, duan_span

from empirical.engine.threads import threads
from empirical.paper.duan_data import SIDE, Data, orbits
from empirical.paper.duan_training import BETAS, HIDDEN, LOSSES, LR, Meter, train

__all__ = ["LAMBDAS", "ORBIT_PIXELS", "WEIGHT_ROWS", "TURN_TOL", "FOLDER", "OUTPUT", "FIGURES", "Scale", "FULL", "QUICK",
           "scale_tag", "ClosedForms", "closed_forms", "path_lambdas", "distances", "zigzag", "pattern", "experiment",
           "CHOICES"]

LAMBDAS = {"mse": (1e-3, 1e-2, 1e-1), "ce": (1e-2, 1e-1, 1.0)}  # §4.2 (MSE), Figures 7-9 (cross-entropy)
ORBIT_PIXELS = (45, 52, 143, 150)  # Figure 1's columns: pixel (3, 3) of 14 x 14 and its rotations
WEIGHT_ROWS = (0, 1, 2, 3)  # Figure 1's panels: rows (classes) 0-3, our choice
FOLDER = "duan"  # under paper_figures/ at the full scale
OUTPUT = "duan.json"
FIGURES = {"fig1": "fig1_weights.png", "fig2": "fig2_training.png", "fig3": "fig3_w_perp.png",
           "fig4": "fig4_proportion.png", "ce": "fig_ce.png"}
TURN_TOL = 0.02  # a rise or fall of ||W_perp|| counts when it exceeds this fraction of the curve's maximum

CHOICES = {
    "subset": "n images (1,000 at the full scale) drawn uniformly without replacement from MNIST's 54,051 training "
              "images of digits 0-8 (numpy default_rng(seed)); the same images for every run",
    "downsampling": "mean of each 2x2 block of pixel/255 (commutes exactly with rot90); no centring, no bias",
    "group": "theory.groups.rotations(14); generator = element 1 = np.rot90(image, 1); G = I - rho(generator)",
    "mse": "1/n ||W X - Y||_F^2 (sum over the 9 outputs, mean over samples), the theory's Eq. 4/7/9",
    "ce": "mean cross-entropy of the logits W x",
    "penalty": "lambda ||W G||_F^2 on the end-to-end W = W2 W1",
    "batch": "full batch: one Adam step per epoch on the whole training set (DA 4n samples, others n)",
    "init": "PyTorch default for bias-free nn.Linear, torch.manual_seed(seed + k); float32 training",
    "constrained": "f(x) = W2 W1 B x, B = orbit means (49 x 196), summed in sorted order (bitwise invariant)",
    "w_perp": "W (I - Gbar), Gbar = mean of the 4 rotation matrices",
    "figure1_rows": "rows (classes) 0-3",
    "accuracy": "on the augmented training set (4n samples) for every method, as the paper's Figure 2",
}


@dataclass(frozen=True)
class Scale:
    """How big one invocation is."""

    n_train: int
    epochs: int
    seeds: int
    long_epochs: int  # one DA + MSE run continued this long (0: none)
    points: int = 250  # recorded points per curve (evenly spaced epochs, the first and the last included)


FULL = Scale(n_train=1000, epochs=2500, seeds=5, long_epochs=20_000)
QUICK = Scale(n_train=200, epochs=300, seeds=1, long_epochs=0, points=150)


def scale_tag(scale: Scale) -> str:
    """'full' at the paper's scale, else 'quick' / 'custom' with the epochs, seeds, long run that differ."""
    if scale == FULL:
        return "full"
    base, name = (QUICK, "quick") if scale.n_train == QUICK.n_train else (FULL, "custom")
    extra = ([f"n{scale.n_train}"] * (scale.n_train != base.n_train)
             + [f"e{scale.epochs}"] * (scale.epochs != base.epochs) + [f"s{scale.seeds}"] * (scale.seeds != base.seeds)
             + [f"l{scale.long_epochs}"] * (scale.long_epochs != base.long_epochs))
    return "-".join([name, *extra])


# ---------------------------------------------------------------------------------------------------- closed forms

@dataclass
class ClosedForms:
    """W^inv, W^da and W^reg(lambda) (least-norm, ``theory.duan_span``) on one data set, rank r, with their values."""

    w_inv: np.ndarray
    w_da: np.ndarray
    w_reg: dict[float, np.ndarray]
    seen: np.ndarray  # orthonormal basis of range(S_aug)
    summary: dict[str, Any] = field(default_factory=dict)


def closed_forms(data: Data, lambdas: tuple[float, ...], r: int = HIDDEN) -> ClosedForms:
    """The three optima of the MSE problems (Eq. 4, 7, 9) on ``data`` at rank r, and their objectives, augmented
    accuracy, norms and non-invariant parts (one BLAS thread)."""
    with threads(1, blas=True):
        return _closed_forms(data, lambdas, r)


def _closed_forms(data: Data, lambdas: tuple[float, ...], r: int) -> ClosedForms:
    x, y, rep = data.x.T, data.y.T, data.rep
    g = duan.constraint_matrix(rep)
    cf = ClosedForms(w_inv=duan_span.constrained_optimum(x, y, g, r), w_da=duan_span.augmented_optimum(x, y, rep, r),
                     w_reg={lam: duan_span.regularized_optimum(x, y, g, lam, r) for lam in lambdas},
                     seen=duan_span.augmented_seen(x, rep))
    meter = {m: Meter(data, "mse", m, 0.0, g, cf.seen) for m in ("constrained", "da")}

    def describe(w: np.ndarray, value: float) -> dict[str, float]:
        m = meter["da"](w)
        return {"objective": value, "augmented_mse": m["objective"], "accuracy": m["accuracy"],
                "w_norm": m["w_norm"], "w_perp": m["w_perp"], "proportion": m["proportion"]}

    cf.summary = {"inv": describe(cf.w_inv, meter["constrained"].objective(cf.w_inv)),
                  "da": describe(cf.w_da, meter["da"].objective(cf.w_da)),
                  "reg": {_lam_key(lam): describe(w, duan.regularized_loss(w, x, y, g, lam))
                          for lam, w in cf.w_reg.items()},
                  "da_vs_inv": float(np.linalg.norm(cf.w_da - cf.w_inv) / np.linalg.norm(cf.w_inv))}
    x_aug = data.x_aug
    path = []
    for lam in path_lambdas(lambdas):
        w = duan_span.regularized_optimum(x, y, g, lam, r)
        path.append({"lam": lam, **describe(w, duan.regularized_loss(w, x, y, g, lam)),
                     "to_inv": distances(w, cf.w_inv, x_aug, cf.seen)["data"]})
    cf.summary["reg_path"] = path
    return cf


def path_lambdas(lambdas: tuple[float, ...]) -> list[float]:
    """The regularization path's grid: 10^-4 .. 10^2 in quarter decades, the paper's lambdas and 9 times them (the
    paper's lambda in our normalization had it used PyTorch's MSELoss, a mean over the 9 outputs as well)."""
    grid = {float(f"{v:.6g}") for v in np.logspace(-4, 2, 25)}
    return sorted(grid | set(lambdas) | {float(f"{9 * v:.6g}") for v in lambdas})


def _lam_key(lam: float) -> str:
    return f"{lam:g}"


def distances(w: np.ndarray, target: np.ndarray, x_aug: np.ndarray, seen: np.ndarray) -> dict[str, float]:
    """Relative distances of W from a closed form W*: 'data' ||(W - W*) X_aug^T||_F / ||W* X_aug^T||_F (the
    predictions on the augmented training set: all the loss sees), 'frobenius' ||W - W*||_F / ||W*||_F, and
    'frobenius_seen' the same restricted to the pixels the augmented data light (W V, V = range(S_aug))."""
    diff = w - target
    return {"data": float(np.linalg.norm(x_aug @ diff.T) / np.linalg.norm(x_aug @ target.T)),
            "frobenius": float(np.linalg.norm(diff) / np.linalg.norm(target)),
            "frobenius_seen": float(np.linalg.norm(diff @ seen) / np.linalg.norm(target @ seen))}


# ---------------------------------------------------------------------------------------------------- reading curves

def zigzag(values: list[float] | np.ndarray, tol: float) -> list[int]:
    """Indices of the turning points of a curve, moves smaller than ``tol`` ignored: [0, extremum, ..., last
    extremum]. A leg counts once it moved by more than ``tol``; a tail that moves less is dropped."""
    v = np.asarray(values, dtype=float)
    idx, direction, ext = [0], 0, 0
    for i in range(1, len(v)):
        if direction == 0:
            if abs(v[i] - v[0]) > tol:
                direction, ext = (1 if v[i] > v[0] else -1), i
        elif direction * (v[i] - v[ext]) > 0:
            ext = i
        elif direction * (v[ext] - v[i]) > tol:
            idx.append(ext)
            direction, ext = -direction, i
    if direction != 0:
        idx.append(ext)
    return idx


def pattern(epochs: list[int], values: list[float], tol_frac: float = TURN_TOL) -> dict[str, Any]:
    """The shape of a curve: its turning points (epoch, value), the legs ('down'/'up') between them, and whether it
    shows a double descent (a fall, a rise, a fall again) or a rise then a fall; moves under ``tol_frac`` of the
    curve's maximum are ignored."""
    v = np.asarray(values, dtype=float)
    tol = tol_frac * float(np.nanmax(np.abs(v))) if len(v) else 0.0
    turns = zigzag(v, tol)
    legs = ["up" if v[b] > v[a] else "down" for a, b in zip(turns, turns[1:])]
    text = " ".join(legs)
    return {"turns": [[int(epochs[i]), float(v[i])] for i in turns], "legs": legs, "tolerance": tol,
            "double_descent": "down up down" in text, "rise_then_fall": "up down" in text}


# ---------------------------------------------------------------------------------------------------- the experiment

def _slim(run: dict[str, Any], digits: int = 6) -> dict[str, Any]:
    """A run as JSON: the curves rounded to ``digits`` significant digits, the final W dropped."""
    out = {k: v for k, v in run.items() if k != "w"}
    out["curves"] = {k: [float(f"{x:.{digits}g}") for x in vals] for k, vals in run["curves"].items()}
    if "weights" in run:
        out["weights"] = {**run["weights"], "values": [[[float(f"{x:.6g}") for x in row] for row in m]
                                                       for m in run["weights"]["values"]]}
    return out


def _final(run: dict[str, Any]) -> dict[str, float]:
    c = run["curves"]
    norm = c["w_norm"][-1]
    return {"objective": c["objective"][-1], "accuracy": c["accuracy"][-1], "w_perp": c["w_perp"][-1],
            "w_perp_seen": c["w_perp_seen"][-1], "w_perp_blind": c["w_perp_blind"][-1],
            "relative_w_perp": c["w_perp"][-1] / norm, "relative_w_perp_seen": c["w_perp_seen"][-1] / norm,
            "proportion": c["proportion"][-1], "w_norm": norm, "grad_norm": run["grad_norm"],
            **({"excess": c["excess"][-1]} if "excess" in c else {})}


def data_summary(data: Data, seen: np.ndarray) -> dict[str, Any]:
    """What the data span: pixels dark in every image, whole orbits dark in every rotation, ranks, conditioning."""
    x, rep = data.x.T, data.rep
    dark = ~(data.x != 0).any(axis=0)
    orb = orbits(rep)
    s = x @ x.T
    s_aug = sum(m @ s @ m.T for m in rep.matrices)
    lam = np.linalg.eigvalsh(s_aug)
    live = lam[lam > duan_span.RANK_RTOL * lam.max()]
    return {"n": int(len(data.x)), "d0": int(rep.dim), "class_counts": np.bincount(data.labels, minlength=data.classes
                                                                                  ).tolist(),
            "dark_pixels": int(dark.sum()), "dark_orbits": int(dark[orb].all(axis=1).sum()),
            "rank_xxt": int(np.linalg.matrix_rank(s)), "rank_s_aug": int(seen.shape[1]),
            "s_aug_eigenvalues_min_max": [float(live.min()), float(live.max())],
            "indices_sha256": hashlib.sha256(np.asarray(data.indices if data.indices is not None else [],
                                                                   dtype=np.int64).tobytes()).hexdigest()[:16]}


def experiment(data: Data, scale: Scale, seed: int, progress: Callable[[str], None] | None = None,
               device: torch.device | str = "cpu") -> dict[str, Any]:
    """Every run of the paper's §4 (MSE) and Appendix C.2 (cross-entropy) at ``scale``, the closed forms, the
    distances, the curve shapes and the long DA run: the document the figures and the summary are drawn from. One
    torch and one BLAS thread throughout."""
    with threads(1, blas=True):
        return _experiment(data, scale, seed, progress, device)


def _experiment(data: Data, scale: Scale, seed: int, progress: Callable[[str], None] | None,
                device: torch.device | str) -> dict[str, Any]:
    say = progress or (lambda _: None)
    t0 = time.perf_counter()
    cf = closed_forms(data, LAMBDAS["mse"])
    say(f"closed forms: W^inv, W^da, W^reg({', '.join(map(_lam_key, LAMBDAS['mse']))}) "
        f"({time.perf_counter() - t0:.1f} s)")
    opt = {("mse", "constrained", None): cf.summary["inv"]["objective"],
           ("mse", "da", None): cf.summary["da"]["objective"]}
    opt.update({("mse", "reg", lam): cf.summary["reg"][_lam_key(lam)]["objective"] for lam in LAMBDAS["mse"]})
    targets = {"inv": cf.w_inv, "da": cf.w_da, **{f"reg({_lam_key(lam)})": w for lam, w in cf.w_reg.items()}}
    x_aug = data.x_aug
    runs = []
    plan = [(loss, method, lam) for loss in LOSSES for method, lam in
            [("constrained", None), ("da", None), *[("reg", lam) for lam in LAMBDAS[loss]]]]
    for k in range(scale.seeds):
        for loss, method, lam in plan:
            run = train(data, method, loss, lam or 0.0, seed + k, scale.epochs, points=scale.points,
                        optimum=opt.get((loss, method, lam)), seen=cf.seen,
                        weights=(WEIGHT_ROWS, ORBIT_PIXELS) if method == "da" and k == 0 else None, device=device)
            run["seed_index"] = k
            run["final"] = _final(run)
            run["w_perp_shape"] = pattern(run["record_epochs"], run["curves"]["w_perp"])
            if loss == "mse":
                run["distances"] = {name: distances(run["w"], w, x_aug, cf.seen) for name, w in targets.items()}
            say(f"{loss} {_label(method, lam)} seed {seed + k}: {scale.epochs} epochs in {run['seconds']:.1f} s, "
                f"accuracy {run['final']['accuracy']:.3f}, ||W_perp||/||W|| {run['final']['relative_w_perp']:.3g}")
            runs.append(run)
    long_run = None
    if scale.long_epochs:
        long_run = train(data, "da", "mse", 0.0, seed, scale.long_epochs, points=scale.points,
                         optimum=opt[("mse", "da", None)], seen=cf.seen, device=device)
        long_run["final"] = _final(long_run)
        long_run["w_perp_shape"] = pattern(long_run["record_epochs"], long_run["curves"]["w_perp"])
        long_run["w_perp_seen_shape"] = pattern(long_run["record_epochs"], long_run["curves"]["w_perp_seen"])
        long_run["distances"] = {name: distances(long_run["w"], w, x_aug, cf.seen) for name, w in targets.items()}
        say(f"long DA run, seed {seed}: {scale.long_epochs} epochs in {long_run['seconds']:.1f} s")
    return {"experiment": "Duan & Montufar 2026, Section 4 and Appendix C.2 (two-layer linear net, 14x14 MNIST, C4)",
            "scale_tag": scale_tag(scale) if data.official else scale_tag(scale) + "-subset-data",
            "scale": {**asdict(scale), "n_train": int(len(data.x))},
            "seed": seed, "settings": {"hidden": HIDDEN, "lr": LR, "betas": list(BETAS), "lambdas": {
                k: list(v) for k, v in LAMBDAS.items()}, "classes": data.classes, "side": SIDE,
                "orbit_pixels": list(ORBIT_PIXELS), "weight_rows": list(WEIGHT_ROWS), "turn_tolerance": TURN_TOL},
            "choices": CHOICES, "provenance": provenance(device), "data": {**data_summary(data, cf.seen),
                                                                          "official": data.official},
            "closed_forms": {**cf.summary, "w_da_orbit_values": cf.w_da[np.ix_(WEIGHT_ROWS, ORBIT_PIXELS)].tolist()},
            "runs": [_slim(r) for r in runs], "long_da": _slim(long_run) if long_run else None,
            "train_seconds": sum(r["seconds"] for r in runs) + (long_run["seconds"] if long_run else 0.0),
            "train_cpu_seconds": sum(r["cpu_seconds"] for r in runs) + (long_run["cpu_seconds"] if long_run else 0.0)}


def _label(method: str, lam: float | None) -> str:
    return {"constrained": "constrained", "da": "DA"}.get(method) or f"lambda={_lam_key(lam)}"
