"""benchmarks/grid_cost.py --measured: the runs behind the committed beyond outputs, and their recorded seconds."""

import importlib.util
from pathlib import Path

import torch

from empirical.engine.results import RunResult, save_result

ROOT = Path(__file__).resolve().parents[2]


def _grid_cost():
    spec = importlib.util.spec_from_file_location("grid_cost", ROOT / "benchmarks" / "grid_cost.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_beyond_configs_recover_the_committed_grid_and_sum_recorded_seconds(tmp_path, capsys):
    gc = _grid_cost()
    configs = gc.beyond_configs(ROOT / "paper_figures" / "beyond")
    counts = {k: len(v) for k, v in configs.items()}
    # per cell: WT, DA, IR x 4 seeds plus the other points of the LI sweep (seed 0, 4 points as committed); cnn T3's
    # search scanned all 8 points (SI 0.95 never reached); the cnn on R4 adds IR-DI (8 points) and IR-NLI (10)
    expected = {(a, g): 12 + 3 for a in ("mlp", "cnn") for g in ("R4", "T3", "D4", "F2")}
    expected[("cnn", "T3")] = 12 + 7
    expected[("cnn", "R4")] = 15 + (4 + 7) + (4 + 9)
    assert counts == expected
    one = sorted(configs[("cnn", "F2")], key=repr)[0]
    save_result(RunResult(config=one, state_dict={"w": torch.zeros(1)}, best_epoch=0, best_val_acc=0.0,
                          seconds=5400.0), tmp_path)
    gc.measured_beyond(ROOT / "paper_figures" / "beyond", tmp_path)
    out = capsys.readouterr().out
    assert f"cnn F2: 1 of {counts[('cnn', 'F2')]} runs cached, 1.50 core-hours" in out
    assert f"beyond grid: 1 runs, 1.50 core-hours of training as recorded; {sum(counts.values()) - 1} not in" in out


def test_the_scaling_projection_counts_the_grids_runs_and_steps():
    gc = _grid_cost()
    for arch, reduced, n_runs in (("mlp", True, 76), ("mlp", False, 168), ("cnn", True, 52), ("cnn", False, 124)):
        runs, epochs = gc.scaling_epochs(arch, reduced, ROOT / "paper_figures")
        assert sum(runs.values()) == n_runs, (arch, reduced)
        doubled = 2 * 2 * (2 if arch == "mlp" else 1)  # 2 groups x seeds 0-1 x (DA, linear DA) at twice the steps
        assert sum(epochs.values()) == 300 * (n_runs + doubled)
        assert {k for _, k in runs} == {"DA", "WT", "IR"}  # linear DA is counted (and timed) as DA
