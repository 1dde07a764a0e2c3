"""The sync engine: extract -> normalise -> remap -> validate -> dedupe -> load, one batch at a time.

Each batch is loaded, its quarantined records kept and the source's cursor moved in ONE transaction, so a process
killed at any moment resumes from the last committed batch (the look-back window re-reads the edge) and ends with
the same store as an uninterrupted run.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
import xxhash
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.db import utcnow
from hopnhat.store.models import Dossier, IdType
from hopnhat.sync import repository as repo
from hopnhat.sync.ahead import read_ahead
from hopnhat.sync.connectors.base import RawRecord, row_digest
from hopnhat.sync.models import QuarantinedRecord
from hopnhat.sync.remap import Remapper

CURSOR_VERSION = 2
"""Stored with every source's cursor; a cursor of another version is ignored, so the next run reads the source whole.
Bump it with :data:`RAW_CHECK_VERSION` whenever :func:`row_hash` or the digests change: only a record the sync reads
again gets its copy rewritten with the new hashes, and a copy left with the old ones would be reported ``changed``
by every reconciliation (2: XXH3-128 instead of SHA-256)."""
COUNT_KEYS = ("extracted", "inserted", "updated", "unchanged", "quarantined", "duplicates")
REQUIRED = {"code": "dossier code", "procedure_code": "procedure code", "received_at": "receipt date"}
TEXT_FIELDS = (
    "code",
    "procedure_code",
    "procedure_name",
    "field_code",
    "applicant_name",
    "applicant_id_number",
    "applicant_phone",
    "applicant_address",
    "agency_code",
)
# UTF-8 Vietnamese read as cp1252 or latin-1: every precomposed letter is C3..C6 + one continuation byte
# (Ã Ä Å Æ + x) or E1 BA/BB + one (áº x, á» x); x is a byte 80..BF as either code page shows it, or U+FFFD for the
# bytes cp1252 leaves undefined (Á Í Ý Đ). Ä Å Æ are no Vietnamese letters, so a space after them (a NBSP of Ơ
# squeezed) or the end (a NBSP stripped) counts too; Ã is one (NGÃ BA), so only continuations count after it, and
# no letter is followed by º or ». tests/sync/test_normalise.py checks both directions over the whole alphabet.
_CONTINUATION = re.escape(
    "".join(sorted({chr(b) for b in range(0x80, 0xC0)} | set(bytes(range(0x80, 0xC0)).decode("cp1252", "replace"))))
)
# One literal lead per branch: the regex engine then skips ahead to those characters (a leading class instead
# makes clean text, the common case, about twice as slow to scan).
_MOJIBAKE = re.compile(
    f"Ã[{_CONTINUATION}]|Ä(?:[{_CONTINUATION} ]|$)|Å(?:[{_CONTINUATION} ]|$)|Æ(?:[{_CONTINUATION} ]|$)"
    f"|áº[{_CONTINUATION}]|á»[{_CONTINUATION}]"
)
_nfc = unicodedata.normalize


def _fields(text: str) -> tuple[int, int, int, int, int, int] | None:
    """Year, month, day, hour, minute, second of the layouts the sources use, by position (strptime is the
    slowest step of a sync otherwise)."""
    n = len(text)
    if n == 14 and text.isdigit():  # yyyyMMddHHmmss
        return (int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:]))
    if n in (10, 19) and text[2] == "/" and text[5] == "/":  # dd/mm/yyyy[ HH:MM:SS]
        time = (int(text[11:13]), int(text[14:16]), int(text[17:19])) if n == 19 else (0, 0, 0)
        return (int(text[6:10]), int(text[3:5]), int(text[:2]), *time)
    if n in (10, 19) and text[4] == "-" and text[7] == "-":  # yyyy-mm-dd[ HH:MM:SS]
        time = (int(text[11:13]), int(text[14:16]), int(text[17:19])) if n == 19 else (0, 0, 0)
        return (int(text[:4]), int(text[5:7]), int(text[8:10]), *time)
    return None


def parse_when(value: Any) -> tuple[datetime | None, bool]:
    """Source local time -> aware Asia/Ho_Chi_Minh; second value False when a value is present but impossible."""
    if value is None:
        return None, True
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=VN_TZ)), True
    text = (value if isinstance(value, str) else str(value)).strip()
    if not text:
        return None, True
    try:
        parts = _fields(text)
        if parts is None:
            return None, False
        return datetime(*parts, tzinfo=VN_TZ), True
    except ValueError:
        return None, False


def _instant(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


def row_hash(values: Mapping[str, Any]) -> str:
    """Hash of the mapped fields (reconciliation compares source and store with it).

    The values (texts, numbers, ``None``) are serialised with orjson (C, unambiguous, see
    :func:`~hopnhat.sync.connectors.base.row_digest`), the aware datetimes as their POSIX instants: ``repr`` of a
    tuple holding aware datetimes spelt out the zone on every call and cost a quarter of the normalisation. XXH3-128
    (32 hex digits), like the digests: it detects change, and it is cheap enough to compute for every record."""
    get = values.get
    key = (
        *map(get, TEXT_FIELDS),
        get("applicant_type"),
        get("channel"),
        get("status"),
        _instant(get("received_at")),
        _instant(get("due_at")),
        _instant(get("returned_at")),
        get("unit"),
    )
    extra = get("newer_fields")
    if extra is not None:
        # Only mappings that fill the newer fields hash them: the copies of every other source keep their hashes.
        email, id_type, documents, submitted = extra
        key = (*key, email, id_type, documents, _instant(submitted))
    return xxhash.xxh3_128_hexdigest(orjson.dumps(key))


RAW_CHECK_VERSION = 5
"""Part of every :func:`raw_check`. Bump it when :func:`normalise` or a connector maps the same source record to
different values (a new rule, a changed hash): every stored check then misses, so reconciliation normalises every
record again instead of trusting values an older mapping computed."""

_CHECK_PREFIX = f"hopnhat-raw-check-{RAW_CHECK_VERSION}:".encode()


def record_digest(record: RawRecord) -> bytes:
    """The connector's digest of the record as the source holds it, or, from a connector that gives none, one of
    everything :func:`normalise` reads of it (``fields`` and ``problems``)."""
    return record.digest or row_digest((record.fields, record.problems))


def raw_check(digest: bytes, row_hash: str, status: int | None, unit_code: str | None, month: str | None) -> str:
    """What a copy stores of its source record (``raw_hash``): the record's digest (:func:`record_digest`) sealed
    with :data:`RAW_CHECK_VERSION` and with what the load stored from it in the copy row.

    Reconciliation computes it from the record the source holds now and the copy row as stored: equal means the
    source still holds the record as it was loaded AND the copy's mapped hash and reconciled columns are still the
    ones computed from it (an edited copy misses), so normalising it again is skipped; a change on either side
    misses and falls back to the full comparison."""
    # As text: a hex hash, a number, unit digits, ``yyyy-mm`` (or None), none of which holds a "|"; None and the text
    # "None" read the same, and no unit code or month is that text.
    sealed = f"{row_hash}|{status}|{unit_code}|{month}".encode()
    return xxhash.xxh3_128_hexdigest(_CHECK_PREFIX + digest + sealed)


@dataclass(slots=True)
class Prepared:
    record: RawRecord
    values: dict[str, Any] | None
    reasons: list[str]
    hash: str = ""


@dataclass(slots=True)
class Counts:
    extracted: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    duplicates: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: int(getattr(self, k)) for k in COUNT_KEYS}


@dataclass(slots=True)
class SourceContext:
    name: str
    province_code: str
    remapper: Remapper
    run_id: int | None
    seen: dict[str, int] = field(default_factory=dict)
    """source id -> Python hash of the outcome key of the copy already handled in this run (a repeated identical
    copy is a duplicate); an int, not the hex digest, keeps a million-record source in a few hundred MB."""
    open_quarantine: set[str] | None = None
    """Source ids with an open quarantine entry, read once per run (None until the first batch): only those need
    resolving when a clean copy loads, instead of an UPDATE over every loaded id of every batch."""
    months: dict[tuple[int, int], str] = field(default_factory=dict)
    """(year, month) -> "yyyy-mm" of the copies' receipt months."""
    when_cache: dict[str, tuple[datetime | None, bool]] = field(default_factory=dict)
    """Date text -> :func:`parse_when` of it. Due dates repeat (a thousand distinct ones in 200k dossiers), and
    building an aware datetime is a good part of normalising a record. Cleared when it reaches
    ``_WHEN_CACHE_MAX``, so sources of unique stamps cost a dict insert per value, not unbounded memory."""


