"""Every experiment in one command: Table 1, Figures 5, 4, 3, 1 and 2, and the theory bridge (one run cache).

    python -m empirical.reproduce [--quick] [--device cuda] [--out DIR] [--cache-dir runs]

Runs ``empirical.table1``, ``empirical.spectral``, ``empirical.drift``, ``empirical.saliency``,
``empirical.figure1``, ``empirical.latent`` and ``empirical.bridge`` in that order with the same options (later commands reuse the runs the earlier
ones trained), then ``empirical.report``, which writes README.md and CLAIMS.md from their outputs.
Interrupt it at any time: rerunning resumes where it stopped.
"""

from __future__ import annotations

import argparse
import importlib
import logging

from empirical.cli import add_arguments, command, parse_context

__all__ = ["COMMANDS", "main"]

COMMANDS = ("table1", "spectral", "drift", "saliency", "figure1", "latent", "bridge", "report")


def _common(args: argparse.Namespace, out: str) -> list[str]:
    """The shared options as a command line for each sub-command (``--out`` resolved once, for all)."""
    out = ["--out", out]
    for flag in ("quick", "quiet", "debug"):
        if getattr(args, flag):
            out.append(f"--{flag}")
    out += ["--workers", str(args.workers), "--executor", args.executor]
    for flag in ("device", "seeds", "epochs", "data_dir", "cache_dir", "stack"):
        if getattr(args, flag) is not None:
            out += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    return out


@command
def main(argv: list[str] | None = None) -> int:
    """Run every experiment command with the shared options."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m empirical.reproduce", description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    parser.add_argument("--only", nargs="+", choices=COMMANDS, default=list(COMMANDS), help="a subset, in order")
    args, ctx = parse_context(parser, argv)
    for name in args.only:
        # the report only reads the outputs
        argv_ = ["--out", str(ctx.out)] if name == "report" else _common(args, str(ctx.out))
        code = importlib.import_module(f"empirical.{name}").main(argv_)
        if code:
            return code
    logging.getLogger("empirical").info("wrote the outputs of %s into %s", ", ".join(args.only), ctx.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
