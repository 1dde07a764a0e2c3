"""The data stewards' work towards the cut-over (người quản lý dữ liệu): what the gate counts, made to go.

- **correct** a quarantined record: canonical fields that replace the mapped ones, kept beside the raw record
  (:class:`~hopnhat.sync.models.Correction`); the dossier loads at once, and every later sync applies the
  correction while the source sends the record unchanged (:func:`hopnhat.sync.normalise.corrected`);
- **dismiss** one for a reason of :data:`DISMISS_REASONS`: proposed by one steward, approved by another;
- **bulk**: a selection by source, reason and period, a rule on one field (:class:`Rule`) previewed then applied,
  or dismissals proposed for the whole selection;
- the **review queue** of migrated dossiers that need a unit or a look: the unit picked among the registry's
  candidates sticks across syncs (:func:`hopnhat.sync.load.apply_batch`);
- **what is left** per source, and the **cut-over** itself (:func:`commit_cutover`).

Rules only: every function works in the caller's transaction and never commits (the request or the command does);
each action is audited with its principal. A record's personal data appears only in the audited views.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.db import utcnow
from hopnhat.errors import Conflict, Forbidden, InvalidInput, NotFound
from hopnhat.identity import audit
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission, Role
from hopnhat.store.models import Destination, Dossier, OutboxEvent
from hopnhat.store.outbox import enqueue
from hopnhat.sync import cutover as gate
from hopnhat.sync import steward_repo as repo
from hopnhat.sync.connectors.base import CANONICAL_FIELDS, RawRecord, get_connector
from hopnhat.sync.load import Counts, Encoders, apply_batch, stage_batch
from hopnhat.sync.models import Correction, Cutover, Dismissal, QuarantinedRecord, UnitChoice
from hopnhat.sync.normalise import Prepared, SourceContext, normalise, record_digest
from hopnhat.sync.remap import Remapper

Config = Mapping[str, Mapping[str, Any]]
"""The sources as ``sources.toml`` configures them (:func:`hopnhat.sync.service.load_config`)."""

DISMISS_REASONS = ("test_record", "duplicate", "withdrawn")
"""Why a record may be dismissed: a test record; a duplicate of another dossier code (named); withdrawn before the
merger (rút trước khi hợp nhất)."""

FIELD_MAX = 500
"""Longest value a correction or a rule may give a field (the widest canonical column is 500)."""
NOTE_MAX = 500
BULK_MAX = 1000
"""Records one bulk action selects at most."""
QUEUE_MAX = 500

RuleKind = Literal["set", "copy", "replace"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A correction by rule for a bulk action on ``field``: ``set`` it to ``value``; ``copy`` the value of the field
    ``value`` names; ``replace`` the text ``old`` with ``value`` in it."""

    kind: RuleKind
    field: str
    value: str = ""
    old: str = ""

    def check(self) -> None:
        _check_field(self.field)
        if self.kind not in ("set", "copy", "replace"):
            raise InvalidInput(f"rule {self.kind!r}: set, copy or replace")
        if self.kind == "copy":
            _check_field(self.value)
        if self.kind == "replace" and not self.old:
            raise InvalidInput("rule replace: give the text to replace")
        if len(self.value) > FIELD_MAX or len(self.old) > FIELD_MAX:
            raise InvalidInput(f"rule values are at most {FIELD_MAX} characters")

    def apply(self, fields: Mapping[str, Any]) -> str | None:
        if self.kind == "set":
            return self.value or None
        if self.kind == "copy":
            return _text(fields.get(self.value))
        current = _text(fields.get(self.field)) or ""
        return current.replace(self.old, self.value) or None


