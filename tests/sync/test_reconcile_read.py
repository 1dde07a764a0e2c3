"""Reconciliation reads a source in chunks (``Scan``) and checks each chunk at once; which record of an id counts,
and which records are normalised again, must not depend on how the source was cut into chunks."""

from __future__ import annotations

import random
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from hopnhat.sync import reconcile
from hopnhat.sync.connectors.base import Scan

Record = tuple[str, str, bytes, bool]
"""source id, update stamp, digest, whether the sync would quarantine it."""


def _fake_normalise(_ctx: Any, record: Record) -> SimpleNamespace:
    sid, stamp, digest, quarantined = record
    if quarantined:
        return SimpleNamespace(values=None, hash="")
    values = {"status": 1, "original_unit_code": "u", "received_at": stamp}
    return SimpleNamespace(values=values, hash=f"{sid}|{stamp}|{digest!r}")


def _rule(records: list[Record], stored: dict[str, tuple[Any, ...]], deep: bool) -> tuple[Any, ...]:
    """The rule, one record at a time in source order: records without an id are skipped; of the records of an id,
    the one with the latest stamp counts, and of equal stamps the later one; a record whose check matches its stored
    copy is not normalised (unless ``deep``); an entry made for an earlier record of the id is dropped when a later
    one counts."""
    stamps: dict[str, str] = {}
    entries: dict[str, Any] = {}
    normalised = 0
    for sid, stamp, digest, quarantined in records:
        if not sid:
            continue
        if sid in stamps:
            if stamp < stamps[sid]:
                continue
            entries.pop(sid, None)
        stamps[sid] = stamp
        copy = stored.get(sid)
        if not deep and copy is not None and copy[1] is not None and copy[1] == digest:
            continue
        normalised += 1
        entries[sid] = reconcile._QUARANTINED if quarantined else (f"{sid}|{stamp}|{digest!r}", "1", "u", "m" + stamp)
    return stamps, entries, normalised


def _chunks(records: list[Record], rng: random.Random) -> Iterator[Scan]:
    i = 0
    while i < len(records):
        chunk = records[i : i + rng.randint(1, 6)]
        i += len(chunk)
        yield Scan([r[0] for r in chunk], [r[1] for r in chunk], [r[2] for r in chunk], lambda k, chunk=chunk: chunk[k])


def test_the_latest_record_of_an_id_counts_however_the_source_is_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconcile, "normalise", _fake_normalise)
    monkeypatch.setattr(reconcile, "raw_check", lambda digest, *_: digest)
    monkeypatch.setattr(reconcile, "receipt_month", lambda received, _months: "m" + received)
    for case in range(3000):
        rng = random.Random(case)
        ids = ["", "a", "b", "c", "d", "e"][: rng.randint(1, 6)]
        records = [
            (rng.choice(ids), rng.choice(["", "1", "2", "3"]), rng.choice([b"x", b"y", b"z"]), rng.random() < 0.15)
            for _ in range(rng.randint(0, 14))
        ]
        stored = {sid: ("", rng.choice([None, b"x", b"y"]), "h", 1, "u", "m") for sid in ids[1:] if rng.random() < 0.7}
        deep = rng.random() < 0.2
        found = reconcile._read(None, _chunks(records, rng), stored, deep)  # type: ignore[arg-type]
        assert found == _rule(records, stored, deep), (case, records, stored, deep)
