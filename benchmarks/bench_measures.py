"""The Lie derivative and layer-wise invariance: ours (one batched pass) vs a plain per-sample loop, side by side.

Baselines are the obvious code. Lie derivative: per sample, the same forward-mode ``torch.func.jvp`` of
t -> f(rotate(x_n, t)) at t = 0, and per sample ``torch.autograd.functional.jacobian`` of it (reverse mode,
one backward per logit), then the norm. Layer-wise
invariance: per sample and per group element, one forward with the same hooks, then the same normalized
orbit error. Checks that both give the same numbers, prints median times and the speed ratio. Run from the
repository root:

    python benchmarks/bench_measures.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from empirical.measure.image_groups import image_group, orbit  # noqa: E402
from empirical.measure.layers import layer_invariance, normalized_orbit_error  # noqa: E402
from empirical.measure.lie import lie_derivative, rotate  # noqa: E402


def user_cnn(seed: int) -> nn.Module:
    """A plain torch CNN for 36 x 36 images, the kind of model the measures are applied to."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 16, 5, stride=2), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 9)).eval()


def loop_jvp_lie(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per sample: one forward-mode torch.func.jvp of t -> f(rotate(x_n, t)) at t = 0 (ours, unbatched)."""
    t0 = torch.zeros((), dtype=x.dtype)
    with torch.no_grad():
        return torch.stack([torch.func.jvp(lambda t: model(rotate(xi[None], t))[0], (t0,), (torch.ones_like(t0),))[1]
                            .norm() for xi in x])


def naive_lie(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per sample: the (K,) Jacobian of t -> f(rotate(x_n, t)) at t = 0 by reverse mode, then its norm."""
    t0 = torch.zeros((), dtype=x.dtype)
    out = []
    for xi in x:
        d = torch.autograd.functional.jacobian(lambda t: model(rotate(xi[None], t))[0], t0)
        out.append(d.norm())
    return torch.stack(out)


def naive_layers(model: nn.Module, x: torch.Tensor, rep) -> dict[str, torch.Tensor]:
    """Per sample and group element: one forward with hooks; then the same normalized orbit error per layer."""
    names = [name for name, _ in model.named_modules() if name]
    acts: dict[str, list] = {name: [] for name in names}
    store: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda m, i, o, name=name: store.__setitem__(name, o.detach()))
               for name, m in model.named_modules() if name]
    try:
        with torch.no_grad():
            for xi in x:
                per_g = {name: [] for name in names}
                for xg in orbit(rep, xi[None]):  # (|G|, 1, ...): g x_n
                    model(xg)
                    for name in names:
                        per_g[name].append(store[name][0])
                for name in names:
                    acts[name].append(torch.stack(per_g[name]))  # (|G|, ...)
    finally:
        for h in handles:
            h.remove()
    return {name: normalized_orbit_error(torch.stack(a, 1)) for name, a in acts.items()}


def interleaved(fns, repeats: int) -> tuple[list[float], list[float], list[torch.Tensor]]:
    """Median wall time of each fn over ``repeats`` rounds (all fns back to back in every round, after one warm-up
    round), the median over rounds of each fn's time relative to the first's, and the last outputs. Interleaving
    keeps a shared machine's load drift out of the ratios."""
    outs = [fn() for fn in fns]
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            outs[i] = fn()
            times[i].append(time.perf_counter() - t0)
    ratios = [statistics.median(t / o for t, o in zip(ts, times[0])) for ts in times]
    return [statistics.median(ts) for ts in times], ratios, outs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--samples", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = user_cnn(args.seed)
    x = torch.randn(args.samples, 1, 36, 36, generator=torch.Generator().manual_seed(args.seed))
    rep = image_group("R4")
    print(f"CNN conv5/2 (16) -> conv3/2 (32) -> 64 -> 9 on 36x36 images, {args.samples} samples, "
          f"{args.threads} thread(s), median of {args.repeats}")
    print(f"{'measure':16s} {'method':44s} {'median s':>9s} {'rel. speed':>9s} {'max rel gap':>12s}")

    (ours_t, jvp_t, base_t), (_, jvp_r, jac_r), (ours, jvp, base) = interleaved(
        [lambda: lie_derivative(model, x, rotate), lambda: loop_jvp_lie(model, x), lambda: naive_lie(model, x)],
        args.repeats)
    gap = max(((ours - b).abs().max() / b.abs().max()).item() for b in (jvp, base))
    print(f"{'Lie derivative':16s} {'ours: one torch.func.jvp per 256 samples':44s} {ours_t:9.4f} {1.0:8.1f}x "
          f"{gap:12.2e}")
    print(f"{'':16s} {'per-sample torch.func.jvp':44s} {jvp_t:9.4f} {1 / jvp_r:8.3f}x")
    print(f"{'':16s} {'per-sample autograd.functional.jacobian':44s} {base_t:9.4f} {1 / jac_r:8.3f}x")

    (ours_t, base_t), (_, layer_r), (ours_d, base_d) = interleaved(
        [lambda: torch.stack(list(layer_invariance(model, x, rep).values())[:-1]),
         lambda: torch.stack(list(naive_layers(model, x, rep).values()))], args.repeats)
    gap = ((ours_d - base_d).abs().max() / base_d.abs().max()).item()
    print(f"{'layer-wise R4':16s} {'ours: one forward of the stacked orbit, hooks':44s} {ours_t:9.4f} {1.0:8.1f}x "
          f"{gap:12.2e}")
    print(f"{'':16s} {'per-sample, per-element forwards, same hooks':44s} {base_t:9.4f} {1 / layer_r:8.3f}x")
    print(f"ours is {jvp_r:.1f}x / {jac_r:.1f}x faster (Lie derivative vs the jvp / jacobian loop) and {layer_r:.1f}x"
          f" faster (layer-wise vs its loop): medians over the rounds of per-round time ratios")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
