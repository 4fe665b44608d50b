"""The data an audit runs on, from the suite's IDX folders, a tensor file or a folder of images; checked before work.

``DATA`` (the audit's argument) is one of:

- ``mnist`` / ``fashion-mnist`` (found as every command finds them: ``--data-dir``, ``$INVARIANCE_DATA``, ...):
  with ``padding="paper"`` (default) the Transforming test split of Sec. 4.1 exactly as Table 1 evaluates it
  (seed 0: 36x36 zero-padded, normalized with the training split's constants, class 9 dropped, each image moved by
  its own random element of the audited group; ``moved`` holds those elements per group); with
  ``padding="none"`` the official t10k files as they are (28x28, pixels / 255 in [0, 1], 10 classes).
- a folder holding IDX files (``t10k-images-idx3-ubyte[.gz]`` and its labels, or one ``*images*`` file and an
  optional ``*labels*`` file): as they are, pixels / 255.
- a ``.pt`` file (read with ``weights_only=True``: a tensor x, a pair (x, y), or a dict with x under ``x`` /
  ``images`` / ``inputs`` and labels under ``y`` / ``labels`` / ``targets``) or a ``.npz`` file with those keys.
  uint8 pixels are divided by 255; floating ones are taken as they are.
- a folder of images (one subfolder per class, class index = sorted subfolder position; or the images directly,
  unlabelled), read with Pillow: all the same size; grayscale (1 channel) when every file is, RGB otherwise.

The integrated-gradients baseline is the black image in the data's own scale (0, or -mean/std for the Transforming
split). :func:`check_fit` runs the model on two samples before any work and turns every mismatch (input shape,
logits, labels beyond the model's classes, a group that does not fit the images) into one line naming the fix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import torch
from torch import Tensor

from empirical.data.download import DataError, canonical_name, find_file, locate
from empirical.data.idx import read_idx
from empirical.data.transforming import pool_size, transforming
from empirical.data.user_model import InputError
from empirical.measure.events import EventGroup
from empirical.measure.groups import image_group
from empirical.measure.outputs import as_logits

__all__ = ["PADDINGS", "IMAGE_SUFFIXES", "AuditData", "load_data", "check_fit", "audit_groups"]

PADDINGS = ("paper", "none")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
_X_KEYS, _Y_KEYS = ("x", "images", "inputs", "data"), ("y", "labels", "targets")
_PAPER_SPLIT = (10_000, 2_000, 50_000)


@dataclass(frozen=True, eq=False)
class AuditData:
    """Inputs x (N, *C, H, W) float, labels y (N,) int64 or None, the IG baseline, and where they came from."""

    x: Tensor
    y: Tensor | None
    baseline: float
    description: str
    classes: tuple[str, ...] | None = None
    moved: Mapping[str, Tensor] = field(default_factory=dict)  # group -> element g (N,) of each sample (Table 1)

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.x.shape[-2:])

    def sha256(self) -> str:
        """Digest of every tensor (x, y, the moved elements): what the audit's numbers depend on."""
        h = hashlib.sha256()
        for t in (self.x, self.y, *(self.moved[k] for k in sorted(self.moved))):
            if t is not None:
                h.update(str((tuple(t.shape), str(t.dtype))).encode())
                h.update(t.contiguous().cpu().numpy().tobytes())
        return h.hexdigest()


def _pixels(images: np.ndarray, source: str) -> Tensor:
    """uint8 pixels / 255, float pixels as they are: (N, ...) float32 (float64 kept)."""
    t = torch.from_numpy(np.require(images, requirements=["C", "W"]))  # a read-only IDX array is copied
    if t.dtype == torch.uint8:
        return t.to(torch.float32) / 255.0
    if t.is_floating_point():
        return t if t.dtype == torch.float64 else t.to(torch.float32)
    raise InputError(f"{source}: inputs of dtype {t.dtype}; pass uint8 pixels (divided by 255) or floats")


def _labels(y, n: int, source: str) -> Tensor | None:
    if y is None:
        return None
    t = torch.from_numpy(np.require(np.asarray(y), requirements=["C", "W"]))
    if t.is_floating_point() or t.dtype == torch.bool or t.dim() != 1 or t.shape[0] != n:
        raise InputError(f"{source}: labels must be {n} integers (N,), one per input; got {t.dtype} "
                         f"{tuple(t.shape)}")
    if n and int(t.min()) < 0:
        raise InputError(f"{source}: labels must be class indices >= 0; got {int(t.min())}")
    return t.to(torch.int64)


def _with_channel(x: Tensor) -> Tensor:
    """(N, H, W) -> (N, 1, H, W); other layouts as they are."""
    return x[:, None] if x.dim() == 3 else x


