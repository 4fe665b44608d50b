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

import contextlib
import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from threadpoolctl import threadpool_limits
from torch.nn import functional as F

from empirical.data.download import DataError, accepted_sha256, canonical_name, find_file, locate
from empirical.data.idx import read_idx
from empirical.engine.results import provenance
from theory import duan, duan_span, groups

__all__ = ["SIDE", "CLASSES", "HIDDEN", "LR", "BETAS", "LAMBDAS", "LOSSES", "METHODS", "ORBIT_PIXELS", "WEIGHT_ROWS",
           "DROPPED_DIGIT", "TURN_TOL", "FOLDER", "OUTPUT", "FIGURES", "Scale", "FULL", "QUICK",
           "scale_tag", "Data", "downsample", "c4", "orbits", "orbit_mean_matrix", "orbit_features",
           "load_data", "TwoLayer", "penalty", "objective", "train", "ClosedForms", "closed_forms",
           "path_lambdas", "distances", "zigzag", "pattern", "experiment", "CHOICES", "one_thread",
           "record_epochs"]

SIDE = 14
CLASSES = 9
DROPPED_DIGIT = 9
HIDDEN = 5
LR = 1e-3
BETAS = (0.9, 0.999)
LAMBDAS = {"mse": (1e-3, 1e-2, 1e-1), "ce": (1e-2, 1e-1, 1.0)}  # §4.2 (MSE), Figures 7-9 (cross-entropy)
LOSSES = ("mse", "ce")
METHODS = ("constrained", "da", "reg")
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


# ---------------------------------------------------------------------------------------------------- data

