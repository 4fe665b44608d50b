"""A trained run as the store keeps it: its weights and history, what its bits depend on (provenance, regime),
where it lives in the run cache, and the digest its evaluations are keyed by.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import subprocess
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor

from empirical.engine.config import RunConfig
from empirical.engine.store import load_torch, quarantine, save_torch

log = logging.getLogger("empirical.engine.results")

__all__ = ["RunResult", "ENGINE", "code_version", "provenance", "regime", "regime_of", "result_path", "save_result",
           "load_result", "weights_digest"]

# The engine's arithmetic: bump when a change makes a run's bits differ (results record it, and the report
# names outputs made by an older engine). 2: on a CPU each run trains in a stack of its own on one thread by
# default, so its bits do not depend on the runs it was asked for with, nor on the thread count (measured:
# a run's bits depended both on its position in a stack and, alone, on the threads).
ENGINE = 2


@dataclass
class RunResult:
    """A trained run: the selected parameters (MLP state dict) and the training history.

    The selected epoch is the one with the best validation accuracy, or the last with
    ``select="last"``; ``best_epoch`` and ``best_val_acc`` describe the selected epoch.
    """

    config: RunConfig
    state_dict: dict[str, Tensor]
    best_epoch: int
    best_val_acc: float
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0  # wall seconds of training (its stack's, divided among its runs); not the gap before a resume
    failed: str = ""  # why the run failed (e.g. its loss diverged); a failed run is reported, never used
    provenance: dict = field(default_factory=dict)  # code, engine, torch, device, threads, stack
    # CPU seconds the training process spent (time.process_time, divided among the stack's runs): the core time,
    # which a busy machine's wall seconds overstate; None for a run trained before it was recorded
    cpu_seconds: float | None = None


@functools.cache
def code_version(folder: Path = Path(__file__).resolve().parent) -> str:
    """The git commit of the checkout holding ``folder`` (with '+dirty' for uncommitted changes outside the outputs'
    folder, paper_figures/, which the commands themselves rewrite), else the package version."""
    try:
        run = functools.partial(subprocess.run, cwd=folder, capture_output=True, text=True, timeout=10, check=True)
        commit = run(["git", "rev-parse", "--short=12", "HEAD"]).stdout.strip()
        dirty = run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                     ":(top,exclude)paper_figures"]).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("genuine-invariance")
        except PackageNotFoundError:
            return "unknown"


def provenance(device: torch.device | str, stack: list[str] | None = None) -> dict:
    """What a result's bits depend on: code version, engine, torch, device, CPU threads, stack composition."""
    return {"code": code_version(), "engine": ENGINE, "torch": torch.__version__, "device": str(device),
            "threads": torch.get_num_threads(), "stack": list(stack or [])}


def regime(device: torch.device | str, stack: int) -> str:
    """How a run's bits are made, as the name of its cache folder: engine, device type, exact or stacked, torch.

    'exact' is a CPU run trained alone on one thread (``--stack 1``): its bits depend on nothing else. A stacked
    run's last bits depend on the runs beside it, a CUDA run's on the GPU, every run's on the engine and torch:
    runs made in different regimes never stand in for each other.
    """
    # one thread: engine.runs trains every run of an exact context on one
    return _regime_name(ENGINE, torch.device(device).type, stack, 1, torch.__version__)


def regime_of(prov: dict) -> str:
    """The regime a run's recorded provenance names ('' when it recorded too little to tell).

    A CPU run trained alone is exact only on one thread: alone on two, its bits differ (README, Reproducibility),
    so it is named by its thread count and stands in for no exact run.
    """
    try:
        return _regime_name(prov["engine"], torch.device(prov["device"]).type, len(prov["stack"]), prov["threads"],
                            prov["torch"])
    except (KeyError, TypeError, ValueError, RuntimeError):
        return ""


def _regime_name(engine: int, kind: str, stack: int, threads: int, torch_version: str) -> str:
    """The one rule both name regimes by: exact = a CPU run trained alone on one thread."""
    if kind != "cpu" or stack > 1:
        mode = "stacked"
    elif threads == 1:
        mode = "exact"
    else:
        mode = f"alone-{int(threads)}-threads"
    return f"engine{engine}-{kind}-{mode}-torch{torch_version}"


def result_path(config: RunConfig, cache_dir: Path) -> Path:
    """Where the run of ``config`` is stored: ``<cache>/<key>.pt``."""
    return Path(cache_dir) / f"{config.key()}.pt"


def save_result(result: RunResult, cache_dir: Path) -> Path:
    """Write a run to ``cache_dir/<key>.pt`` atomically, with a checksum."""
    payload = asdict(replace(result, state_dict={}))
    payload["state_dict"] = result.state_dict
    return save_torch(payload, result_path(result.config, cache_dir))


def load_result(config: RunConfig, cache_dir: Path, regime: str | None = None) -> RunResult | None:
    """The cached run for ``config``; None when it has not been trained or its file was corrupt (moved aside).

    With ``regime``, a run whose provenance names another regime is not returned either (it stays where it is).
    """
    path = result_path(config, cache_dir)
    payload = load_torch(path)
    if payload is None:
        return None
    try:
        payload["config"] = RunConfig(**payload["config"])
        result = RunResult(**payload)
    except (TypeError, KeyError, ValueError) as exc:
        quarantine(path, f"not a run: {exc}")
        return None
    if result.config != config:
        quarantine(path, "holds another configuration")
        return None
    if not result.failed and not all(torch.isfinite(t).all() for t in result.state_dict.values()):
        quarantine(path, "non-finite weights")
        return None
    if regime is not None and regime_of(result.provenance) != regime:
        log.warning("run %s in %s was trained as %s, not %s: not reused", config.key(), cache_dir,
                    regime_of(result.provenance) or "an unrecorded regime", regime)
        return None
    return result


def weights_digest(result: RunResult) -> str:
    """SHA-256 of a run's selected weights (names, shapes, dtypes, bytes): what an evaluation of it depends on."""
    h = hashlib.sha256()
    for name, w in result.state_dict.items():
        w = w.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(w.shape)}:{w.dtype};".encode())
        h.update(w.numpy().tobytes() if w.dtype != torch.bfloat16 else w.view(torch.int16).numpy().tobytes())
    return h.hexdigest()
