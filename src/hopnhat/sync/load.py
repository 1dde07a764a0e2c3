"""Stage 2 of the sync, load: the rules of a batch (duplicates within a source, a transferred dossier held by two
sources: the copy updated last wins, a different applicant is quarantined), staged without the store, then applied
in a fixed handful of statements. Writes in the caller's transaction; never commits (see :mod:`hopnhat.sync.jobs`).
The backend (driver encoders, bulk COPY, the write gate, SQLite's page cache) is :mod:`hopnhat.sync.repository`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.db import utcnow
from hopnhat.sync import repository as repo
from hopnhat.sync import steward_repo
from hopnhat.sync.connectors.base import RawRecord
from hopnhat.sync.models import QuarantinedRecord
from hopnhat.sync.normalise import (
    Prepared,
    SourceContext,
    normalise,
    plain_payload,
    raw_check,
    record_digest,
)

COUNT_KEYS = ("extracted", "inserted", "updated", "unchanged", "quarantined", "duplicates")


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


def _dossier_row(ctx: SourceContext, p: Prepared, stamp: str | None, now: datetime) -> dict[str, Any]:
    v = p.values or {}
    status = v["status"]
    return {
        "code": v["code"],
        "province_code": ctx.serving_province(),
        "former_province_code": ctx.province_code,
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


def stamp_text(when: datetime | None) -> str | None:
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


class Encoders:
    """Per-source encoders of rows into the driver's insert form (see :func:`repository.row_encoder`)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.rows: Callable[[Mapping[str, Any]], list[Any]] | None = None
        self.copies: Callable[[Mapping[str, Any]], list[Any]] | None = None


def stage_batch(ctx: SourceContext, batch: list[Prepared], encoders: Encoders) -> Staged:
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
        stamp = stamp_text(p.record.updated)
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
    choices_gone: list[str] = []
    updates: list[dict[str, Any]] = []
    flagged: list[dict[str, Any]] = []
    for target in pending.values():
        if target.at is None:
            continue
        if target.id is None:
            inserts.append(target.at)
        elif (owned := _owned_here(heads, staged.rows[target.at])) is not None:
            flagged.append(owned | {"id": target.id})
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
            update = {k: v for k, v in row.items() if k not in skip} | {"id": target.id}
            if ctx.unit_choices and row["code"] in ctx.unit_choices:
                _keep_choice(ctx, row["code"], update, choices_gone)
            updates.append(update)
    _insert(session, repo.DOSSIERS, staged.rows, staged.encoded_rows, inserts)
    repo.update_dossiers(session, updates)
    repo.update_dossiers(session, flagged)
    if choices_gone:
        steward_repo.supersede_choices(session, choices_gone, now)
    if ctx.superseded:
        retired = ({p.record.source_id for p in good} | set(bad)) & ctx.superseded
        if retired:
            steward_repo.supersede_corrections(session, ctx.name, retired, now)
    held = ctx.open_quarantine
    resolved = [p.record.source_id for p in good if p.record.source_id in held]
    if resolved:
        repo.resolve_quarantine(session, ctx.name, resolved, now)
        held.difference_update(resolved)
    if bad:
        kept = {q.source_id: q for q in repo.quarantined(session, ctx.name, set(bad))}
        for sid, p in bad.items():
            payload = plain_payload(p.record.payload)
            q = kept.get(sid)
            if q is not None and q.state == "dismissed" and q.payload == payload:
                continue  # dismissed by two data stewards, and the source still sends it as it was
            if q is None:
                session.add(
                    QuarantinedRecord(
                        source=ctx.name, source_id=sid, run_id=ctx.run_id, payload=payload, reasons=p.reasons
                    )
                )
            else:
                q.payload, q.reasons, q.run_id, q.state, q.resolved_at = payload, p.reasons, ctx.run_id, "open", None
        held.update(sid for sid in bad if sid not in kept or kept[sid].state == "open")
    session.flush()


CHOICE_GONE_REASON = "the source changed the unit a data steward picked"


def _keep_choice(ctx: SourceContext, code: str, update: dict[str, Any], gone: list[str]) -> None:
    """A unit a steward picked sticks while the source gives the dossier the same original unit: the update keeps
    it (and drops the remapping's own notes on the unit, which the choice answered); a changed unit wins, flagged."""
    original, unit = ctx.unit_choices[code]
    notes = [n for n in (update.get("review_reason") or "").split("; ") if n]
    if update.get("original_unit_code") == original:
        update["unit_code"] = unit
        update["center_code"] = ctx.remapper.centers.get(unit)
        notes = [n for n in notes if not n.startswith("unit ")]
    else:
        gone.append(code)
        notes.append(f"{CHOICE_GONE_REASON} ({unit})")
    update["needs_review"] = bool(notes)
    update["review_reason"] = "; ".join(notes)[:500] or None


OWNED_HERE_REASON = "changed in the former system after hopnhat took it over; not applied"


def _owned_here(heads: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any] | None:
    """Ownership (ARCHITECTURE "Who owns a migrated dossier"): once hopnhat owns a dossier, from its source's
    cut-over or the first officer action here, a later change of the record in the former system is flagged for
    the officer and the stewards, never written over their work. None: the change applies as usual."""
    head = heads[row["code"]]
    if getattr(head, "owned_here_at", None) is None:
        return None
    stamp = (row.get("extra") or {}).get("source_updated") or "?"
    return {"needs_review": True, "review_reason": f"{OWNED_HERE_REASON} (source {row['source_name']}, {stamp})"[:500]}


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


def staged_batches(records: Iterator[RawRecord], ctx: SourceContext, size: int, encoders: Encoders) -> Iterator[Staged]:
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


def one_by_one(staged: Staged) -> Iterator[Staged]:
    """The batch as batches of one record each (its quarantined records together, first)."""
    size, duplicates = staged.size - len(staged.good), staged.duplicates
    yield Staged(size, duplicates, [], dict(staged.bad), [], [], [], [], staged.now, None)
    for i, p in enumerate(staged.good):
        rows, copies = [staged.rows[i]], [staged.copies[i]]
        encoded_rows, encoded_copies = [staged.encoded_rows[i]], [staged.encoded_copies[i]]
        yield Staged(1, 0, [p], {}, rows, copies, encoded_rows, encoded_copies, staged.now, None)


def apply_or_quarantine(session: Session, ctx: SourceContext, part: Staged, counts: Counts) -> None:
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
