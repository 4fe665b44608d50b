"""What the paper's run grid costs on this CPU: runs counted from the committed outputs, seconds per epoch measured.

Counts the distinct trained runs behind ``paper_figures/`` (Table 1, Figure 5 and every nu tuning sweep;
Figures 3 and 4 and the bridge's layer/subspace parts reuse them), measures one training epoch of each
model kind (WT, DA, IR) per group at full scale on one thread, and prints core-hours of training and the
wall time with N single-threaded workers (the grid's stacks are independent; ν tunings are sequential).
Times are CPU seconds of this process, so a busy machine counts (nearly) fairly. Evaluation is not included
for the paper grid; ``--beyond`` projects the extension grid with one full test evaluation per run (``--convnet``
the standard CNN's grid of issue 29 the same way), and
``--measured CACHE`` sums the training seconds each run of the committed extension grid recorded in the cache;
``--scaling`` projects the data-scaling grid of issue 28 (mlp and cnn, the reduced design and the whole one):

    python benchmarks/grid_cost.py [--beyond | --convnet | --scaling | --measured runs]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from empirical.engine.runs import train_data  # noqa: E402
from empirical.data.transforming import transforming  # noqa: E402
from empirical.measure.groups import image_group  # noqa: E402
from empirical.engine.config import RunConfig  # noqa: E402
from empirical.engine.training import train_stack  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _kind_form(model: str) -> tuple[str, str]:
    """An output row's model name as (model kind, IR form): 'WT' -> ('WT', ''), 'IR' (Table 1) -> ('IR', 'LI')."""
    if model in ("WT", "DA"):
        return model, ""
    return "IR", model.removeprefix("IR-") if model != "IR" else "LI"


def grid_runs(out: Path) -> Counter:
    """Distinct (group, model kind, form, nu, seed) runs behind the committed outputs, counted by (group, kind)."""
    runs = set()
    t1, f5 = (json.loads((out / f).read_text()) for f in ("table1.json", "fig5_spectral.json"))
    for r in t1["rows"] + f5["rows"]:
        kind, form = _kind_form(r["model"])
        runs |= {(r["group"], kind, form, r["nu"], s) for s in range(r["seeds"])}
    for t in t1["tuning"] + f5["tuning"]:
        runs |= {(t["group"], "IR", t["form"], p["nu"], 0) for p in t["sweep"]}
    return Counter((g, k) for g, k, *_ in runs)


def beyond_runs(groups=("R4", "T3", "D4", "F2"), archs=("mlp", "cnn"), seeds: int = 4) -> Counter:
    """The runs the 'beyond the paper' grid needs, by (arch, group, kind), with ν sweeps as long as the paper's.

    Per arch x group: WT, DA, IR-LI x seeds, plus a 4-point LI sweep (as measured for R4 and T3) of which one
    point is the chosen run's seed 0; for the CNN on R4 also IR-DI and IR-NLI x seeds with 4- and 10-point sweeps.
    """
    runs: Counter = Counter()
    for arch in archs:
        for g in groups:
            runs[(arch, g, "WT")] += seeds
            runs[(arch, g, "DA")] += seeds
            runs[(arch, g, "IR")] += seeds + 4 - 1
    if "cnn" in archs and "R4" in groups:
        runs[("cnn", "R4", "IR")] += (seeds + 4 - 1) + (seeds + 10 - 1)
    if "convnet" in archs:  # its Figure 5 on R4 (as the cnn's) and the circular-padding network on T3 (issue 29)
        runs[("convnet", "R4", "IR")] += (seeds + 4 - 1) + (seeds + 10 - 1)
        runs[("convnet_circular", "T3", "WT")] += seeds
        runs[("convnet_circular", "T3", "DA")] += seeds
        runs[("convnet_circular", "T3", "IR")] += seeds + 4 - 1
    return runs


