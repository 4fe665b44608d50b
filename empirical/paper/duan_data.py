"""Duan & Montúfar §4's data: 1,000 MNIST images without digit 9, downsampled to 14 x 14, and the C4 action on them
(its pixel orbits and orbit means). ``empirical.paper.duan_experiment`` records the choices the paper leaves open.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from empirical.data.download import DataError, accepted_sha256, canonical_name, find_file, locate
from empirical.data.idx import read_idx
from theory import groups

__all__ = ["SIDE", "CLASSES", "DROPPED_DIGIT", "Data", "downsample", "c4", "orbits", "orbit_mean_matrix", "load_data"]

SIDE = 14
CLASSES = 9
DROPPED_DIGIT = 9


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


