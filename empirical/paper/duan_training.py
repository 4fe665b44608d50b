"""Duan & Montúfar §4's models and their training: the two-layer linear network (end-to-end W = W2 W1), the
hard-wired one (W2 W1 B x), the penalty lambda ||W G||_F^2, full-batch Adam, and the curves recorded while training.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from theory import duan, duan_span, groups

from empirical.engine.threads import threads
from empirical.paper.duan_data import Data, orbit_mean_matrix, orbits

__all__ = ["HIDDEN", "LR", "BETAS", "LOSSES", "METHODS", "orbit_features", "TwoLayer", "penalty", "objective", "train",
           "record_epochs", "Meter"]

HIDDEN = 5
LR = 1e-3
BETAS = (0.9, 0.999)
LOSSES = ("mse", "ce")
METHODS = ("constrained", "da", "reg")


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


class Meter:
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
    the excess objective curve. Runs on one torch and one BLAS thread (``empirical.engine.threads.threads(1, blas=True)``).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    with threads(1, blas=True):
        return _train(data, method, loss, lam, seed, epochs, points, hidden, lr, optimum, seen, weights,
                      torch.device(device))


def _train(data: Data, method: str, loss: str, lam: float, seed: int, epochs: int, points: int, hidden: int, lr: float,
           optimum: float | None, seen: np.ndarray | None, weights, device: torch.device) -> dict[str, Any]:
    rep = data.rep
    g_np = duan.constraint_matrix(rep)
    seen = duan_span.augmented_seen(data.x.T, rep) if seen is None else seen
    meter = Meter(data, loss, method, lam if method == "reg" else 0.0, g_np, seen)
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


