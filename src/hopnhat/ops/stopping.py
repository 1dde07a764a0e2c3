"""The stop signal of a long-running command under a service manager (systemd sends SIGTERM, then SIGKILL after
``TimeoutStopSec``): the loop finishes its current unit of work, commits it and returns, so the command exits 0.

A second SIGTERM stops at once (the operator insists; a unit of work commits whole or not at all, so that is as
safe as a kill). Ctrl-C (SIGINT) sets the same event.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by the first SIGTERM or SIGINT while the block runs; the loop checks it between units of work."""
    stop = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals reach the main thread only (a test calling the command in a thread): no handler
        return
    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


__all__ = ["stop_on_signals"]
