"""Integrated gradients: ours (empirical.measure.attribution) vs captum's IntegratedGradients, side by side.

Same model (the 5-layer MLP of Sec. 4.1), same inputs, same steps, same quadrature
(Gauss-Legendre, captum's default); checks that the attributions agree, prints median
times over repetitions and the speed ratio. Run from the repository root:

    python benchmarks/bench_attribution.py --threads 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from timing import median_time  # noqa: E402  (benchmarks/timing.py)

from empirical.measure.attribution import integrated_gradients  # noqa: E402
from empirical.engine.models import MLP  # noqa: E402


def methods(model, x, target, steps: int) -> list[tuple[str, object]]:
    """(name, thunk) for each implementation, captum last when it is installed."""
    rows = [("ours (affine first layer)", lambda: integrated_gradients(model, x, target, steps=steps)),
            ("ours (generic batched)", lambda: integrated_gradients(model, x, target, steps=steps, fast=False))]
    try:
        from captum.attr import IntegratedGradients
    except ImportError:
        return rows
    ig = IntegratedGradients(model)
    rows.append(("captum IntegratedGradients",
                 lambda: ig.attribute(x, target=target, n_steps=steps, method="gausslegendre")))
    return rows


def relative_gaps(outs: list[torch.Tensor]) -> list[float]:
    """max |out - last| / max |last| for each output."""
    ref = outs[-1]
    return [((o - ref).abs().max() / ref.abs().max()).item() for o in outs]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--samples", type=int, default=256)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    model = MLP(seed=args.seed).eval().to(args.device)
    x = torch.randn(args.samples, 1, 36, 36, generator=gen).to(args.device)
    target = (torch.arange(args.samples) % 9).to(args.device)

    rows = methods(model, x, target, args.steps)
    if len(rows) == 2:
        print("captum is not installed: `pip install captum` to compare against it; timing ours only.")
    print(f"integrated gradients: MLP 1296-128x4-9, {args.samples} samples x {args.steps} steps, "
          f"device {args.device}, {args.threads} thread(s), median of {args.repeats}")
    results = [(name, *median_time(fn, args.repeats)) for name, fn in rows]
    gaps32 = relative_gaps([out for _, _, out in results])
    # float32: a pre-activation within round-off of a ReLU kink can land on either side in two
    # orderings of the same arithmetic, changing one sample's gradient at one step; so the outputs
    # are also compared in float64, where only the quadrature weights' precision separates them.
    gaps64 = relative_gaps([fn() for _, fn in methods(model.double(), x.double(), target, args.steps)])
    print(f"{'method':30s} {'median s':>10s} {'speed-up':>9s} {'gap f32':>9s} {'gap f64':>9s}")
    for (name, t, _), g32, g64 in zip(results, gaps32, gaps64):
        print(f"{name:30s} {t:10.4f} {results[-1][1] / t:8.2f}x {g32:9.1e} {g64:9.1e}")
    print("gap = max |out - last row| / max |last row|; speed-up = last row's time / this row's time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
