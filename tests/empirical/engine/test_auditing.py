"""An audit's batches: cached as they finish, read back on a rerun, resumed after an interruption to the same
numbers; a damaged cache entry is recomputed."""

import pytest
import torch
from torch import nn

from empirical.engine import auditing
from empirical.measure.audit import AuditSpec
from empirical.measure.groups import image_group

GROUPS = {"R4": image_group("R4", 6)}
SPEC = AuditSpec(steps=3, layers=True)


def setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 8), nn.ReLU(), nn.Linear(8, 3)).double().eval()
    x = torch.randn(11, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return model, x, torch.arange(11) % 3


def test_batch_bounds_cover_every_sample_and_never_leave_a_lone_last_sample():
    assert auditing.batch_bounds(11, 4) == [(0, 4), (4, 8), (8, 11)]
    assert auditing.batch_bounds(9, 4) == [(0, 4), (4, 9)]
    assert auditing.batch_bounds(1, 4) == [(0, 1)]
    assert auditing.cache_key(a=1) != auditing.cache_key(a=2) and len(auditing.cache_key(a=1)) == 16


def test_a_rerun_reads_every_batch_back_and_an_interrupted_run_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    model, x, y = setup()

    def run(folder):
        return auditing.run_batches(model, x, y, GROUPS, SPEC, tmp_path / folder, batch_size=4, dtype=torch.float64,
                                    quiet=True)

    full, info = run("a")
    assert info["computed"] == 3 and set(full) >= {"acc", "sigma_max_J", "R4/SI", "R4/LI", "R4/layer/1"}
    assert all(v.shape == (11,) for v in full.values())
    again, info = run("a")
    assert info == {**info, "computed": 0, "cached": 3} and all(torch.equal(again[k], full[k]) for k in full)

    real, calls = auditing.batch_metrics, []

    def dies_on_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as Ctrl-C (or a kill) would stop it
        return real(*args, **kwargs)

    monkeypatch.setattr(auditing, "batch_metrics", dies_on_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        run("b")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["batch-00000.pt"]  # whole files only
    monkeypatch.setattr(auditing, "batch_metrics", real)
    resumed, info = run("b")
    assert info["computed"] == 2 and info["cached"] == 1
    assert all(torch.equal(resumed[k], full[k]) for k in full)

    (tmp_path / "b" / "batch-00001.pt").write_bytes(b"half a file")  # damaged: moved aside, recomputed
    healed, info = run("b")
    assert info["computed"] == 1 and all(torch.equal(healed[k], full[k]) for k in full)
