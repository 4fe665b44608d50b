"""empirical.paper.grid.beside: the runs that need no ν train beside a ν search, one at a time, and stop with it."""

import threading
import time
from types import SimpleNamespace

import pytest

from empirical.paper import grid

ON_EXECUTOR, IN_PROCESS = SimpleNamespace(executor=object()), SimpleNamespace(executor=None)


@pytest.fixture
def fed(monkeypatch, tmp_path):
    """Replace train_all by a recorder: the configs of each call, and an event set by the first call; config c is
    cached when tmp_path/<c> exists."""
    ON_EXECUTOR.runs_dir = IN_PROCESS.runs_dir = tmp_path
    monkeypatch.setattr(grid, "result_path", lambda c, cache_dir: cache_dir / str(c))
    calls: list[list] = []
    first = threading.Event()

    def train_all(ctx, configs):
        calls.append(list(configs))
        first.set()
        time.sleep(0.02)
        return []

    monkeypatch.setattr(grid, "train_all", train_all)
    return calls, first


def test_beside_feeds_one_run_at_a_time_while_the_search_runs_and_stops_with_it(fed):
    calls, first = fed

    def search():
        assert first.wait(10), "no run trained beside the search"
        time.sleep(0.1)
        return "tuned"

    assert grid.beside(ON_EXECUTOR, search, list(range(1000))) == "tuned"
    assert calls and all(len(c) == 1 for c in calls)  # one run per call: never queued ahead of the search
    n = len(calls)
    assert n < 1000  # it stopped when the search ended ...
    time.sleep(0.1)
    assert len(calls) == n  # ... and nothing trains after beside returns


def test_beside_stops_feeding_when_the_search_fails(fed):
    calls, first = fed

    def search():
        first.wait(10)
        raise RuntimeError("search failed")

    with pytest.raises(RuntimeError, match="search failed"):
        grid.beside(ON_EXECUTOR, search, list(range(1000)))
    n = len(calls)
    time.sleep(0.1)
    assert 1 <= n < 1000 and len(calls) == n


def test_without_an_executor_beside_only_runs_the_search(fed):
    calls, _ = fed
    assert grid.beside(IN_PROCESS, lambda: 7, list(range(5))) == 7 and calls == []


def test_beside_skips_the_runs_already_in_the_cache(fed, tmp_path):
    calls, first = fed
    for c in range(0, 10, 2):
        (tmp_path / str(c)).touch()

    def search():
        time.sleep(0.5)  # long enough for the 5 uncached runs (0.02 s each)
        return "tuned"

    grid.beside(ON_EXECUTOR, search, list(range(10)))
    assert calls == [[1], [3], [5], [7], [9]]