_INT_RULES = (("status", 1, 10, None), ("channel", 1, 3, 1), ("applicant_type", 1, 4, 1))
_WHEN_CACHE_MAX = 65_536


_LENGTHS = {
    key: Dossier.__table__.columns["original_agency_code" if key == "agency_code" else key].type.length  # type: ignore[attr-defined]
    for key in TEXT_FIELDS
}
_ID_LENGTH = 200  # SourceCopy.source_id


def normalise(ctx: SourceContext, record: RawRecord) -> Prepared:
    """One source record -> store values, or the reasons it cannot be loaded (all of them, not just the first)."""
    reasons = list(record.problems)
    if len(record.source_id) > _ID_LENGTH:
        reasons.append(f"source id longer than {_ID_LENGTH} characters (the store refuses it)")
    raw = record.fields
    values: dict[str, Any] = {}
    for key in TEXT_FIELDS:
        value = raw.get(key)
        if value is None:
            values[key] = None
            continue
        text = (value if isinstance(value, str) else str(value)).strip()
        # ASCII is NFC and cannot hold mojibake: most codes and numbers skip both checks.
        if "\x00" in text:
            # PostgreSQL refuses NUL in text: the record is quarantined with the reason, the source goes on.
            reasons.append(f"NUL byte in {key} (the store refuses it)")
            text = text.replace("\x00", "")
        if text and not text.isascii():
            text = _nfc("NFC", text)
            if _MOJIBAKE.search(text):
                reasons.append(f"wrong encoding in {key}")
        if len(text) > _LENGTHS[key]:
            # The store's column would refuse it (PostgreSQL) or keep it whole against its width (SQLite).
            reasons.append(f"{key} longer than {_LENGTHS[key]} characters (the store refuses it)")
        values[key] = text or None
    for key, label in REQUIRED.items():
        if key in values and values[key] is None:
            reasons.append(f"missing {label}")
    when_cache = ctx.when_cache
    for key in ("received_at", "due_at", "returned_at"):
        raw_when = raw.get(key)
        if type(raw_when) is str:
            parsed = when_cache.get(raw_when)
            if parsed is None:
                if len(when_cache) >= _WHEN_CACHE_MAX:
                    when_cache.clear()
                parsed = when_cache[raw_when] = parse_when(raw_when)
            when, ok = parsed
        else:
            when, ok = parse_when(raw_when)
        values[key] = when
        if not ok:
            reasons.append(f"invalid date in {key}: {str(raw_when)[:40]!r}")
        elif key == "received_at" and when is None:
            reasons.append("missing receipt date")
    received_at, returned_at = values["received_at"], values["returned_at"]
    if received_at and returned_at and returned_at < received_at:
        reasons.append("returned before received")
    for key, low, high, default in _INT_RULES:
        value = raw.get(key)
        if value is None or value == "":
            if default is None:
                reasons.append(f"missing {key}")
            values[key] = default
            continue
        if type(value) is int:
            number = value
        else:
            try:
                number = int(value)
            except (TypeError, ValueError):
                number = -1
        if not low <= number <= high:
            reasons.append(f"unknown {key} {_nfc('NFC', str(value))[:40]!r}")
        values[key] = number
    unit_value = raw.get("unit")
    unit_raw = str(unit_value).strip() if unit_value else ""
    if unit_raw and not unit_raw.isascii():
        unit_raw = _nfc("NFC", unit_raw)
    values["unit"] = unit_raw or None
    review: list[str] = []
    if not unit_raw:
        reasons.append("missing unit")
    elif received_at is not None:
        code: str | None = unit_raw
        if raw.get("unit_is_name"):
            code, loose = ctx.remapper.code_for_name(unit_raw, ctx.province_code)
            if loose and code is not None:
                review.append(f"unit name {unit_raw!r} matched {code} only without diacritics")
        local = received_at if received_at.tzinfo is VN_TZ else received_at.astimezone(VN_TZ)
        received: date = local.date()
        mapped = ctx.remapper.remap(code, received) if code else None
        if mapped is None:
            reasons.append(f"unknown unit {unit_raw[:60]!r} on {received}")
        else:
            values["original_unit_code"] = mapped.original_code
            values["unit_code"] = mapped.unit_code
            values["center_code"] = ctx.remapper.centers.get(mapped.unit_code or "")
            if mapped.review:
                review.append(mapped.review)
    if _EXTRA_FIELDS & raw.keys():
        _extra_fields(raw, values, reasons, when_cache)
    if reasons:
        return Prepared(record, None, reasons)
    prepared_hash = row_hash(values)
    values["needs_review"] = bool(review)
    values["review_reason"] = "; ".join(review)[:500] or None
    return Prepared(record, values, [], prepared_hash)


