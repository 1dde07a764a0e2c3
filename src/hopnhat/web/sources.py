"""What the pages read, through the same service functions as the API and the CLI.

Parts are imported lazily: a part that is not installed (or not built yet) makes its panel say "not available" while
the rest of the site works. Every function here returns plain data for the templates; none commits.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from types import ModuleType
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, case, func, inspect, or_, select
from sqlalchemy.orm import Session

from hopnhat.identity.principal import DossierScope
from hopnhat.store.models import DONE_STATUSES, FINAL_STATUSES, Dossier

HIDDEN_FIELDS = ("applicant_", "raw", "payload", "password")
"""Fields a generic table never shows: personal data and raw source records stay out of rendered pages."""


class Unavailable(Exception):
    """The part behind a panel is not available in this installation."""


def optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            return None
        raise


def function(module: str, *names: str) -> Callable[..., Any]:
    """The first of ``names`` that ``module`` defines; :class:`Unavailable` when the module or all names are absent."""
    mod = optional(module)
    if mod is not None:
        for name in names:
            fn = getattr(mod, name, None)
            if callable(fn):
                return fn  # type: ignore[no-any-return]
    raise Unavailable(module)


def as_dict(item: Any) -> dict[str, Any]:
    """A row of a generic table from a Pydantic model, a dataclass, an ORM object, a row or a mapping."""
    if isinstance(item, BaseModel):
        return item.model_dump()
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    if isinstance(item, dict):
        return dict(item)
    mapping = getattr(item, "_mapping", None)
    if mapping is not None:
        return dict(mapping)
    state = inspect(item, raiseerr=False)
    if state is not None and hasattr(state, "mapper"):
        return {attr.key: getattr(item, attr.key) for attr in state.mapper.column_attrs}
    return {"value": item}


def table(items: Iterable[Any], *, drop: Sequence[str] = ("id",)) -> tuple[list[str], list[list[Any]]]:
    """(columns, rows) for any list of records, without personal data or raw payloads."""
    dicts = [as_dict(i) for i in items]
    columns: list[str] = []
    for d in dicts:
        for key in d:
            if key not in columns and key not in drop and not key.startswith(HIDDEN_FIELDS):
                columns.append(key)
    return columns, [[d.get(c) for c in columns] for d in dicts]


def items_of(result: Any, *keys: str) -> list[Any]:
    """A list out of a service answer that may be a list or an envelope object holding one."""
    if isinstance(result, list | tuple):
        return list(result)
    for key in keys:
        value = result.get(key) if isinstance(result, dict) else getattr(result, key, None)
        if isinstance(value, list | tuple):
            return list(value)
    return [result] if result is not None else []


# --- dossiers (consolidated store) -------------------------------------------------------------------------------


PUBLIC_DOSSIER_FIELDS = (
    Dossier.code,
    Dossier.procedure_name,
    Dossier.status,
    Dossier.received_at,
    Dossier.due_at,
    Dossier.finished_at,
    Dossier.returned_at,
    Dossier.unit_code,
)


def public_dossier(session: Session, code: str) -> dict[str, Any] | None:
    """Status of one dossier for the public: the settlement part's public lookup when present (it may add the
    competent unit's name), else the public columns of the store. Never the applicant's data."""
    try:
        lookup = function("hopnhat.settlement.service", "public_view")
    except Unavailable:
        row = session.execute(select(*PUBLIC_DOSSIER_FIELDS).where(Dossier.code == code.strip())).first()
        if row is None:
            return None
        data = dict(row._mapping)
        if data["unit_code"]:
            from hopnhat.registry.repository import unit_on

            unit = unit_on(session, data["unit_code"], date.today())
            data["unit_name"] = unit.name if unit is not None else None
        return data
    from hopnhat.errors import NotFound

    try:
        result = lookup(session, code.strip())
    except NotFound:
        return None
    if result is None:
        return None
    data = as_dict(result)
    return {k: v for k, v in data.items() if not k.startswith(HIDDEN_FIELDS)}


def is_overdue(due_at: datetime | None, status: int, finished_at: datetime | None, now: datetime) -> bool:
    """Overdue: past due and still open, or finished after the due time (overdue is not a status of its own)."""
    if due_at is None:
        return False
    if status in DONE_STATUSES or status in FINAL_STATUSES:
        return finished_at is not None and finished_at > due_at
    return due_at < now


def center_dossiers(
    session: Session,
    center_code: str | None,
    *,
    overdue_only: bool = False,
    limit: int = 200,
    scope: DossierScope | None = None,
) -> list[dict[str, Any]]:
    """An officer's list (officers' view: the applicant's name is shown, other personal data is not): the dossiers
    of ``center_code`` (received there or handled there), narrowed to what ``scope`` sees."""
    now = datetime.now(UTC)
    query = select(Dossier).order_by(Dossier.due_at.is_(None), Dossier.due_at, Dossier.code)
    if center_code is not None:
        query = query.where(or_(Dossier.center_code == center_code, Dossier.received_center_code == center_code))
    if scope is not None and not scope.everything:
        seen: list[ColumnElement[bool]] = [
            Dossier.center_code.in_(scope.centers),
            Dossier.received_center_code.in_(scope.centers),
        ]
        if scope.units:
            seen.append(Dossier.holder_unit_code.in_(scope.units))
        if scope.username:
            seen.append(Dossier.holder_username == scope.username)
        query = query.where(or_(*seen))
    if overdue_only:
        open_statuses = [int(s) for s in set(range(1, 11)) - {int(x) for x in DONE_STATUSES | FINAL_STATUSES}]
        query = query.where(Dossier.due_at < now, Dossier.status.in_(open_statuses), Dossier.clock_paused_at.is_(None))
    rows = []
    for d in session.scalars(query.limit(limit)):
        rows.append(
            {
                "code": d.code,
                "procedure": d.procedure_name or d.procedure_code,
                "applicant": d.applicant_name,
                "status": d.status,
                "received_at": d.received_at,
                "due_at": d.due_at,
                "center": d.center_code,
                # Not shown: lets the page record in the audit log whose data it showed.
                "citizen_id": d.applicant_id_number,
                # A supplement request stops the clock: a paused dossier cannot run late (as in settlement).
                "overdue": d.clock_paused_at is None and is_overdue(d.due_at, d.status, d.finished_at, now),
            }
        )
    return rows


def center_codes(session: Session) -> list[str]:
    return [c for c in session.scalars(select(Dossier.center_code).distinct().order_by(Dossier.center_code)) if c]


def center_agency_code(session: Session, code: str) -> str:
    """The agency code of the center that ``code`` names (its agency code or its commune code), as dossiers carry
    it; ``code`` itself when no continuity center matches (the dossier filter then simply finds what it finds)."""
    repo = optional("hopnhat.continuity.repository")
    center = repo.center_by_code(session, code) if repo is not None else None
    return center.agency_code if center is not None and center.agency_code else code


def center_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    """Agency code -> the center's name: the continuity center's, else the registry agency's (a dossier may be
    routed to a center before the centers are seeded)."""
    wanted = {c for c in codes if c}
    names: dict[str, str] = {}
    repo = optional("hopnhat.continuity.repository")
    if repo is not None:
        names.update({code: center.name for code, center in repo.centers_by_agency_code(session, wanted).items()})
    registry = optional("hopnhat.registry.repository")
    if registry is not None:
        for code in sorted(wanted - names.keys()):
            agency = registry.agency_by_code(session, code)
            if agency is not None:
                names[code] = agency.name
    return names


def dossier_figures(session: Session) -> dict[str, Any]:
    """Consolidation progress over the store: totals, migrated, under review, and the on-time rate per center."""
    total, migrated, review = session.execute(
        select(
            func.count(Dossier.id),
            func.coalesce(func.sum(case((Dossier.origin == "migrated", 1), else_=0)), 0),
            func.coalesce(func.sum(case((Dossier.needs_review.is_(True), 1), else_=0)), 0),
        )
    ).one()
    done = [int(s) for s in DONE_STATUSES]
    per_center = session.execute(
        select(
            Dossier.center_code,
            func.count(Dossier.id),
            func.sum(case((Dossier.finished_at <= Dossier.due_at, 1), else_=0)),
        )
        .where(Dossier.status.in_(done), Dossier.due_at.is_not(None), Dossier.finished_at.is_not(None))
        .group_by(Dossier.center_code)
        .order_by(Dossier.center_code)
        .limit(15)
    ).all()
    rates = [(code or "?", 100.0 * (on_time or 0) / n) for code, n, on_time in per_center if n]
    return {"total": int(total), "migrated": int(migrated), "review": int(review), "on_time": rates}


# --- registry and address conversion -----------------------------------------------------------------------------


def units(session: Session, text: str, day: date, level: str | None) -> list[Any]:
    from hopnhat.config import province_code
    from hopnhat.registry import repository, service

    if text.strip():
        return [hit.unit for hit in service.search(session, text, day, level=level or None, limit=50).hits]
    return list(repository.active_units(session, day, level=level or None, provinces=[province_code()]))[:300]


def convert_address(session: Session, text: str) -> Any:
    """The registry's address converter, chosen as the API chooses it: over the store's registry when loaded (later
    change sets count), else over the bundled tables."""
    endpoints = optional("hopnhat.registry.address_endpoints")
    pick = getattr(endpoints, "_converter", None)
    lock = getattr(endpoints, "_convert_lock", None)
    if pick is not None and lock is not None:
        converter = pick(session, date.today())
        with lock:  # the converter's memos are shared between requests
            return converter.convert(text)
    return function("hopnhat.registry.convert", "bundled_converter")().convert(text)


def call(module: str, names: Sequence[str], *args: Any, **kwargs: Any) -> Any:
    """Call the first of ``names`` that ``module`` defines (parts whose panels are generic tables)."""
    return function(module, *names)(*args, **kwargs)


# --- sync ----------------------------------------------------------------------------------------------------------


SYNC_COUNTS = ("extracted", "inserted", "updated", "unchanged", "quarantined", "duplicates")


def _instant(value: Any) -> Any:
    """The sync part answers in JSON-ready ISO text; a page shows an instant in Vietnam time like every other."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def sync_runs(session: Session) -> list[dict[str, Any]]:
    """One row per run and source with the run's accounting (extracted = inserted + updated + unchanged +
    quarantined + duplicates)."""
    runs = function("hopnhat.sync.service", "runs")(session)
    rows = []
    for run in runs:
        for source, counts in (run.get("sources") or {"—": {}}).items():
            rows.append(
                {
                    "run": run["id"],
                    "started_at": _instant(run.get("started_at")),
                    "source": source,
                    "state": counts.get("state", run.get("state")),
                    **{k: counts.get(k) for k in SYNC_COUNTS},
                    "error": counts.get("error"),
                }
            )
    return rows


