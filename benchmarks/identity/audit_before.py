# A verbatim copy of src/hopnhat/identity/audit.py as it was before the benchmark (2026-12-03 10:01 UTC), kept so that
# bench_audit.py measures the ORM seal/verify and the set-based ones in the same run. Not used by hopnhat.
"""The audit log (nhật ký truy cập, Decree 13/2023/NĐ-CP): who saw whose personal data, who changed what.

- :func:`record` appends an entry in the caller's transaction, so an action and its entry commit or vanish together.
  Writers take no lock: an entry is born unsealed.
- :func:`seal` (``hopnhat audit seal``, the server's background sealer every few seconds, ``audit verify``) chains
  the unsealed entries in id order: each gets ``seq``, the previous entry's hash and its own hash over its content.
  One sealer at a time (a PostgreSQL advisory lock; SQLite has one writer anyway). The chain's head is then recorded
  and signed with ``HOPNHAT_AUDIT_KEY``, a key kept outside the store, so a database writer who edits an entry and
  recomputes every later hash still cannot sign the new head.
- :func:`verify` recomputes the chain and the heads and names the first broken entry.
- Citizen ID numbers are never stored: :func:`subject_hash` is an HMAC with a key generated in the store, enough to
  find every entry about one citizen (:func:`citizen_report`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hopnhat.identity import repository as repo
from hopnhat.identity.models import AuditEntry, AuditHead, Secret
from hopnhat.identity.principal import Principal

log = logging.getLogger(__name__)

PERSONAL_FIELDS = frozenset({"applicant_name", "applicant_id_number", "applicant_phone", "applicant_address"})
"""Fields whose values never enter the audit log: a change to one is recorded as changed, without the values."""

_SEAL_LOCK = 7215002


def _now() -> datetime:
    return datetime.now(UTC)


_keys: dict[str, bytes] = {}
_keys_lock = threading.Lock()


def _subject_key(session: Session) -> bytes:
    """The key of :func:`subject_hash`, generated once per store and cached per process (by store URL)."""
    bind = session.get_bind()
    cache_key = bind.engine.url.render_as_string() if hasattr(bind, "engine") else str(id(bind))
    with _keys_lock:
        found = _keys.get(cache_key)
    if found is not None:
        return found
    row = repo.secret(session, "audit-subject")
    if row is None:
        value = secrets.token_hex(32)
        try:
            with session.begin_nested():
                session.add(Secret(name="audit-subject", value=value))
        except IntegrityError:
            pass  # another process made it first: read theirs
        row = repo.secret(session, "audit-subject")
        assert row is not None
    key = bytes.fromhex(row.value)
    with _keys_lock:
        _keys[cache_key] = key
    return key


def subject_hash(session: Session, id_number: str | None) -> str | None:
    """The keyed hash of a citizen ID number (spaces and case ignored), or None without one."""
    if not id_number:
        return None
    normal = "".join(id_number.split()).upper()
    if not normal:
        return None
    return hmac.new(_subject_key(session), normal.encode(), hashlib.sha256).hexdigest()


def record(
    session: Session,
    principal: Principal | None,
    action: str,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    changes: dict[str, Any] | None = None,
    citizen_id: str | None = None,
    client: str | None = None,
) -> None:
    """Append one entry in the caller's transaction (flushed with it; never committed here)."""
    session.add(_entry(session, principal, action, object_type, object_id, changes, citizen_id, client))


def record_many(
    session: Session,
    principal: Principal,
    action: str,
    objects: Iterable[tuple[str, str, str | None]],
) -> int:
    """Append one entry per ``(object_type, object_id, citizen ID)``: a list of dossiers shown with names is as many
    views of as many citizens' data, and the per-citizen report must find each."""
    entries = [_entry(session, principal, action, t, i, None, c, None) for t, i, c in objects]
    session.add_all(entries)
    return len(entries)


def _entry(
    session: Session,
    principal: Principal | None,
    action: str,
    object_type: str | None,
    object_id: str | None,
    changes: dict[str, Any] | None,
    citizen_id: str | None,
    client: str | None,
) -> AuditEntry:
    return AuditEntry(
        at=_now(),
        actor=principal.username if principal is not None else None,
        roles=",".join(sorted(principal.roles)) if principal is not None else "",
        via=principal.via if principal is not None else "anonymous",
        client=(client or (principal.client if principal is not None else None) or "")[:64] or None,
        action=action[:64],
        object_type=object_type[:32] if object_type else None,
        object_id=object_id[:128] if object_id else None,
        changes=_safe_changes(changes),
        subject_hash=subject_hash(session, citizen_id),
    )