_EXTRA_FIELDS = frozenset({"applicant_email", "applicant_id_type", "digitised_documents", "submitted_at"})
_ID_TYPES = frozenset(t.value for t in IdType)


def _extra_fields(raw: Mapping[str, Any], values: dict[str, Any], reasons: list[str], cache: dict[str, Any]) -> None:
    """The canonical fields the officer's workspace and the portal need beyond the formats of the three former
    systems (only mappings that fill them pay for them, and only their copies hash them)."""
    email = str(raw.get("applicant_email") or "").strip()
    if email and ("@" not in email or len(email) > 254 or "\x00" in email):
        reasons.append(f"invalid applicant_email {email[:40]!r}")
    id_type = str(raw.get("applicant_id_type") or "").strip()
    if id_type and id_type not in _ID_TYPES:
        reasons.append(f"unknown applicant_id_type {id_type[:40]!r}")
    documents = raw.get("digitised_documents")
    try:
        count = int(documents) if documents not in (None, "") else 0
    except (TypeError, ValueError):
        count = -1
    if count < 0:
        reasons.append(f"invalid digitised_documents {str(documents)[:40]!r}")
    submitted, ok = parse_when(raw.get("submitted_at"))
    if not ok:
        reasons.append(f"invalid date in submitted_at: {str(raw.get('submitted_at'))[:40]!r}")
    values["newer_fields"] = (email or None, id_type or None, max(count, 0), submitted)


