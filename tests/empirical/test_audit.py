"""``python -m empirical.audit`` end to end: every model kind, a --quick run on the suite's data, an interrupted audit
resumed to the same report, and every bad input as one line naming the fix."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from empirical import audit
from empirical.engine import auditing
from empirical.measure.audit import VERDICTS

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "data"
FACTORY = "tests.empirical.test_audit:paper_mlp"


def paper_mlp():
    """A small model for the paper's 36x36 images and 9 classes (the factory of the tests)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(36 * 36, 16), nn.ReLU(), nn.Linear(16, 9))


def small_mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 3))


@pytest.fixture
def tensors(tmp_path):
    """8 images of 8x8 with labels 0..2 in a .pt file."""
    g = torch.Generator().manual_seed(2)
    torch.save({"x": torch.rand(8, 1, 8, 8, generator=g), "y": torch.arange(8) % 3}, tmp_path / "d.pt")
    return tmp_path / "d.pt"


def run(capsys, *argv) -> tuple[int, str]:
    code = audit.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def report(out: Path) -> dict:
    return json.loads((out / "audit.json").read_text())


def test_quick_end_to_end_on_the_suite_data_with_a_state_dict_and_its_factory(tmp_path, capsys, caplog):
    caplog.set_level("INFO", logger="empirical")
    torch.save(paper_mlp().state_dict(), tmp_path / "weights.pt")
    out = tmp_path / "out"
    code, err = run(capsys, tmp_path / "weights.pt", "--factory", FACTORY, "--data", "mnist", "--data-dir", FIXTURE,
                    "--groups", "R4", "D4", "--layers", "--lie", "rotation", "--quick", "--limit", "48",
                    "--samples", "2", "--out", out)
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["audit.json", "audit.md", "audit_distributions.png", "audit_layers.png", "audit_saliency_D4.png",
                     "audit_saliency_R4.png", "audit_verdict.png"]  # and no .cache left
    doc = report(out)
    assert doc["model"]["kind"] == "state dict + factory" and doc["settings"]["ig_steps"] == 16
    for g in ("R4", "D4"):
        b = doc["results"]["groups"][g]
        assert b["verdict"]["label"] in VERDICTS and b["metrics"]["SI"]["n"] == doc["data"]["n"] == 48
        assert b["layers"] and b["references"]["DA"]["SI"] < b["references"]["IR"]["SI"]
    assert doc["results"]["overall"]["lie_rotation"]["median"] > 0
    md = (out / "audit.md").read_text()
    assert "## Verdict" in md and "![layers](audit_layers.png)" in md and "Transforming-MNIST" in md
    assert "R4: " in err and "wrote" in caplog.text and "audit.md" in caplog.text


@pytest.mark.parametrize("kind", ["torchscript", "pickle"])
def test_torchscript_and_a_trusted_pickle_on_a_tensor_file(tmp_path, capsys, tensors, kind):
    model = small_mlp()
    path = tmp_path / "m.pt"
    torch.jit.script(model).save(path) if kind == "torchscript" else torch.save(model, path)
    extra = ["--trust-pickle"] if kind == "pickle" else []
    code, err = run(capsys, path, "--data", tensors, "--groups", "F2", "--steps", "2", "--samples", "1", "--quiet",
                    "--out", tmp_path / "o", *extra)
    assert code == 0 and err == ""  # --quiet: silent
    assert report(tmp_path / "o")["model"]["kind"] == {"torchscript": "torchscript", "pickle": "pickled module"}[kind]