@dataclass(frozen=True, slots=True)
class Selection:
    """Open quarantined records by source, a text in their reasons, and the period they were quarantined in."""

    source: str | None = None
    reason: str | None = None
    since: date | None = None
    until: date | None = None
    """Last day included."""

    def rows(self, session: Session) -> Sequence[QuarantinedRecord]:
        def start(day: date | None) -> datetime | None:
            return datetime(day.year, day.month, day.day, tzinfo=VN_TZ) if day else None

        until = start(self.until)
        end = until.replace(hour=23, minute=59, second=59, microsecond=999999) if until else None
        return repo.selection(session, self.source, self.reason, start(self.since), end, BULK_MAX)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a correction did, or would do: the dossier it loads (``loads``), or every reason it still cannot."""

    record_id: int
    source: str
    source_id: str
    loads: bool
    reasons: list[str]
    before: str | None = None
    after: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A migrated dossier in the review queue; ``candidates`` are (code, name) of the units it may go to."""

    code: str
    source: str | None
    status: int
    original_unit_code: str | None
    unit_code: str | None
    reason: str | None
    needs_unit: bool
    candidates: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SourceLeft:
    """What stands between a source and its cut-over, with the latest recorded verdict."""

    source: str
    quarantined: int
    dismissals_proposed: int
    without_unit: int
    to_review: int
    corrections_superseded: int
    ready: bool | None
    reasons: list[str]
    checked_at: datetime | None
    cut_over_at: datetime | None


# --- helpers -------------------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = str(value).strip()
    return text or None


def _check_field(name: str) -> None:
    if name not in CANONICAL_FIELDS:
        raise InvalidInput(f"{name[:40]!r} is no field a correction may set (known: {', '.join(CANONICAL_FIELDS)})")


def _clean(fields: Mapping[str, Any]) -> dict[str, str | None]:
    if not fields:
        return {}
    if len(fields) > len(CANONICAL_FIELDS):
        raise InvalidInput("too many fields")
    out: dict[str, str | None] = {}
    for key, value in fields.items():
        _check_field(key)
        text = _text(value)
        if text is not None and len(text) > FIELD_MAX:
            raise InvalidInput(f"{key}: at most {FIELD_MAX} characters")
        out[key] = text
    return out


def _quarantined(session: Session, record_id: int) -> QuarantinedRecord:
    q = session.get(QuarantinedRecord, record_id)
    if q is None:
        raise NotFound(f"quarantined record {record_id} does not exist")
    return q


def _open(session: Session, record_id: int) -> QuarantinedRecord:
    q = _quarantined(session, record_id)
    if q.state != "open":
        raise Conflict(f"quarantined record {record_id} ({q.source} {q.source_id}) is {q.state}, not open")
    return q


CITIZEN_KEYS = ("applicant_id_number", "SoCCCD", "Số CCCD", "so_giay_to", "so_cccd", "cccd")


def _citizen(payload: Any) -> str | None:
    """The applicant's ID number in a raw payload, for the audit's per-citizen index."""
    if not isinstance(payload, dict):
        return None
    return next((str(payload[k]) for k in CITIZEN_KEYS if payload.get(k)), None)


def _name(who: Principal) -> str:
    return (who.username or "?")[:64]


