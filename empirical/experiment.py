"""The pipeline every experiment command shares: CLI options -> run configs -> cached training -> metrics -> JSON.

Each trained run is cached under ``<cache>/<key>.pt`` (the hash of its full configuration)
and each evaluation under ``<cache>/<key>.eval-<hash>.json``; a rerun skips what is done and
an interrupted stack resumes from its checkpoint. Entries are checksummed and locked by
``empirical.store``: processes sharing a cache never train one configuration twice.
Only the paper's full scale writes into ``paper_figures/`` by default; any other scale writes
into ``<cache>/figures/<scale>/`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from empirical.architectures import ARCHITECTURES, DEFAULT_ARCH
from empirical.attribution import saliency_invariance
from empirical.data import TransformingDataset, transforming
from empirical.image_groups import image_group
from empirical.invariance import INVARIANCE_FORMS, invariance_from_logits, orbit_logits
from empirical.sensitivity import jacobian_sigma_max
from empirical.download import FILES, DataError, accepted_sha256, candidate_dirs, check_data_dir, find_file
from empirical.executors import EXECUTORS, WorkerDied, make_executor, run_jobs
from empirical.store import (StoreError, check_writable, clean_orphans, entry_lock, load_json, save_json, write_json,
                             write_text)
from empirical.training import (RunConfig, RunResult, TrainData, build_network, group_stacks, load_result, provenance,
                                result_path, save_result, train_stack)

__all__ = [
    "Scale", "FULL", "QUICK", "scale_tag", "add_arguments", "UsageError", "Context", "context_from_args",
    "default_context", "part_scales", "output_scale_tag",
    "parse_context", "command", "dataset_for", "train_all", "train_data", "build_model", "evaluate",
    "cached_evaluation", "write_json",
    "write_text", "mean_std", "PAPER_OUT",
]

log = logging.getLogger("empirical")
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


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every experiment command takes."""
    parser.add_argument("--quick", action="store_true", help="small data and few epochs (minutes on a CPU)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--seeds", type=_positive_int, default=None, help="training seeds per configuration (full: 4)")
    parser.add_argument("--epochs", type=_positive_int, default=None, help="training epochs (full: 300)")
    parser.add_argument("--data-dir", default=None, help="folder with MNIST / Fashion-MNIST (else $INVARIANCE_DATA)")
    parser.add_argument("--out", default=None,
                        help=f"where figures and tables are written (default: {PAPER_OUT}/ at the paper's full "
                             "scale, else <cache-dir>/figures/<scale>/, so a trial run never replaces them)")
    parser.add_argument("--cache-dir", default=None, help="trained-run cache (default: $INVARIANCE_CACHE or runs/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--stack", type=_positive_int, default=None,
                        help="runs trained together in one batched program (default: 1 on a CPU, one thread, so a "
                             "run's bits never depend on the others; 64 on CUDA). More is faster, and a run's last "
                             "bits then depend on its stack (recorded in its provenance)")
    parser.add_argument("--arch", default=DEFAULT_ARCH, choices=tuple(ARCHITECTURES),
                        help="the network (empirical.architectures; default: the paper's mlp); outputs of another "
                             "architecture are named <output>_<arch>")
    parser.add_argument("--workers", type=_positive_int, default=1,
                        help="train stacks in N local worker processes, one thread each (default 1: this process)")
    parser.add_argument("--executor", default="local", choices=EXECUTORS,
                        help="'submitit': submit each stack as a SLURM job (needs pip install -e \".[cluster]\")")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return parser


class UsageError(ValueError):
    """A command-line option that cannot work (unknown device, unwritable folder, missing data)."""


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
    executor: Any = None  # where stacks train (empirical.executors); None: in this process
    checkpoint_seconds: float = 120.0  # how often a training stack saves its state
    arch: str = DEFAULT_ARCH  # the network of every run (empirical.architectures)

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