def beyond_configs(folder: Path) -> dict[tuple[str, str], set[RunConfig]]:
    """The RunConfigs behind the committed beyond outputs in ``folder``, by (arch, group): WT, DA and each IR form's
    chosen nu x seeds, and every point of its nu sweep (seed 0)."""
    out: dict[tuple[str, str], set[RunConfig]] = {}
    for arch, stem in (("mlp", "table1"), ("cnn", "table1_cnn"), ("cnn", "fig5_spectral_cnn")):
        path = folder / f"{stem}.json"
        if not path.exists():
            continue
        d = json.loads(path.read_text())
        sc = {k: d["scale"][k] for k in ("epochs", "n_train", "n_val", "n_test")}
        cfg = lambda **kw: RunConfig(arch=arch, **sc, **kw)  # noqa: E731
        for r in d["rows"]:
            kind, form = _kind_form(r["model"])
            kw = {"form": form, "nu": r["nu"]} if kind == "IR" else {}
            out.setdefault((arch, r["group"]), set()).update(
                cfg(group=r["group"], model=kind, seed=s, **kw) for s in range(r["seeds"]))
        for t in d.get("tuning", []):
            out[(arch, t["group"])].update(cfg(group=t["group"], model="IR", form=t["form"], nu=p["nu"])
                                           for p in t["sweep"])
    return out


def measured_beyond(folder: Path, cache: Path) -> None:
    """Print the training core-hours each cached run of the committed beyond grid recorded (its stack's wall time
    on one thread, shared among the stack's runs), by arch x group, and the runs missing from ``cache``."""
    from empirical.engine.results import load_result

    total, runs, missing = 0.0, 0, 0
    for (arch, group), configs in sorted(beyond_configs(folder).items()):
        found = [r for c in configs if (r := load_result(c, cache)) is not None]
        sec = sum(r.seconds for r in found)
        total, runs, missing = total + sec, runs + len(found), missing + len(configs) - len(found)
        print(f"{arch} {group}: {len(found)} of {len(configs)} runs cached, {sec / 3600:.2f} core-hours of training")
    print(f"beyond grid: {runs} runs, {total / 3600:.2f} core-hours of training as recorded; {missing} not in {cache}")


def epoch_seconds(group: str, model: str, epochs: int = 2, arch: str = "mlp") -> float:
    """CPU seconds per training epoch of one full-scale run on one thread (median of ``epochs`` epochs, 1st dropped)."""
    ds = transforming("mnist", group, 0, n_train=10_000, n_val=2_000, n_test=100, quiet=True)
    data = train_data(ds, "cpu")
    kw = {"form": "LI", "nu": 1.0} if model == "IR" else {}
    if arch != "mlp":
        kw["arch"] = arch
    cfg = RunConfig(group=group, model=model, epochs=epochs + 1, n_test=100, **kw)
    marks = []
    train_stack([cfg], data, image_group(group), progress=lambda n: marks.append(time.process_time()))
    return float(torch.tensor([b - a for a, b in zip(marks, marks[1:])]).median())


def eval_seconds(group: str, model: str, arch: str = "mlp") -> float:
    """CPU seconds of one full-scale test evaluation (orbit metrics on 50,000 images, SI, sigma_max(J)) on one thread.

    The network is untrained (evaluation cost does not depend on the weights); the dataset is built first, once.
    """
    import tempfile

    from empirical.cli import default_context
    from empirical.engine.evaluation import evaluate
    from empirical.engine.runs import dataset_for
    from empirical.engine.results import RunResult
    from empirical.engine.training import build_network

    with tempfile.TemporaryDirectory() as tmp:
        ctx = default_context(["--cache-dir", tmp, "--out", tmp, "--quiet"])
        kw = {"form": "LI", "nu": 1.0} if model == "IR" else {}
        cfg = ctx.config(group=group, model=model, arch=arch, **kw)
        net = build_network(cfg, image_group(group) if model == "WT" else None, classes=9, in_features=36 * 36)
        dataset_for(ctx, cfg)
        t0 = time.process_time()  # CPU time of this process: a fair count on a loaded machine too
        evaluate(ctx, RunResult(config=cfg, state_dict=net.state_dict(), best_epoch=0, best_val_acc=0.0))
        return time.process_time() - t0


def scaling_epochs(arch: str, reduced: bool, out: Path) -> tuple[Counter, Counter]:
    """(runs, epochs) of the data-scaling grid by (group, model kind): linear DA counted as DA (the same layers
    without their ReLUs). An epoch there is 20 optimizer steps whatever n, the cost of one epoch of 10,000 images."""
    from empirical.cli import default_context
    from empirical.paper.data_scaling import GROUPS, REDUCED_STAGES, plan

    ctx = default_context(["--quiet", "--arch", arch])
    sizes = json.loads((out / "data_scaling" / "scaling.json").read_text())["scale"]["sizes"]  # 'max' resolved
    parts = [p for p in plan(ctx, GROUPS, sizes) if not reduced or p.stage in REDUCED_STAGES]
    runs, epochs = Counter(), Counter()
    for c in (c for p in parts for c in p.configs):
        runs[(c.group, c.model)] += 1
        epochs[(c.group, c.model)] += c.epochs
    return runs, epochs


