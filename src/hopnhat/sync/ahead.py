"""Read-ahead: the items of an iterator computed in a worker thread while the consumer works on the previous ones."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_AHEAD_JOIN_SECONDS = 5.0


def read_ahead(produce: Callable[[], Iterator[T]], depth: int = 1) -> Iterator[T]:
    """The items of ``produce()``, computed in a worker thread up to ``depth`` items ahead of the consumer (``depth``
    wait in the queue, one more is being computed).

    The sync overlaps extraction and normalisation of the next batch with the load of the current one (wherever
    either side waits outside the GIL: the HTTP source answering in its own process, SQLite writing pages, the
    commit's fsync, PostgreSQL's COPY); the HTTP scan of reconciliation fetches the next page while this one is
    checked. The order of the items is kept; an error of the producer is raised here, at the point of the stream
    where it happened; when the consumer stops early the producer stops at its next item and the source iterator
    is closed in its own thread (connections, clients)."""
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(message: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        items = produce()
        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put(("error", exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name="sync-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = slots.get()
            if kind == "item":
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        # A producer stuck in a source call (a retry's back-off) is left to finish on its own: it is a daemon and
        # only ever touches its own connector.
        worker.join(_AHEAD_JOIN_SECONDS)
