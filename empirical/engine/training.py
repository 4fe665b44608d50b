"""Vectorized multi-run trainer for the models of Sec. 4.1: WT, DA and IR (Eq. 4) stacked into one program.

Runs that share an architecture and a data set (a *stack*) are trained together: their
weights are stacked (``empirical.engine.stacked``) and every step is one batched matmul per layer,
with each run drawing its own initialization, batch order and augmentation from its own
seed. Adam is elementwise, so one Adam over the stacked tensors is one Adam per run.

Training follows Sec. 4.1: Adam, lr 8e-4, batch 512, 300 epochs, a group element drawn per
sample per epoch (data augmentation), the final model chosen by best validation accuracy.
IR adds ``nu * invariance error`` over the orbit of each augmented sample (Eq. 4), computed by
``empirical.measure.invariance.invariance_from_logits``: the same function the metrics use.

Two stacked engines with one interface (``init``, ``__call__``, ``unstack``, ``weights``): the
hand-tuned MLP path (:class:`_Arch` over ``empirical.engine.stacked``: one baddbmm per layer) and the
generic ``torch.func`` path (``empirical.engine.functional.FunctionalStack``) for every architecture of
``empirical.engine.architectures``. ``RunConfig.arch`` picks the architecture; ``train_stack(path=...)``
the engine ("auto": the fast path where one exists).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from empirical.engine.config import RunConfig
from empirical.engine.results import RunResult, provenance
from empirical.engine.architectures import architecture, build, forward_macs
from empirical.engine.functional import FunctionalStack
from empirical.measure.invariance import invariance_from_logits
from empirical.engine.models import Network
from empirical.measure.sensitivity import sigma_max
from empirical.engine.stacked import init_stack, layer_sizes, stacked_forward, unstack
from empirical.engine.store import load_torch, save_torch
from theory.groups import Representation, cayley_table

log = logging.getLogger("empirical.engine.training")

__all__ = ["TrainData", "PROBE", "PATHS", "train_stack", "training_macs", "group_stacks", "build_network"]

PATHS = ("auto", "fast", "functional")  # train_stack's engines: auto = the fast path where the architecture has one
_CHECKPOINT_FORMAT = 2  # bump when the layout of a stack checkpoint changes (2: weights stored (R, in, out))


@dataclass(frozen=True)
class TrainData:
    """Device-resident tensors for one stack: the training orbit and the validation split.

    train_orbit: (|G|, N, d) every group transform of every training image (element 0 = untransformed);
    train_y: (N,); val_orbit: (|G|, M, d); val_g: (M,) the validation samples' group elements; val_y: (M,).
    The first ``PROBE`` validation samples (transformed by their g) are the probe set on which
    sigma_max of the input Jacobian is recorded after every epoch.
    """

    train_orbit: Tensor
    train_y: Tensor
    val_orbit: Tensor
    val_g: Tensor
    val_y: Tensor

    def val_inputs(self, sl: slice = slice(None)) -> Tensor:
        """Validation samples sl transformed by their own g, (m, d)."""
        rows = torch.arange(self.val_y.shape[0], device=self.val_y.device)[sl]
        return self.val_orbit[self.val_g[sl], rows]


@dataclass(frozen=True)
class _Arch:
    """The hand-tuned MLP engine (``empirical.engine.stacked``): parameters [W_1, b_1, ...] with W_i (R, in, out)."""

    model: str
    order: int
    pool: str
    activation: str
    sizes: tuple[tuple[int, int], ...] = ()  # (in, out) of each linear layer
    init_scheme: str = "torch"
    path = "fast"

    def init(self, seeds: list[int], device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
             ) -> list[Tensor]:
        """Stacked parameters, run r initialized from ``seeds[r]`` alone (``empirical.engine.stacked.init_stack``)."""
        return [p.to(dtype) for p in init_stack(seeds, list(self.sizes), device, self.init_scheme)]

    def __call__(self, params: list[Tensor], rows: Tensor) -> Tensor:
        """Logits (R, B, K) from rows (R, B, d), or from orbit-major rows (R, |G| * B, d) for WT."""
        tied = self.order if self.model == "WT" else 0
        return stacked_forward(params, rows, pool_orbit=tied, pool=self.pool, activation=self.activation)

    def unstack(self, params: list[Tensor], r: int) -> dict[str, Tensor]:
        """Run r's parameters as an ``MLP`` state dict."""
        return unstack(params, r)

    def weights(self, params: list[Tensor]) -> list[Tensor]:
        """Each layer's stacked weight (R, in, out) (sigma_max is the same for the transpose)."""
        return params[0::2]


