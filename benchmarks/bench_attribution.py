"""Integrated gradients: ours (empirical.measure.attribution) vs captum's IntegratedGradients, side by side.

Same models, inputs, baseline (the paper's black image), target, steps and quadrature (50 Gauss-Legendre nodes,
captum's default method and count); captum at its defaults otherwise (all N * steps rows in one batch). Models:
the paper's MLP and the patch CNN as this suite builds them (they declare their affine first layer), the same
weights as a textbook ``nn.Sequential`` (the first layer is found by ``empirical.measure.first_layer``) and as
TorchScript (nothing can be split off: the whole model runs on every path point), and with ``--convnet`` the
3x3 ConvNet. Rows: ours "reference" (the default, behind every committed number), ours "fast" (the audit's), captum.

The machine may be shared: every round runs all methods back to back and the speed-up is the median over rounds
of captum's time / ours in that round. Accuracy: the completeness gap |sum_i IG_i - (f(x) - f(b))| per sample
(its mean relative to the mean |f(x) - f(b)|), and the largest difference to captum's attributions in float64
(same estimator: round-off only), with the completeness gap in float64 too. Run from the repository root:

    python benchmarks/bench_attribution.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from empirical.engine.convnet import ConvNet  # noqa: E402
from empirical.engine.models import CNN, MLP  # noqa: E402
from empirical.measure.attribution import integrated_gradients  # noqa: E402

BLACK = -0.4242  # the paper's black pixel after normalization (Transforming-MNIST: -mean / std)


def sequential_mlp(m: MLP) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for i, lin in enumerate(m.layers):
        layers += [lin] if i == len(m.layers) - 1 else [lin, nn.ReLU()]
    return nn.Sequential(*layers).eval()


def sequential_cnn(c: CNN) -> nn.Sequential:
    s = nn.Sequential(nn.Conv2d(1, 96, 9, 9), nn.ReLU(), nn.Conv2d(96, 128, 2, 2), nn.ReLU(), nn.Flatten(),
                      nn.Linear(512, 9))
    for dst, src in ((s[0], c.conv1), (s[2], c.conv2), (s[5], c.fc)):
        dst.load_state_dict(src.state_dict())
    return s.eval()


def scripted(model: nn.Module, x: torch.Tensor) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.trace(model, x[:2])


def models(convnet: bool, x: torch.Tensor, dtype: torch.dtype = torch.float32) -> list[tuple[str, nn.Module]]:
    """(name, model) of every row, freshly built (seed 0) in ``dtype``; the suite's, nn.Sequential and TorchScript."""
    mlp, cnn = MLP(seed=0).to(dtype).eval(), CNN(seed=0).to(dtype).eval()
    x = x.to(dtype)
    rows = [("MLP (suite)", mlp), ("MLP (nn.Sequential)", sequential_mlp(MLP(seed=0)).to(dtype)),
            ("MLP (TorchScript)", scripted(sequential_mlp(MLP(seed=0)).to(dtype), x)), ("CNN (suite)", cnn),
            ("CNN (nn.Sequential)", sequential_cnn(cnn).to(dtype)),
            ("CNN (TorchScript)", scripted(sequential_cnn(cnn).to(dtype), x))]
    return rows + ([("ConvNet (suite)", ConvNet(seed=0).to(dtype).eval())] if convnet else [])


def methods(model, x, target, steps: int, captum) -> dict[str, object]:
    rows = {"ours reference": lambda: integrated_gradients(model, x, target, BLACK, steps=steps),
            "ours fast": lambda: integrated_gradients(model, x, target, BLACK, steps=steps, method="fast")}
    if captum is not None:
        ig = captum(model)
        rows["captum"] = lambda: ig.attribute(x, baselines=BLACK, target=target, n_steps=steps,
                                              method="gausslegendre")
    return rows


def completeness(model, x, target, ig) -> float:
    """mean_n |sum_i IG_n,i - (f(x_n) - f(b))_t| / mean_n |(f(x_n) - f(b))_t|."""
    with torch.no_grad():
        diff = (model(x) - model(torch.full_like(x, BLACK))).gather(1, target[:, None])[:, 0]
    return ((ig.flatten(1).sum(1) - diff).abs().mean() / diff.abs().mean()).item()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--samples", type=int, default=256)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--convnet", action="store_true", help="add the 3x3 ConvNet (slow: 3.2M multiply-adds a sample)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        from captum.attr import IntegratedGradients
    except ImportError:
        IntegratedGradients = None
        print("captum is not installed: `pip install captum` to compare against it; timing ours only.")
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.samples, 1, 36, 36, generator=gen)
    target = torch.arange(args.samples) % 9
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"integrated gradients, {args.samples} samples x {args.steps} Gauss-Legendre steps, baseline {BLACK}, "
          f"{args.threads} thread(s), median of {args.rounds} rounds; load average {load:.1f} on "
          f"{os.cpu_count()} cores at the start")
    print(f"{'model':22s} {'method':15s} {'median s':>9s} {'vs captum':>10s} {'completeness':>13s} "
          f"{'f64 compl.':>11s} {'f64 gap':>9s}")
    doubles = dict(models(args.convnet, x, torch.float64))
    for name, model in models(args.convnet, x):
        fns = methods(model, x, target, args.steps, IntegratedGradients)
        times: dict[str, list[float]] = {k: [] for k in fns}
        outs = {k: fn() for k, fn in fns.items()}  # warm-up
        for _ in range(args.rounds):
            for k, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        n64 = min(16, args.samples)
        f64 = {k: fn() for k, fn in methods(doubles[name], x[:n64].double(), target[:n64], args.steps,
                                             IntegratedGradients).items()}
        for k in fns:
            ratio = statistics.median(c / o for c, o in zip(times["captum"], times[k])) if "captum" in times else 0
            gap = ((f64[k] - f64["captum"]).abs().max() / f64["captum"].abs().max()).item() if "captum" in f64 else 0
            c64 = completeness(doubles[name], x[:n64].double(), target[:n64], f64[k])
            print(f"{name:22s} {k:15s} {statistics.median(times[k]):9.4f} {ratio:9.2f}x "
                  f"{completeness(model, x, target, outs[k]):13.2e} {c64:11.4e} {gap:9.1e}", flush=True)
    print("vs captum = median over rounds of captum's time / this row's; completeness = mean |sum IG - (f(x) - f(b))| "
          "/ mean |f(x) - f(b)| (float32, all samples); f64 compl. = the same in float64 (16 samples); "
          "f64 gap = max |IG - captum's| / max |captum's| in float64")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