class Mapper:
    """Per source of a configuration: its connector's mapping (a raw payload -> canonical fields) and a remapper,
    built once for a request or a command."""

    def __init__(self, session: Session, config: Config, today: date) -> None:
        self.config = config
        self.today = today
        rules: dict[str, str] = {}
        for options in config.values():
            rules.update({str(k): str(v) for k, v in dict(options.get("split_rules", {})).items()})
        self.remapper = Remapper(session, today, rules)
        self._mappings: dict[str, Any] = {}
        self._contexts: dict[str, SourceContext] = {}

    def options(self, source: str) -> Mapping[str, Any]:
        options = self.config.get(source)
        if options is None:
            raise InvalidInput(f"source {source} is not in the sources' configuration")
        return options

    def record(self, q: QuarantinedRecord) -> RawRecord:
        """The canonical fields of a quarantined record, as its source's mapping reads the raw payload."""
        if q.source not in self._mappings:
            options = self.options(q.source)
            try:
                connector = get_connector(str(options["connector"]), dict(options))
            except Exception as exc:  # a source that cannot be set up says why; the page stays up
                raise InvalidInput(f"source {q.source}: {type(exc).__name__}: {str(exc)[:200]}") from exc
            self._mappings[q.source] = getattr(connector, "mapping", None)
        mapping = self._mappings[q.source]
        payload = dict(q.payload) if isinstance(q.payload, dict) else {}
        if mapping is None:
            return RawRecord(q.source_id, None, payload, {}, [])
        record: RawRecord = mapping.record(payload)
        # The id the record was quarantined under: a payload the mapping cannot give an id for still has one.
        return RawRecord(q.source_id, record.updated, payload, record.fields, record.problems, record.digest)

    def context(self, source: str) -> SourceContext:
        """One context per source for the request, as a sync run keeps one across its batches: a bulk correction
        of a thousand records reads the source's open quarantine once, not once per record."""
        if source not in self._contexts:
            province = str(self.options(source).get("province_code", ""))
            self._contexts[source] = SourceContext(source, province, self.remapper, None)
        return self._contexts[source]


def _corrected(record: RawRecord, fix: Mapping[str, Any]) -> RawRecord:
    return RawRecord(
        record.source_id, record.updated, record.payload, {**record.fields, **fix}, [], record_digest(record)
    )


# --- correct -------------------------------------------------------------------------------------------------------


def fields_of(session: Session, who: Principal, mapper: Mapper, record_id: int) -> dict[str, str | None]:
    """The canonical fields of a quarantined record as mapped (the correction form's values); an audited view of
    its personal data."""
    who.require(Permission.QUARANTINE)
    q = _quarantined(session, record_id)
    record = mapper.record(q)
    existing = repo.correction(session, q.source, q.source_id)
    fix = dict(existing.fields) if existing is not None and existing.state == "active" else {}
    audit.record(
        session, who, "quarantine.view", object_type="quarantine", object_id=str(q.id), citizen_id=_citizen(q.payload)
    )
    return {key: _text(fix.get(key, record.fields.get(key))) for key in CANONICAL_FIELDS}


def _try(mapper: Mapper, q: QuarantinedRecord, fix: Mapping[str, Any]) -> tuple[RawRecord, Prepared]:
    record = _corrected(mapper.record(q), fix)
    return record, normalise(mapper.context(q.source), record)


def correct(
    session: Session, who: Principal, mapper: Mapper, record_id: int, fields: Mapping[str, Any], *, action: str = ""
) -> Outcome:
    """Correct a quarantined record and load its dossier. Refused, with every reason, when the corrected record would
    still be quarantined: nothing is kept then."""
    who.require(Permission.QUARANTINE)
    q = _open(session, record_id)
    fix = _clean(fields)
    _record, prepared = _try(mapper, q, fix)
    if prepared.values is None:
        raise InvalidInput(f"{q.source} {q.source_id} would still be quarantined: {'; '.join(prepared.reasons)}"[:1000])
    _keep(session, who, q, fix)
    _load(session, mapper, q, prepared)
    audit.record(
        session,
        who,
        action or "steward.correct",
        object_type="quarantine",
        object_id=str(q.id),
        changes={"fields": [None, ", ".join(sorted(fix)) or "(none: accepted as read)"]},
        citizen_id=_citizen(q.payload),
    )
    return Outcome(q.id, q.source, q.source_id, True, [])


def _keep(session: Session, who: Principal, q: QuarantinedRecord, fix: dict[str, str | None]) -> None:
    existing = repo.correction(session, q.source, q.source_id)
    payload = dict(q.payload) if isinstance(q.payload, dict) else {}
    if existing is None:
        session.add(
            Correction(source=q.source, source_id=q.source_id, payload=payload, fields=fix, created_by=_name(who))
        )
    else:
        existing.payload, existing.fields, existing.state = payload, fix, "active"
        existing.created_by, existing.created_at, existing.superseded_at = _name(who), utcnow(), None
    session.flush()


