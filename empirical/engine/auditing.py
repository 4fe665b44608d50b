"""An audit's batches, resumable: each batch's per-sample metrics cached as it finishes, a killed audit picks up there.

:func:`run_batches` walks the data in batches (the last one merged into its neighbour if it would hold a single
sample: the layer-wise profile is normalized by the batch), measures each with
``empirical.measure.audit.batch_metrics`` on the requested device and writes its results to
``<cache>/batch-<i>.pt`` through the run store (checksummed, atomic: a killed process leaves a whole file or
none; a damaged one is moved aside and recomputed). A rerun with the same key reads the finished batches back and
computes the rest. A progress bar (tqdm) shows samples, rate and time left over the whole data set; cached
batches count as done from the start, so the rate is the rate of this run.

:func:`cache_key` names the cache folder by everything the numbers depend on (the model file, the data, the
groups, the settings, the device type, torch): a change of any of them starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from empirical.engine.store import load_torch, save_torch
from empirical.measure.audit import AuditSpec, batch_metrics
from empirical.measure.events import EventGroup

__all__ = ["batch_bounds", "cache_key", "run_batches"]


def batch_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """[lo, hi) of each batch; a last batch of one sample joins the one before it."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    bounds = [(lo, min(n, lo + size)) for lo in range(0, n, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < 2:
        (lo, _), (_, hi) = bounds[-2], bounds[-1]
        bounds[-2:] = [(lo, hi)]
    return bounds


def cache_key(**parts: Any) -> str:
    """A 16-hex-digit name for the results of an audit with these parts (JSON-serializable; torch version added)."""
    blob = json.dumps({**parts, "torch": torch.__version__, "format": 1}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_batches(model, x: Tensor, y: Tensor | None, groups: Mapping[str, EventGroup], spec: AuditSpec,
                cache: Path, *, baseline: float = 0.0, moved: Mapping[str, Tensor] | None = None,
                batch_size: int = 256, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                quiet: bool = False) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Per-sample metrics (key -> (N,) float64 on the CPU) over x (N, ...), and what it took.

    Batches found in ``cache`` are read back; the others are measured and saved there as they finish. The second
    value reports {"batches", "computed", "cached", "seconds"} for this call.
    """
    from tqdm.auto import tqdm

    bounds = batch_bounds(x.shape[0], batch_size)
    paths = [Path(cache) / f"batch-{i:05d}.pt" for i in range(len(bounds))]
    cached = {i for i, p in enumerate(paths) if p.exists()}
    start = time.perf_counter()
    parts: list[dict[str, Tensor]] = []
    computed = 0
    with tqdm(total=x.shape[0], initial=sum(hi - lo for i, (lo, hi) in enumerate(bounds) if i in cached),
              unit="img", desc="audit", disable=quiet, dynamic_ncols=True) as bar:
        for i, (lo, hi) in enumerate(bounds):
            got = load_torch(paths[i]) if i in cached else None
            if got is not None and all(v.shape == (hi - lo,) for v in got.values()):
                parts.append(got)
                continue
            if i in cached:  # damaged (moved aside by the store) or of another shape: the bar counted it already
                bar.update(-(hi - lo))
            xb = x[lo:hi].to(device=device, dtype=dtype, non_blocking=True)
            yb = None if y is None else y[lo:hi].to(device)
            mb = None if moved is None else {g: e[lo:hi] for g, e in moved.items()}
            got = batch_metrics(model, xb, yb, groups, spec, baseline, mb)
            save_torch(got, paths[i])
            parts.append(got)
            computed += 1
            bar.update(hi - lo)
    keys = list(parts[0]) if parts else []
    merged = {k: torch.cat([p[k] for p in parts]) for k in keys}
    return merged, {"batches": len(bounds), "computed": computed, "cached": len(bounds) - computed,
                    "seconds": time.perf_counter() - start}
