"""Transforming-MNIST / Transforming-FMNIST (paper Sec. 4.1) and the drift dataset D(beta) (Sec. 4.3).

Construction of a Transforming dataset, all random choices from one integer seed:

- pool the official train and test images (70,000; train first), drop class 9 (MNIST's digit 9,
  Fashion-MNIST's ankle boot) so 9 classes remain, labels 0..8;
- zero-pad 28x28 to 36x36 (4 pixels on each side);
- draw disjoint train / validation / test splits (10k / 2k / 50k by default) from that pool;
- normalize every split with the scalar mean and std of the padded, untransformed TRAINING pixels
  (on [0, 1]), so the training split has mean 0 and std 1 and the others are close to it;
- give every sample a group element g, drawn uniformly from G.

``split="nested"`` (the data-scaling experiment, ``empirical.scaling``) orders the pool by the same permutation and
takes validation first, then test, then training = the next ``n_train`` images: the validation and test sets (their
images, g and normalized values) are the same for every ``n_train``, and the training sets are nested (a larger one
holds every smaller one). Every image gets its g from its position in the permutation, and all splits are normalized
with the constants of the whole training pool (every image outside validation and test), so nothing but the
training set itself changes with ``n_train``. The default, ``split="draw"``, is the construction above, unchanged.

A split stores the *untransformed* images and g; :meth:`Split.transformed` returns
``x_flat[i, perms[g_i]]``, i.e. rho(g_i) x_i. The test (and validation) sets are evaluated
transformed by their own per-sample g, so an evaluation is reproducible from the seed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from empirical.data.download import DataError, accepted_sha256, canonical_name, find_file, locate
from empirical.data.idx import read_idx
from empirical.measure.groups import group_names, image_group
from theory import groups

__all__ = [
    "SIDE",
    "PAD",
    "DROPPED_CLASS",
    "GROUP_NAMES",
    "DRIFT_MODES",
    "SPLITS",
    "pool_size",
    "load_raw",
    "clear_raw_cache",
    "make_group",
    "pad_images",
    "transform_images",
    "Split",
    "TransformingDataset",
    "transforming",
    "drift",
]

SIDE = 36  # padded image side
PAD = 4  # zero pixels added on each side of the 28x28 images
DROPPED_CLASS = 9  # MNIST digit 9 / Fashion-MNIST ankle boot
GROUP_NAMES = group_names()  # the registry's (empirical.measure.groups)
DRIFT_MODES = ("interpolate", "mixture")
SPLITS = ("draw", "nested")  # how transforming() cuts the pool: the paper's draw, or nested training sets
_TITLES = {"mnist": "Transforming-MNIST", "fashion-mnist": "Transforming-FMNIST"}


@functools.lru_cache(maxsize=2)
def _read_pool(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    parts = []
    for prefix in ("train", "t10k"):
        files = [find_file(folder, f"{prefix}-{kind}") for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]
        x, y = (read_idx(f, sha256=accepted_sha256(folder, name, f.name.removesuffix(".gz"))) for f in files)
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8 or y.shape != x.shape[:1]:
            raise DataError(f"{files[0]}, {files[1]}: expected uint8 images (N, 28, 28) and N labels, got "
                             f"{x.dtype} {x.shape} and {y.shape}; replace them with the official files")
        parts.append((x, y))
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_raw(dataset: str, data_dir: str | Path | None = None, *, download: bool = True,
             quiet: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Official train+test pooled (train first): images (N, 28, 28) uint8 and labels (N,) uint8, read-only.

    N is 70000 for the official files. They are checksum-verified against the official SHA-256, or
    against the folder's own SHA256SUMS.decompressed for a declared subset (then N is smaller: 400 in
    the fixture tests/fixtures/data).
    DataError when ``data_dir`` (else $INVARIANCE_DATA) names a missing folder. The decoded arrays are
    kept in an lru_cache of two entries keyed by (folder, dataset) for the process (see :func:`clear_raw_cache`).
    """
    name = canonical_name(dataset)
    folder = locate(name, data_dir, download_missing=download, quiet=quiet)
    return _read_pool(folder.resolve(), name)


