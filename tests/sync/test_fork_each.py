"""``parallel.fork_each``'s shared work: what the parent computes while the children run reaches each child, whenever
it starts, and a parent that fails to compute it leaves each child to do the work itself."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import create_engine

from hopnhat.sync import parallel

pytestmark = pytest.mark.skipif(not parallel.can_fork(), reason="needs fork")


class Hung(Exception):
    pass


@pytest.fixture(autouse=True)
def watchdog() -> Iterator[None]:
    """A child left waiting for an entry that never comes hangs its parent: fail after a minute instead."""

    def hung(_signum: int, _frame: Any) -> None:
        raise Hung("fork_each still waiting after 60 s: a child never got its entry?")

    before = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, before)


NAMES = ("a", "b", "c")


def _tasks() -> dict[str, Callable[[parallel.Report], Any]]:
    def task(name: str) -> Callable[[parallel.Report], Any]:
        def body(_report: parallel.Report) -> Any:
            # What the child was sent, and that it ran in a process of its own.
            return {"got": parallel.received(), "again": parallel.received(), "pid": os.getpid(), "name": name}

        return body

    return {name: task(name) for name in NAMES}


def _run(jobs: int, shared: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
    engine = create_engine("sqlite://")
    try:
        return parallel.fork_each(
            _tasks(), jobs=jobs, engine=engine, on_progress=None, on_lost=lambda n, c: None, shared=shared
        )
    finally:
        engine.dispose()


@pytest.mark.parametrize("jobs", [3, 1])
def test_each_child_gets_its_entry_of_the_shared_work_whenever_it_starts(jobs: int) -> None:
    calls: list[int] = []

    def shared() -> dict[str, Any]:
        calls.append(os.getpid())
        return {"a": {"x"}, "b": set(), "c": list(range(100_000))}  # c's is larger than a pipe's buffer

    results = _run(jobs, shared)
    assert calls == [os.getpid()]  # computed once, here, whatever the number of jobs
    assert [results[n]["got"] for n in NAMES] == [{"x"}, set(), list(range(100_000))]
    assert all(results[n]["again"] is None for n in NAMES)  # read once; a second read asks for no more
    assert len({results[n]["pid"] for n in NAMES} | {os.getpid()}) == 4


def test_a_child_without_an_entry_or_after_a_failure_gets_none_and_works_alone() -> None:
    assert [_run(3, lambda: {"b": 1})[n]["got"] for n in NAMES] == [None, 1, None]

    def broken() -> dict[str, Any]:
        raise RuntimeError("store unreachable")

    assert [_run(2, broken)[n]["got"] for n in NAMES] == [None, None, None]


def test_a_child_that_never_reads_its_entry_does_not_hold_the_parent() -> None:
    def quick(_report: parallel.Report) -> str:
        return "done without reading"

    engine = create_engine("sqlite://")
    results = parallel.fork_each(
        {"a": quick, "b": quick},
        jobs=2,
        engine=engine,
        on_progress=None,
        on_lost=lambda n, c: "lost",
        shared=lambda: {"a": b"x" * 4_000_000, "b": b"y" * 4_000_000},
    )
    engine.dispose()
    assert results == {"a": "done without reading", "b": "done without reading"}


def test_received_outside_a_forked_task_is_none() -> None:
    assert parallel.received() is None