def _sync_config(settings: Any) -> dict[str, dict[str, Any]]:
    from pathlib import Path

    from hopnhat.errors import InvalidInput

    path = getattr(settings, "sync_config", None)
    if not path:
        raise InvalidInput("the sources config is not set (HOPNHAT_SYNC_CONFIG): verdicts and replay need it")
    config: dict[str, dict[str, Any]] = function("hopnhat.sync.service", "load_config")(Path(path))
    return config


def _verdict_word(ready: bool | None) -> str | None:
    return None if ready is None else "ready" if ready else "not_ready"


def cutover_verdicts(session: Session) -> list[dict[str, Any]]:
    """The latest cut-over verdict per source as ``hopnhat cutover check`` (or the demo) recorded it, with the time
    it was computed. A page never computes one: that reads every legacy source whole (seconds to minutes)."""
    latest = function("hopnhat.sync.cutover", "latest_verdicts")(session)
    return [
        {
            "source": v["source"],
            "verdict": _verdict_word(v["ready"]),
            "reasons": v["reasons"],
            "checked_at": v["checked_at"],
        }
        for v in latest
    ]


def quarantine(session: Session) -> list[Any]:
    """Open quarantined records, reasons only (the raw payload holds personal data and stays out of pages)."""
    try:
        return list(function("hopnhat.sync.service", "list_quarantine")(session))
    except Unavailable:
        repo = optional("hopnhat.sync.repository")
        if repo is None:
            raise
    return [
        {"id": q.id, "source": q.source, "source_id": q.source_id, "state": q.state, "reasons": q.reasons}
        for q in repo.quarantine_list(session, None, "open", 200)
    ]


