"""The experiment grid: which runs each figure and table needs (Sec. 4.1-4.4), shared by every command.

Commands never import each other: Table 1, Figures 3 and 4 and the bridge all take their WT / DA /
IR runs, with IR's tuned weight, from :func:`model_configs`; Figure 5 and the bridge's layer part
take theirs from :func:`variants`. Extra RunConfig fields (e.g. ``arch``) pass
through, so the same grid serves any registered architecture.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from empirical.engine.context import Context
from empirical.engine.runs import train_all
from empirical.measure.invariance import INVARIANCE_FORMS
from empirical.engine.config import RunConfig
from empirical.engine.results import result_path
from empirical.engine.tuning import tune_nu

__all__ = ["model_configs", "variants", "concurrently", "beside"]

T = TypeVar("T")


def concurrently(ctx: Context, items: tuple, fn: Callable[[Any], T]) -> list[T]:
    """``fn(item)`` for every item (group, form), results in order; one thread per item when stacks train on an
    executor, else one after another.

    A ν search trains one run at a time, so with workers the searches of the groups and forms must run
    side by side for the workers to have stacks to share.
    """
    if ctx.executor is None or len(items) < 2:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(fn, items))


def beside(ctx: Context, main: Callable[[], T], configs: list[RunConfig]) -> T:
    """``main()`` (a ν search) while ``configs`` (runs that need no ν) train one at a time beside it on the executor.

    A search trains one run at a time, so with two workers one would idle; fed one run at a time, the other run
    trains the configs without queueing ahead of the search. The feeding stops when ``main`` returns (after the
    run in flight); the caller's ``train_all`` trains the rest, all together. Without an executor: ``main()``.
    """
    if ctx.executor is None or not configs:
        return main()
    finished = threading.Event()

    def feed() -> None:
        # a run already in the cache is skipped, not loaded: the caller's train_all loads it once
        for c in (c for c in configs if not result_path(c, ctx.runs_dir).exists()):
            if finished.is_set():
                return
            train_all(ctx, [c])

    with ThreadPoolExecutor(1) as pool:
        fed = pool.submit(feed)
        try:
            return main()
        finally:
            finished.set()
            fed.result()  # the run in flight ends first (a worker's failure surfaces here)


def model_configs(ctx: Context, group: str, dataset: str = "mnist", **fields: Any
                  ) -> tuple[dict[str, list[RunConfig]], dict[str, Any]]:
    """Table 1's runs of one group, {"WT", "DA", "IR"} one config per seed, IR (LI) at the tuned nu; and the tuning."""
    seeds = range(ctx.scale.seeds)
    common = dict(dataset=dataset, group=group, **fields)
    configs = {m: [ctx.config(model=m, seed=s, **common) for s in seeds] for m in ("WT", "DA")}
    tuning = beside(ctx, lambda: tune_nu(ctx, group, "LI", dataset=dataset, **fields), configs["WT"] + configs["DA"])
    configs["IR"] = [ctx.config(model="IR", form="LI", nu=tuning["chosen_nu"], seed=s, **common) for s in seeds]
    return configs, tuning


def variants(ctx: Context, group: str, forms: tuple[str, ...] = INVARIANCE_FORMS, **fields: Any
             ) -> tuple[dict[str, list[RunConfig]], list[dict[str, Any]]]:
    """Figure 5's runs of one group, {"DA": [...], "IR-<form>": [...]} one config per seed, and the nu tunings."""
    seeds = range(ctx.scale.seeds)
    out = {"DA": [ctx.config(group=group, model="DA", seed=s, **fields) for s in seeds]}
    tunings = beside(ctx, lambda: concurrently(ctx, tuple(forms), lambda form: tune_nu(ctx, group, form, **fields)),
                     out["DA"])
    for form, tuned in zip(forms, tunings):
        out[f"IR-{form}"] = [ctx.config(group=group, model="IR", form=form, nu=tuned["chosen_nu"], seed=s, **fields)
                             for s in seeds]
    return out, tunings