def _safe_changes(changes: dict[str, Any] | None) -> dict[str, Any] | None:
    if not changes:
        return None
    out: dict[str, Any] = {}
    for field_name, pair in changes.items():
        if field_name in PERSONAL_FIELDS:
            out[field_name] = "changed"
        else:
            out[field_name] = [_plain(v) for v in pair] if isinstance(pair, list | tuple) else _plain(pair)
    return out


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``{field: [old, new]}`` of the fields that changed."""
    return {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v}


# --- the chain ------------------------------------------------------------------------------------------------------


def _content(entry: AuditEntry) -> bytes:
    body = {
        "id": entry.id,
        "seq": entry.seq,
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "roles": entry.roles,
        "via": entry.via,
        "client": entry.client,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "changes": entry.changes,
        "subject_hash": entry.subject_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + _content(entry)).hexdigest()


GENESIS = "0" * 64


def sign_head(key: str | None, seq: int, head_hash: str) -> str | None:
    if not key:
        return None
    return hmac.new(key.encode(), f"audit-head:{seq}:{head_hash}".encode(), hashlib.sha256).hexdigest()


def seal(session: Session, key: str | None, batch: int = 5000) -> int:
    """Chain every unsealed entry and record the signed head; returns how many were sealed. The caller commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({_SEAL_LOCK})"))
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.is_not(None)).order_by(AuditEntry.seq.desc())
    ).first()
    seq, prev = (int(last[0] or 0), str(last[1])) if last is not None else (0, GENESIS)
    sealed = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq.is_(None)).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            break
        for entry in rows:
            seq += 1
            entry.seq = seq
            entry.prev_hash = prev
            entry.hash = entry_hash(prev, entry)
            prev = entry.hash
        sealed += len(rows)
        session.flush()
    if sealed:
        session.add(AuditHead(seq=seq, hash=prev, signature=sign_head(key, seq, prev), sealed_at=_now()))
        session.flush()
    return sealed


def seal_now(engine: Engine, key: str | None) -> int:
    """One sealing step in its own transaction (the background sealer and the CLI)."""
    with Session(engine) as session:
        count = seal(session, key)
        session.commit()
        return count


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    heads: int
    signed: bool
    """Whether the heads were checked against the audit key (False: no key was given, they are unsigned)."""
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str | None = None


def verify(session: Session, key: str | None, batch: int = 20_000) -> Verdict:
    """Recompute the chain from the first entry and check every head; the first problem is named."""
    prev, expected_seq, count = GENESIS, 1, 0
    hashes_at: dict[int, str] = {}
    heads = session.scalars(select(AuditHead).order_by(AuditHead.seq)).all()
    wanted = {h.seq for h in heads}
    after = 0
    while True:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.seq.is_not(None), AuditEntry.seq > after)
            .order_by(AuditEntry.seq)
            .limit(batch)
        ).all()
        if not rows:
            break
        for entry in rows:
            assert entry.seq is not None
            if entry.seq != expected_seq:
                return Verdict(
                    False, count, len(heads), bool(key), expected_seq, None, f"entry {expected_seq} is missing"
                )
            if entry.prev_hash != prev or entry.hash != entry_hash(prev, entry):
                return Verdict(
                    False, count, len(heads), bool(key), entry.seq, entry.id, f"entry {entry.seq} was altered"
                )
            prev = entry.hash
            if entry.seq in wanted:
                hashes_at[entry.seq] = prev
            expected_seq += 1
            count += 1
        after = rows[-1].seq or after
        session.expunge_all()  # a million entries must not stay in the identity map
    for head in heads:
        if head.seq >= expected_seq:
            return Verdict(
                False,
                count,
                len(heads),
                bool(key),
                expected_seq,
                None,
                f"entries from {expected_seq} to {head.seq} are missing",
            )
        if hashes_at.get(head.seq) != head.hash:
            return Verdict(
                False, count, len(heads), bool(key), head.seq, None, f"the chain up to entry {head.seq} was rewritten"
            )
        if key and not hmac.compare_digest(head.signature or "", sign_head(key, head.seq, head.hash) or ""):
            return Verdict(
                False,
                count,
                len(heads),
                True,
                head.seq,
                None,
                f"the head at entry {head.seq} is not signed by the audit key",
            )
    return Verdict(True, count, len(heads), bool(key))


# --- reading ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    actor: str | None = None
    action: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    citizen_id: str | None = None
    limit: int = 500


def entries(session: Session, filters: Filters) -> Sequence[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(filters.limit, 100_000)))
    if filters.actor:
        query = query.where(AuditEntry.actor == filters.actor)
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.object_id:
        query = query.where(AuditEntry.object_id == filters.object_id)
    if filters.since:
        query = query.where(AuditEntry.at >= filters.since)
    if filters.until:
        query = query.where(AuditEntry.at < filters.until)
    if filters.citizen_id:
        query = query.where(AuditEntry.subject_hash == subject_hash(session, filters.citizen_id))
    return session.scalars(query).all()


def as_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "seq": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "roles": entry.roles,
        "via": entry.via,
        "client": entry.client,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "changes": json.dumps(entry.changes, ensure_ascii=False) if entry.changes else None,
    }


def citizen_report(session: Session, id_number: str) -> list[dict[str, Any]]:
    """Every access by an officer to one citizen's data, oldest first (what Estonia's data tracker shows)."""
    rows = entries(session, Filters(citizen_id=id_number, limit=100_000))
    return [as_row(e) for e in sorted(rows, key=lambda e: e.id)]


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


__all__ = [
    "PERSONAL_FIELDS",
    "Filters",
    "Verdict",
    "as_row",
    "citizen_report",
    "count",
    "diff",
    "entries",
    "entry_hash",
    "record",
    "record_many",
    "seal",
    "seal_now",
    "subject_hash",
    "verify",
]