def replay(session: Session, settings: Any, record_id: int, actor: str) -> None:
    """Replay one quarantined record. The sync part replays by re-reading the record's source whole (after a
    mapping fix or a corrected source row): the run commits on its own, as a CLI replay does."""
    try:
        function("hopnhat.sync.service", "replay_quarantined")(session, record_id, actor=actor)
        return
    except Unavailable:
        pass
    from hopnhat.errors import InvalidInput, NotFound

    models = optional("hopnhat.sync.models")
    if models is None:
        raise Unavailable("hopnhat.sync")
    record = session.get(models.QuarantinedRecord, record_id)
    if record is None:
        raise NotFound(f"quarantined record {record_id} does not exist")
    source, source_id = record.source, record.source_id
    config = function("hopnhat.sync.service", "pick")(_sync_config(settings), source)
    engine = session.get_bind().engine
    results = function("hopnhat.sync.service", "run")(engine, config, full=True)[1]
    if results.get(source, {}).get("error"):
        raise InvalidInput(f"replay of {source}: {results[source]['error']}")
    # The run committed on its own connections: end this session's read (a SQLite snapshot would still show the
    # old row) before asking whether the record left the quarantine.
    session.rollback()
    record = session.get(models.QuarantinedRecord, record_id)
    if record is not None and record.state == "open":
        raise InvalidInput(
            f"{source} {source_id} is still quarantined: {'; '.join(record.reasons)} (correct the source row or the "
            "mapping, then replay)"
        )