def _load(session: Session, mapper: Mapper, q: QuarantinedRecord, prepared: Prepared) -> None:
    """Load the corrected record as the sync would (the same rules: another source's newer copy still wins), in
    the caller's transaction. Not through the sync's write gate, which must end the transaction inside it: a
    concurrent sync inserting the same code makes one of the two fail on the unique code, not both succeed."""
    ctx = mapper.context(q.source)
    staged = stage_batch(ctx, [prepared], Encoders(session.get_bind().dialect.name))
    apply_batch(session, ctx, staged, Counts())
    session.refresh(q)


# --- dismiss -------------------------------------------------------------------------------------------------------


def propose_dismissal(
    session: Session,
    who: Principal,
    record_id: int,
    reason: str,
    duplicate_of: str | None = None,
    note: str | None = None,
) -> Dismissal:
    """Propose to dismiss an open quarantined record; a second data steward approves it (:func:`approve`)."""
    who.require(Permission.QUARANTINE)
    if reason not in DISMISS_REASONS:
        raise InvalidInput(f"reason {reason[:40]!r}: one of {', '.join(DISMISS_REASONS)}")
    duplicate_of = (duplicate_of or "").strip() or None
    if reason == "duplicate" and not duplicate_of:
        raise InvalidInput("a duplicate names the dossier code it duplicates")
    if duplicate_of is not None and len(duplicate_of) > 64:
        raise InvalidInput("the duplicated dossier code is at most 64 characters")
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidInput(f"the note is at most {NOTE_MAX} characters")
    q = _open(session, record_id)
    if repo.proposed_for(session, q.id) is not None:
        raise Conflict(f"quarantined record {record_id} already has a dismissal waiting for approval")
    proposal = Dismissal(
        quarantine_id=q.id,
        reason=reason,
        duplicate_of=duplicate_of if reason == "duplicate" else None,
        note=note,
        proposed_by=_name(who),
    )
    session.add(proposal)
    session.flush()
    audit.record(
        session,
        who,
        "steward.dismiss.propose",
        object_type="quarantine",
        object_id=str(q.id),
        changes={"reason": [None, reason], "dismissal": [None, proposal.id]},
    )
    return proposal


def _proposal(session: Session, dismissal_id: int) -> Dismissal:
    proposal = session.get(Dismissal, dismissal_id)
    if proposal is None:
        raise NotFound(f"dismissal {dismissal_id} does not exist")
    if proposal.state != "proposed":
        raise Conflict(f"dismissal {dismissal_id} is {proposal.state} already")
    return proposal


def approve(session: Session, who: Principal, dismissal_id: int) -> Dismissal:
    """Approve a proposed dismissal: the record leaves the quarantine (the gate no longer counts it) and the sync
    keeps it dismissed while the source sends it unchanged. The proposer cannot approve their own."""
    who.require(Permission.QUARANTINE)
    proposal = _proposal(session, dismissal_id)
    if proposal.proposed_by == _name(who):
        raise Forbidden(f"{proposal.proposed_by} proposed dismissal {dismissal_id}: a second person approves it")
    q = _quarantined(session, proposal.quarantine_id)
    now = utcnow()
    proposal.state, proposal.decided_by, proposal.decided_at = "approved", _name(who), now
    if q.state == "open":
        q.state, q.resolved_at = "dismissed", now
    audit.record(
        session,
        who,
        "steward.dismiss.approve",
        object_type="quarantine",
        object_id=str(q.id),
        changes={
            "state": ["open", q.state],
            "dismissal": [None, proposal.id],
            "proposed_by": [None, proposal.proposed_by],
        },
    )
    return proposal