def _dossier_row(ctx: SourceContext, p: Prepared, stamp: str | None, now: datetime) -> dict[str, Any]:
    v = p.values or {}
    status = v["status"]
    return {
        "code": v["code"],
        "province_code": ctx.province_code,
        "procedure_code": v["procedure_code"],
        "procedure_name": v["procedure_name"],
        "field_code": v["field_code"],
        "applicant_type": v["applicant_type"],
        "applicant_name": v["applicant_name"],
        "applicant_id_number": v["applicant_id_number"],
        "applicant_phone": v["applicant_phone"],
        "applicant_address": v["applicant_address"],
        "channel": v["channel"],
        "status": status,
        "received_at": v["received_at"],
        "due_at": v["due_at"],
        "finished_at": v["returned_at"] if status in (9, 10) else None,
        "returned_at": v["returned_at"] if status == 10 else None,
        "original_unit_code": v.get("original_unit_code"),
        "original_agency_code": v["agency_code"],
        "unit_code": v.get("unit_code"),
        "center_code": v.get("center_code"),
        "needs_review": v["needs_review"],
        "review_reason": v["review_reason"],
        "origin": "migrated",
        **_extra_row(v.get("newer_fields")),
        "source_name": ctx.name,
        "row_hash": p.hash,
        "extra": {"source_updated": stamp},
        "updated_at": now,
    }


def _extra_row(extra: tuple[Any, ...] | None) -> dict[str, Any]:
    if extra is None:
        return {}
    email, id_type, documents, submitted = extra
    return {
        "applicant_email": email,
        "applicant_id_type": id_type,
        "digitised_documents": documents,
        "submitted_at": submitted,
    }


