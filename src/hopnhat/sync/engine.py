"""The sync engine: extract -> normalise -> remap -> validate -> dedupe -> load, one batch at a time.

Each batch is loaded, its quarantined records kept and the source's cursor moved in ONE transaction, so a process
killed at any moment resumes from the last committed batch (the look-back window re-reads the edge) and ends with
the same store as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, update
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.db import utcnow
from hopnhat.store.models import Dossier
from hopnhat.sync import repository as repo
from hopnhat.sync.connectors.base import RawRecord
from hopnhat.sync.models import QuarantinedRecord, SourceCopy
from hopnhat.sync.remap import Remapper

CURSOR_VERSION = 1
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
HASHED = (*TEXT_FIELDS, "applicant_type", "channel", "status", "received_at", "due_at", "returned_at", "unit")
# UTF-8 Vietnamese read as cp1252 leaves these pairs; none occurs in real Vietnamese text.
_MOJIBAKE = re.compile("á»|áº|Æ°|Æ¡|Ä‘|Ä|Ã[\u0080-\u00bf\u0152-\u2122 ]")


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
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, True
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=VN_TZ)), True
    try:
        parts = _fields(str(value).strip())
        if parts is None:
            return None, False
        return datetime(*parts, tzinfo=VN_TZ), True
    except ValueError:
        return None, False


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def row_hash(values: Mapping[str, Any]) -> str:
    """Hash of the mapped fields (reconciliation compares source and store with it)."""
    plain = [_plain(values.get(k)) for k in HASHED]
    return hashlib.sha256(json.dumps(plain, ensure_ascii=False, default=str).encode()).hexdigest()


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
    seen: dict[str, str] = field(default_factory=dict)
    """source id -> hash of the copy already handled in this run (a repeated identical copy is a duplicate)."""


def normalise(ctx: SourceContext, record: RawRecord) -> Prepared:
    """One source record -> store values, or the reasons it cannot be loaded (all of them, not just the first)."""
    reasons = list(record.problems)
    raw = record.fields
    values: dict[str, Any] = {}
    for key in TEXT_FIELDS:
        value = raw.get(key)
        text = unicodedata.normalize("NFC", str(value).strip()) if value is not None else ""
        if text and _MOJIBAKE.search(text):
            reasons.append(f"wrong encoding in {key}")
        values[key] = text or None
    for key, label in REQUIRED.items():
        if key in values and values[key] is None:
            reasons.append(f"missing {label}")
    for key in ("received_at", "due_at", "returned_at"):
        when, ok = parse_when(raw.get(key))
        values[key] = when
        if not ok:
            reasons.append(f"invalid date in {key}: {str(raw.get(key))[:40]!r}")
        elif key == "received_at" and when is None:
            reasons.append("missing receipt date")
    if values["received_at"] and values["returned_at"] and values["returned_at"] < values["received_at"]:
        reasons.append("returned before received")
    for key, low, high, default in (("status", 1, 10, None), ("channel", 1, 3, 1), ("applicant_type", 1, 4, 1)):
        value = raw.get(key)
        if value is None or value == "":
            if default is None:
                reasons.append(f"missing {key}")
            values[key] = default
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = -1
        if not low <= number <= high:
            reasons.append(f"unknown {key} {str(value)[:40]!r}")
        values[key] = number
    unit_raw = unicodedata.normalize("NFC", str(raw.get("unit") or "").strip())
    values["unit"] = unit_raw or None
    review: list[str] = []
    if not unit_raw:
        reasons.append("missing unit")
    elif values["received_at"] is not None:
        code: str | None = unit_raw
        if raw.get("unit_is_name"):
            code, loose = ctx.remapper.code_for_name(unit_raw, ctx.province_code)
            if loose and code is not None:
                review.append(f"unit name {unit_raw!r} matched {code} only without diacritics")
        received: date = values["received_at"].astimezone(VN_TZ).date()
        mapped = ctx.remapper.remap(code, received) if code else None
        if mapped is None:
            reasons.append(f"unknown unit {unit_raw[:60]!r} on {received}")
        else:
            values["original_unit_code"] = mapped.original_code
            values["unit_code"] = mapped.unit_code
            values["center_code"] = ctx.remapper.centers.get(mapped.unit_code or "")
            if mapped.review:
                review.append(mapped.review)
    if reasons:
        return Prepared(record, None, reasons)
    prepared_hash = row_hash(values)
    values["needs_review"] = bool(review)
    values["review_reason"] = "; ".join(review)[:500] or None
    return Prepared(record, values, [], prepared_hash)


def _dossier_row(ctx: SourceContext, p: Prepared) -> dict[str, Any]:
    v = p.values or {}
    finished = v["returned_at"] if v["status"] in (9, 10) else None
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
        "status": v["status"],
        "received_at": v["received_at"],
        "due_at": v["due_at"],
        "finished_at": finished,
        "returned_at": v["returned_at"] if v["status"] == 10 else None,
        "original_unit_code": v.get("original_unit_code"),
        "original_agency_code": v["agency_code"],
        "unit_code": v.get("unit_code"),
        "center_code": v.get("center_code"),
        "needs_review": v["needs_review"],
        "review_reason": v["review_reason"],
        "origin": "migrated",
        "source_name": ctx.name,
        "row_hash": p.hash,
        "extra": {"source_updated": _stamp(p.record.updated)},
    }


def _stamp(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%S") if when is not None else None


def _quarantine_id(p: Prepared) -> str:
    if p.record.source_id:
        return p.record.source_id[:200]
    digest = hashlib.sha256(json.dumps(p.record.payload, sort_keys=True, default=str).encode()).hexdigest()
    return f"?{digest[:16]}"


def load_batch(session: Session, ctx: SourceContext, batch: list[Prepared], counts: Counts) -> None:
    """Dedupe and load one batch; every record gets exactly one outcome in ``counts``."""
    counts.extracted += len(batch)
    good: list[Prepared] = []
    bad: dict[str, Prepared] = {}
    for p in batch:
        sid = p.record.source_id
        key = p.hash if p.values is not None else "bad:" + ";".join(p.reasons)
        if sid and ctx.seen.get(sid) == key:
            counts.duplicates += 1
            continue
        if sid:
            ctx.seen[sid] = key
        if p.values is None:
            bad[_quarantine_id(p)] = p
            counts.quarantined += 1
        else:
            good.append(p)
    codes = {p.values["code"] for p in good if p.values}
    existing = {row.code: row for row in repo.dossiers_by_code(session, codes)} if codes else {}
    copies = {c.source_id: c for c in repo.copies(session, ctx.name, {p.record.source_id for p in good})}
    copy_rows: dict[str, dict[str, Any]] = {}
    pending: dict[str, dict[str, Any]] = {}
    """code -> the row to write (insert when no id), built up in order so a later copy in the batch wins."""
    for p in good:
        row = _dossier_row(ctx, p)
        code = row["code"]
        current = pending.get(code)
        if current is None and code in existing:
            d = existing[code]
            current = {
                "id": d.id,
                "row_hash": d.row_hash,
                "source_name": d.source_name,
                "extra": d.extra or {},
                "applicant_id_number": d.applicant_id_number,
                "_write": False,
            }
        if current is None:
            row["_write"] = True
            pending[code] = row
            counts.inserted += 1
        elif current.get("source_name") not in (None, ctx.name):
            # Same code in another source: a transferred dossier. The copy updated last wins; both stay as copies.
            if (
                current.get("applicant_id_number") not in (None, row["applicant_id_number"])
                and row["applicant_id_number"]
            ):
                bad[_quarantine_id(p)] = Prepared(
                    p.record, None, [f"dossier code also in source {current['source_name']} for a different applicant"]
                )
                counts.quarantined += 1
                continue
            theirs = (current.get("extra") or {}).get("source_updated") or ""
            if (row["extra"]["source_updated"] or "") > theirs:
                pending[code] = {**row, "id": current.get("id"), "_write": True}
                counts.updated += 1
            else:
                pending.setdefault(code, current)
                counts.duplicates += 1
        elif current.get("row_hash") == row["row_hash"]:
            pending.setdefault(code, current)
            counts.unchanged += 1
        else:
            pending[code] = {**row, "id": current.get("id"), "_write": True}
            counts.updated += 1
        month = row["received_at"].astimezone(VN_TZ).strftime("%Y-%m")
        copy_rows[p.record.source_id] = {
            "source": ctx.name,
            "source_id": p.record.source_id,
            "dossier_code": code,
            "row_hash": p.hash,
            "source_updated": row["extra"]["source_updated"],
            "status": row["status"],
            "unit_code": row["original_unit_code"],
            "received_month": month,
        }
    new_copies = [r for sid, r in copy_rows.items() if sid not in copies]
    if new_copies:
        session.execute(insert(SourceCopy), new_copies)
    changed_copies = [
        {**r, "id": copies[sid].id}
        for sid, r in copy_rows.items()
        if sid in copies and (copies[sid].row_hash, copies[sid].source_updated) != (r["row_hash"], r["source_updated"])
    ]
    if changed_copies:
        session.execute(update(SourceCopy), changed_copies)
    inserts = [
        {k: v for k, v in r.items() if not k.startswith("_") and k != "id"}
        for r in pending.values()
        if r.get("_write") and r.get("id") is None
    ]
    updates = [
        {k: v for k, v in r.items() if not k.startswith("_")} | {"updated_at": utcnow()}
        for r in pending.values()
        if r.get("_write") and r.get("id") is not None
    ]
    if inserts:
        session.execute(insert(Dossier), inserts)
    if updates:
        session.execute(update(Dossier), updates)
    loaded = [p.record.source_id for p in good if p.record.source_id]
    if loaded:
        session.execute(
            update(QuarantinedRecord)
            .where(
                QuarantinedRecord.source == ctx.name,
                QuarantinedRecord.source_id.in_(loaded),
                QuarantinedRecord.state == "open",
            )
            .values(state="resolved", resolved_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    if bad:
        held = {q.source_id: q for q in repo.quarantined(session, ctx.name, set(bad))}
        for sid, p in bad.items():
            payload = json.loads(json.dumps(p.record.payload, ensure_ascii=False, default=str))
            q = held.get(sid)
            if q is None:
                session.add(
                    QuarantinedRecord(
                        source=ctx.name, source_id=sid, run_id=ctx.run_id, payload=payload, reasons=p.reasons
                    )
                )
            else:
                q.payload, q.reasons, q.run_id, q.state, q.resolved_at = payload, p.reasons, ctx.run_id, "open", None
    session.flush()


def batches(records: Iterator[RawRecord], ctx: SourceContext, size: int) -> Iterator[list[Prepared]]:
    batch: list[Prepared] = []
    for record in records:
        batch.append(normalise(ctx, record))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


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
    renew_lock: Callable[[], None] | None = None,
) -> Counts:
    counts = Counts()
    with Session(engine) as session:
        cursor = repo.cursor(session, ctx.name)
        value = cursor.value if cursor and cursor.version == CURSOR_VERSION and not full else None
        since = since_from_cursor(value, lookback_minutes)
    with Session(engine) as session:
        for batch in batches(records_for(since), ctx, batch_size):
            load_batch(session, ctx, batch, counts)
            newest = max((p.record.updated for p in batch if p.record.updated is not None), default=None)
            if newest is not None:
                repo.set_cursor(session, ctx.name, _stamp(newest) or "", CURSOR_VERSION)
            if dry_run:
                session.rollback()
            else:
                session.commit()
            if renew_lock is not None:
                renew_lock()
            if on_batch is not None:
                on_batch(len(batch))
    return counts


__all__ = ["COUNT_KEYS", "Counts", "SourceContext", "load_batch", "normalise", "parse_when", "row_hash", "sync_source"]