def _idx_folder(folder: Path, source: str) -> tuple[Tensor, Tensor | None]:
    images = find_file(folder, "t10k-images-idx3-ubyte")
    labels = find_file(folder, "t10k-labels-idx1-ubyte")
    if images is None:
        found = sorted(p for p in folder.iterdir() if "images" in p.name and "idx" in p.name)
        if len(found) != 1:
            raise InputError(f"{source}: expected t10k-images-idx3-ubyte[.gz] or exactly one *images*idx* file, "
                             f"found {len(found)}; point DATA at one IDX folder")
        images = found[0]
        cands = sorted(p for p in folder.iterdir() if "labels" in p.name and "idx" in p.name)
        labels = cands[0] if len(cands) == 1 else None
    x = read_idx(images)
    if x.ndim != 3:
        raise InputError(f"{images}: IDX images must be (N, H, W); got shape {x.shape}")
    y = read_idx(labels) if labels is not None else None
    return _with_channel(_pixels(x, str(images))), _labels(y, x.shape[0], str(labels))


def _pick(obj: Mapping, keys: tuple[str, ...]):
    return next((obj[k] for k in keys if k in obj), None)


def _tensor_file(path: Path) -> tuple[Tensor, Tensor | None]:
    source = str(path)
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                obj = {k: z[k] for k in z.files}
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{source}: not a readable .npz ({type(exc).__name__}); save it with "
                             f"np.savez(path, x=..., y=...)") from None
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{source}: not a tensor file torch.load can read with weights_only=True "
                             f"({type(exc).__name__}); save tensors only: torch.save({{'x': x, 'y': y}}, path)"
                             ) from None
    if isinstance(obj, Tensor):
        x, y = obj, None
    elif isinstance(obj, (tuple, list)) and 1 <= len(obj) <= 2:
        x, y = obj[0], (obj[1] if len(obj) == 2 else None)
    elif isinstance(obj, Mapping):
        x, y = _pick(obj, _X_KEYS), _pick(obj, _Y_KEYS)
    else:
        x = y = None
    if x is None:
        raise InputError(f"{source}: no inputs found; store them as a tensor, a pair (x, y) or under one of the keys "
                         f"{', '.join(_X_KEYS)} (labels under {', '.join(_Y_KEYS)})")
    x = np.asarray(x.numpy() if isinstance(x, Tensor) else x)
    if x.ndim < 2:
        raise InputError(f"{source}: inputs must be a batch (N, ...); got shape {x.shape}")
    if isinstance(y, Tensor):
        y = y.numpy()
    return _with_channel(_pixels(x, source)), _labels(y, x.shape[0], source)


def _image_folder(folder: Path) -> tuple[Tensor, Tensor | None, tuple[str, ...] | None]:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        raise InputError("reading a folder of images needs Pillow: pip install pillow") from None
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    image = lambda p: p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES  # noqa: E731
    if subdirs:
        files = [(f, c) for c, d in enumerate(subdirs) for f in sorted(filter(image, d.iterdir()))]
        classes = tuple(d.name for d in subdirs)
    else:
        files, classes = [(f, None) for f in sorted(filter(image, folder.iterdir()))], None
    if not files:
        raise InputError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) in it or in its subfolders")
    pics = []
    for f, _ in files:
        try:
            with Image.open(f) as im:
                im.load()
                pics.append(im.copy())
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{f}: Pillow cannot read it ({type(exc).__name__}); remove it or convert it") from None
    sizes = {im.size for im in pics}
    if len(sizes) > 1:
        odd = next(f for (f, _), im in zip(files, pics) if im.size != pics[0].size)
        raise InputError(f"{folder}: images of {len(sizes)} sizes (e.g. {pics[0].size[0]}x{pics[0].size[1]} and "
                         f"{odd} at {Image.open(odd).size[0]}x{Image.open(odd).size[1]}); resize them to one size")
    gray = all(im.mode in ("L", "1", "LA", "I", "I;16", "F") for im in pics)
    arrays = [np.asarray(im.convert("L") if gray else im.convert("RGB")) for im in pics]
    x = np.stack(arrays)  # (N, H, W) or (N, H, W, 3)
    x = x[:, None] if gray else x.transpose(0, 3, 1, 2)
    y = [c for _, c in files] if classes else None
    return _pixels(x, str(folder)), _labels(y, len(files), str(folder)), classes