def receipt_month(received_at: datetime, months: dict[tuple[int, int], str]) -> str:
    """ "yyyy-mm" of a receipt time in Vietnam, the month a copy is counted in; ``months`` keeps the texts made."""
    local = received_at if received_at.tzinfo is VN_TZ else received_at.astimezone(VN_TZ)
    month = months.get((local.year, local.month))
    if month is None:
        month = months[(local.year, local.month)] = f"{local.year:04d}-{local.month:02d}"
    return month


def _stamp(when: datetime | None) -> str | None:
    # isoformat is several times faster than strftime; sources give whole seconds, drop any fraction all the same.
    return when.isoformat(timespec="seconds")[:19] if when is not None else None


def _quarantine_id(p: Prepared) -> str:
    if p.record.source_id:
        return p.record.source_id[:200]
    digest = hashlib.sha256(json.dumps(p.record.payload, sort_keys=True, default=str).encode()).hexdigest()
    return f"?{digest[:16]}"


@dataclass(slots=True)
class _Target:
    """What a batch will leave in the store for one dossier code: ``at`` is the index of the staged record whose row
    goes in, None keeps the stored row as it is."""

    id: int | None
    row_hash: str | None
    source_name: str | None
    source_updated: str
    applicant_id_number: str | None
    at: int | None


@dataclass(slots=True)
class Staged:
    """A batch made ready for the store without touching it: within-source duplicates counted, quarantined records
    set aside, and for every clean record its dossier row, its copy row and both in the driver's insert form.

    Staging is most of a batch's work and runs outside the store's write gate (:func:`repository.write_gate`), in
    the read-ahead thread, while other sources' processes write; :func:`apply_batch` inside the gate is left with
    the lookups, the decisions and the writes."""

    size: int
    duplicates: int
    good: list[Prepared]
    bad: dict[str, Prepared]
    rows: list[dict[str, Any]]
    """Dossier row per record of ``good``."""
    copies: list[dict[str, Any]]
    """Copy row per record of ``good``."""
    encoded_rows: list[list[Any]]
    encoded_copies: list[list[Any]]
    now: datetime
    newest: datetime | None
    """Latest source update time in the batch: the cursor it moves to."""


class _Encoders:
    """Per-source encoders of rows into the driver's insert form (see :func:`repository.row_encoder`)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.rows: Callable[[Mapping[str, Any]], list[Any]] | None = None
        self.copies: Callable[[Mapping[str, Any]], list[Any]] | None = None


def stage_batch(ctx: SourceContext, batch: list[Prepared], encoders: _Encoders) -> Staged:
    """Everything of a batch's load that needs no store: see :class:`Staged`."""
    good: list[Prepared] = []
    bad: dict[str, Prepared] = {}
    duplicates = 0
    seen = ctx.seen
    for p in batch:
        sid = p.record.source_id
        key = hash(p.hash if p.values is not None else "bad:" + ";".join(p.reasons))
        if sid and seen.get(sid) == key:
            duplicates += 1
            continue
        if sid:
            seen[sid] = key
        if p.values is None:
            bad[_quarantine_id(p)] = p
        else:
            good.append(p)
    now = utcnow()
    months = ctx.months
    rows: list[dict[str, Any]] = []
    copies: list[dict[str, Any]] = []
    for p in good:
        v = p.values or {}
        stamp = _stamp(p.record.updated)
        row = _dossier_row(ctx, p, stamp, now)
        row["created_at"] = now
        rows.append(row)
        month = receipt_month(v["received_at"], months)
        unit = v.get("original_unit_code")
        copies.append(
            {
                "source": ctx.name,
                "source_id": p.record.source_id,
                "dossier_code": v["code"],
                "row_hash": p.hash,
                "raw_hash": raw_check(record_digest(p.record), p.hash, v["status"], unit, month),
                "source_updated": stamp,
                "status": v["status"],
                "unit_code": unit,
                "received_month": month,
            }
        )
    encoded_rows: list[list[Any]] = []
    encoded_copies: list[list[Any]] = []
    if rows:
        if encoders.rows is None:
            encoders.rows = repo.row_encoder(repo.DOSSIERS, list(rows[0]), encoders.dialect)
            encoders.copies = repo.row_encoder(repo.COPIES, list(copies[0]), encoders.dialect)
        encode_row, encode_copy = encoders.rows, encoders.copies
        assert encode_copy is not None
        encoded_rows = [encode_row(r) for r in rows]
        encoded_copies = [encode_copy(c) for c in copies]
    newest = max((p.record.updated for p in batch if p.record.updated is not None), default=None)
    return Staged(len(batch), duplicates, good, bad, rows, copies, encoded_rows, encoded_copies, now, newest)