def downsample(images: np.ndarray) -> np.ndarray:
    """(N, 2s, 2s) uint8 images -> (N, s*s) float64: the mean of each 2 x 2 block of pixel / 255, row-major. The block
    sums are integers, so downsampling commutes with rot90 bit for bit."""
    n, h, w = images.shape
    if h % 2 or w % 2:
        raise ValueError(f"2x2 downsampling needs even sides, got {h}x{w}")
    sums = np.asarray(images, dtype=np.int64).reshape(n, h // 2, 2, w // 2, 2).sum(axis=(2, 4))
    return (sums / (4 * 255.0)).reshape(n, (h // 2) * (w // 2))  # integer sums: exact whatever the pixel order


def c4(side: int = SIDE) -> groups.Representation:
    """C4 on side x side images flattened row-major: element k rotates by k * 90 degrees (``np.rot90(image, k)``)."""
    return groups.rotations(side)


def orbits(rep: groups.Representation) -> np.ndarray:
    """The pixel orbits of a permutation representation, (d / |G|, |G|) int64, rows sorted by their smallest pixel.

    Needs free orbits (every orbit of size |G|), as C4 on an even side has (no centre pixel)."""
    members = np.sort(rep.perms.T, axis=1)  # row i: the orbit of pixel i
    uniq = np.unique(members, axis=0)
    if uniq.shape[1] != rep.order or uniq.size != rep.dim or len(np.unique(uniq)) != rep.dim:
        raise ValueError(f"{rep.name}: every pixel orbit must have {rep.order} distinct pixels")
    return uniq


def orbit_mean_matrix(rep: groups.Representation) -> np.ndarray:
    """B (d / |G|, d): row o averages the pixels of orbit o. B rho(g) = B for every g, so B G = 0 (Eq. 4's basis)."""
    orb = orbits(rep)
    b = np.zeros((len(orb), rep.dim))
    b[np.repeat(np.arange(len(orb)), rep.order), orb.ravel()] = 1.0 / rep.order
    return b


@dataclass(frozen=True)
class Data:
    """The training images (rows), their labels, the group, and where they came from."""

    x: np.ndarray  # (n, d) float64
    labels: np.ndarray  # (n,) int64 in 0..classes-1
    rep: groups.Representation
    classes: int = CLASSES
    indices: np.ndarray | None = None  # positions in the MNIST training split
    official: bool = False  # the official MNIST files (not a declared subset such as the test fixture)
    source: str = ""

    @property
    def y(self) -> np.ndarray:
        """One-hot targets (n, classes)."""
        return np.eye(self.classes)[self.labels]

    @property
    def x_aug(self) -> np.ndarray:
        """Every image under every group element, (|G| n, d): block g holds rho(g) x_i (``rep.act``)."""
        return np.concatenate([self.rep.act(g, self.x) for g in range(self.rep.order)])

    @property
    def labels_aug(self) -> np.ndarray:
        return np.tile(self.labels, self.rep.order)


def load_data(data_dir: str | Path | None, n_train: int, seed: int, quiet: bool = True) -> Data:
    """``n_train`` MNIST training images of digits 0-8 (uniform, without replacement, ``default_rng(seed)``),
    downsampled to 14 x 14; the files are found (or downloaded) and verified as every command does."""
    name = canonical_name("mnist")
    folder = locate(name, data_dir, quiet=quiet)
    arrays = []
    for kind in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        path = find_file(folder, kind)
        arrays.append(read_idx(path, sha256=accepted_sha256(folder, name, kind)))
    images, labels = arrays
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise DataError(f"{folder}: expected MNIST training images (N, 28, 28) and N labels, got {images.shape} and "
                        f"{labels.shape}; replace them with the official files")
    keep = np.flatnonzero(labels != DROPPED_DIGIT)
    if n_train > len(keep):
        raise DataError(f"{folder}: {len(keep)} training images of digits 0-8, fewer than the {n_train} asked for; "
                        "use the full MNIST files (python -m empirical.download) or a smaller --n-train")
    idx = np.sort(np.random.default_rng(seed).choice(keep, n_train, replace=False))
    official = all(len(accepted_sha256(folder, name, k)) == 1 for k in ("train-images-idx3-ubyte",
                                                                         "train-labels-idx1-ubyte"))
    return Data(x=downsample(images[idx]), labels=labels[idx].astype(np.int64), rep=c4(SIDE), indices=idx,
                official=official, source=str(folder))


# ---------------------------------------------------------------------------------------------------- models

def orbit_features(x: torch.Tensor, orbit_index: torch.Tensor) -> torch.Tensor:
    """B x (n, k): each orbit's mean, its |G| values summed in sorted order. Rotating x permutes each orbit's values,
    so the features, and every model built on them, are invariant bit for bit."""
    return torch.sort(x[:, orbit_index], dim=-1).values.sum(dim=-1) / orbit_index.shape[1]


class TwoLayer(nn.Module):
    """x -> W2 W1 x, bias-free, PyTorch's default initialization; with ``rep`` the hard-wired x -> W2 W1 (B x), B the
    orbit means (:func:`orbit_features`, W1 in R^{hidden x d/|G|}). ``end_to_end`` is W = W2 W1 (times B)."""

    def __init__(self, d_in: int, hidden: int, out: int, rep: groups.Representation | None = None):
        super().__init__()
        self.basis = None
        if rep is not None:
            self.register_buffer("orbit_index", torch.as_tensor(orbits(rep)), persistent=False)
            self.basis = orbit_mean_matrix(rep)
            d_in = self.basis.shape[0]
        self.first = nn.Linear(d_in, hidden, bias=False)
        self.second = nn.Linear(hidden, out, bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """B x for the hard-wired model, else x itself."""
        return x if self.basis is None else orbit_features(x, self.orbit_index)

    def head(self, f: torch.Tensor) -> torch.Tensor:
        """W2 W1 f on features f (what training runs on: the hard-wired features are computed once)."""
        return self.second(self.first(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def product(self) -> torch.Tensor:
        """W2 W1 in the model's own input space (R^{d/|G|} for the hard-wired model), differentiable."""
        return self.second.weight @ self.first.weight

    def end_to_end(self) -> np.ndarray:
        """W (out, d) float64: W2 W1, or W2 W1 B for the hard-wired model (then every orbit's columns are equal)."""
        w = self.product().detach().double().cpu().numpy()
        return w if self.basis is None else w @ self.basis


def penalty(w: torch.Tensor, g: torch.Tensor, lam: float) -> torch.Tensor:
    """lambda ||W G||_F^2 (Eq. 7), W (dL, d0), G (d0, k)."""
    return lam * (w @ g).pow(2).sum()


def objective(out: torch.Tensor, loss: str, y: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The data term: 1/n ||out - Y||_F^2 ('mse', the theory's normalization) or the mean cross-entropy ('ce')."""
    if loss == "mse":
        return (out - y).pow(2).sum(dim=1).mean()
    if loss == "ce":
        return F.cross_entropy(out, labels)
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def _np_data_term(out: np.ndarray, y: np.ndarray, labels: np.ndarray, loss: str) -> float:
    """The data term of :func:`objective` in float64 numpy, from the outputs ``out`` (n, classes)."""
    if loss == "mse":
        return float(np.sum((out - y) ** 2) / len(out))
    m = out.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(out - m).sum(axis=1))
    return float(np.mean(lse - out[np.arange(len(out)), labels]))


class _Meter:
    """Float64 measurements of an end-to-end W on fixed data (the augmented set and the training set)."""

    def __init__(self, data: Data, loss: str, method: str, lam: float, g: np.ndarray, seen: np.ndarray):
        self.data, self.loss, self.method, self.lam, self.g = data, loss, method, lam, g
        self.x, self.y = np.ascontiguousarray(data.x), data.y
        self.x_aug, self.y_aug, self.l_aug = data.x_aug, np.tile(data.y, (data.rep.order, 1)), data.labels_aug
        self.gbar = groups.reynolds(data.rep)
        self.seen = seen  # orthonormal basis of the pixels the augmented data light
        self.blind = duan_span.range_basis(np.eye(data.rep.dim) - seen @ seen.T)

    def objective(self, w: np.ndarray, out_aug: np.ndarray | None = None) -> float:
        """The run's own training objective, in float64 (``out_aug``: X_aug W^T when already computed)."""
        if self.method == "da":
            out = self.x_aug @ w.T if out_aug is None else out_aug
            return _np_data_term(out, self.y_aug, self.l_aug, self.loss)
        value = _np_data_term(self.x @ w.T, self.y, self.data.labels, self.loss)
        return value + (self.lam * float(np.sum((w @ self.g) ** 2)) if self.method == "reg" else 0.0)

    def __call__(self, w: np.ndarray) -> dict[str, float]:
        out_aug = self.x_aug @ w.T
        perp = w - w @ self.gbar
        norm2 = float(np.sum(w**2))
        return {"objective": self.objective(w, out_aug),
                "accuracy": float(np.mean(out_aug.argmax(axis=1) == self.l_aug)),
                "w_perp": float(np.linalg.norm(perp)),
                "w_perp_seen": float(np.linalg.norm(perp @ self.seen)),
                "w_perp_blind": float(np.linalg.norm(perp @ self.blind)) if self.blind.size else 0.0,
                "proportion": float(np.sum((w - perp) ** 2) / norm2) if norm2 > 0 else float("nan"),
                "w_norm": math.sqrt(norm2)}


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One torch thread and one BLAS thread inside: the bits do not depend on the machine, and small matrices do not
    pay for idle threads (a 196 x 196 eigh takes 0.8 s instead of 9 ms with 2 OpenBLAS threads on a loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(threads)


def record_epochs(epochs: int, points: int) -> np.ndarray:
    """The epochs a curve is recorded at: ``points`` + 1 evenly spaced from 0 to ``epochs`` (all when fewer)."""
    return np.unique(np.linspace(0, epochs, min(points, epochs) + 1).round().astype(np.int64))


def train(data: Data, method: str, loss: str, lam: float, seed: int, epochs: int, *, points: int = 250,
          hidden: int = HIDDEN, lr: float = LR, optimum: float | None = None, seen: np.ndarray | None = None,
          weights: tuple[tuple[int, ...], tuple[int, ...]] | None = None,
          device: torch.device | str = "cpu") -> dict[str, Any]:
    """One full-batch Adam run: method 'da' (all rotations of every image), 'constrained' (hard-wired, x -> W2 W1 B x)
    or 'reg' (the images alone, + lambda ||W G||_F^2); loss 'mse' or 'ce'.

    Returns the recorded curves (epochs, objective, accuracy on the augmented set, ||W_perp||_F with its seen and
    blind parts, ||W - W_perp||^2 / ||W||^2, ||W||), the entries W[rows, cols] of ``weights`` along the way, the final
    end-to-end W (float64, key "w") and the final gradient norm; ``optimum`` (the closed-form objective value) adds
    the excess objective curve. Runs on one torch and one BLAS thread (:func:`one_thread`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    with one_thread():
        return _train(data, method, loss, lam, seed, epochs, points, hidden, lr, optimum, seen, weights,
                      torch.device(device))


def _train(data: Data, method: str, loss: str, lam: float, seed: int, epochs: int, points: int, hidden: int, lr: float,
           optimum: float | None, seen: np.ndarray | None, weights, device: torch.device) -> dict[str, Any]:
    rep = data.rep
    g_np = duan.constraint_matrix(rep)
    seen = duan_span.augmented_seen(data.x.T, rep) if seen is None else seen
    meter = _Meter(data, loss, method, lam if method == "reg" else 0.0, g_np, seen)
    torch.manual_seed(seed)
    model = TwoLayer(rep.dim, hidden, data.classes, rep if method == "constrained" else None).to(device)
    if method == "da":
        x, y, labels = data.x_aug, np.tile(data.y, (rep.order, 1)), data.labels_aug
    else:
        x, y, labels = data.x, data.y, data.labels
    xt = model.features(torch.as_tensor(x, dtype=torch.float32, device=device))  # the hard-wired features: once
    yt = torch.as_tensor(y, dtype=torch.float32, device=device)
    lt = torch.as_tensor(labels, device=device)
    gt = torch.as_tensor(g_np, dtype=torch.float32, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=BETAS)

    def step_objective() -> torch.Tensor:
        value = objective(model.head(xt), loss, yt, lt)
        if method == "reg":
            value = value + penalty(model.product(), gt, lam)
        return value

    at = record_epochs(epochs, points)
    curves: dict[str, list[float]] = {}
    tracked: list[list[list[float]]] = []
    start, cpu = time.perf_counter(), time.process_time()
    k = 0
    for epoch in range(epochs + 1):
        if k < len(at) and epoch == at[k]:
            w = model.end_to_end()
            for key, value in meter(w).items():
                curves.setdefault(key, []).append(value)
            if weights is not None:
                tracked.append(w[np.ix_(weights[0], weights[1])].tolist())
            k += 1
        if epoch == epochs:
            break
        opt.zero_grad(set_to_none=True)
        step_objective().backward()
        opt.step()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    opt.zero_grad(set_to_none=True)
    step_objective().backward()
    grad = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in model.parameters()))
    result: dict[str, Any] = {"method": method, "loss": loss, "lam": lam if method == "reg" else None, "seed": seed,
                              "epochs": epochs, "seconds": seconds, "cpu_seconds": cpu, "grad_norm": grad,
                              "record_epochs": at.tolist(), "curves": curves, "w": model.end_to_end()}
    if optimum is not None:
        curves["excess"] = [v - optimum for v in curves["objective"]]
    if weights is not None:
        result["weights"] = {"rows": list(weights[0]), "cols": list(weights[1]), "values": tracked}
    return result


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
    with one_thread():
        return _closed_forms(data, lambdas, r)


def _closed_forms(data: Data, lambdas: tuple[float, ...], r: int) -> ClosedForms:
    x, y, rep = data.x.T, data.y.T, data.rep
    g = duan.constraint_matrix(rep)
    cf = ClosedForms(w_inv=duan_span.constrained_optimum(x, y, g, r), w_da=duan_span.augmented_optimum(x, y, rep, r),
                     w_reg={lam: duan_span.regularized_optimum(x, y, g, lam, r) for lam in lambdas},
                     seen=duan_span.augmented_seen(x, rep))
    meter = {m: _Meter(data, "mse", m, 0.0, g, cf.seen) for m in ("constrained", "da")}

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
    with one_thread():
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