def _transforming(name: str, data_dir, groups: Iterable[str], quiet: bool) -> AuditData:
    """The Transforming test split (seed 0) with each group's per-sample elements (Table 1's evaluation)."""
    sizes = _PAPER_SPLIT
    pool = pool_size(name, data_dir, quiet=quiet)
    note = ""
    if pool < sum(sizes):  # a declared subset (the test fixture): a proportional split, said so
        sizes = (pool // 2, pool // 10, pool - pool // 2 - pool // 10)
        note = f"; a {pool}-image subset, split {sizes[0]}/{sizes[1]}/{sizes[2]}: not Table 1's test images"
    groups = list(dict.fromkeys(groups)) or ["R4"]
    moved, ds = {}, None
    for g in groups:
        try:
            ds = transforming(name, g, 0, data_dir=data_dir, n_train=sizes[0], n_val=sizes[1], n_test=sizes[2],
                              quiet=quiet)
        except ValueError as exc:
            if isinstance(exc, DataError):
                raise
            raise InputError(f"--groups {g}: {exc}") from None
        moved[g] = ds.test.g
    test = ds.test
    return AuditData(test.images, test.labels, ds.black,
                     f"{ds.name} test split (seed 0, {len(test)} images, 36x36, normalized; each image moved by its "
                     f"own random group element, as Table 1 evaluates{note})", moved=moved)


def load_data(spec: str, data_dir: str | Path | None = None, padding: str = "paper", groups: Iterable[str] = (),
              limit: int | None = None, quiet: bool = False) -> AuditData:
    """The audit's data named by ``spec`` (module docstring), the first ``limit`` samples; InputError otherwise."""
    if padding not in PADDINGS:
        raise InputError(f"--padding {padding}: choose one of {', '.join(PADDINGS)}")
    path = Path(spec)
    try:
        name = canonical_name(spec)
    except ValueError:
        name = None
    if name is not None and not path.exists():
        if padding == "paper":
            data = _transforming(name, data_dir, groups, quiet)
        else:
            folder = locate(name, data_dir, quiet=quiet)
            x, y = _idx_folder(folder, str(folder))
            data = AuditData(x, y, 0.0, f"{name} t10k ({len(x)} images, 28x28, pixels in [0, 1], 10 classes)")
    elif path.is_dir():
        idx = [p for p in path.iterdir() if "idx" in p.name and p.is_file()]
        if idx:
            x, y = _idx_folder(path, str(path))
            data = AuditData(x, y, 0.0, f"IDX files in {path} ({len(x)} images, pixels / 255)")
        else:
            x, y, classes = _image_folder(path)
            kinds = f"classes {', '.join(classes)}" if classes else "unlabelled"
            data = AuditData(x, y, 0.0, f"images in {path} ({len(x)}, {kinds}; pixels / 255)", classes=classes)
    elif path.is_file() and path.suffix in (".pt", ".pth", ".npz"):
        x, y = _tensor_file(path)
        data = AuditData(x, y, 0.0, f"tensors in {path} ({len(x)} inputs of shape {tuple(x.shape[1:])})")
    else:
        raise InputError(f"DATA {spec}: not mnist / fashion-mnist, an IDX or image folder, or a .pt / .npz file"
                         + (" (no such file or folder)" if not path.exists() else ""))
    if len(data) == 0:
        raise InputError(f"DATA {spec}: holds no samples")
    if limit is not None:
        data = AuditData(data.x[:limit], None if data.y is None else data.y[:limit], data.baseline,
                         data.description + (f"; the first {limit}" if limit < len(data) else ""), data.classes,
                         {g: e[:limit] for g, e in data.moved.items()})
    return data


def audit_groups(names: Iterable[str], data: AuditData) -> dict[str, EventGroup]:
    """Each named group on the data's H x W images; InputError (one line) for a group that does not fit them."""
    if data.x.dim() < 3:
        raise InputError(f"the data's samples have shape {tuple(data.x.shape[1:])}, not images (..., H, W): the "
                         f"registered groups act on images")
    out = {}
    for name in names:
        try:
            out[name] = image_group(name, data.image_size)
        except ValueError as exc:
            raise InputError(f"--groups {name}: {exc}") from None
    return out


def check_fit(model, data: AuditData, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> int:
    """Run the model on two samples: the number of classes K; InputError (one line) on any mismatch."""
    probe = data.x[:2].to(device=device, dtype=dtype)
    try:
        with torch.no_grad():
            logits = as_logits(model(probe), probe.shape[0])
    except (TypeError, ValueError) as exc:
        raise InputError(f"the model's output: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the model's own complaint, first line
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:240]
        raise InputError(f"the model does not take the data's inputs of shape {tuple(probe.shape)} ({why}); give data "
                         f"of the shape it was trained on (for the paper's 36x36 models: DATA mnist with --padding "
                         f"paper)") from None
    k = logits.shape[1]
    if data.y is not None and int(data.y.max()) >= k:
        raise InputError(f"the data has labels up to {int(data.y.max())} but the model has {k} outputs; give data "
                         f"with classes 0..{k - 1} (the paper's models drop class 9: DATA mnist --padding paper)")
    return k
