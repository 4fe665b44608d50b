"""The audit's budget: a full audit of a CNN on D4 (10,000 Transforming-MNIST test images, SI on all, the layer-wise
profile) timed end to end, against a stated budget; optionally beside the same audit with the reference IG.

The model is the patch CNN (``empirical.engine.models.CNN``): by default a freshly initialized one saved as a state
dict and loaded with ``--factory empirical.engine.models:CNN`` (the cost of an audit does not depend on the weights'
values), or ``--model PATH`` for a trained one (a run of the suite's cache, a TorchScript file, ...). Each audit runs
in this process as ``python -m empirical.audit MODEL --data mnist --groups D4 --layers --limit 10000`` would, into a
temporary folder, from an empty cache. Run from the repository root:

    python benchmarks/bench_audit.py [--model runs/<regime>/<key>.pt] [--threads 2] [--device cuda] [--baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from empirical import audit  # noqa: E402
from empirical.engine.models import CNN  # noqa: E402


def run(model: Path, extra: list[str], args, ig: str) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        argv = [str(model), *extra, "--data", "mnist", "--groups", *args.groups, "--layers", "--limit",
                str(args.limit), "--ig", ig, "--out", tmp, "--samples", "4", "--quiet"]
        if args.data_dir:
            argv += ["--data-dir", args.data_dir]
        if args.device:
            argv += ["--device", args.device]
        if args.threads:
            argv += ["--threads", str(args.threads)]
        t0 = time.perf_counter()
        code = audit.main(argv)
        seconds = time.perf_counter() - t0
        if code != 0:
            raise SystemExit(f"the audit failed (exit {code})")
        return seconds, json.loads((Path(tmp) / "audit.json").read_text())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="a saved CNN (default: a fresh one, state dict + factory)")
    p.add_argument("--groups", nargs="+", default=["D4"])
    p.add_argument("--limit", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--budget", type=float, default=600.0, help="seconds (default 600)")
    p.add_argument("--baseline", action="store_true", help="also time the audit with the reference IG (--ig reference)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        extra: list[str] = []
        model = Path(args.model) if args.model else Path(tmp) / "cnn_state_dict.pt"
        if args.model is None:
            torch.save(CNN(seed=0).state_dict(), model)
            extra = ["--factory", "empirical.engine.models:CNN"]
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"audit of {'a fresh CNN' if args.model is None else model} on {args.limit} images, groups "
              f"{' '.join(args.groups)}, SI on all (50 steps), --layers; load average {load:.1f} on "
              f"{os.cpu_count()} cores at the start", flush=True)
        rows = [("fast", *run(model, extra, args, "fast"))]
        if args.baseline:
            rows.append(("reference", *run(model, extra, args, "reference")))
    for ig, seconds, doc in rows:
        t = doc["timing"]
        verdicts = "; ".join(f"{g}: {b['verdict']['label']}" for g, b in doc["results"]["groups"].items())
        print(f"--ig {ig:9s}: {seconds:7.1f} s wall ({t['batch_seconds']:.1f} s in {t['batches']} batches), "
              f"{doc['provenance']['threads']} thread(s), device {doc['settings']['device']}; budget "
              f"{args.budget:.0f} s: {'met' if seconds <= args.budget else 'MISSED'}; {verdicts}", flush=True)
    if len(rows) == 2:
        print(f"fast vs reference: {rows[1][1] / rows[0][1]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