def _device(name: str | None) -> torch.device:
    """The torch device named on the command line, checked to exist in this torch build and machine."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {name}: not a torch device; use cpu or cuda (cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: this torch build ({torch.__version__}) sees no CUDA GPU; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {name}: MPS is not available on this machine; use --device cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"--device {name}: device type {device.type!r} is not supported; use cpu or cuda")
    return device


def context_from_args(args: argparse.Namespace) -> Context:
    """Turn parsed options into a Context, checking device, data and folders before any work (UsageError)."""
    scale = QUICK if args.quick else FULL
    if args.epochs is not None:
        scale = replace(scale, epochs=args.epochs)
    if args.seeds is not None:
        scale = replace(scale, seeds=args.seeds)
    device = _device(args.device)
    try:
        check_data_dir(args.data_dir)
    except DataError as exc:
        raise UsageError(str(exc)) from None
    cache = Path(args.cache_dir or os.environ.get("INVARIANCE_CACHE") or "runs")
    if tag := _data_tag(args.data_dir):  # cache keys do not name the data: runs on a subset get their own cache
        cache = cache / tag
    if args.out is not None:
        out = Path(args.out)
    else:
        # only the paper's scale on the official data may replace the committed outputs
        out = PAPER_OUT if scale == FULL and not tag else cache / "figures" / scale_tag(scale)
    try:
        check_writable(cache)
        check_writable(out)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    stack = args.stack or (1 if device.type == "cpu" else 64)
    try:
        executor = make_executor(args.executor, args.workers, cache / "submitit")
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    return Context(scale=scale, device=device, data_dir=args.data_dir, out=out, cache_dir=cache, quiet=args.quiet,
                   stack=stack, executor=executor, arch=args.arch)


def _data_tag(data_dir: str | None) -> str:
    """'' for the official data; for a declared subset (a folder whose SHA256SUMS lists other digests, such as
    the test fixture) 'data-<hash of those digests>'."""
    extra: list[str] = []
    for dataset in ("mnist", "fashion-mnist"):
        folder = next((f for f in candidate_dirs(dataset, data_dir) if find_file(f, FILES[0])), None)
        if folder is not None:
            extra += [d for name in FILES for d in accepted_sha256(folder, dataset, name)[1:]]
    return "data-" + hashlib.sha256("".join(extra).encode()).hexdigest()[:12] if extra else ""


def default_context(argv: Iterable[str] = (), **fields: Any) -> Context:
    """The Context a command would build from ``argv`` (default options), with ``fields`` replaced.

    E.g. ``default_context(["--quick"], executor=dask_client.get_executor())`` to run a grid from Python.
    """
    ctx = context_from_args(add_arguments(argparse.ArgumentParser()).parse_args(list(argv)))
    return replace(ctx, **fields)


def parse_context(parser: argparse.ArgumentParser, argv: list[str] | None) -> tuple[argparse.Namespace, Context]:
    """Parse ``argv`` and resolve its Context; a bad option exits 2 with one line naming it."""
    args = parser.parse_args(argv)
    try:
        return args, context_from_args(args)
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def command(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Run a command's ``main``: progress and store messages on stderr; a user error is one line, not a traceback.

    Data, store (disk full, permissions) and option errors print ``error: <message>`` and exit 1;
    ``--debug`` shows the traceback instead.
    """
    @functools.wraps(main)
    def wrapped(argv: list[str] | None = None) -> int:
        argv = sys.argv[1:] if argv is None else list(argv)
        if not logging.getLogger().handlers and not log.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.INFO)
        if "--debug" in argv:
            return main(argv)
        try:
            return main(argv)
        except (DataError, StoreError, UsageError, FileNotFoundError, WorkerDied) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return wrapped


@functools.lru_cache(maxsize=4)
def _cached_dataset(data_dir, dataset, group, seed, n_train, n_val, n_test, quiet) -> TransformingDataset:
    return transforming(dataset, group, seed, data_dir=data_dir, n_train=n_train, n_val=n_val, n_test=n_test,
                        quiet=quiet)


def dataset_for(ctx: Context, c: RunConfig, name: str | None = None) -> TransformingDataset:
    """The run's Transforming dataset, or dataset ``name`` built the same way (cached per process)."""
    return _cached_dataset(ctx.data_dir, name or c.dataset, c.group, c.data_seed, c.n_train, c.n_val, c.n_test,
                           ctx.quiet)


def train_data(ds: TransformingDataset, device: torch.device | str) -> TrainData:
    """The device-resident training orbit and validation split of a Transforming dataset."""
    def orbit(split):  # (|G|, N, d): every group element applied to every (untransformed) image
        return split.images.flatten(1)[:, split.perms].transpose(0, 1).contiguous().to(device)

    return TrainData(train_orbit=orbit(ds.train), train_y=ds.train.labels.to(device), val_orbit=orbit(ds.val),
                     val_g=ds.val.g.to(device), val_y=ds.val.labels.to(device))


