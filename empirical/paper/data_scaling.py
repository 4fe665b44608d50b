"""The data-scaling experiment (our issue 28): does data augmentation learn genuine invariance with more data?

Duan & Montúfar (2026, Sec. 6) prove that in deep linear networks DA's optima are invariant and write that
"nonlinear networks may still learn invariance via data augmentation when trained with enough data". This grid
measures it on the paper's setting: Table 1's mlp trained by DA, WT and IR, and the same mlp without its ReLUs (a
deep linear network, trained by DA), on Transforming-MNIST with nested training sets of n images.

- Data (``transforming(split="nested")``): one permutation of the pool (MNIST train + test, class 9 dropped: 63,042
  images); validation = its first ``n_val`` (2,000), test = the next ``n_test`` (10,000), training = the next n.
  Validation and test are the same images, group elements and normalized values for every n; the training sets are
  nested. The largest n is everything left (51,042 on the official data).
- Training: Table 1's (Adam 8e-4, batch 512, a group element per sample per pass, best validation accuracy) with a
  FIXED STEP BUDGET: ``epochs`` x :data:`STEPS_PER_EPOCH` optimizer steps whatever n (300 x 20 = 6,000 at the full
  scale: Table 1's budget, 300 epochs of ceil(10,000 / 512) = 20 steps), validation every 20 steps, so a trend in n
  cannot come from training longer. The batches stream through passes (``RunConfig.steps_per_epoch``).
- IR: the logit invariance error at the nu Table 1's tuning chose for each architecture and group (:data:`NU`), not
  retuned per n.
- Metrics (``evaluate`` with "orbit_acc"): accuracy, LI, DI, NLI (LI over the logits' own squared norm), SI,
  sigma_max(J), the orbit accuracy (every orbit member classified correctly), the orbit agreement (every orbit member
  given one class) and the logits' mean squared norm, on the fixed test set.

The grid is a priority order of parts (:func:`plan`): each group's first seed of DA and linear DA at every n, then
WT and IR at the reference sizes, a second seed, the doubled budget at the largest n; then the rest. A command runs
the first K parts and rewrites its outputs after each one; the run store makes it resumable.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

from empirical.data.transforming import pool_size
from empirical.engine.context import FULL, Context, scale_tag
from empirical.engine.evaluation import ORBIT_CONSISTENCY, evaluate, mean_std
from empirical.engine.runs import train_all
from empirical.engine.config import RunConfig
from empirical.engine.results import load_result, provenance
from empirical.paper.scaling_claims import FOLDER, OUTPUT, reference_sizes

__all__ = ["NU", "NU_SOURCE", "GROUPS", "KINDS", "MAX", "SIZES", "QUICK_SIZES", "STEPS_PER_EPOCH", "TEST_CAP",
           "METRICS", "REDUCED_STAGES", "Part", "split_sizes", "resolve_sizes", "reference_sizes", "config", "kinds",
           "plan", "kind_of", "collect", "run_plan", "rows", "scale_doc", "document", "OUTPUT", "FOLDER"]

# Table 1's tuned IR weight per architecture and group: "tuning" -> "chosen_nu" (LI, validation SI >= 0.95) of
# paper_figures/table1.json (mlp) and paper_figures/beyond/table1_cnn.json (cnn)
NU = {"mlp": {"R4": 1.0, "T3": 30.0}, "cnn": {"R4": 30.0, "T3": 30.0}}
NU_SOURCE = {arch: f"{'the cnn' if arch == 'cnn' else 'Table 1'}'s tuning (paper_figures/{path}: tuning -> chosen_nu, "
                   f"IR-LI, validation SI >= 0.95)"
             for arch, path in (("mlp", "table1.json"), ("cnn", "beyond/table1_cnn.json"))}
GROUPS = ("R4", "T3")
KINDS = ("DA", "DA-linear", "WT", "IR")  # DA-linear: the mlp without its ReLUs (activation 'linear'), trained by DA
MAX = "max"  # the largest training set the pool allows
SIZES = (1000, 3000, 10_000, 30_000, MAX)
QUICK_SIZES = (300, 1000, 3000)
STEPS_PER_EPOCH = 20  # Table 1's: ceil(10,000 / 512); 300 epochs of it are Table 1's 6,000 steps
TEST_CAP = 10_000  # the test set (the scale's n_test, at most this)
METRICS = ("acc", "LI", "DI", "NLI", "SI", "sigma_max_J", *ORBIT_CONSISTENCY)
EVAL_METRICS = ("orbit", "SI", "J", "orbit_acc")
REDUCED_STAGES = (1, 2)  # the plan's stages that make the reduced design (two seeds at the extreme sizes)


def split_sizes(ctx: Context) -> tuple[int, int]:
    """(validation, test) sizes: the scale's n_val and n_test, the test capped at :data:`TEST_CAP` (2,000, 10,000 at
    the full scale)."""
    return ctx.scale.n_val, min(ctx.scale.n_test, TEST_CAP)


def resolve_sizes(ctx: Context, sizes: Iterable[int | str], dataset: str = "mnist") -> list[int]:
    """The training-set sizes, :data:`MAX` replaced by what the pool leaves after validation and test; sorted, unique.
    ValueError for a size the pool cannot hold."""
    n_val, n_test = split_sizes(ctx)
    most = pool_size(dataset, ctx.data_dir, quiet=ctx.quiet) - n_val - n_test
    out = sorted({most if s == MAX else int(s) for s in sizes})
    if not out or out[0] < 1 or out[-1] > most:
        raise ValueError(f"training-set sizes must lie in 1..{most} (the pool after {n_val} validation and {n_test} "
                         f"test images); got {list(sizes)}")
    return out


def config(ctx: Context, group: str, kind: str, n: int, seed: int, budget: int = 1) -> RunConfig:
    """The run of ``kind`` on ``group`` with n training images; ``budget`` multiplies the step budget."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {KINDS}")
    model = {"DA-linear": "DA"}.get(kind, kind)
    if ctx.arch not in NU:
        raise ValueError(f"the grid has no Table 1 nu for the {ctx.arch}; choose --arch {' or '.join(NU)}")
    kw: dict[str, Any] = {"form": "LI", "nu": NU[ctx.arch][group]} if kind == "IR" else {}
    if kind == "DA-linear":
        kw["activation"] = "linear"
    n_val, n_test = split_sizes(ctx)
    base = ctx.config(dataset="mnist", group=group, model=model, seed=seed, **kw)
    return replace(base, epochs=ctx.scale.epochs * budget, n_train=n, n_val=n_val, n_test=n_test, split="nested",
                   steps_per_epoch=STEPS_PER_EPOCH)


