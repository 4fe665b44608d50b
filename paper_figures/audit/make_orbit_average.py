"""The gallery's fourth model, built outside the training code: a plain torch MLP holding a trained run's weights,
averaged over its R4 orbit, f(x) = (1/4) sum_k h(rot90(x, k)), saved as TorchScript. Exactly R4-invariant by
construction, whatever h learned.

    python paper_figures/audit/make_orbit_average.py RUN.pt OUT.pt

RUN.pt is a run of the suite's cache (the gallery uses the seed-0 R4 DA run of Table 1,
runs/engine2-cpu-exact-torch2.13.0+cpu/c9dca30088fb51c6.pt); only its weights are read, into ``nn.Sequential``.
"""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from empirical.engine.store import read_entry  # noqa: E402  (the run file is a checksummed store entry)


class OrbitAverage(nn.Module):
    """f(x) = mean over k = 0..3 of h(x rotated by k * 90 degrees): the R4 orbit average of h."""

    def __init__(self, h: nn.Module):
        super().__init__()
        self.h = h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.h(torch.rot90(x, k, (-2, -1))) for k in range(4)]).mean(0)


def mlp(state: dict) -> nn.Sequential:
    """The run's MLP (layers.{i}.weight / bias) as Flatten -> Linear -> ReLU -> ... -> Linear."""
    n = len([k for k in state if k.endswith(".weight")])
    layers: list[nn.Module] = [nn.Flatten()]
    for i in range(n):
        w = state[f"layers.{i}.weight"]
        lin = nn.Linear(w.shape[1], w.shape[0])
        lin.load_state_dict({"weight": w, "bias": state[f"layers.{i}.bias"]})
        layers += [lin] if i == n - 1 else [lin, nn.ReLU()]
    return nn.Sequential(*layers).eval()


def main(argv: list[str]) -> int:
    run, out = map(Path, argv)
    payload = read_entry(run)
    if payload is None:
        raise SystemExit(f"{run}: not a readable run of the suite's cache")
    with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)["state_dict"]
    model = OrbitAverage(mlp(state)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(model).save(out)
    print(f"wrote {out}: the R4 orbit average of {run.name}'s MLP, TorchScript")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
