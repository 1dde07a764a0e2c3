"""The process's address converters, shared by the API, the pages and the intake's routing: from the store's
registry when it is loaded (so change sets applied later count), else from the bundled tables; rebuilt only when the
registry changes. Building one reads the whole country (about a second), so it is never done per request.

They are not warmed (:meth:`AddressConverter.warm` takes some 3 s and pays off past tens of thousands of addresses:
``convert-file``'s case). A request converts at most 1,000 addresses, each new one in 20-50 µs."""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.registry.convert import AddressConverter, Conversion, bundled_converter
from hopnhat.registry.models import LineageLink, Unit

_lock = threading.Lock()
"""Held while converting: the converters' memos are shared, and the GIL would serialise the work anyway."""
_store_cache: dict[tuple[object, ...], AddressConverter] = {}


def _converter(session: Session, on: date) -> AddressConverter:
    """Call under ``_lock``. The fingerprint (unit and link counts, the last unit id) is cheap to read."""
    units, max_id = session.execute(select(func.count(), func.max(Unit.id)).select_from(Unit)).one()
    if not units:
        return bundled_converter(on)
    links = session.scalar(select(func.count()).select_from(LineageLink))
    bind = session.get_bind()
    key = (str(bind.engine.url), units, max_id, links, on)
    conv = _store_cache.get(key)
    if conv is None:
        conv = AddressConverter.from_store(session, on).settle()
        if len(_store_cache) > 16:
            _store_cache.clear()
        _store_cache[key] = conv
    return conv


def convert_one(session: Session, text: str, on: date) -> Conversion:
    """Convert one address as the API does (the pages and the officer's intake call this)."""
    with _lock:
        return _converter(session, on).convert(text)


def convert_many(session: Session, texts: list[str], on: date) -> list[Conversion]:
    """Convert a batch in order, under one hold of the lock."""
    with _lock:
        conv = _converter(session, on)
        return [conv.convert(t) for t in texts]


__all__ = ["convert_many", "convert_one"]
