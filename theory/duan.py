"""Closed forms of Duan & Montúfar 2026, "Understanding Learning Invariance in Deep Linear Networks" (PMLR 325).

MSE regression with rank-bounded linear maps W (the end-to-end maps of a deep linear network whose
narrowest layer has width r) and three ways to reach invariance under a finite group G acting by rho
on the input space R^{d0}:

* hard-wiring, the constrained problem (Eq. 4):  min 1/n ||W X - Y||_F^2  s.t.  W G = 0, rank W <= r;
* regularization (Eq. 7):  min 1/n ||W X - Y||_F^2 + lambda ||W G||_F^2  s.t.  rank W <= r;
* data augmentation (Eq. 9):  min 1/(n|G|) sum_g ||W rho(g) X - Y||_F^2  s.t.  rank W <= r.

Shapes follow the paper: X (d0, n) holds one data point per COLUMN (elsewhere the suite stores points as
rows: pass ``x.T``), Y (dL, n), W (dL, d0); G = [I - rho(g_1), ..., I - rho(g_M)] (d0, M d0) stacks one
block per generator (Prop. 4, Remark 5; ``constraint_matrix``). XX^T must be invertible (n >= d0 points
spanning R^{d0}), as the paper assumes; P = (XX^T)^{1/2}. In the paper's coordinates W~ = W P (or W Q for
augmentation) each problem is an Eckart–Young low-rank approximation of a target Z; the solution is the
target's truncated SVD mapped back. Where r is at least the target's rank the truncation is the identity
and the formulas give the (rank-unconstrained) least-squares solution. Everything is float64 numpy.

Beyond the paper, used by ``theory.duan_claims``: the same regularized closed form for any PSD penalty
lambda tr(W K W^T) (Prop. 8 with K = G G^T), and the data-metric projector ``data_metric_projector``
that relates W^inv to the limit W(0) Pi of the LI flow of ``theory.linear_flow``.

Proved here (checked by the claims named in brackets; the paper assumes rho unitary for the first two):

* Augmentation decouples for ANY representation of a finite G [duan_prop11_invariant_nonunitary,
  duan_thm12_nonunitary]. With Gbar = mean_g rho(g): Gbar rho(h) = rho(h) Gbar = Gbar and Gbar^2 = Gbar, and
  for every W, splitting W = V + U with V = W Gbar (invariant: V rho(h) = V) and U = W (I - Gbar),

      L_da(W) = L_da(V) + 1/(n|G|) sum_g ||U rho(g) X||_F^2,

  since the cross term is 2/(n|G|) <V X - Y, U sum_g rho(g) X> = 2/n <V X - Y, W (I - Gbar) Gbar X> = 0; and
  L_da(V) = 1/n ||V X - Y||^2 = L(V). The second term vanishes iff U Q^2 = 0 iff U = 0, and rank V <= rank W.
  So every minimizer of Eq. 9 is invariant (U = 0) and minimizes Eq. 4: W^da = W^inv whenever the optimum is
  unique (sigma_r > sigma_{r+1}). The quadratic forms of L_da and L agree on invariant maps, so W P -> W Q /
  sqrt|G| is an isometry between the two coordinate systems there, carrying Z^inv to Z^da / sqrt|G|: the
  singular values agree, sigma(Z^da) = sqrt|G| sigma(Z^inv), and every critical point of Eq. 9 (rows in the
  row space of Z^da, all invariant after Q^{-1}) is one of Eq. 4.
* The proof step Eq. 34, Q^{-1} rho(h) = rho(h) Q^{-1}, holds iff rho(h) is orthogonal [duan_eq34_eq42_nonunitary]:
  rho(h) Q^2 rho(h)^T = Q^2 always, so commuting as well gives Q^2 rho(h)^T = Q^2 rho(h)^{-1}.
* Thm. 6's formula needs no rank assumption [duan_thm6_without_rank_assumption]: if rank Z^inv <= r the
  truncation is the identity and W^inv = Z^inv P^{-1} is the constrained least-squares solution.
* Rate of Thm. 9's limit [duan_thm9_limits_and_rates]: with Pi~ = I - G~ G~^+ and E = B(lambda)^{-1} - Pi~
  (E Pi~ = 0, ||E|| = O(lambda^{-1/2})), Z B^{-1} = Z Pi~ + Z E has two parts with orthogonal row spaces, so its
  left singular subspace moves by O(||Z E||^2) = O(1/lambda) given the gap sigma_r > sigma_{r+1} of Z^inv, and
  W^reg(lambda) - W^inv = O(1/lambda); at lambda -> 0 the path leaves [Z]_r P^{-1} at rate O(lambda).
* The limit depends on the penalty only through its kernel [duan_thm9_limit_any_penalty]: B(lambda)^{-1} ->
  the projector onto the kernel of P^{-1} K P^{-1}, which is P Fix(rho^T) for K = G G^T over any generating set,
  over all of G, or the seed paper's Sigma (data spanning R^d0); the finite-lambda path does depend on K, hence on
  which elements are stacked into G [duan_prop8_generator_independent].
* Thm. 9's continuity fails where sigma_r and sigma_{r+1} of Z(lambda)^reg cross (``duan_path``), and holds on
  every lambda-interval where they stay apart (the truncation is then a smooth function of lambda).
* Prop. 13's counts are C(rank Z^inv, r), and rank Z^inv <= min(d, dL): C(d, r) needs dL >= d.
* Relation to the seed paper's LI flow [duan_seed_limits_relation]: on invariant maps V = M N^T (N orthonormal,
  spanning Fix(rho^T)), 1/n ||V X - Y||^2 = 1/n ||(V - W_LS) P||^2 + const, minimized (rank free) at
  M = W_LS S N (N^T S N)^{-1}, i.e. W^inv = W_LS Pi_S; with the rank bound the same metric gives
  W^inv = [W_LS Pi_S P]_r P^{-1} (W_LS P = Z). The LI flow ends at W(0) Pi, Pi = N N^T. Pi_S = Pi iff
  S N = N (N^T S N), i.e. iff S maps span N into itself; for data closed under G, rho(h) S rho(h)^T = S, so
  S maps Fix(rho^T) into Fix(rho), which is Fix(rho^T) when rho is orthogonal.
"""