def apply_batch(session: Session, ctx: SourceContext, staged: Staged, counts: Counts) -> None:
    """Dedupe across sources and load one staged batch; every record gets exactly one outcome in ``counts``.

    A batch costs a fixed handful of statements whatever its size: one lookup of the stored dossiers and copies by
    key, then one executemany per kind of write (Core, not ORM units of work)."""
    counts.extracted += staged.size
    counts.duplicates += staged.duplicates
    counts.quarantined += len(staged.bad)
    good, bad, now = staged.good, dict(staged.bad), staged.now
    if ctx.open_quarantine is None:
        ctx.open_quarantine = repo.open_quarantine_ids(session, ctx.name)
    heads = {h.code: h for h in repo.dossier_heads(session, {p.values["code"] for p in good if p.values})}
    existing = {
        code: _Target(h.id, h.row_hash, h.source_name, h.source_updated or "", h.applicant_id_number, None)
        for code, h in heads.items()
    }
    stored_copies = repo.copy_heads(session, ctx.name, {p.record.source_id for p in good})
    pending: dict[str, _Target] = {}
    """code -> what to leave in the store, built up in order so a later copy in the batch wins."""
    kept_copies: dict[str, int] = {}
    """source id -> index in ``good`` of its copy row (the last copy of the id in the batch)."""
    for i, p in enumerate(good):
        v = p.values or {}
        code = v["code"]
        stamp = staged.rows[i]["extra"]["source_updated"]
        applicant = v["applicant_id_number"]
        current = pending.get(code) or existing.get(code)
        if current is None:
            pending[code] = _Target(None, p.hash, ctx.name, stamp or "", applicant, i)
            counts.inserted += 1
        elif current.source_name not in (None, ctx.name):
            # Same code in another source: a transferred dossier. The copy updated last wins; both stay as copies.
            if current.applicant_id_number not in (None, applicant) and applicant:
                bad[_quarantine_id(p)] = Prepared(
                    p.record, None, [f"dossier code also in source {current.source_name} for a different applicant"]
                )
                counts.quarantined += 1
                continue
            # Equal update times (the same dossier copied between systems at once) go to the source whose name
            # sorts first, so the store does not depend on which source's process reached the gate first.
            newer = stamp or ""
            if newer > current.source_updated or (
                newer == current.source_updated and ctx.name < (current.source_name or "")
            ):
                pending[code] = _Target(current.id, p.hash, ctx.name, stamp or "", applicant, i)
                counts.updated += 1
            else:
                pending.setdefault(code, current)
                counts.duplicates += 1
        elif current.row_hash == p.hash:
            pending.setdefault(code, current)
            counts.unchanged += 1
        else:
            pending[code] = _Target(current.id, p.hash, ctx.name, stamp or "", applicant, i)
            counts.updated += 1
        kept_copies[p.record.source_id] = i
    new_copies: list[int] = []
    changed_copies: list[dict[str, Any]] = []
    for sid, i in kept_copies.items():
        copy = staged.copies[i]
        stored = stored_copies.get(sid)
        if stored is None:
            new_copies.append(i)
        elif (stored.row_hash, stored.source_updated, stored.raw_hash) != (
            copy["row_hash"],
            copy["source_updated"],
            copy["raw_hash"],
        ):
            # A copy is rewritten when its raw check moved too (a source edit the mapping ignores): left stale, it
            # would send that record down reconciliation's slow path on every run. Its key (source, source id)
            # is the one it was found by, and an unchanged dossier code is left out too: see update_dossiers.
            fixed = {"source", "source_id"}
            if stored.dossier_code == copy["dossier_code"]:
                fixed.add("dossier_code")
            changed_copies.append({k: v for k, v in copy.items() if k not in fixed} | {"id": stored.id})
    _insert(session, repo.COPIES, staged.copies, staged.encoded_copies, new_copies)
    repo.update_copies(session, changed_copies)
    inserts: list[int] = []
    updates: list[dict[str, Any]] = []
    for target in pending.values():
        if target.at is None:
            continue
        if target.id is None:
            inserts.append(target.at)
        else:
            row = staged.rows[target.at]
            # The code is the one the row was found by; province and receipt time are indexed, so they are set
            # only when they changed (see repository.update_dossiers).
            head = heads[row["code"]]
            skip = {"created_at", "code"}
            if head.province_code == row["province_code"]:
                skip.add("province_code")
            if head.received_at == row["received_at"]:
                skip.add("received_at")
            updates.append({k: v for k, v in row.items() if k not in skip} | {"id": target.id})
    _insert(session, repo.DOSSIERS, staged.rows, staged.encoded_rows, inserts)
    repo.update_dossiers(session, updates)
    held = ctx.open_quarantine
    resolved = [p.record.source_id for p in good if p.record.source_id in held]
    if resolved:
        repo.resolve_quarantine(session, ctx.name, resolved, now)
        held.difference_update(resolved)
    if bad:
        kept = {q.source_id: q for q in repo.quarantined(session, ctx.name, set(bad))}
        for sid, p in bad.items():
            payload = json.loads(json.dumps(p.record.payload, ensure_ascii=False, default=str))
            q = kept.get(sid)
            if q is None:
                session.add(
                    QuarantinedRecord(
                        source=ctx.name, source_id=sid, run_id=ctx.run_id, payload=payload, reasons=p.reasons
                    )
                )
            else:
                q.payload, q.reasons, q.run_id, q.state, q.resolved_at = payload, p.reasons, ctx.run_id, "open", None
        held.update(bad)
    session.flush()