def test_an_interrupted_audit_resumes_from_its_cache_to_the_same_report(tmp_path, capsys, tensors, monkeypatch):
    torch.save(small_mlp(), tmp_path / "m.pt")
    args = [tmp_path / "m.pt", "--trust-pickle", "--data", tensors, "--groups", "R4", "--steps", "2", "--samples", "0",
            "--batch-size", "2", "--quiet"]
    assert run(capsys, *args, "--out", tmp_path / "whole")[0] == 0
    real, calls = auditing.batch_metrics, []

    def killed_at_the_third_batch(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(auditing, "batch_metrics", killed_at_the_third_batch)
    code, err = run(capsys, *args, "--out", tmp_path / "cut")
    assert code == 130 and "rerun the same command" in err
    assert not list((tmp_path / "cut").glob("audit*"))  # no report, half or whole
    assert len(list((tmp_path / "cut" / ".cache").rglob("batch-*.pt"))) == 2
    monkeypatch.setattr(auditing, "batch_metrics", real)
    assert run(capsys, *args, "--out", tmp_path / "cut")[0] == 0
    whole, resumed = report(tmp_path / "whole"), report(tmp_path / "cut")
    assert resumed["timing"]["cached"] == 2 and resumed["timing"]["computed"] == 2
    assert resumed["results"] == whole["results"]


def test_an_audit_killed_by_sigkill_resumes_where_it_stopped(tmp_path, capsys):
    """A real kill (no Python cleanup): the batches it finished are read back, its half-written temporary files
    never count, and the rerun writes the whole report."""
    g = torch.Generator().manual_seed(3)
    torch.save({"x": torch.rand(12, 1, 8, 8, generator=g), "y": torch.arange(12) % 3}, tmp_path / "d.pt")
    torch.jit.script(small_mlp()).save(tmp_path / "m.ts")
    out = tmp_path / "out"
    args = [tmp_path / "m.ts", "--data", tmp_path / "d.pt", "--groups", "D4", "--steps", "40", "--batch-size", "2",
            "--samples", "0", "--threads", "1", "--quiet", "--out", out]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "empirical.audit", *map(str, args)], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(".cache/*/batch-00000.pt")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the audit finished before it could be killed"
    assert not (out / "audit.md").exists() and not (out / "audit.json").exists()
    done = len(list(out.glob(".cache/*/batch-*.pt")))
    assert 1 <= done < 6
    assert run(capsys, *args)[0] == 0
    t = report(out)["timing"]
    assert t["cached"] == done and t["computed"] == 6 - done and not (out / ".cache").exists()


def bad(tmp_path: Path, tensors: Path, case: str) -> list:
    torch.save(small_mlp().state_dict(), tmp_path / "sd.pt")
    torch.save(small_mlp(), tmp_path / "whole.pt")
    torch.jit.script(small_mlp()).save(tmp_path / "m.ts")
    torch.jit.script(small_wide()).save(tmp_path / "wide.ts")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    torch.save({"x": torch.rand(4, 1, 8, 6)}, tmp_path / "wide.pt")
    torch.save({"x": torch.rand(4, 1, 9, 9)}, tmp_path / "big.pt")
    data = ["--data", tensors]
    return {"unreadable model": [tmp_path / "junk.pt", *data],
            "missing model": [tmp_path / "nope.pt", *data],
            "factory does not import": [tmp_path / "sd.pt", "--factory", "no_such_pkg_q.models:net", *data],
            "state dict without factory": [tmp_path / "sd.pt", *data],
            "pickle without the flag": [tmp_path / "whole.pt", *data],
            "data of the wrong shape": [tmp_path / "m.ts", "--data", tmp_path / "big.pt"],
            "group does not fit": [tmp_path / "wide.ts", "--data", tmp_path / "wide.pt", "--groups", "R4"],
            "layers of a TorchScript model": [tmp_path / "m.ts", *data, "--layers"],
            "no such data": [tmp_path / "m.ts", "--data", tmp_path / "none.npz"],
            }[case]


def small_wide():
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 3))


@pytest.mark.parametrize("case,match", [
    ("unreadable model", "not a model file"), ("missing model", "cannot read the model file"),
    ("factory does not import", "cannot import no_such_pkg_q.models"),
    ("state dict without factory", "pass --factory"), ("pickle without the flag", "--trust-pickle"),
    ("data of the wrong shape", "does not take the data's inputs of shape"),
    ("group does not fit", "R4 needs square images"), ("layers of a TorchScript model", "runs no Python hooks"),
    ("no such data", "no such file or folder")])
def test_bad_input_is_one_line_naming_the_fix(tmp_path, capsys, tensors, case, match):
    code, err = run(capsys, *bad(tmp_path, tensors, case), "--out", tmp_path / "o")
    assert code == 1 and err.startswith("error: ") and match in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()  # nothing written, not even the folder


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_no_gpu_for_device_cuda_is_a_usage_error(tmp_path, capsys, tensors):
    torch.jit.script(small_mlp()).save(tmp_path / "m.ts")
    code, err = run(capsys, tmp_path / "m.ts", "--data", tensors, "--device", "cuda", "--out", tmp_path / "o")
    assert code == 2 and "sees no CUDA GPU; use --device cpu" in err and err.count("\n") == 1