def _engine(c: RunConfig, rep: Representation, d: int, classes: int, device: torch.device, dtype: torch.dtype,
            path: str = "auto") -> _Arch | FunctionalStack:
    """The stacked engine of c's stack: the fast MLP path ('fast', or 'auto' for the mlp) or the torch.func one."""
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; choose one of {', '.join(PATHS)}")
    entry = architecture(c.arch)
    if path == "fast" and not entry.fast:
        raise ValueError(f"arch={c.arch!r} has no hand-tuned path; use path='auto' or 'functional'")
    if path == "functional" and c.init != "torch":
        raise ValueError(f"the functional path draws each module's default init; init={c.init!r} needs path='fast'")
    if entry.fast and path != "functional":
        return _Arch(c.model, rep.order, c.pool, c.activation, tuple(layer_sizes(d, c.hidden, c.depth, classes)),
                     c.init)
    options = {name: getattr(c, name) for name in entry.options}
    return FunctionalStack(c.arch, c.model, rep, pool=c.pool, activation=c.activation, in_features=d,
                           classes=classes, device=device, dtype=dtype, **options)


def build_network(c: RunConfig, group: Representation | None, classes: int = 9, in_features: int = 1296,
                  seed: int | None = None) -> Network:
    """The module of run config c: its architecture and sizes, WT on ``group`` when c.model is 'WT'."""
    if c.model == "WT" and group is None:
        raise ValueError("a WT run's module needs its group; pass image_group(config.group)")
    options = {name: getattr(c, name) for name in architecture(c.arch).options}
    return build(c.arch, group=group if c.model == "WT" else None, pool=c.pool, seed=seed, in_features=in_features,
                 classes=classes, activation=c.activation, **options)


def _cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy per run, (R,), of logits (R, B, K) against labels (R, B)."""
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)


def _gather(data: TrainData, g: Tensor, idx: Tensor, buf: Tensor | None = None) -> Tensor:
    """Rows train_orbit[g, idx] for broadcastable g, idx -> (*shape, d), copied into ``buf`` when given.

    ``index_select`` on the flattened orbit copies whole rows (several times faster than advanced
    indexing), and reusing one buffer avoids a fresh multi-megabyte allocation, whose page faults
    otherwise cost as much as the copy, at every step.
    """
    n, d = data.train_orbit.shape[1:]
    flat = (g * n + idx).reshape(-1)
    out = None if buf is None else buf[: flat.numel()]
    rows = torch.index_select(data.train_orbit.reshape(-1, d), 0, flat, out=out)  # a view when contiguous
    return rows.view(*torch.broadcast_shapes(g.shape, idx.shape), d)


def _step_loss(params, data: TrainData, idx: Tensor, g: Tensor, arch, coef: Tensor, forms: list[str],
               table: Tensor, buf: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-run cross-entropy and weighted invariance penalty, each (R,), on batch idx (R, B) augmented by g (R, B)."""
    y = data.train_y[idx]
    zero = torch.zeros(idx.shape[0], device=idx.device)
    if arch.model == "DA":
        return _cross_entropy(arch(params, _gather(data, g, idx, buf)), y), zero
    # (R, |G|, B, d): the whole orbit of each sample, group-major within each run
    rows = _gather(data, torch.arange(arch.order, device=idx.device)[None, :, None], idx[:, None, :], buf)
    logits = arch(params, rows.flatten(1, 2))
    if arch.model == "WT":  # invariant by construction: augmentation cannot change its output
        return _cross_entropy(logits, y), zero
    z = logits.unflatten(1, (arch.order, -1))  # (R, |G|, B, K), z[:, h] = f(h x)
    # Re-index the orbit around the augmented sample g x: element h of its orbit is (h g) x.
    hidx = table[:, g].permute(1, 0, 2)  # (R, |G|, B)
    z = z.gather(1, hidx.unsqueeze(-1).expand(-1, -1, -1, z.shape[-1])).transpose(0, 1)  # (|G|, R, B, K)
    penalty = sum((coef[:, f] * invariance_from_logits(z, form).mean(1) for f, form in enumerate(forms)), zero)
    return _cross_entropy(z[0], y), penalty


