"""Tuning the IR weight nu as the paper does (Sec. 4.1, 4.4): the smallest nu whose validation SI >= 0.95.

SI grows with nu (more weight on invariance) until nu is so large that the model collapses to a
near-constant function (seen for NLI at nu = 300 in a 30-epoch pilot: accuracy 11 %, SI 0.21; after 300
epochs the same nu reached only SI 0.75 on R4, hence NLI's grid goes on to 3000). When the
largest grid value reaches the target, the smallest one that does is found by bisection over the
log-spaced grid: about log2(len(grid)) full trainings instead of one per grid value. Otherwise the
whole grid is trained and the smallest value reaching the target is kept, or, if none does, the value
with the highest SI (``reached`` is then False). Every trained sweep point is recorded
(nu, validation accuracy, LI, DI, NLI, SI); a run that diverged is recorded with its reason and
never chosen.
"""

from __future__ import annotations

from typing import Any

from empirical.engine.context import Context
from empirical.engine.evaluation import evaluate
from empirical.engine.runs import train_all

__all__ = ["NU_GRID", "SI_TARGET", "best_si", "tune_nu", "tuning_note"]

SI_TARGET = 0.95
# Log-spaced candidates per regularizer form; the scales differ because LI is a squared logit
# distance (hundreds for an unregularized MLP), DI a KL divergence and NLI a relative distance.
NU_GRID: dict[str, tuple[float, ...]] = {
    "LI": (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0),
    "DI": (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0),
    "NLI": (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0),
}


def tune_nu(ctx: Context, group: str, form: str, grid: tuple[float, ...] | None = None, dataset: str = "mnist",
            target: float = SI_TARGET, seed: int = 0, **fields: Any) -> dict[str, Any]:
    """The smallest nu in ``grid`` with validation SI >= target for IR with ``form`` on ``group`` (one seed).

    ``fields`` are further RunConfig fields of the tuned runs (e.g. ``arch``)."""
    grid = tuple(sorted(grid or NU_GRID[form][::ctx.scale.nu_grid_stride]))
    rows: dict[float, dict[str, Any]] = {}

    def config(nu: float):
        return ctx.config(dataset=dataset, group=group, model="IR", form=form, nu=nu, seed=seed, **fields)

    def record(res) -> None:
        if res.failed:  # diverged: no metrics; it can never be chosen
            rows[res.config.nu] = {"nu": res.config.nu, "failed": res.failed, "SI": float("-inf"),
                                   "key": res.config.key()}
            return
        ev = evaluate(ctx, res, split="val", metrics=("orbit", "SI"))
        rows[res.config.nu] = {"nu": res.config.nu, "val_acc": ev["acc"], "LI": ev["LI"], "DI": ev["DI"],
                               "NLI": ev["NLI"], "SI": ev["SI"], "key": res.config.key()}

    def si_at(i: int) -> float:
        if grid[i] not in rows:
            record(train_all(ctx, [config(grid[i])])[0])
        return rows[grid[i]]["SI"]

    lo, hi = 0, len(grid) - 1  # invariant: the answer, if any, lies in [lo, hi]
    if si_at(hi) >= target:
        while lo < hi:
            mid = (lo + hi) // 2
            if si_at(mid) >= target:
                hi = mid
            else:
                lo = mid + 1
        chosen, reached = grid[lo], True
    else:
        # SI is not monotone at the top (too large a nu can collapse the model to a constant, whose
        # saliency has no direction): scan the whole grid; keep the smallest nu that reaches the
        # target, else the nu with the highest SI. The untried values train together as one stack
        # (one vectorized program).
        for res in train_all(ctx, [config(nu) for nu in grid if nu not in rows]):
            record(res)
        sis = [si_at(i) for i in range(len(grid))]
        hits = [i for i, v in enumerate(sis) if v >= target]
        best = hits[0] if hits else max(range(len(grid)), key=lambda i: sis[i])
        chosen, reached = grid[best], bool(hits)
    sweep = [{**rows[nu], "SI": None} if "failed" in rows[nu] else rows[nu] for nu in sorted(rows)]
    return {"group": group, "form": form, "dataset": dataset, **fields, "target_SI": target, "chosen_nu": chosen,
            "reached": reached, "grid": list(grid), "sweep": sweep}


def best_si(t: dict[str, Any]) -> float:
    """The highest validation SI of a ``tune_nu`` sweep (failed points have none); nan when nothing trained."""
    return max((r["SI"] for r in t["sweep"] if r.get("SI") is not None), default=float("nan"))


def tuning_note(t: dict[str, Any]) -> str:
    """One line saying what ``tune_nu`` did: the nu chosen, why, and the sweep (failed points with their reason)."""
    def point(r: dict[str, Any]) -> str:
        if r.get("failed"):
            return f"nu={r['nu']:g}: FAILED ({r['failed']})"
        return f"nu={r['nu']:g}: SI={r['SI']:.3f}, val acc={100 * r['val_acc']:.1f}%"

    if t["reached"]:
        why = f"the smallest grid value with validation SI >= {t['target_SI']}"
    else:
        best = best_si(t)
        why = (f"validation SI >= {t['target_SI']} NOT reached on the grid; kept the nu with the highest "
               f"validation SI ({best:.3f})")
    return (f"{t['group']} IR-{t['form']}: chosen nu = {t['chosen_nu']:g}, {why}; sweep: "
            + ", ".join(point(r) for r in t["sweep"]) + ".")