def reject(session: Session, who: Principal, dismissal_id: int) -> Dismissal:
    """Refuse a proposed dismissal (the record stays quarantined); anyone with the role but the proposer."""
    who.require(Permission.QUARANTINE)
    proposal = _proposal(session, dismissal_id)
    if proposal.proposed_by == _name(who):
        raise Forbidden(f"{proposal.proposed_by} proposed dismissal {dismissal_id}: a second person decides on it")
    proposal.state, proposal.decided_by, proposal.decided_at = "rejected", _name(who), utcnow()
    audit.record(
        session,
        who,
        "steward.dismiss.reject",
        object_type="quarantine",
        object_id=str(proposal.quarantine_id),
        changes={"dismissal": [None, proposal.id]},
    )
    return proposal


def proposals(session: Session, who: Principal) -> list[dict[str, Any]]:
    """Dismissals waiting for a second person, with their record's source, id and reasons (no payload)."""
    who.require(Permission.QUARANTINE)
    out = []
    for d in repo.dismissals(session, "proposed"):
        q = session.get(QuarantinedRecord, d.quarantine_id)
        out.append(
            {
                "id": d.id,
                "record_id": d.quarantine_id,
                "source": q.source if q else None,
                "source_id": q.source_id if q else None,
                "reason": d.reason,
                "duplicate_of": d.duplicate_of,
                "proposed_by": d.proposed_by,
                "proposed_at": d.proposed_at,
                "mine": d.proposed_by == _name(who),
            }
        )
    return out


# --- bulk ----------------------------------------------------------------------------------------------------------


def preview(session: Session, who: Principal, mapper: Mapper, selection: Selection, rule: Rule) -> list[Outcome]:
    """What ``rule`` would change in each selected record, and whether the record would then load. Writes only its
    audit entry (the values shown are personal data for some fields)."""
    who.require(Permission.QUARANTINE)
    rule.check()
    out = [_outcome(mapper, q, rule) for q in selection.rows(session)]
    audit.record(
        session,
        who,
        "steward.bulk.preview",
        object_type="quarantine",
        object_id=selection.source or "*",
        changes={"rule": [None, f"{rule.kind} {rule.field}"], "records": [None, len(out)]},
    )
    return out


def _outcome(mapper: Mapper, q: QuarantinedRecord, rule: Rule) -> Outcome:
    try:
        record = mapper.record(q)
    except InvalidInput as exc:
        return Outcome(q.id, q.source, q.source_id, False, [exc.detail])
    before = _text(record.fields.get(rule.field))
    after = rule.apply(record.fields)
    prepared = normalise(mapper.context(q.source), _corrected(record, {rule.field: after}))
    return Outcome(q.id, q.source, q.source_id, prepared.values is not None, prepared.reasons, before, after)


def apply_rule(session: Session, who: Principal, mapper: Mapper, selection: Selection, rule: Rule) -> list[Outcome]:
    """Correct every selected record the rule makes loadable (each audited as a correction); the others are left
    in the quarantine and listed with their reasons."""
    who.require(Permission.QUARANTINE)
    rule.check()
    out = []
    for q in selection.rows(session):
        outcome = _outcome(mapper, q, rule)
        if outcome.loads:
            correct(session, who, mapper, q.id, {rule.field: outcome.after}, action="steward.bulk.correct")
        out.append(outcome)
    return out


def dismiss_selection(
    session: Session, who: Principal, selection: Selection, reason: str, duplicate_of: str | None = None
) -> list[Dismissal]:
    """Propose a dismissal for every selected record that has none waiting."""
    who.require(Permission.QUARANTINE)
    return [
        propose_dismissal(session, who, q.id, reason, duplicate_of)
        for q in selection.rows(session)
        if repo.proposed_for(session, q.id) is None
    ]


def approve_many(session: Session, who: Principal, ids: Sequence[int]) -> list[Dismissal]:
    """Approve several proposals (each checked as :func:`approve` does)."""
    if len(ids) > BULK_MAX:
        raise InvalidInput(f"at most {BULK_MAX} dismissals at once")
    return [approve(session, who, i) for i in ids]