# --- continuity ----------------------------------------------------------------------------------------------------

SYSTEM_COLUMNS = (
    "code",
    "name",
    "former_province",
    "criticality",
    "decision",
    "target_system",
    "target_date",
    "status",
)


def system_status(session: Session) -> list[Any]:
    """Up / down / unknown per system, from the continuity part's last probe results and open incidents."""
    return list(function("hopnhat.continuity.service", "system_status")(session))


def systems(session: Session) -> list[dict[str, Any]]:
    """The inventory: owner, former province, criticality, lifecycle decision, target."""
    return [
        {c: getattr(s, c, None) for c in SYSTEM_COLUMNS}
        for s in function("hopnhat.continuity.service", "list_systems")(session)
    ]


def incidents(session: Session) -> list[dict[str, Any]]:
    rows = function("hopnhat.continuity.service", "list_incidents")(session)
    codes = {s.id: s.code for s in function("hopnhat.continuity.service", "list_systems")(session)}
    return [
        {
            "system": codes.get(i.system_id, i.system_id),
            "opened_at": i.opened_at,
            "closed_at": i.closed_at,
            "state": "open" if i.closed_at is None else "closed",
            "cause": i.cause,
            "notes": i.notes,
        }
        for i in rows
    ]


def uptime(session: Session, days: int = 7, limit: int = 8) -> list[dict[str, Any]]:
    """Daily uptime % of the most critical systems over the last ``days`` Vietnam days."""
    from hopnhat.config import VN_TZ

    service = optional("hopnhat.continuity.service")
    if service is None:
        raise Unavailable("hopnhat.continuity")
    last = datetime.now(VN_TZ).date()
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    chosen = sorted(service.list_systems(session), key=lambda s: (order.get(s.criticality, 9), s.code))[:limit]
    rows = []
    for system in chosen:
        for day in service.uptime(session, system.code, last - timedelta(days=days - 1), last):
            if day["checks"]:
                rows.append({"system": system.code, **day})
    return rows


def plan_tasks(session: Session, view: str = "all") -> list[dict[str, Any]]:
    from hopnhat.config import VN_TZ

    rows: list[dict[str, Any]] = function("hopnhat.continuity.plan", "evaluate")(session, datetime.now(VN_TZ).date())
    if view in ("overdue", "at_risk"):
        rows = [r for r in rows if r.get(view)]
    out = []
    for row in rows:
        # The linked source's verdict as two plain columns (a nested object reads badly in a table cell); its
        # reasons are already among the task's reasons.
        verdict = row.pop("cutover", None)
        row.pop("cutover_blocked", None)
        row["cutover_verdict"] = _verdict_word(verdict["ready"]) if verdict else None
        row["cutover_checked_at"] = verdict["checked_at"] if verdict else None
        out.append(row)
    return out


def readiness(session: Session) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = function("hopnhat.continuity.centers", "readiness")(session)
    return rows


def centers(session: Session) -> list[dict[str, Any]]:
    repo = optional("hopnhat.continuity.repository")
    if repo is None:
        raise Unavailable("hopnhat.continuity")
    return [
        {
            "code": c.code,
            "agency_code": c.agency_code,
            "name": c.name,
            "level": c.level,
            "unit_code": c.unit_code,
            "address": c.address,
        }
        for c in repo.centers(session)
    ]


__all__ = [
    "SYNC_COUNTS",
    "Unavailable",
    "as_dict",
    "call",
    "center_agency_code",
    "center_codes",
    "center_dossiers",
    "center_names",
    "centers",
    "convert_address",
    "cutover_verdicts",
    "dossier_figures",
    "function",
    "incidents",
    "is_overdue",
    "items_of",
    "optional",
    "plan_tasks",
    "public_dossier",
    "quarantine",
    "readiness",
    "replay",
    "sync_runs",
    "system_status",
    "systems",
    "table",
    "units",
    "uptime",
]
