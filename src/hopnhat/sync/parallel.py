"""One forked process per source: how a sync or a reconciliation puts more than one core to work.

Both are CPU-bound Python over independent sources, so threads would share one core; processes do not. Fork, not
spawn: a child starts in milliseconds with what the parent already holds (the registry's remapper, the imported
modules), where spawn re-imports everything and rebuilds it (about 1.5 s, as much as a whole incremental run).
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")

Report = Callable[[Any], None]
"""What a task calls to send a progress message to the parent (any picklable value)."""


def can_fork() -> bool:
    """Fork is safe here: the platform has it, and no other thread of this process could hold a lock (a terminal,
    a logger, a connection pool) that the child would inherit held. Inside a web server, say, it is not."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def fork_each(
    tasks: Mapping[str, Callable[[Report], T]],
    *,
    jobs: int,
    engine: Engine,
    on_progress: Callable[[str, Any], None] | None,
    on_lost: Callable[[str, int | None], T],
) -> dict[str, T]:
    """Run each task in a forked process, at most ``jobs`` at a time; return their results by name, in the order of
    ``tasks``.

    A task's return value comes back through a pipe (pickled); it handles its own errors. A child that dies
    without a result (killed, out of memory) gets ``on_lost(name, exit code)`` as its result. ``engine``'s pool is
    emptied before forking (no connection may be shared by two processes) and again in each child."""
    context = multiprocessing.get_context("fork")
    engine.dispose()
    waiting = list(tasks.items())
    running: dict[Connection, tuple[str, BaseProcess]] = {}
    results: dict[str, T] = {}
    parent = os.getpid()

    def start(name: str, task: Callable[[Report], T]) -> None:
        reader, writer = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(task, writer, parent, engine), name=f"hopnhat-{name}")
        child.daemon = True
        child.start()
        writer.close()
        running[reader] = (name, child)

    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                start(*waiting.pop(0))
            for ready in wait(list(running)):
                assert isinstance(ready, Connection)
                name, child = running[ready]
                try:
                    kind, value = ready.recv()
                except EOFError:
                    child.join()
                    results[name] = on_lost(name, child.exitcode)
                    del running[ready]
                    continue
                if kind == "progress":
                    if on_progress is not None:
                        on_progress(name, value)
                    continue
                results[name] = value
                ready.close()
                child.join()
                del running[ready]
    finally:
        for _, child in running.values():
            child.kill()
    return {name: results[name] for name in tasks}


def _child(task: Callable[[Report], Any], out: Connection, parent: int, engine: Engine) -> None:
    _die_with(parent)
    # Objects inherited from the parent are never garbage here: keep the collector off them (and their pages
    # shared with the parent instead of copied by the collector's writes).
    gc.freeze()
    engine.dispose(close=False)
    result = task(lambda value: out.send(("progress", value)))
    out.send(("done", result))
    out.close()


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux ``PR_SET_PDEATHSIG``), so a run killed with
    SIGKILL takes its source processes along instead of leaving them writing; if the parent is gone already,
    exit."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)