def _insert(
    session: Session, table: Any, rows: list[dict[str, Any]], encoded: list[list[Any]], picked: list[int]
) -> None:
    """Insert the staged rows ``picked`` (indexes), in the driver's form they were staged in."""
    if picked:
        repo.insert_encoded(session, table, list(rows[picked[0]]), [encoded[i] for i in picked])


def batches(records: Iterator[RawRecord], ctx: SourceContext, size: int) -> Iterator[list[Prepared]]:
    batch: list[Prepared] = []
    for record in records:
        batch.append(normalise(ctx, record))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def staged_batches(
    records: Iterator[RawRecord], ctx: SourceContext, size: int, encoders: _Encoders
) -> Iterator[Staged]:
    for batch in batches(records, ctx, size):
        yield stage_batch(ctx, batch, encoders)


def _refusals() -> tuple[type[BaseException], ...]:
    """What a refused row raises: SQLAlchemy's wrapper, or the driver's own error from a bulk COPY on PostgreSQL."""
    try:
        import psycopg
    except ImportError:
        return (DBAPIError,)
    return (DBAPIError, psycopg.Error)


REFUSED = _refusals()


def _one_by_one(staged: Staged) -> Iterator[Staged]:
    """The batch as batches of one record each (its quarantined records together, first)."""
    size, duplicates = staged.size - len(staged.good), staged.duplicates
    yield Staged(size, duplicates, [], dict(staged.bad), [], [], [], [], staged.now, None)
    for i, p in enumerate(staged.good):
        rows, copies = [staged.rows[i]], [staged.copies[i]]
        encoded_rows, encoded_copies = [staged.encoded_rows[i]], [staged.encoded_copies[i]]
        yield Staged(1, 0, [p], {}, rows, copies, encoded_rows, encoded_copies, staged.now, None)


def _apply_or_quarantine(session: Session, ctx: SourceContext, part: Staged, counts: Counts) -> None:
    before = Counts(**counts.as_dict())
    try:
        with session.begin_nested():
            apply_batch(session, ctx, part, counts)
        return
    except REFUSED as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        refused = (str(cause).splitlines() or [type(exc).__name__])[0][:300]
    ctx.open_quarantine = None
    for key in COUNT_KEYS:
        setattr(counts, key, getattr(before, key))
    bad = {_quarantine_id(p): Prepared(p.record, None, [f"the store refused it: {refused}"]) for p in part.good}
    apply_batch(session, ctx, Staged(part.size, 0, [], bad, [], [], [], [], part.now, None), counts)


