"""Training throughput: our stacked engine vs the naive loop a researcher writes, against the matmul peak.

The naive loop: a DataLoader over the tensors, per-sample augmentation in Python (torch.rot90
per image in the collate function), one nn.Module at a time, Adam; for IR the orbit is built
with one rot90 per group element; WT is ``empirical.models.WeightTiedMLP``. Our engine: ``empirical.training.train_stack`` (data resident
on the device, one batched matmul per layer for R stacked runs), including its per-epoch
validation and probe work. Both train the 1296-128x4-9 MLP on Transforming-MNIST (R4).

Efficiency counts 3x the forward multiply-adds per training sample (2 FLOP each), as the
issue specifies, against the float32 matmul peak measured in the same process. Run from the
repository root (data from $INVARIANCE_DATA or --data-dir):

    python benchmarks/bench_training.py [--device cpu] [--epochs 2] [--runs 1 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from empirical.data import transforming  # noqa: E402
from empirical.experiment import train_data  # noqa: E402
from empirical.image_groups import image_group  # noqa: E402
from empirical.invariance import invariance_from_logits  # noqa: E402
from empirical.models import MLP, WeightTiedMLP  # noqa: E402
from empirical.stacked import forward_macs, layer_sizes  # noqa: E402
from empirical.training import RunConfig, train_stack  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device, n: int = 2048, repeats: int = 10) -> float:
    """Measured float32 matmul rate in GFLOP/s (n x n times n x n), best of ``repeats``."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def naive_epoch_seconds(ds, model_kind: str, device, epochs: int) -> float:
    """Seconds per epoch of the naive loop: DataLoader, per-sample rot90 augmentation, one model."""
    x, y = ds.train.images, ds.train.labels

    def collate(batch):
        imgs = torch.stack([torch.rot90(img, int(torch.randint(4, ())), dims=(-2, -1)) for img, _ in batch])
        return imgs, torch.stack([lab for _, lab in batch])

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=512, shuffle=True,
                                         collate_fn=collate)
    model = (WeightTiedMLP(image_group("R4")) if model_kind == "WT" else MLP()).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=8e-4)
    times = []
    for _ in range(epochs):
        sync(device)
        t0 = time.perf_counter()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            if model_kind == "IR":
                z = torch.stack([model(torch.rot90(xb, k, dims=(-2, -1))) for k in range(4)])
                loss = torch.nn.functional.cross_entropy(z[0], yb) + invariance_from_logits(z, "LI").mean()
            else:
                loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def engine_epoch_seconds(data, rep, model_kind: str, runs: int, epochs: int) -> float:
    """Seconds per epoch of ``runs`` stacked runs in our engine (per-epoch validation and probe included)."""
    kw = dict(form="LI", nu=1.0) if model_kind == "IR" else {}
    cfgs = [RunConfig(model=model_kind, seed=s, epochs=epochs, **kw) for s in range(runs)]
    stamps = []
    train_stack(cfgs, data, rep, progress=lambda _: (sync(data.train_orbit.device), stamps.append(time.perf_counter())))
    return min(b - a for a, b in zip(stamps, stamps[1:]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--epochs", type=int, default=3, help="epochs timed per configuration (the fastest counts)")
    p.add_argument("--runs", type=int, nargs="+", default=[1, 4], help="stack sizes for our engine")
    p.add_argument("--models", nargs="+", default=["DA", "IR", "WT"], choices=["DA", "IR", "WT"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    ds = transforming("mnist", "R4", 0, data_dir=args.data_dir, quiet=True)
    rep = image_group("R4")
    data = train_data(ds, device)
    peak = matmul_peak(device)
    n = ds.train.images.shape[0]
    sizes = layer_sizes()
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"float32 matmul peak {peak:.1f} GFLOP/s; {n} training samples per epoch")
    print(f"{'model':5s} {'implementation':24s} {'runs':>4s} {'s/epoch/run':>12s} {'GFLOP/s':>9s} {'% peak':>7s} "
          f"{'vs naive':>8s}")
    for kind in args.models:
        per_sample = {"DA": forward_macs(sizes), "IR": rep.order * forward_macs(sizes),
                      "WT": forward_macs(sizes, rep.order, tied_first=True)}[kind]
        flop = 3 * 2 * per_sample * n  # per run per epoch
        naive = naive_epoch_seconds(ds, kind, device, max(2, args.epochs))
        print(f"{kind:5s} {'naive loop':24s} {1:4d} {naive:12.3f} {flop / naive / 1e9:9.1f} "
              f"{100 * flop / naive / 1e9 / peak:6.1f}% {1.0:7.2f}x")
        for r in args.runs:
            sec = engine_epoch_seconds(data, rep, kind, r, args.epochs + 1) / r
            print(f"{kind:5s} {'stacked engine':24s} {r:4d} {sec:12.3f} {flop / sec / 1e9:9.1f} "
                  f"{100 * flop / sec / 1e9 / peak:6.1f}% {naive / sec:7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
