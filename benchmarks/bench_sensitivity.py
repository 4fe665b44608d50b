"""sigma_max of the input Jacobian: ours (vmap(jacrev), chunked) vs a per-sample autograd loop.

The baseline is the obvious code: torch.autograd.functional.jacobian per sample, then
torch.linalg.matrix_norm(J, ord=2). Checks that both agree, prints median times and the
speed ratio. Run from the repository root:

    python benchmarks/bench_sensitivity.py --threads 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from timing import median_time  # noqa: E402  (benchmarks/timing.py)

from empirical.engine.models import MLP  # noqa: E402
from empirical.measure.sensitivity import jacobian_sigma_max  # noqa: E402


def naive_sigma_max(model, x: torch.Tensor) -> torch.Tensor:
    """One torch.autograd.functional.jacobian per sample, then the spectral norm."""
    out = []
    for xi in x:
        j = torch.autograd.functional.jacobian(lambda v: model(v[None])[0], xi)
        out.append(torch.linalg.matrix_norm(j.reshape(j.shape[0], -1), ord=2))
    return torch.stack(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = MLP(seed=args.seed).eval().to(args.device)
    x = torch.randn(args.samples, 1, 36, 36, generator=torch.Generator().manual_seed(args.seed)).to(args.device)

    print(f"sigma_max(J): MLP 1296-128x4-9, {args.samples} samples, device {args.device}, "
          f"{args.threads} thread(s), median of {args.repeats}")
    ours_t, ours = median_time(lambda: jacobian_sigma_max(model, x), args.repeats)
    base_t, base = median_time(lambda: naive_sigma_max(model, x).detach(), args.repeats)
    err = ((ours - base).abs().max() / base.abs().max()).item()
    print(f"{'method':34s} {'median s':>10s} {'speed-up':>9s}")
    print(f"{'ours: vmap(jacrev), Gram eigvalsh':34s} {ours_t:10.4f} {base_t / ours_t:8.2f}x")
    print(f"{'per-sample jacobian + matrix_norm':34s} {base_t:10.4f} {1.0:8.2f}x")
    print(f"max |ours - baseline| / max |baseline| = {err:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