@torch.no_grad()
def _val_accuracy(params, data: TrainData, arch, chunk: int = 1024) -> Tensor:
    """Validation accuracy (R,) on the validation samples transformed by their own g."""
    r = params[0].shape[0]
    correct = torch.zeros(r, device=params[0].device)
    m = data.val_y.shape[0]
    for s in range(0, m, chunk):
        sl = slice(s, min(s + chunk, m))
        x = data.val_orbit[:, sl].flatten(0, 1) if arch.model == "WT" else data.val_inputs(sl)
        logits = arch(params, x.unsqueeze(0).expand(r, -1, -1))
        correct += (logits.argmax(-1) == data.val_y[sl]).sum(-1)
    return correct / m


PROBE = 64  # validation samples on which sigma_max(J) is tracked during training


def _probe(params, data: TrainData, arch, perms: Tensor) -> tuple[Tensor, Tensor]:
    """sigma_max of each layer's weight, (R, L), and mean sigma_max of the input Jacobian on the probe set, (R,)."""
    layers = torch.stack([sigma_max(w.detach()) for w in arch.weights(params)], dim=1)
    r = params[0].shape[0]
    x = data.val_inputs(slice(0, PROBE)).unsqueeze(0).expand(r, -1, -1).clone().requires_grad_(True)
    with torch.enable_grad():
        rows = x[:, :, perms].transpose(1, 2).flatten(1, 2) if arch.model == "WT" else x  # WT: (R, |G| * P, d)
        out = arch([p.detach() for p in params], rows)
        jac = torch.stack([torch.autograd.grad(out[..., k].sum(), x, retain_graph=True)[0]
                           for k in range(out.shape[-1])], dim=2)  # (R, P, K, d)
    return layers, sigma_max(jac).mean(1)