from __future__ import annotations

import numpy as np

from theory.groups import Representation, cayley_table

__all__ = [
    "element_orders",
    "generated_subgroup",
    "generators",
    "constraint_matrix",
    "left_null_basis", "left_null_projector",
    "data_root",
    "truncate",
    "least_squares_target",
    "least_squares",
    "unconstrained_optimum",
    "constrained_target",
    "constrained_optimum",
    "RegularizationPath",
    "regularization_root_inverse",
    "regularized_target",
    "regularized_optimum",
    "augmentation_root",
    "augmented_target",
    "augmented_optimum",
    "mse",
    "regularized_loss",
    "augmented_loss",
    "data_metric_projector",
]

RANK_RTOL = 1e-10  # singular values below RANK_RTOL * largest count as zero (ranks, null spaces)


# ---------------------------------------------------------------- the constraint W G = 0 (Prop. 4, Remark 5)

def element_orders(rep: Representation) -> np.ndarray:
    """The order of every element of G, (|G|,) int64, from the Cayley table (element 0 is the identity)."""
    table = cayley_table(rep)
    orders = np.ones(rep.order, dtype=np.int64)
    for g in range(rep.order):
        h = g
        while h != 0:
            h = table[h, g]
            orders[g] += 1
    return orders


def generated_subgroup(rep: Representation, elements: tuple[int, ...] | list[int]) -> frozenset[int]:
    """The subgroup <g_1, ..., g_M> of G generated by the given element indices (closure under products)."""
    table = cayley_table(rep)
    seen, frontier = {0}, [0]
    while frontier:
        nxt = []
        for a in frontier:
            for g in elements:
                b = int(table[a, g])
                if b not in seen:
                    seen.add(b)
                    nxt.append(b)
        frontier = nxt
    return frozenset(seen)


