"""The options every experiment command takes, resolved into an engine Context; one-line errors.

Options are checked before any work: an unknown device, a missing data folder or an unwritable folder
exits 2 with one line. Errors met later (data, store, a dead worker) print one line; ``--debug`` shows
the traceback.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Any

import torch

from empirical.data.download import FILES, DataError, accepted_sha256, candidate_dirs, check_data_dir, find_file
from empirical.engine.architectures import ARCHITECTURES, DEFAULT_ARCH
from empirical.engine.context import FULL, PAPER_OUT, QUICK, Context, scale_tag
from empirical.engine.executors import EXECUTORS, WorkerDied, make_executor
from empirical.engine.store import StoreError, check_writable, clean_orphans

__all__ = ["add_arguments", "positive_int", "non_negative_int", "UsageError", "resolve_device", "in_subfolder",
           "context_from_args", "default_context", "parse_context", "command"]

log = logging.getLogger("empirical")


def _int_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every experiment command takes."""
    parser.add_argument("--quick", action="store_true", help="small data and few epochs (minutes on a CPU)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--seeds", type=positive_int, default=None, help="training seeds per configuration (full: 4)")
    parser.add_argument("--epochs", type=positive_int, default=None, help="training epochs (full: 300)")
    parser.add_argument("--data-dir", default=None, help="folder with MNIST / Fashion-MNIST (else $INVARIANCE_DATA)")
    parser.add_argument("--out", default=None,
                        help=f"where figures and tables are written (default: {PAPER_OUT}/ at the paper's full "
                             "scale, else <cache-dir>/figures/<scale>/, so a trial run never replaces them)")
    parser.add_argument("--cache-dir", default=None, help="trained-run cache (default: $INVARIANCE_CACHE or runs/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--stack", type=positive_int, default=None,
                        help="runs trained together in one batched program (default: 1 on a CPU, one thread, so a "
                             "run's bits never depend on the others; 64 on CUDA). More is faster, and a run's last "
                             "bits then depend on its stack (recorded in its provenance)")
    parser.add_argument("--arch", default=DEFAULT_ARCH, choices=tuple(ARCHITECTURES),
                        help="the network (empirical.engine.architectures; default: the paper's mlp); outputs of another "
                             "architecture are named <output>_<arch>")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="train stacks in N local worker processes, one thread each (default 1: this process)")
    parser.add_argument("--executor", default="local", choices=EXECUTORS,
                        help="'submitit': submit each stack as a SLURM job (needs pip install -e \".[cluster]\")")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return parser


class UsageError(ValueError):
    """A command-line option that cannot work (unknown device, unwritable folder, missing data)."""


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


def resolve_device(name: str | None) -> torch.device:
    """The torch device named on the command line (None: cuda when available, else cpu), checked; UsageError if not."""
    return _device(name)


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
    clean_orphans(out)  # what a killed writer of an earlier command left (the run cache is cleaned as it is read)
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


def in_subfolder(args: argparse.Namespace, ctx: Context, folder: str) -> Context:
    """``ctx`` writing into ``--out`` when given, else into ``folder`` under the commands' default out (so only the
    paper's scale on the official data writes into paper_figures/<folder>/); UsageError when it cannot be written."""
    out = Path(args.out) if args.out is not None else ctx.out / folder
    try:
        check_writable(out)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    return replace(ctx, out=out)


def command(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Run a command's ``main``: progress and store messages on stderr; a user error is one line, not a traceback.

    Data, store (disk full, permissions) and option errors print ``error: <message>`` and exit 1; Ctrl-C prints
    one line and exits 130 (the rerun resumes); ``--debug`` shows the traceback instead.
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
        except KeyboardInterrupt:
            print("interrupted: finished runs are saved and running ones checkpointed; rerun the same command to "
                  "resume", file=sys.stderr)
            return 130
    return wrapped