def train_stack(configs: list[RunConfig], data: TrainData, rep: Representation, *, progress=None,
                checkpoint: Path | None = None, checkpoint_seconds: float = 120.0, path: str = "auto"
                ) -> list[RunResult]:
    """Train runs sharing one stack key together; returns each run's best-validation model.

    ``progress`` is called as progress(epochs_done) after each epoch (e.g. a tqdm update);
    with ``checkpoint`` the stack's full state is saved there atomically every
    ``checkpoint_seconds`` and training resumes from it when the same stack is started again.
    ``path`` picks the engine (:data:`PATHS`): 'auto' is the hand-tuned MLP path for the mlp (the
    cached results' arithmetic) and the ``torch.func`` path for any other architecture; 'functional'
    forces the generic path. Parameters take the dtype of ``data`` (float32 in the experiments).
    """
    if len({c.stack_key() for c in configs}) != 1:
        raise ValueError("train_stack needs configs that differ only in seed, form, nu and ce")
    c0 = configs[0]
    device = data.train_orbit.device
    order, n, d = data.train_orbit.shape
    if rep.perms is None:
        raise ValueError(f"train_stack trains on image groups given as pixel permutations; {rep.name} has none")
    if order != rep.order or d != rep.dim:
        raise ValueError(f"data orbit {tuple(data.train_orbit.shape)} does not match group {rep.name} "
                         f"(|G|={rep.order}, d={rep.dim})")
    dtype = data.train_orbit.dtype
    arch = _engine(c0, rep, d, int(data.train_y.max()) + 1, device, dtype, path)
    forms = sorted({c.form for c in configs if c.form})
    coef = torch.tensor([[c.nu if c.form == f else 0.0 for f in forms] for c in configs], device=device)
    table = torch.as_tensor(cayley_table(rep), device=device)
    seeds = [c.seed for c in configs]
    params = [p.requires_grad_() for p in arch.init(seeds, device, dtype)]
    if c0.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=c0.lr, fused=True)  # one kernel for all tensors: ~100x less overhead on CPU
    else:
        opt = torch.optim.SGD(params, lr=c0.lr, foreach=True)
    ce_w = torch.tensor([c.ce for c in configs], device=device)
    gens = [torch.Generator().manual_seed(int(c.seed)) for c in configs]
    best = [p.detach().clone() for p in params]
    best_acc = torch.full((len(configs),), -1.0, device=device)
    best_epoch = [0] * len(configs)
    history = {"val_acc": [], "train_ce": [], "train_penalty": [], "layer_sigma_max": [], "probe_sigma_max_J": []}
    perms_t = torch.tensor(np.array(rep.perms), device=device)
    start_epoch, elapsed, cpu_elapsed, failed = 0, 0.0, 0.0, [""] * len(configs)
    # the pass in progress: (shuffles (R, n), group elements (R, n), position); a pass starts at an epoch's start
    # unless steps_per_epoch cuts epochs inside passes
    stream: tuple[Tensor, Tensor, int] | None = None
    state = None if checkpoint is None else load_torch(checkpoint, map_location=device)
    if state is not None:  # a corrupt checkpoint was moved aside (None): the stack starts from scratch
        # a checkpoint of another stack, or written by an engine with another parameter layout, is ignored
        # (the fast path's layout is (R, in, out), the functional path's the module's own: the path must match)
        if (state.get("format") == _CHECKPOINT_FORMAT and state["keys"] == [c.key() for c in configs]
                and state.get("path", "fast") == arch.path):
            with torch.no_grad():
                for p, q in zip(params, state["params"]):
                    p.copy_(q)
            best = state["best"]
            opt.load_state_dict(state["opt"])
            for gen, s in zip(gens, state["gens"]):
                gen.set_state(s)
            best_acc, best_epoch, history = state["best_acc"], state["best_epoch"], state["history"]
            start_epoch, elapsed = state["epoch"], state["elapsed"]
            cpu_elapsed = state.get("cpu_elapsed", float("nan"))  # nan: a checkpoint that did not record it
            failed = state.get("failed", failed)
            stream = state.get("stream", stream)
            if progress:
                progress(start_epoch)
    t0, cpu0, last_save = time.perf_counter(), time.process_time(), time.perf_counter()
    bs = c0.batch_size
    buf = torch.empty(len(configs) * min(bs, n) * (1 if c0.model == "DA" else order), d, device=device, dtype=dtype)
    steps = c0.steps_per_epoch or -(-n // bs)
    for epoch in range(start_epoch, c0.epochs):
        ce_sum = torch.zeros(len(configs), device=device)
        pen_sum = torch.zeros(len(configs), device=device)
        seen = 0
        for _ in range(steps):
            if stream is None or stream[2] >= n:  # a new pass: a fresh shuffle and fresh group elements per run
                stream = (torch.stack([torch.randperm(n, generator=gen) for gen in gens]).to(device),
                          torch.stack([torch.randint(order, (n,), generator=gen) for gen in gens]).to(device), 0)
            perms, elems, s = stream
            idx = perms[:, s:s + bs]
            ce, penalty = _step_loss(params, data, idx, elems[:, s:s + bs], arch, coef, forms, table, buf)
            opt.zero_grad(set_to_none=True)
            (ce_w * ce + penalty).sum().backward()
            opt.step()
            ce_sum += ce.detach() * idx.shape[1]
            pen_sum += penalty.detach() * idx.shape[1]
            seen += idx.shape[1]
            stream = (perms, elems, s + idx.shape[1])
        # A diverged run is marked failed and never selected again; the runs beside it are unaffected
        # (every op is per run, and autograd gives each run's loss its own unit gradient).
        for i in torch.nonzero(~torch.isfinite(ce_sum + pen_sum)).flatten().tolist():
            failed[i] = failed[i] or (f"loss became NaN/inf at epoch {epoch + 1}; "
                                      f"lower nu ({configs[i].nu:g}) or the learning rate")
        acc = _val_accuracy(params, data, arch)
        improved = acc > best_acc if c0.select == "best_val" else torch.ones_like(acc, dtype=torch.bool)
        improved &= torch.tensor([not f for f in failed], device=device)
        with torch.no_grad():
            for b, p in zip(best, params):
                b[improved] = p[improved]
        best_acc = torch.where(improved, acc, best_acc)
        for i in torch.nonzero(improved).flatten().tolist():
            best_epoch[i] = epoch + 1
        layer_norms, probe_j = _probe(params, data, arch, perms_t)
        history["val_acc"].append(acc.tolist())
        history["train_ce"].append((ce_sum / seen).tolist())
        history["train_penalty"].append((pen_sum / seen).tolist())
        history["layer_sigma_max"].append(layer_norms.tolist())
        history["probe_sigma_max_J"].append(probe_j.tolist())
        now = time.perf_counter()
        if checkpoint is not None and now - last_save > checkpoint_seconds and epoch + 1 < c0.epochs:
            save_torch({"format": _CHECKPOINT_FORMAT, "keys": [c.key() for c in configs], "path": arch.path,
                        "params": [p.detach() for p in params], "best": best,
                        "opt": opt.state_dict(), "gens": [g.get_state() for g in gens], "best_acc": best_acc,
                        "best_epoch": best_epoch, "history": history, "epoch": epoch + 1,
                        "elapsed": elapsed + now - t0, "cpu_elapsed": cpu_elapsed + time.process_time() - cpu0,
                        "failed": failed,
                        **({"stream": stream} if c0.steps_per_epoch else {})}, checkpoint)
            last_save = now
        if progress:
            progress(1)
    seconds = elapsed + time.perf_counter() - t0
    cpu = cpu_elapsed + time.process_time() - cpu0
    for i, acc_i in enumerate(best_acc.tolist()):
        failed[i] = failed[i] or _collapsed(acc_i, data.val_y, configs[i])
    prov = {**provenance(device, [c.key() for c in configs]), "path": arch.path}
    results = []
    for r, c in enumerate(configs):
        results.append(RunResult(
            config=c, state_dict=arch.unstack(best, r), best_epoch=best_epoch[r], best_val_acc=float(best_acc[r]),
            history={k: [row[r] for row in v] for k, v in history.items()}, seconds=seconds / len(configs),
            failed=failed[r], provenance=prov, cpu_seconds=None if math.isnan(cpu) else cpu / len(configs)))
    return results


# A collapse is judged only where chance and skill can be told apart: enough validation samples, and enough
# optimizer steps that a healthy run has left chance (the quick scale takes 10: 5 epochs of 2 batches).
MIN_VAL_FOR_COLLAPSE, MIN_STEPS_FOR_COLLAPSE = 200, 10


def _collapsed(acc: float, val_y: Tensor, config: RunConfig) -> str:
    """Why a run that did not diverge still failed: its selected epoch is no more accurate than always answering
    the most frequent validation class (within 3 standard errors of a binomial at that rate); '' otherwise.

    A collapsed network (e.g. nu so large that the invariance term flattens every logit) is trivially invariant;
    reported beside healthy runs it would pass for a perfectly invariant model. Smoke-test scales (fewer than
    MIN_VAL_FOR_COLLAPSE validation samples or MIN_STEPS_FOR_COLLAPSE optimizer steps) are not judged.
    """
    n = val_y.numel()
    steps = config.steps()
    if n < MIN_VAL_FOR_COLLAPSE or steps < MIN_STEPS_FOR_COLLAPSE:
        return ""
    base = float(torch.bincount(val_y.cpu()).max()) / n
    if base == 1.0 or acc > base + 3 * (base * (1 - base) / n) ** 0.5:
        return ""
    nu = f"; lower nu ({config.nu:g})" if config.form else ""
    return (f"collapsed: best validation accuracy {acc:.3f} is no better than always answering the most frequent "
            f"class ({base:.3f} of {n} samples){nu}")


def training_macs(config: RunConfig, order: int, d: int = 1296, classes: int = 9) -> int:
    """Forward multiply-adds per epoch of one run (3x this approximates forward + backward); with
    ``steps_per_epoch`` the epoch's samples are the run's samples over its epochs (rounded down).

    Per sample: the network once (DA), its first layer |G| times and the rest once (WT), the whole
    network |G| times (IR, the orbit of Eq. 4); counted by ``empirical.engine.architectures.forward_macs``.
    """
    net = build_network(replace(config, model="DA", form="", nu=0.0, ce=1.0), None, classes, d, seed=0)
    whole, first = forward_macs(net), forward_macs(net, first=True)
    per = {"DA": whole, "WT": whole + (order - 1) * first, "IR": order * whole}[config.model]
    return per * config.samples() // config.epochs


def group_stacks(configs: Iterable[RunConfig], max_runs: int = 64) -> list[list[RunConfig]]:
    """Split configs into stacks of at most ``max_runs`` runs sharing a stack key (order preserved)."""
    groups: dict[tuple, list[RunConfig]] = {}
    for c in configs:
        groups.setdefault(c.stack_key(), []).append(c)
    return [g[i:i + max_runs] for g in groups.values() for i in range(0, len(g), max_runs)]