@dataclass(frozen=True)
class Part:
    """A step of the grid's priority order: its name and its runs."""

    name: str
    configs: tuple[RunConfig, ...]
    stage: int = 1  # 1-2: the reduced design; 3: the rest of the full one


def kinds(arch: str) -> tuple[str, ...]:
    """The kinds the grid trains for ``arch``: linear DA only for the mlp (the paper's depth without its ReLUs)."""
    return KINDS if arch == "mlp" else tuple(k for k in KINDS if k != "DA-linear")


def plan(ctx: Context, groups: Iterable[str], sizes: list[int]) -> list[Part]:
    """The grid as a priority order (parts with no run left out). Stage 1, for each group in order:

    1. DA (and linear DA), seed 0, every n;  2. WT and IR, seed 0, the reference sizes (:func:`reference_sizes`);
    3. DA (and linear DA), seed 1, every n;  4. the doubled budget: DA (and linear DA) at the largest n, seeds 0-1.

    Stage 2, for each group: 5. WT and IR, seed 0, the other n;  6. WT and IR, seed 1, the smallest and largest n.
    Stages 1-2 are the REDUCED design (every kind at every n, two seeds at the extreme sizes), which issue 28 allows
    when the whole grid passes about 10 core-hours. Stage 3, for each group: 7. WT and IR, seed 1, the other n;
    8. DA (and linear DA), seeds 2.., every n;  9. WT and IR, seeds 2.., every n (seeds up to the scale's ``seeds``).
    """
    seeds = list(range(ctx.scale.seeds))
    ref, ends = reference_sizes(sizes), sorted({sizes[0], sizes[-1]})
    da, ref_kinds = tuple(k for k in kinds(ctx.arch) if k.startswith("DA")), ("WT", "IR")
    da_name = "DA and linear DA" if len(da) == 2 else "DA"

    def part(stage: int, name: str, g: str, kinds_, ns, ss, budget: int = 1) -> Part:
        return Part(f"{g}: {name}", tuple(config(ctx, g, k, n, s, budget) for s in ss for n in ns for k in kinds_),
                    stage)

    def n_list(ns) -> str:
        return "n = " + ", ".join(map(str, ns))

    stages: dict[int, list[Part]] = {1: [], 2: [], 3: []}
    for g in groups:
        rest, middle = [n for n in sizes if n not in ref], [n for n in sizes if n not in ends]
        stages[1] += [part(1, f"{da_name}, seed 0, every n", g, da, sizes, seeds[:1]),
                      part(1, f"WT and IR, seed 0, {n_list(ref)}", g, ref_kinds, ref, seeds[:1]),
                      part(1, f"{da_name}, seed 1, every n", g, da, sizes, seeds[1:2]),
                      part(1, f"doubled budget: {da_name}, n = {sizes[-1]}, seeds 0-1", g, da, sizes[-1:],
                           seeds[:2], budget=2)]
        stages[2] += [part(2, f"WT and IR, seed 0, {n_list(rest)}", g, ref_kinds, rest, seeds[:1]),
                      part(2, f"WT and IR, seed 1, {n_list(ends)}", g, ref_kinds, ends, seeds[1:2])]
        stages[3] += [part(3, f"WT and IR, seed 1, {n_list(middle)}", g, ref_kinds, middle, seeds[1:2]),
                      part(3, f"{da_name}, seeds 2+, every n", g, da, sizes, seeds[2:]),
                      part(3, "WT and IR, seeds 2+, every n", g, ref_kinds, sizes, seeds[2:])]
    return [p for st in (1, 2, 3) for p in stages[st] if p.configs]