def pool_size(dataset: str, data_dir: str | Path | None = None, *, download: bool = True, quiet: bool = False) -> int:
    """The number of images of classes 0..8 in the pool (63,042 for the official MNIST; 63,000 for Fashion-MNIST)."""
    _, labels = load_raw(dataset, data_dir, download=download, quiet=quiet)
    return int(np.count_nonzero(labels != DROPPED_CLASS))


def clear_raw_cache() -> None:
    """Forget the decoded arrays that :func:`load_raw` keeps in memory."""
    _read_pool.cache_clear()


def make_group(group: str | groups.Representation) -> groups.Representation:
    """The group acting on 36x36 images: a registered name (``empirical.measure.groups``) or a permutation rep."""
    if isinstance(group, str):
        return image_group(group, SIDE)
    if not isinstance(group, groups.Representation):
        raise ValueError(f"group must be one of {GROUP_NAMES} or a theory.groups.Representation, got {group!r}")
    if group.perms is None or group.dim != SIDE * SIDE:
        raise ValueError(f"{group.name}: images need a permutation representation on {SIDE}x{SIDE}={SIDE * SIDE} "
                         f"pixels; build it with theory.groups.rotations({SIDE}) or translations({SIDE})")
    return group


def pad_images(images: np.ndarray, pad: int = PAD) -> np.ndarray:
    """Zero-pad images (N, h, w) by ``pad`` pixels on each side -> (N, h + 2 pad, w + 2 pad), same dtype."""
    n, h, w = images.shape
    out = np.zeros((n, h + 2 * pad, w + 2 * pad), dtype=images.dtype)
    out[:, pad:pad + h, pad:pad + w] = images
    return out