def generators(rep: Representation) -> tuple[int, ...]:
    """A generating set of G (element indices): greedily the highest-order element outside the subgroup so far.

    A cyclic group gets one generator of order |G| (Prop. 4); D4, S3 and the like get two (Remark 5).
    """
    orders = element_orders(rep)
    gens: list[int] = []
    sub = frozenset({0})
    while len(sub) < rep.order:
        g = max((h for h in range(rep.order) if h not in sub), key=lambda h: (orders[h], -h))
        gens.append(g)
        sub = generated_subgroup(rep, gens)
    return tuple(gens)


def constraint_matrix(rep: Representation, elements: tuple[int, ...] | list[int] | None = None) -> np.ndarray:
    """G = [I - rho(g_1), ..., I - rho(g_M)], (d0, M d0), for the given elements (default: ``generators(rep)``).

    Prop. 4 (cyclic G, one generator) and Remark 5 (finitely generated G, stacked generators): W is
    invariant, W rho(h) = W for all h, iff W G = 0. With ``elements=range(|G|)`` the blocks run over all of G.
    """
    elements = generators(rep) if elements is None else tuple(elements)
    eye = np.eye(rep.dim)
    if not elements:
        return np.zeros((rep.dim, 0))
    return np.concatenate([eye - rep.matrices[g] for g in elements], axis=1)


def left_null_basis(g: np.ndarray, rtol: float = RANK_RTOL) -> np.ndarray:
    """An orthonormal basis N (d, d - rank G) of the left null space {v : v^T G = 0} of G (d, k): W G = 0 iff
    W = M N^T."""
    d = g.shape[0]
    if g.size == 0:
        return np.eye(d)
    u, s, _ = np.linalg.svd(g, full_matrices=True)
    rank = int((s > rtol * max(s.max(initial=0.0), 1e-300)).sum())
    return u[:, rank:]


def left_null_projector(g: np.ndarray, rtol: float = RANK_RTOL) -> np.ndarray:
    """I - G G^+, (d, d): the orthogonal projector onto the left null space {v : v^T G = 0} of G (d, k)."""
    null = left_null_basis(g, rtol)
    return null @ null.T


# ---------------------------------------------------------------- the paper's coordinates (Eq. 5, 6)

def _psd_power(s: np.ndarray, p: float) -> np.ndarray:
    lam, u = np.linalg.eigh(s)
    if lam.min() <= RANK_RTOL * max(lam.max(), 1e-300):
        raise ValueError("the matrix is singular: the paper assumes X X^T (and its augmented sum) of full rank d0; "
                         "use n >= d0 data points that span R^d0")
    return (u * lam**p) @ u.T


def data_root(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, P^{-1}) with P = (X X^T)^{1/2} the positive definite square root (Eq. 5); X (d0, n), n >= d0."""
    s = x @ x.T
    return _psd_power(s, 0.5), _psd_power(s, -0.5)


def truncate(m: np.ndarray, r: int) -> np.ndarray:
    """The best rank-r approximation U_r Sigma_r V_r^T of m in Frobenius norm (Eckart–Young, Sec. 2.3)."""
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    return (u[:, :r] * s[:r]) @ vt[:r]


def least_squares_target(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Z, P^{-1}) with Z = Y X^T P^{-1} (dL, d0): 1/n ||W X - Y||^2 = 1/n ||W P - Z||^2 + const (Eq. 5)."""
    _, p_inv = data_root(x)
    return y @ x.T @ p_inv, p_inv