def kind_of(c: RunConfig) -> str:
    """The grid's name of a run's kind: DA, DA-linear, WT or IR."""
    return "DA-linear" if c.model == "DA" and c.activation == "linear" else c.model


def _record(ctx: Context, res) -> dict[str, Any]:
    c = res.config
    rec = {"group": c.group, "kind": kind_of(c), "n": c.n_train, "steps": c.steps(), "seed": c.seed,
           "key": c.key(), "seconds": res.seconds, "cpu_seconds": res.cpu_seconds, "best_epoch": res.best_epoch,
           "failed": res.failed}
    if not res.failed:
        ev = evaluate(ctx, res, metrics=EVAL_METRICS)
        rec.update({m: ev[m] for m in METRICS})
    return rec


def collect(ctx: Context, planned: list[Part]) -> list[dict[str, Any]]:
    """A record (metrics, seconds) of every planned run already in the run store, whoever trained it; none is trained
    here (the evaluations are computed once, then read from their cache)."""
    out = []
    for c in dict.fromkeys(c for p in planned for c in p.configs):
        res = load_result(c, ctx.runs_dir, ctx.regime)
        if res is not None:
            out.append(_record(ctx, res))
    return out


def run_plan(ctx: Context, parts: list[Part], planned: list[Part],
             on_update: Callable[[list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
    """Train every part of ``parts`` in order; after each, ``on_update`` gets the records of every run of ``planned``
    in the store (:func:`collect`), so the outputs show the whole grid measured so far."""
    records: list[dict[str, Any]] = []
    for p in parts:
        train_all(ctx, p.configs)
        records = collect(ctx, planned)
        on_update(records)
    return records


def rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (group, kind, n, steps): mean and std (ddof 0) over the seeds of every metric, the seeds, the
    training seconds they took, and the failed runs (left out of the means)."""
    cells: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        cells.setdefault((r["group"], r["kind"], r["n"], r["steps"]), []).append(r)
    out = []
    order = {k: i for i, k in enumerate(KINDS)}
    for (g, kind, n, steps), rs in sorted(cells.items(), key=lambda kv: (kv[0][0], order[kv[0][1]], kv[0][2],
                                                                         kv[0][3])):
        rs = sorted(rs, key=lambda r: r["seed"])
        ok = [r for r in rs if not r["failed"]]
        row = {"group": g, "kind": kind, "n": n, "steps": steps, "seeds": len(ok),
               "seed_ids": [r["seed"] for r in ok], "training_seconds": sum(r["seconds"] for r in rs),
               "failed": [{"seed": r["seed"], "reason": r["failed"]} for r in rs if r["failed"]]}
        for m in METRICS:
            scale = 100.0 if m in ("acc", "orbit_acc", "orbit_agree") else 1.0
            row[m] = list(mean_std(r[m] * scale for r in ok)) if ok else None
        row["per_seed"] = [{"seed": r["seed"], "key": r["key"], "best_epoch": r["best_epoch"],
                            "seconds": r["seconds"], **{m: r[m] for m in METRICS}} for r in ok]
        out.append(row)
    return out


def scale_doc(ctx: Context, sizes: list[int]) -> dict[str, Any]:
    """What the experiment's numbers depend on besides the runs: split sizes, step budget, metric samples, seeds."""
    n_val, n_test = split_sizes(ctx)
    s = ctx.scale
    return {"sizes": sizes, "n_val": n_val, "n_test": n_test, "epochs": s.epochs, "steps_per_epoch": STEPS_PER_EPOCH,
            "steps": s.epochs * STEPS_PER_EPOCH, "batch_size": RunConfig.batch_size, "lr": RunConfig.lr,
            "seeds": s.seeds, "n_saliency": s.n_saliency, "n_jacobian": s.n_jacobian, "ig_steps": s.ig_steps}


def document(ctx: Context, sizes: list[int], records: list[dict[str, Any]], planned: list[Part]) -> dict[str, Any]:
    """The output JSON: the scale, the split, the nu, the plan (every part with its runs measured so far), the rows
    and the training seconds the measured runs recorded."""
    n_val, n_test = split_sizes(ctx)
    have = {r["key"] for r in records}
    return {
        "scale": scale_doc(ctx, sizes), "scale_tag": "full" if ctx.scale == FULL else scale_tag(ctx.scale),
        "device": str(ctx.device), "provenance": provenance(ctx.device), "arch": ctx.arch,
        "nu": dict(NU[ctx.arch]), "nu_source": NU_SOURCE[ctx.arch],
        "split": (f"nested: one permutation (data seed 0) of the MNIST pool without class 9; validation = its first "
                  f"{n_val:,}, test = the next {n_test:,}, training = the next n (nested sets); the same validation "
                  f"and test images, group elements and normalization (the whole training pool's mean and std) for "
                  f"every n"),
        "budget": (f"{ctx.scale.epochs * STEPS_PER_EPOCH:,} optimizer steps for every n ({ctx.scale.epochs} epochs of "
                   f"{STEPS_PER_EPOCH} steps, validation after each; batch {RunConfig.batch_size}, Adam "
                   f"{RunConfig.lr:g}, best validation accuracy); the doubled budget: twice the steps"),
        "plan": [{"part": p.name, "runs": len(p.configs), "measured": sum(c.key() in have for c in p.configs),
                  "reduced": p.stage in REDUCED_STAGES} for p in planned],
        "training_seconds": sum(r["seconds"] for r in records),
        "training_cpu_seconds": {"runs": sum(r.get("cpu_seconds") is not None for r in records),
                                 "seconds": sum(r.get("cpu_seconds") or 0.0 for r in records)},
        "rows": rows(records),
    }