def _train_locked(ctx: Context, configs: list[RunConfig], bar) -> dict[RunConfig, RunResult]:
    """Train the configs whose lock this process holds; a stack's checkpoint is keyed by its runs."""
    done = {}
    exact = ctx.device.type == "cpu" and ctx.stack == 1
    for i, stack in enumerate(stacks := group_stacks(configs, ctx.stack)):
        c0 = stack[0]
        bar.set_description(f"stack {i + 1}/{len(stacks)}: {len(stack)} x {c0.model} {c0.group} {c0.dataset}")
        data = train_data(dataset_for(ctx, c0), ctx.device)
        tag = hashlib.sha256("".join(c.key() for c in stack).encode()).hexdigest()[:16]
        ckpt = ctx.cache_dir / f"stack-{tag}.ckpt"
        with _threads(1 if exact else torch.get_num_threads()):  # one thread: the bits do not depend on the machine
            results = train_stack(stack, data, image_group(c0.group), progress=bar.update, checkpoint=ckpt,
                                  checkpoint_seconds=ctx.checkpoint_seconds)
        for res in results:
            save_result(res, ctx.cache_dir)
            done[res.config] = res
            c = res.config
            log.log(logging.WARNING if res.failed else logging.INFO, "trained run %s (%s%s %s seed %d) in %.1f s%s",
                    c.key(), c.model, f"-{c.form} nu={c.nu:g}" if c.form else "", c.group, c.seed, res.seconds,
                    f": FAILED, {res.failed}" if res.failed else "")
        ckpt.unlink(missing_ok=True)
    return done


