"""What one invocation runs at: the experiment's scale, device, folders and training options (a Context).

The engine reads a Context; the command line builds one (``empirical.cli``). ``PAPER_OUT`` is where only the
paper's full scale writes by default; any other scale writes into ``<cache>/figures/<scale>/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from empirical.engine.architectures import DEFAULT_ARCH
from empirical.engine.config import RunConfig
from empirical.engine.results import regime

__all__ = ["Scale", "FULL", "QUICK", "scale_tag", "part_scales", "output_scale_tag", "Context", "PAPER_OUT"]

PAPER_OUT = Path("paper_figures")  # the committed outputs: written by default only at the paper's full scale


@dataclass(frozen=True)
class Scale:
    """How big an experiment is: split sizes, epochs, and the samples the costly metrics use."""

    n_train: int
    n_val: int
    n_test: int
    epochs: int
    n_saliency: int  # test samples for SI (integrated gradients over the orbit)
    n_jacobian: int  # test samples for sigma_max(J)
    ig_steps: int
    seeds: int
    nu_grid_stride: int = 1  # tune nu over every k-th grid value (quick runs use a coarse grid)


FULL = Scale(n_train=10_000, n_val=2_000, n_test=50_000, epochs=300, n_saliency=1000, n_jacobian=1000,
             ig_steps=50, seeds=4)
QUICK = Scale(n_train=1000, n_val=300, n_test=1000, epochs=5, n_saliency=32, n_jacobian=64, ig_steps=16, seeds=2,
              nu_grid_stride=3)


def scale_tag(scale: Scale) -> str:
    """A scale's short name: 'full' (the paper's), else 'quick' or 'custom' with the epochs / seeds that differ."""
    if scale == FULL:
        return "full"
    base, name = (QUICK, "quick") if scale.n_train == QUICK.n_train else (FULL, "custom")
    extra = [f"e{scale.epochs}"] * (scale.epochs != base.epochs) + [f"s{scale.seeds}"] * (scale.seeds != base.seeds)
    return "-".join([name, *extra])


def part_scales(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The scale and device of each part of a bridge result (older files: the top-level scale for every part)."""
    return result.get("part_scales") or {p: {**result.get("scale", {}), "device": result.get("device")}
                                         for p in result.get("parts", [])}


def output_scale_tag(doc: dict[str, Any]) -> str:
    """The scale tag an output JSON records, or the one its 'scale' fields give (files from before the tag); '?'."""
    if doc.get("scale_tag"):
        return doc["scale_tag"]
    try:
        return scale_tag(Scale(**doc["scale"]))
    except (KeyError, TypeError):
        return "?"


@dataclass(frozen=True)
class Context:
    """Resolved options of one command invocation."""

    scale: Scale
    device: torch.device
    data_dir: str | None
    out: Path
    cache_dir: Path
    quiet: bool
    stack: int = 1  # runs trained together; 1 (the CPU default) makes every run's bits independent of the others
    executor: Any = None  # where stacks train (empirical.engine.executors); None: in this process
    checkpoint_seconds: float = 120.0  # how often a training stack saves its state
    arch: str = DEFAULT_ARCH  # the network of every run (empirical.engine.architectures)

    @property
    def regime(self) -> str:
        """How this context's runs are trained (``training.regime``): engine, device, exact or stacked, torch."""
        return regime(self.device, self.stack)

    @property
    def runs_dir(self) -> Path:
        """Where this context's runs and their evaluations live: ``<cache>/<regime>/``, so a run trained in a
        stack, on CUDA, by another engine or torch never stands in for an exact CPU run, nor its evaluation."""
        return self.cache_dir / self.regime

    def config(self, **kw) -> RunConfig:
        """A RunConfig at this scale and architecture."""
        s = self.scale
        if self.arch != DEFAULT_ARCH:
            kw.setdefault("arch", self.arch)
        return RunConfig(epochs=s.epochs, n_train=s.n_train, n_val=s.n_val, n_test=s.n_test, **kw)

    def stem(self, name: str) -> str:
        """An output's file stem: ``name`` for the paper's mlp, ``name_<arch>`` for another architecture."""
        return name if self.arch == DEFAULT_ARCH else f"{name}_{self.arch}"

    def figure(self, name: str, group: str) -> Path:
        """A per-group figure in ``out``: ``<stem>.png`` for R4 (the paper's group), ``<stem>_<G>.png`` for another."""
        return self.out / (self.stem(name) + ("" if group == "R4" else f"_{group}") + ".png")