# --- review queue --------------------------------------------------------------------------------------------------


def review_queue(session: Session, who: Principal, remapper: Remapper, source: str | None) -> list[ReviewItem]:
    """Migrated dossiers that need a unit or a look, each with the units it may go to."""
    who.require(Permission.QUARANTINE)
    out = []
    for d in repo.review_queue(session, source, QUEUE_MAX):
        out.append(
            ReviewItem(
                d.code,
                d.source_name,
                d.status,
                d.original_unit_code,
                d.unit_code,
                d.review_reason,
                d.unit_code is None and d.status in repo.OPEN_STATUSES,
                [(c, remapper.name_of(c) or c) for c in _candidates(remapper, d)],
            )
        )
    return out


def _candidates(remapper: Remapper, d: Dossier) -> list[str]:
    if not d.original_unit_code:
        return []
    received = d.received_at.astimezone(VN_TZ).date() if d.received_at else remapper.today
    found = remapper.candidates(d.original_unit_code, received)
    if d.unit_code and d.unit_code not in found:
        found.append(d.unit_code)
    return found


def _dossier(session: Session, code: str) -> Dossier:
    d = session.scalars(select(Dossier).where(Dossier.code == code)).first()
    if d is None or d.origin != "migrated":
        raise NotFound(f"migrated dossier {code[:64]} does not exist")
    return d


def pick_unit(session: Session, who: Principal, remapper: Remapper, code: str, unit_code: str) -> Dossier:
    """Give a migrated dossier the unit a steward picked among its candidates; the choice sticks across syncs while
    the source keeps the dossier's original unit."""
    who.require(Permission.QUARANTINE)
    d = _dossier(session, code)
    candidates = _candidates(remapper, d)
    if unit_code not in candidates:
        raise InvalidInput(f"{unit_code[:8]!r} is not among the units of {code}: {', '.join(candidates) or 'none'}")
    before = d.unit_code
    notes = [n for n in (d.review_reason or "").split("; ") if n and not n.startswith("unit ")]
    d.unit_code, d.center_code = unit_code, remapper.centers.get(unit_code)
    d.needs_review, d.review_reason = bool(notes), "; ".join(notes) or None
    choice = session.get(UnitChoice, code)
    if choice is None:
        session.add(
            UnitChoice(
                dossier_code=code, original_unit_code=d.original_unit_code, unit_code=unit_code, chosen_by=_name(who)
            )
        )
    else:
        choice.original_unit_code, choice.unit_code, choice.state = d.original_unit_code, unit_code, "active"
        choice.chosen_by, choice.chosen_at = _name(who), utcnow()
    audit.record(
        session, who, "steward.unit", object_type="dossier", object_id=code, changes={"unit_code": [before, unit_code]}
    )
    session.flush()
    return d


def acknowledge(session: Session, who: Principal, code: str) -> Dossier:
    """Clear a dossier's review flag after a look (one that still has no unit needs one: :func:`pick_unit`)."""
    who.require(Permission.QUARANTINE)
    d = _dossier(session, code)
    if d.unit_code is None and d.status in repo.OPEN_STATUSES:
        raise InvalidInput(f"{code} has no unit yet: pick one of its candidates")
    before = d.review_reason
    d.needs_review, d.review_reason = False, None
    audit.record(
        session, who, "steward.review", object_type="dossier", object_id=code, changes={"review_reason": [before, None]}
    )
    session.flush()
    return d


# --- the gate ------------------------------------------------------------------------------------------------------