@contextlib.contextmanager
def _threads(n: int):
    """Run the block with ``n`` torch intra-op threads, then restore the count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train_job(ctx: Context, configs: list[RunConfig]) -> list[str]:
    """A worker's job: train one stack through the store's locks (in the worker's process); its keys."""
    return [r.config.key() for r in train_all(replace(ctx, executor=None, quiet=True), configs)]


def train_all(ctx: Context, configs: Iterable[RunConfig]) -> list[RunResult]:
    """Every config trained (from the cache where possible), in the given order.

    Each run is locked while it trains: a run another process is training is waited for and
    loaded, never trained twice; a run whose trainer died (its lock is released by the OS) is
    trained here, resuming from its stack's checkpoint when the stack is the same. With
    ``ctx.executor`` the stacks train as jobs there (``empirical.executors``) and are read back.
    """
    from filelock import Timeout
    from tqdm.auto import tqdm

    configs = list(dict.fromkeys(configs))
    clean_orphans(ctx.cache_dir)
    done = {c: load_result(c, ctx.cache_dir) for c in configs}
    todo = [c for c in configs if done[c] is None]
    bar = tqdm(total=sum(c.epochs for c in todo), unit="run-epoch", disable=ctx.quiet or not todo,
               dynamic_ncols=True)
    if ctx.executor is not None and todo:
        stacks = group_stacks(todo, ctx.stack)
        bar.set_description(f"{len(stacks)} stack(s) on {type(ctx.executor).__name__}")
        job_ctx = replace(ctx, executor=None)
        run_jobs(ctx.executor, _train_job, [(job_ctx, s) for s in stacks],
                 on_done=lambda i: bar.update(sum(c.epochs for c in stacks[i])))
        for c in todo:
            done[c] = load_result(c, ctx.cache_dir)
            if done[c] is None:
                raise StoreError(0, f"run {c.key()} was trained by a worker but its file is missing in {ctx.cache_dir}"
                                    "; is the cache folder shared with the workers?")
            log.info("trained run %s (worker)", c.key())
        todo = []
    while todo:
        with contextlib.ExitStack() as held:
            mine, others = [], []
            for c in todo:
                lock = entry_lock(result_path(c, ctx.cache_dir))
                try:
                    held.enter_context(lock.acquire(timeout=0))
                    mine.append(c)
                except Timeout:
                    others.append(c)
            for c in mine:  # another process may have finished it between our first look and the lock
                done[c] = load_result(c, ctx.cache_dir)
            done.update(_train_locked(ctx, [c for c in mine if done[c] is None], bar))
        for c in others:
            log.info("waiting for run %s: another process is training it", c.key())
            with entry_lock(result_path(c, ctx.cache_dir)):
                done[c] = load_result(c, ctx.cache_dir)
        todo = [c for c in others if done[c] is None]
    bar.close()
    return [done[c] for c in configs]


def build_model(result: RunResult, device: torch.device | str = "cpu") -> nn.Module:
    """The trained run as its architecture's module (``MLP`` / ``WeightTiedMLP`` for the mlp) in eval mode."""
    c = result.config
    # every registered architecture ends with a Linear head, whose bias is the state dict's last entry
    classes = next(reversed(result.state_dict.values())).shape[0]
    group = image_group(c.group) if c.model == "WT" else None
    model = build_network(c, group, classes=classes, in_features=36 * 36)
    model.load_state_dict(result.state_dict)
    return model.to(device).eval()


@torch.no_grad()
def _orbit_metrics(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rep, chunk: int = 2048) -> dict[str, float]:
    sums = {"acc": 0.0, **{f: 0.0 for f in INVARIANCE_FORMS}}
    for s in range(0, len(x), chunk):
        z = orbit_logits(model, x[s:s + chunk], rep)
        sums["acc"] += (z[0].argmax(-1) == y[s:s + chunk]).sum().item()
        for f in INVARIANCE_FORMS:
            sums[f] += invariance_from_logits(z, f).sum().item()
    return {k: v / len(x) for k, v in sums.items()}


def evaluate(ctx: Context, result: RunResult, split: str = "test", images: torch.Tensor | None = None,
             labels: torch.Tensor | None = None, tag: str = "", metrics: tuple[str, ...] = ("orbit", "SI", "J"),
             ) -> dict[str, Any]:
    """Accuracy, LI, DI, NLI (orbit of every sample), SI and sigma_max(J) (first n samples) of one run; cached.

    By default the run's own ``split`` transformed by its per-sample g; ``images``/``labels`` (with a
    ``tag`` naming them in the cache key) evaluate other data, e.g. a drifted set.
    """
    s = ctx.scale
    spec = {"split": split, "tag": tag, "metrics": list(metrics), "n_saliency": s.n_saliency,
            "n_jacobian": s.n_jacobian, "ig_steps": s.ig_steps, "version": 1}

    def compute() -> dict[str, Any]:
        c = result.config
        ds = dataset_for(ctx, c)
        part = getattr(ds, split)
        x = (part.transformed() if images is None else images).to(ctx.device)
        y = (part.labels if labels is None else labels).to(ctx.device)
        model = build_model(result, ctx.device)
        rep = ds.group
        out: dict[str, Any] = {"key": c.key(), "config": asdict(c), **spec, "n": len(x)}
        if "orbit" in metrics:
            out.update(_orbit_metrics(model, x, y, rep))
        if "SI" in metrics:
            n = min(s.n_saliency, len(x))
            si = saliency_invariance(model, x[:n], rep, target=y[:n], baseline=ds.black, steps=s.ig_steps)
            out["SI"] = si.mean().item()
        if "J" in metrics:
            n = min(s.n_jacobian, len(x))
            out["sigma_max_J"] = jacobian_sigma_max(model, x[:n]).mean().item()
        return out

    return cached_evaluation(ctx, result, spec, compute)


def cached_evaluation(ctx: Context, result: RunResult, spec: dict[str, Any], compute: Callable[[], dict[str, Any]],
                      kind: str = "eval") -> dict[str, Any]:
    """``compute()`` for one run, stored as ``<cache>/<key>.<kind>-<hash of spec>.json`` (checksummed) and read
    back on the next call: the one evaluation cache every metric goes through."""
    if result.failed:
        raise ValueError(f"run {result.config.key()} failed ({result.failed}); it has no metrics")
    h = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    path = ctx.cache_dir / f"{result.config.key()}.{kind}-{h}.json"
    done = load_json(path)
    if done is not None:
        return done
    out = compute()
    out["provenance"] = {"training": result.provenance, "evaluation": provenance(ctx.device)}
    save_json(out, path)
    return out


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and (population, ddof=0) standard deviation over seeds."""
    v = np.asarray(list(values), dtype=float)
    return float(v.mean()), float(v.std())
