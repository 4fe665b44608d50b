"""The generic stacked engine: R runs of any registered architecture as one program through ``torch.func``.

The R networks are built from their own seeds, their parameters stacked by
``torch.func.stack_module_state`` (each tensor (R, *shape), in the module's own layout) and the forward
is ``vmap(functional_call(template, params_r, rows_r))`` over runs; autograd differentiates through
the vmap, and one Adam over the stacked tensors is R independent Adams (elementwise). This is the
path for every architecture without a hand-tuned one (``empirical.engine.stacked`` for the MLP, which the
tests compare it with). :class:`FunctionalStack` has the interface ``empirical.engine.training.train_stack``
uses for both paths: ``init``, ``__call__``, ``unstack``, ``weights``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.func import functional_call, stack_module_state, vmap

from empirical.engine.architectures import build
from theory.groups import Representation

__all__ = ["FunctionalStack"]


class FunctionalStack:
    """R networks of one architecture, model (WT / DA / IR) and size, as stacked parameters and a vmapped forward."""

    path = "functional"

    def __init__(self, arch: str, model: str, rep: Representation, *, pool: str = "max", activation: str = "relu",
                 in_features: int = 1296, classes: int = 9, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, **options):
        self.model, self.order = model, rep.order  # what the trainer's loss needs (as ``training._Arch``)
        self.tied = model == "WT"
        self.device, self.dtype = torch.device(device), dtype
        self._kw = dict(group=rep if self.tied else None, pool=pool, in_features=in_features, classes=classes,
                        activation=activation, **options)
        self.arch = arch
        # The template's own parameters are never used (functional_call substitutes each run's); a seed keeps
        # building it off the global RNG. Its buffers (the group's pixel indices) are shared by all runs.
        self.template = build(arch, seed=0, **self._kw).to(self.device, dtype)
        self.names = [name for name, _ in self.template.named_parameters()]
        if self.tied:
            order = self.order

            def one(p: dict[str, Tensor], rows: Tensor) -> Tensor:  # rows (|G| * B, d), group-major
                return functional_call(self.template, p, (rows.unflatten(0, (order, -1)),), {"given_orbit": True})
        else:
            def one(p: dict[str, Tensor], rows: Tensor) -> Tensor:
                return functional_call(self.template, p, (rows,))
        self._forward = vmap(one)

    def init(self, seeds: list[int], device: torch.device | str | None = None, dtype: torch.dtype | None = None
             ) -> list[Tensor]:
        """Parameters, each (R, *shape) in ``named_parameters`` order, run r built with seed ``seeds[r]`` alone."""
        nets = [build(self.arch, seed=int(s), **self._kw) for s in seeds]
        params, _ = stack_module_state(nets)
        device, dtype = device or self.device, dtype or self.dtype
        return [params[n].detach().to(device, dtype).contiguous() for n in self.names]

    def __call__(self, params: list[Tensor], rows: Tensor) -> Tensor:
        """Logits (R, B, K) from rows (R, B, d), or from group-major orbit rows (R, |G| * B, d) for WT."""
        return self._forward(dict(zip(self.names, params)), rows)

    def unstack(self, params: list[Tensor], r: int) -> dict[str, Tensor]:
        """Run r's parameters as the module's state dict (CPU copies), ready for ``load_state_dict``."""
        return {n: p[r].detach().cpu().clone() for n, p in zip(self.names, params)}

    def weights(self, params: list[Tensor]) -> list[Tensor]:
        """Each weight (every parameter of >= 2 dims per run) as a stacked matrix (R, out, fan_in)."""
        return [p.flatten(2) for p in params if p.dim() >= 3]