def least_squares(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """W_LS = Y X^T (X X^T)^{-1} (dL, d0): the unconstrained, full-rank least-squares fit."""
    return np.linalg.solve(x @ x.T, x @ y.T).T


def unconstrained_optimum(x: np.ndarray, y: np.ndarray, r: int) -> np.ndarray:
    """[Z]_r P^{-1} (dL, d0): the rank-r optimum without constraint or penalty (Eq. 7 at lambda = 0)."""
    z, p_inv = least_squares_target(x, y)
    return truncate(z, r) @ p_inv


# ---------------------------------------------------------------- hard-wiring (Thm. 6)

def constrained_target(x: np.ndarray, y: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Z^inv, P^{-1}): Z^inv = Z (I - G~ G~^+), G~ = P^{-1} G, the projection of Z onto left-null(G~) (Thm. 6)."""
    z, p_inv = least_squares_target(x, y)
    return z @ left_null_projector(p_inv @ g), p_inv


def constrained_optimum(x: np.ndarray, y: np.ndarray, g: np.ndarray, r: int) -> np.ndarray:
    """W^inv = U_r^inv Sigma_r^inv V_r^inv^T P^{-1} (dL, d0): the solution of Eq. 4 (Thm. 6); X (d0, n), Y (dL, n)."""
    z_inv, p_inv = constrained_target(x, y, g)
    return truncate(z_inv, r) @ p_inv


# ---------------------------------------------------------------- regularization (Prop. 8)

class RegularizationPath:
    """lambda -> W^reg(lambda) for fixed data (Prop. 8), with P^{-1}, Z and the eigenvectors of P^{-1} K P^{-1} computed
    once: B(lambda)^{-1} = U diag((1 + n lambda mu)^{-1/2}) U^T for every lambda. X (d0, n), Y (dL, n), K (d0, d0) PSD
    (the penalty lambda tr(W K W^T); K = G G^T is the paper's lambda ||W G||_F^2).

    Eigenvalues mu below RANK_RTOL times the largest are set to 0 exactly: the null space of the penalty must keep
    B^{-1} = 1 there for every lambda, or round-off times n lambda would leak into it as lambda grows.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, penalty: np.ndarray, r: int):
        self.n, self.r = x.shape[1], r
        self.z, self.p_inv = least_squares_target(x, y)
        k = self.p_inv @ penalty @ self.p_inv
        mu, self.u = np.linalg.eigh((k + k.T) / 2)
        self.mu = np.where(mu > RANK_RTOL * max(mu.max(initial=0.0), 1e-300), mu, 0.0)

    def b_inv(self, lam: float) -> np.ndarray:
        """B(lambda)^{-1} = (I + n lambda P^{-1} K P^{-1})^{-1/2}, (d0, d0)."""
        if lam < 0:
            raise ValueError(f"lambda must be >= 0, got {lam}")
        return (self.u / np.sqrt(1.0 + self.n * lam * self.mu)) @ self.u.T

    def target(self, lam: float) -> np.ndarray:
        """Z(lambda)^reg = Z B(lambda)^{-1}, (dL, d0)."""
        return self.z @ self.b_inv(lam)

    def __call__(self, lam: float) -> np.ndarray:
        """W^reg(lambda) = [Z B(lambda)^{-1}]_r B(lambda)^{-1} P^{-1}, (dL, d0)."""
        b_inv = self.b_inv(lam)
        return truncate(self.z @ b_inv, self.r) @ b_inv @ self.p_inv


def regularization_root_inverse(x: np.ndarray, penalty: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """(B(lambda)^{-1}, P^{-1}) with B(lambda)^2 = I + n lambda P^{-1} K P^{-1} (Prop. 8; K = G G^T gives G~ G~^T)."""
    path = RegularizationPath(x, np.zeros((1, x.shape[1])), penalty, 1)
    return path.b_inv(lam), path.p_inv


def regularized_target(x: np.ndarray, y: np.ndarray, g: np.ndarray, lam: float,
                       penalty: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Z(lambda)^reg = Z B(lambda)^{-1}, B(lambda)^{-1}, P^{-1}) (Prop. 8); K = G G^T if penalty is None."""
    path = RegularizationPath(x, y, g @ g.T if penalty is None else penalty, 1)
    b_inv = path.b_inv(lam)
    return path.z @ b_inv, b_inv, path.p_inv


def regularized_optimum(x: np.ndarray, y: np.ndarray, g: np.ndarray, lam: float, r: int,
                        penalty: np.ndarray | None = None) -> np.ndarray:
    """W^reg(lambda) = [Z B(lambda)^{-1}]_r B(lambda)^{-1} P^{-1} (dL, d0): the solution of Eq. 7 (Prop. 8).

    With ``penalty`` K (d0, d0) PSD the penalty lambda ||W G||_F^2 = lambda tr(W G G^T W^T) becomes lambda tr(W K W^T).
    """
    return RegularizationPath(x, y, g @ g.T if penalty is None else penalty, r)(lam)


# ---------------------------------------------------------------- data augmentation (Prop. 11)

def augmentation_root(x: np.ndarray, rep: Representation) -> tuple[np.ndarray, np.ndarray]:
    """(Q, Q^{-1}) with Q^2 = sum_g rho(g) X X^T rho(g)^T (Eq. 10)."""
    s = x @ x.T
    q2 = np.einsum("gij,jk,glk->il", rep.matrices, s, rep.matrices, optimize=True)
    return _psd_power(q2, 0.5), _psd_power(q2, -0.5)


def augmented_target(x: np.ndarray, y: np.ndarray, rep: Representation) -> tuple[np.ndarray, np.ndarray]:
    """(Z^da, Q^{-1}) with Z^da = |G| Y X^T Gbar^T Q^{-1}, Gbar = mean_g rho(g) (Eq. 10, Prop. 11)."""
    _, q_inv = augmentation_root(x, rep)
    g_bar = rep.matrices.mean(axis=0)
    return rep.order * y @ x.T @ g_bar.T @ q_inv, q_inv


def augmented_optimum(x: np.ndarray, y: np.ndarray, rep: Representation, r: int) -> np.ndarray:
    """W^da = U_r^da Sigma_r^da V_r^da^T Q^{-1} (dL, d0): the solution of Eq. 9 (Prop. 11)."""
    z_da, q_inv = augmented_target(x, y, rep)
    return truncate(z_da, r) @ q_inv


# ---------------------------------------------------------------- the three objectives, from the raw data

def mse(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """1/n ||W X - Y||_F^2, the objective of Eq. 4."""
    return float(np.sum((w @ x - y) ** 2) / x.shape[1])


def regularized_loss(w: np.ndarray, x: np.ndarray, y: np.ndarray, g: np.ndarray, lam: float) -> float:
    """1/n ||W X - Y||_F^2 + lambda ||W G||_F^2, the objective of Eq. 7."""
    return mse(w, x, y) + lam * float(np.sum((w @ g) ** 2))


def augmented_loss(w: np.ndarray, x: np.ndarray, y: np.ndarray, rep: Representation) -> float:
    """1/(n|G|) sum_g ||W rho(g) X - Y||_F^2, the objective of Eq. 9."""
    res = np.einsum("ij,gjk,kn->gin", w, rep.matrices, x, optimize=True) - y[None]
    return float(np.sum(res**2) / (x.shape[1] * rep.order))


# ---------------------------------------------------------------- relation to the LI flow (theory.linear_flow)

def data_metric_projector(x: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Pi_S = S N (N^T S N)^{-1} N^T (d0, d0), S = X X^T: W -> W Pi_S is the projection onto the invariant maps
    {W : rows in span N} that is orthogonal in the data metric <A, B>_S = tr(A S B^T); N (d0, d) spans Fix(rho^T).

    With rank(W) unconstrained, W^inv = W_LS Pi_S (Thm. 6 with r >= d); the LI flow instead lands on W(0) Pi with
    Pi = N N^T (N orthonormal), the projection that is orthogonal in the Frobenius metric. Pi_S = Pi iff S maps
    span N into itself.
    """
    s = x @ x.T
    sn = s @ basis
    return sn @ np.linalg.solve(basis.T @ sn, basis.T)
