"""The --quick run grid with --workers 1 and --workers 2 side by side (each from an empty cache), and a rerun.

Runs ``python -m empirical.reproduce --only table1 spectral drift saliency --quick`` (the paper's
grid at quick scale) once per worker count, each with a fresh cache, then once more on the filled cache
(which must train nothing). Prints wall times and the speed-up. Run from the repository root on an
otherwise idle machine:

    python benchmarks/bench_workers.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(workers: int, cache: Path, extra: list[str]) -> tuple[float, str]:
    """Wall seconds and stderr of one reproduce invocation."""
    cmd = [sys.executable, "-m", "empirical.reproduce", "--only", "table1", "spectral", "drift", "saliency", "--quick",
           "--quiet", "--workers", str(workers), "--cache-dir", str(cache), "--out", str(cache / "out"), *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0, proc.stderr


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more options for the commands")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        times = {}
        for workers in (1, 2):
            times[workers], log = run(workers, Path(tmp) / f"w{workers}", args.extra)
            print(f"--workers {workers}: {times[workers]:.1f} s, {log.count('trained run')} runs trained")
        again, log = run(2, Path(tmp) / "w2", args.extra)
        print(f"--workers 2 on the filled cache: {again:.1f} s, {log.count('trained run')} runs trained")
    print(f"speed-up of 2 workers over 1: {times[1] / times[2]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