_GC_LOCK = threading.Lock()
_gc_users = 0
_gc_before: tuple[int, int, int] = (0, 0, 0)
_GC_THRESHOLD0 = 100_000
"""Allocations between young-generation collections while a sync runs (CPython's default is 700). A sync allocates
several containers per record (payload, fields, values, rows) that all live until their batch commits, so at the
default the collector keeps traversing (and promoting, and traversing again in the older generations) live batch
objects that are never garbage: some 15 % of a sync's CPU on the 200k benchmark. Cyclic garbage is still
collected, in fewer and larger passes."""


@contextmanager
def _paced_collector() -> Iterator[None]:
    """Raise the collector's first threshold for the duration (process-wide, so counted: overlapping syncs in one
    process put back the original thresholds only when the last one ends)."""
    global _gc_users, _gc_before
    with _GC_LOCK:
        if _gc_users == 0:
            _gc_before = gc.get_threshold()
            if _gc_before[0] and _gc_before[0] < _GC_THRESHOLD0:
                gc.set_threshold(_GC_THRESHOLD0, *_gc_before[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_users -= 1
            if _gc_users == 0 and gc.get_threshold()[0] == _GC_THRESHOLD0 != _gc_before[0]:
                gc.set_threshold(*_gc_before)


def since_from_cursor(value: str | None, lookback_minutes: float) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value) - timedelta(minutes=lookback_minutes)


def sync_source(
    engine: Engine,
    ctx: SourceContext,
    records_for: Callable[[datetime | None], Iterator[RawRecord]],
    *,
    batch_size: int,
    lookback_minutes: float,
    dry_run: bool,
    full: bool = False,
    on_batch: Callable[[int], None] | None = None,
    renew_lock: Callable[[Session], None] | None = None,
) -> Counts:
    counts = Counts()
    with Session(engine) as session:
        cursor = repo.cursor(session, ctx.name)
        value = cursor.value if cursor and cursor.version == CURSOR_VERSION and not full else None
        since = since_from_cursor(value, lookback_minutes)
    # One connection for the whole source, so the page cache widened for the bulk load (and the pages it holds)
    # stays with the batches instead of going back to the pool at every commit.
    encoders = _Encoders(engine.dialect.name)
    with _paced_collector(), engine.connect() as conn, repo.bulk_page_cache(conn), Session(bind=conn) as session:
        for staged in read_ahead(lambda: staged_batches(records_for(since), ctx, batch_size, encoders)):
            # Several processes (one per source) share the store: the gate makes each batch's lookups and writes
            # one atomic step, so two sources never both insert a dossier code the other is inserting.
            with repo.write_gate(session):
                before = Counts(**counts.as_dict())
                try:
                    apply_batch(session, ctx, staged, counts)
                except REFUSED:
                    # The store refused a row of the batch (a value no check foresaw): the batch again, one record
                    # at a time, each refused record quarantined with the store's reason; the source goes on.
                    session.rollback()
                    counts = before
                    ctx.open_quarantine = None
                    for part in _one_by_one(staged):
                        _apply_or_quarantine(session, ctx, part, counts)
                if staged.newest is not None:
                    repo.set_cursor(session, ctx.name, _stamp(staged.newest) or "", CURSOR_VERSION)
                if dry_run:
                    session.rollback()
                # The source's lock is extended in the batch's own write: a transaction of its own would be one more
                # writer for SQLite to serialise, outside the gate.
                if renew_lock is not None:
                    renew_lock(session)
                session.commit()
            if on_batch is not None:
                on_batch(staged.size)
    return counts


__all__ = [
    "COUNT_KEYS",
    "Counts",
    "SourceContext",
    "Staged",
    "apply_batch",
    "normalise",
    "parse_when",
    "raw_check",
    "receipt_month",
    "record_digest",
    "row_hash",
    "stage_batch",
    "sync_source",
]