def transform_images(images: torch.Tensor, perms: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """rho(g_i) x_i for a batch: out_flat[i] = x_flat[i, perms[g_i]]; images (N, ...), perms (|G|, d), g (N,)."""
    flat = images.reshape(len(images), -1)
    if perms.ndim != 2 or perms.shape[1] != flat.shape[1] or g.shape != (len(images),):
        raise ValueError(f"transform_images needs images (N, ...) with d={perms.shape[-1]} values each, perms "
                         f"(|G|, d) and g (N,); got {tuple(images.shape)}, {tuple(perms.shape)}, {tuple(g.shape)}")
    out = torch.empty_like(flat)
    for k in torch.unique(g).tolist():
        if not 0 <= k < len(perms):
            raise ValueError(f"group index {k} outside 0..{len(perms) - 1}")
        rows = (g == k).nonzero(as_tuple=True)[0]
        out[rows] = flat[rows][:, perms[k]]
    return out.reshape(images.shape)


@dataclass(frozen=True, eq=False)
class Split:
    """One split: untransformed normalized images (N, 1, 36, 36) float32, labels and g (N,) int64.

    ``perms`` (|G|, 1296) int64 is the group; ``mean``/``std`` are the constants the images were
    normalized with (image = (pixel / 255 - mean) / std); ``index`` (N,) int64 is each sample's position in
    the pooled official train+test arrays of :func:`load_raw`; ``pixels`` (N, 1, 36, 36) uint8 are the raw
    padded pixels (None for an interpolated drift split, whose pixels are not on the 8-bit grid).
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    g: torch.Tensor
    perms: torch.Tensor
    mean: float
    std: float
    index: torch.Tensor
    pixels: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def black(self) -> float:
        """The normalized value of a black pixel, -mean/std (the integrated-gradients baseline)."""
        return -self.mean / self.std

    def transformed(self, g: torch.Tensor | None = None) -> torch.Tensor:
        """The images acted on by their group elements, rho(g_i) x_i, (N, 1, 36, 36); ``g`` defaults to self.g."""
        return transform_images(self.images, self.perms, self.g if g is None else g.to(self.images.device))

    def to(self, device: str | torch.device) -> Split:
        """The same split with every tensor on ``device``."""
        moved = {f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
                 if isinstance(getattr(self, f.name), torch.Tensor)}
        return dataclasses.replace(self, **moved)


@dataclass(frozen=True, eq=False)
class TransformingDataset:
    """Transforming-MNIST or Transforming-FMNIST (Sec. 4.1): train / val / test splits and the group."""

    name: str
    dataset: str
    group: groups.Representation
    seed: int
    mean: float
    std: float
    train: Split
    val: Split
    test: Split
    num_classes: int = 9

    @property
    def black(self) -> float:
        """The normalized value of a black pixel, -mean/std (the integrated-gradients baseline)."""
        return -self.mean / self.std

    def to(self, device: str | torch.device) -> TransformingDataset:
        """The same dataset with every split on ``device``."""
        return dataclasses.replace(self, train=self.train.to(device), val=self.val.to(device),
                                   test=self.test.to(device))


def _check_count(what: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {n!r}")
    return int(n)


def _normalize(mean: float, std: float, pixels: torch.Tensor, other: torch.Tensor | None = None,
               beta: float = 0.0) -> torch.Tensor:
    """(pixels / 255 - mean) / std in float32, as pixels * scale + shift; with ``other``, the same map of
    (1 - beta) pixels + beta other. One formula for both, so beta = 0 (and beta = 1) reproduce the plain
    normalization of pixels (of other) bit for bit."""
    scale = 1.0 / (255.0 * std)
    x = pixels.to(torch.float32, copy=True).mul_((1.0 - beta) * scale)
    if other is not None:
        x.add_(other.to(torch.float32).mul_(beta * scale))
    return x.add_(-mean / std)


def transforming(dataset: str, group: str | groups.Representation = "R4", seed: int = 0, *,
                 data_dir: str | Path | None = None, n_train: int = 10_000, n_val: int = 2_000,
                 n_test: int = 50_000, download: bool = True, quiet: bool = False, split: str = "draw"
                 ) -> TransformingDataset:
    """Transforming-MNIST ('mnist') or Transforming-FMNIST ('fashion-mnist') of Sec. 4.1, drawn with ``seed``.

    Splits are disjoint draws from the pooled official train+test images of classes 0..8, padded to
    36x36; all splits are normalized with the scalar mean/std of the padded, untransformed training
    pixels; g ~ Uniform(G) per sample. The seed feeds a SeedSequence with two children: the split
    permutation, then the g draws (train, val, test in that order).

    ``split="nested"``: the same permutation cut as validation = its first ``n_val`` images, test = the next
    ``n_test``, training = the next ``n_train``; one g per position of the permutation (so a sample's g does not
    depend on the split sizes); the normalization constants are those of the whole training pool (every image
    after validation and test). Validation and test are then identical for every ``n_train`` and the training sets
    are nested (see the module docstring).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    name = canonical_name(dataset)
    rep = make_group(group)
    sizes = [_check_count(w, n) for w, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test))]
    if sizes[0] < 1:
        raise ValueError("n_train must be at least 1: the normalization constants come from the training split")
    seed = _check_count("seed", seed)
    images, labels = load_raw(name, data_dir, download=download, quiet=quiet)
    keep = np.flatnonzero(labels != DROPPED_CLASS)
    if sum(sizes) > len(keep):
        raise DataError(f"n_train + n_val + n_test = {sum(sizes)} exceeds the {len(keep)} {name} images of "
                        f"classes 0..8 in the data folder (a subset?); point --data-dir at the full data or lower "
                        f"the split sizes")
    split_rng, g_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    order = split_rng.permutation(keep)
    if split == "draw":
        g_all = g_rng.integers(0, rep.order, size=sum(sizes))
        bounds = np.cumsum([0] + sizes)
        parts = [(order[a:b], g_all[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        train_pixels = pad_images(images[parts[0][0]])
        norm_pixels = train_pixels
    else:  # nested: validation, test, then training, cut from one permutation; g fixed per position
        g_all = g_rng.integers(0, rep.order, size=len(order))
        bounds = np.cumsum([0, sizes[1], sizes[2], sizes[0]])  # val, test, train
        val, test, train = ((order[a:b], g_all[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))
        parts = [train, val, test]
        train_pixels = pad_images(images[train[0]])
        norm_pixels = images[order[bounds[2]:]]  # the whole training pool; its zero padding is counted below
    counts = np.bincount(norm_pixels.ravel(), minlength=256).astype(np.float64)
    if norm_pixels is not train_pixels:  # the 4-pixel zero frame of every padded image
        counts[0] += len(norm_pixels) * (SIDE * SIDE - norm_pixels.shape[1] * norm_pixels.shape[2])
    levels = np.arange(256) / 255.0
    mean = float(counts @ levels / counts.sum())
    std = float(math.sqrt(counts @ (levels - mean) ** 2 / counts.sum()))
    if std == 0.0:
        raise ValueError("the training pixels are constant, so they cannot be normalized; use a larger n_train")
    perms = torch.from_numpy(np.array(rep.perms))
    title = _TITLES[name]

    def make(split: str, idx: np.ndarray, g: np.ndarray) -> Split:
        pixels = train_pixels if split == "train" else pad_images(images[idx])
        return Split(name=f"{title}/{split}", images=_normalize(mean, std, torch.from_numpy(pixels[:, None])),
                     labels=torch.from_numpy(labels[idx].astype(np.int64)), g=torch.from_numpy(g.astype(np.int64)),
                     perms=perms, mean=mean, std=std, index=torch.from_numpy(idx.astype(np.int64)),
                     pixels=torch.from_numpy(pixels[:, None]))

    splits = [make(s, idx, g) for s, (idx, g) in zip(("train", "val", "test"), parts)]
    return TransformingDataset(name=title, dataset=name, group=rep, seed=seed, mean=mean, std=std,
                               train=splits[0], val=splits[1], test=splits[2])


def drift(d1: TransformingDataset, d2: TransformingDataset, beta: float, mode: str = "interpolate",
          seed: int = 0, split: str = "test") -> Split:
    """D_{1->2}(beta) = (1 - beta) D_1 + beta D_2 of Sec. 4.3 on CPU (d1 = Transforming-MNIST, d2 = -FMNIST).

    'interpolate' (default): sample i is (1 - beta) x1_i + beta x2_i of the PAIRED samples i of both splits,
    in raw [0, 1] pixel space, with d1's label and g, normalized with d1's (training) constants: the
    model under test was trained on d1. It is the default because the paper "linearly interpolate[s]
    between those two datasets", and the accuracy ratio Acc(D(beta)) / Acc(D_1) only measures a drop
    when the labels stay d1's. beta = 0 gives d1's split exactly; beta = 1 gives d2's pixels, d1's labels.
    'mixture': sample i is d2's sample i with probability beta (Bernoulli draws from ``seed``), else d1's,
    with its own label, g and index (into its own pool), normalized with d1's constants; note that the
    fraction of foreign inputs, hence the invariance error, then grows linearly in beta by construction.
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(beta) <= 1.0:
        raise ValueError(f"beta must be a number in [0, 1], got {beta!r}")
    beta = float(beta)
    if mode not in DRIFT_MODES:
        raise ValueError(f"unknown drift mode {mode!r}; known modes: {', '.join(DRIFT_MODES)}")
    if split not in ("train", "val", "test"):
        raise ValueError(f"unknown split {split!r}; use 'train', 'val' or 'test'")
    s1, s2 = getattr(d1, split).to("cpu"), getattr(d2, split).to("cpu")
    if len(s1) != len(s2):
        raise ValueError(f"drift pairs samples i of both {split} splits, but they have {len(s1)} and {len(s2)} "
                         f"samples; build both datasets with the same n_{split}")
    if not np.array_equal(d1.group.perms, d2.group.perms):
        raise ValueError(f"drift needs both datasets built with the same group, got {d1.group.name} and "
                         f"{d2.group.name}")
    if s1.pixels is None or s2.pixels is None:
        raise ValueError("drift needs splits with raw pixels, as built by transforming()")
    name = f"D({beta:g}, {mode}) of {d1.name} -> {d2.name}/{split}"
    if mode == "mixture":
        rng = np.random.default_rng(_check_count("seed", seed))
        take = torch.from_numpy(rng.random(len(s1)) < beta)
        pixels = torch.where(take[:, None, None, None], s2.pixels, s1.pixels)
        return Split(name=name, images=_normalize(d1.mean, d1.std, pixels),
                     labels=torch.where(take, s2.labels, s1.labels), g=torch.where(take, s2.g, s1.g),
                     perms=s1.perms, mean=d1.mean, std=d1.std, index=torch.where(take, s2.index, s1.index),
                     pixels=pixels)
    images = _normalize(d1.mean, d1.std, s1.pixels, s2.pixels, beta)
    return Split(name=name, images=images, labels=s1.labels, g=s1.g, perms=s1.perms,
                 mean=d1.mean, std=d1.std, index=s1.index, pixels=None)
