"""Where stacks train: in this process, in a local process pool, or as SLURM jobs (``concurrent.futures`` style).

The orchestration needs only ``executor.submit(fn, *args)`` returning an object with ``done()`` and
``result()``: ``concurrent.futures`` executors, a Dask ``Client.get_executor()`` and ``submitit``
executors all qualify. Workers coordinate through the run store's locks (``empirical.engine.store``): no
run is trained twice, and a stack whose worker died resumes from its checkpoint on the next run.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["EXECUTORS", "WorkerDied", "make_executor", "run_jobs"]

EXECUTORS = ("local", "submitit")


class WorkerDied(RuntimeError):
    """A worker process died mid-stack (killed, out of memory); what finished is saved, a rerun resumes the rest."""


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)  # one process per core: threads would only compete


def _quiet_resource_tracker() -> None:
    """A killed worker cannot release its semaphores; the resource tracker (a process of its own, started with
    this environment) releases them at exit and warns about each. That cleanup is expected, not the user's to fix:
    the command's one line says what happened, so the tracker is told not to warn."""
    quiet = "ignore::UserWarning:multiprocessing.resource_tracker"
    current = os.environ.get("PYTHONWARNINGS", "")
    if quiet not in current:
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, (current, quiet)))


@functools.cache
def make_executor(kind: str = "local", workers: int = 1, folder: Path | None = None,
                  cluster: str | None = None) -> Any:
    """The executor for ``--executor kind --workers N`` (None: train in this process); one per process.

    'local' with N > 1 is a process pool of N single-threaded workers ('spawn': no inherited torch
    state). 'submitit' submits each stack as a job (SLURM where available, else local processes;
    ``cluster='debug'`` runs in-process), its logs in ``folder``; it needs ``pip install -e ".[cluster]"``.
    """
    if kind == "local":
        if workers <= 1:
            return None
        _quiet_resource_tracker()
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread)
    if kind == "submitit":
        try:
            import submitit
        except ImportError:
            raise ImportError('--executor submitit needs the optional extra: pip install -e ".[cluster]"') from None
        executor = submitit.AutoExecutor(folder=str(folder or "submitit"), cluster=cluster)
        executor.update_parameters(timeout_min=24 * 60, cpus_per_task=1, tasks_per_node=1)
        return executor
    raise ValueError(f"unknown executor {kind!r}; choose one of {EXECUTORS}")


def run_jobs(executor: Any, fn: Callable, jobs: Sequence[tuple], on_done: Callable[[int], None] | None = None,
             poll: float = 0.2) -> list[Any]:
    """``fn(*job)`` for every job on ``executor``, results in job order; ``on_done(i)`` as each job finishes."""
    futures = [executor.submit(fn, *job) for job in jobs]
    pending = set(range(len(futures)))
    try:
        while pending:
            for i in [i for i in pending if futures[i].done()]:
                futures[i].result()  # raise a job's error at once (the job still counts as unfinished)
                pending.discard(i)
                if on_done:
                    on_done(i)
            if pending:
                time.sleep(poll)
        return [f.result() for f in futures]
    except BrokenProcessPool as exc:
        make_executor.cache_clear()  # the pool is unusable: the next command starts a fresh one
        executor.shutdown(wait=True, cancel_futures=True)  # reap the survivors before the process exits
        raise WorkerDied(f"a worker process died with {len(pending)} stack(s) unfinished; the finished runs are "
                         "saved: rerun the command to resume the rest from their checkpoints") from exc