def project_scaling(out: Path, timed_epochs: int) -> None:
    """Print the data-scaling grid's projected training core-hours per architecture, reduced and whole."""
    seconds: dict[tuple[str, str, str], float] = {}
    for arch in ("mlp", "cnn"):
        for reduced in (True, False):
            runs, epochs = scaling_epochs(arch, reduced, out)
            hours = 0.0
            for key in sorted(epochs):
                if (arch, *key) not in seconds:
                    seconds[(arch, *key)] = epoch_seconds(*key, epochs=timed_epochs, arch=arch)
                hours += epochs[key] * seconds[(arch, *key)] / 3600
            per_kind = ", ".join(f"{g} {k} {seconds[(arch, g, k)] * 300:.0f} s/run" for g, k in sorted(epochs))
            print(f"scaling grid, {arch}, {'reduced design' if reduced else 'whole grid'}: {sum(runs.values())} runs, "
                  f"{hours:.2f} core-hours of training ({per_kind} at 6,000 steps)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "paper_figures"))
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--timed-epochs", type=int, default=2, help="epochs timed per kind (one more is run and dropped)")
    p.add_argument("--no-eval", action="store_true", help="project training only (a lower bound; evaluation uncounted)")
    p.add_argument("--beyond", action="store_true", help="project the beyond-the-paper grid (mlp, cnn x R4 T3 D4 F2)")
    p.add_argument("--convnet", action="store_true", help="project the standard CNN's grid (convnet x R4 T3 D4 F2, "
                                                         "its Figure 5, the circular-padding network on T3)")
    p.add_argument("--scaling", action="store_true", help="project the data-scaling grid (issue 28): mlp and cnn, "
                                                          "the reduced design and the whole grid")
    p.add_argument("--measured", metavar="CACHE", help="sum the training seconds the beyond grid's runs recorded in "
                                                         "this run cache (e.g. runs)")
    args = p.parse_args(argv)
    if args.measured:
        measured_beyond(Path(args.out) / "beyond", Path(args.measured))
        return 0
    torch.set_num_threads(1)
    if args.scaling:
        project_scaling(Path(args.out), args.timed_epochs)
        return 0
    if args.beyond or args.convnet:
        grid = beyond_runs(archs=("convnet",)) if args.convnet else beyond_runs()
        total = evals = shared = 0.0
        for (arch, group, kind), n in sorted(grid.items()):
            sec = epoch_seconds(group, kind, epochs=args.timed_epochs, arch=arch)
            ev = 0.0 if args.no_eval else eval_seconds(group, kind, arch=arch)
            hours, ev_hours = n * args.epochs * sec / 3600, n * ev / 3600
            total, evals = total + hours, evals + ev_hours
            if arch == "mlp" and group in ("R4", "T3"):
                shared += hours + ev_hours
            print(f"{arch} {group} {kind}: {n} runs x {args.epochs} epochs x {sec:.2f} s/epoch = {hours:.2f} core-hours"
                  f"; evaluation {n} x {ev:.1f} s = {ev_hours:.2f} core-hours")
        print(f"{'convnet' if args.convnet else 'beyond'} grid: {sum(grid.values())} runs, {total:.2f} core-hours of "
              f"training at {args.epochs} "
              f"epochs + {evals:.2f} of evaluation (every run counted at a full test evaluation); {shared:.2f} of them "
              "are the mlp's R4 and T3 runs, which are Table 1's")
        return 0
    counts = grid_runs(Path(args.out))
    total = 0.0
    for (group, kind), n in sorted(counts.items()):
        sec = epoch_seconds(group, kind)
        hours = n * args.epochs * sec / 3600
        total += hours
        print(f"{group} {kind}: {n} runs x {args.epochs} epochs x {sec:.2f} s/epoch = {hours:.2f} core-hours")
    print(f"paper grid: {sum(counts.values())} runs, {total:.2f} core-hours of training; "
          + ", ".join(f">= {total / n:.2f} h with --workers {n}" for n in (2, 4, 8, 16)) + " (the nu tunings are sequential)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