def left(session: Session, sources: Sequence[str] = ()) -> list[SourceLeft]:
    """Per source (those configured, those with work left, those with a verdict): what the stewards still have to
    do, the latest verdict, and the cut-over if committed."""
    counts = repo.left_counts(session)
    verdicts = {v["source"]: v for v in gate.latest_verdicts(session)}
    done = repo.cutovers(session)
    out = []
    for name in sorted(set(sources) | set(counts) | set(verdicts) | set(done)):
        c = counts.get(name, {})
        v = verdicts.get(name)
        cut = done.get(name)
        out.append(
            SourceLeft(
                name,
                c.get("quarantined", 0),
                c.get("dismissals_proposed", 0),
                c.get("without_unit", 0),
                c.get("to_review", 0),
                c.get("corrections_superseded", 0),
                v["ready"] if v else None,
                list(v["reasons"]) if v else [],
                v["checked_at"] if v else None,
                cut.committed_at if cut else None,
            )
        )
    return out


def check_may_commit(who: Principal, force: bool) -> None:
    """A department operator or an administrator commits a cut-over; only an administrator forces one."""
    who.require(Permission.SYNC_READ)
    if Role.ADMINISTRATOR not in who.roles and Role.DEPARTMENT_OPERATOR not in who.roles:
        raise Forbidden(f"{who.username} may not commit a cut-over (department operator or administrator)")
    if force and Role.ADMINISTRATOR not in who.roles:
        raise Forbidden("only an administrator may force a cut-over past a NOT READY verdict")


def commit_cutover(
    session: Session,
    who: Principal,
    source: str,
    verdict: Mapping[str, Any],
    *,
    force: bool = False,
    reason: str | None = None,
) -> Cutover:
    """Record the cut-over of ``source`` (ARCHITECTURE "The cut-over of a source"), given the verdict computed
    after the final sync: allowed when READY, or forced by an administrator with a reason. From then hopnhat owns
    the source's dossiers (``owned_here_at``), the sync no longer reads it, and the relay queues every dossier the
    portal has not had yet."""
    check_may_commit(who, force)
    if repo.cutover_of(session, source) is not None:
        raise Conflict(f"source {source} was cut over already")
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > NOTE_MAX:
        raise InvalidInput(f"the reason is at most {NOTE_MAX} characters")
    ready = bool(verdict.get("ready"))
    if not ready:
        if not force:
            reasons = "; ".join(str(r) for r in verdict.get("reasons", []))
            raise Conflict(f"source {source} is NOT READY: {reasons} (an administrator may force it with a reason)")
        if reason is None:
            raise InvalidInput("a forced cut-over needs a reason")
    now = utcnow()
    done = Cutover(source=source, committed_at=now, committed_by=_name(who), forced=not ready, reason=reason)
    session.add(done)
    queued = _take_over(session, source, now)
    audit.record(
        session,
        who,
        "cutover.commit",
        object_type="source",
        object_id=source,
        changes={"forced": [None, not ready], "reason": [None, reason], "queued": [None, queued]},
    )
    session.flush()
    return done


def _take_over(session: Session, source: str, now: datetime) -> int:
    """Own the source's dossiers from ``now`` and queue for the portal those it never had an event of."""
    sent = (
        select(OutboxEvent.dossier_code)
        .where(OutboxEvent.dossier_code == Dossier.code, OutboxEvent.destination == Destination.PORTAL)
        .exists()
    )  # a notice to the citizen is not an event the portal has
    queued = 0
    for d in session.scalars(select(Dossier).where(Dossier.source_name == source, Dossier.origin == "migrated")):
        if d.owned_here_at is None:
            d.owned_here_at = now
    session.flush()
    for d in session.scalars(select(Dossier).where(Dossier.source_name == source, ~sent)):
        enqueue(session, d, "dossier")
        queued += 1
    return queued


__all__ = [
    "BULK_MAX",
    "DISMISS_REASONS",
    "Mapper",
    "Outcome",
    "ReviewItem",
    "Rule",
    "Selection",
    "SourceLeft",
    "acknowledge",
    "apply_rule",
    "approve",
    "approve_many",
    "check_may_commit",
    "commit_cutover",
    "correct",
    "dismiss_selection",
    "fields_of",
    "left",
    "pick_unit",
    "preview",
    "proposals",
    "propose_dismissal",
    "reject",
    "review_queue",
]
