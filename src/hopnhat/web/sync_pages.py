"""The sync part's pages: runs with their accounting, cut-over verdicts, and the quarantine with its replay. They
call :mod:`hopnhat.sync` by import; rows are the dataclasses below."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ, Settings
from hopnhat.deps import SessionDep
from hopnhat.errors import HopnhatError
from hopnhat.i18n import translate
from hopnhat.identity import audit
from hopnhat.identity.principal import Principal
from hopnhat.sync import repository as sync_repo
from hopnhat.sync import service as sync
from hopnhat.sync.models import QuarantinedRecord
from hopnhat.web import charts
from hopnhat.web.common import check_form, guard, lang_of, panel, redirect, render, settings_of
from hopnhat.web.continuity_pages import cutover_verdicts

QUARANTINE_LIMIT = 1000
"""Open quarantined records the page reads at most (paged 25 at a time); the CLI lists them all."""


@dataclass(frozen=True)
class RunRow:
    """One source in one run: extracted = inserted + updated + unchanged + quarantined + duplicates."""

    run: int
    started_at: datetime | None
    source: str
    state: str
    extracted: int | None
    inserted: int | None
    updated: int | None
    unchanged: int | None
    quarantined: int | None
    duplicates: int | None
    error: str | None


def _instant(value: str | None) -> datetime | None:
    # The sync service answers in JSON-ready ISO text (for the API and the CLI's --json).
    return datetime.fromisoformat(value) if value else None


def sync_runs(session: Session) -> list[RunRow]:
    rows = []
    for run in sync.runs(session):
        sources: dict[str, dict[str, Any]] = run["sources"] or {"—": {}}
        for source, counts in sources.items():
            rows.append(
                RunRow(
                    run=run["id"],
                    started_at=_instant(run["started_at"]),
                    source=source,
                    state=counts.get("state", run["state"]),
                    extracted=counts.get("extracted"),
                    inserted=counts.get("inserted"),
                    updated=counts.get("updated"),
                    unchanged=counts.get("unchanged"),
                    quarantined=counts.get("quarantined"),
                    duplicates=counts.get("duplicates"),
                    error=counts.get("error") or run["reason"],
                )
            )
    return rows


_LOADED = ("inserted", "updated", "unchanged", "duplicates")


def sync_progress_chart(rows: list[RunRow], title: str, lang: str) -> Markup | None:
    """Per source and run, the share of extracted records that reached the store (not quarantined); each bar
    names its source with the run's number and time, so two runs of one source read apart."""
    bars = []
    for row in rows:
        if row.extracted:
            done = sum(int(getattr(row, k) or 0) for k in _LOADED)
            when = row.started_at.astimezone(VN_TZ).strftime("%d/%m %H:%M") if row.started_at else "—"
            label = f"{row.source} · {translate('run_at', lang).format(row.run, when)}"
            bars.append((label, 100.0 * done / row.extracted))
    return charts.bar_chart(title, bars, unit="%", max_value=100) if bars else None


def sync_page(request: Request, session: SessionDep, user: Annotated[Principal, Depends(guard("sync"))]) -> Response:
    lang = lang_of(request)
    runs = sync_runs(session)
    panels = [
        panel(request, translate("runs", lang), "runs", lambda: runs),
        panel(
            request,
            translate("verdicts", lang),
            "verdicts",
            lambda: cutover_verdicts(session),
            empty=translate("no_verdicts", lang),
        ),
    ]
    chart = sync_progress_chart(runs[:10], translate("progress", lang), lang)
    return render(
        request,
        "panels.html",
        user,
        "sync",
        title=translate("sync", lang),
        panels=panels,
        extra_link=True,
        charts=[chart] if chart else [],
    )


@dataclass(frozen=True)
class QuarantineRow:
    """An open quarantined record, reasons only (the raw payload holds personal data and stays out of pages)."""

    id: int
    source: str
    source_id: str
    reasons: list[str]
    created_at: datetime


def quarantine(session: Session) -> list[QuarantineRow]:
    return [
        QuarantineRow(q.id, q.source, q.source_id, list(q.reasons), q.created_at)
        for q in sync_repo.quarantine_list(session, None, "open", QUARANTINE_LIMIT)
    ]


class ReplayOutcome(StrEnum):
    """What a replay did, as the quarantine page reports it after the redirect (``?done=`` or ``?failed=``)."""

    REPLAYED = "replayed"
    STILL_QUARANTINED = "still_quarantined"
    NO_CONFIG = "no_config"
    NOT_FOUND = "not_found"
    SOURCE_ERROR = "source_error"


class ReplayRefused(HopnhatError):
    status_code = 409

    def __init__(self, outcome: ReplayOutcome, detail: str = "") -> None:
        super().__init__(detail or outcome.value)
        self.outcome = outcome


def replay_record(session: Session, settings: Settings, record_id: int) -> None:
    """Replay one quarantined record: the sync re-reads the record's source whole (after a mapping fix or a
    corrected source row) and commits on its own, as a CLI replay does. Raises :class:`ReplayRefused` with the
    outcome when the record is unknown, the sources config is not set, the source fails, or the record is still
    quarantined afterwards."""
    record = session.get(QuarantinedRecord, record_id)
    if record is None:
        raise ReplayRefused(ReplayOutcome.NOT_FOUND)
    if not settings.sync_config:
        raise ReplayRefused(ReplayOutcome.NO_CONFIG)
    source = record.source
    try:
        config = sync.pick(sync.load_config(Path(settings.sync_config)), source)
    except HopnhatError as exc:
        raise ReplayRefused(ReplayOutcome.SOURCE_ERROR, exc.detail) from exc
    try:
        results = sync.run(session.get_bind().engine, config, full=True)[1]
    except HopnhatError as exc:
        raise ReplayRefused(ReplayOutcome.SOURCE_ERROR, exc.detail) from exc
    if results.get(source, {}).get("error"):
        raise ReplayRefused(ReplayOutcome.SOURCE_ERROR, str(results[source]["error"]))
    # The run committed on its own connections: end this session's read (a SQLite snapshot would still show the
    # old row) before asking whether the record left the quarantine.
    session.rollback()
    record = session.get(QuarantinedRecord, record_id)
    if record is not None and record.state == "open":
        raise ReplayRefused(ReplayOutcome.STILL_QUARANTINED)


def quarantine_page(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("quarantine"))],
) -> Response:
    lang = lang_of(request)
    result = panel(request, translate("quarantine", lang), "quarantine", lambda: quarantine(session))
    done = request.query_params.get("done", "")[:20]
    failed = request.query_params.get("failed", "")[:40]
    return render(
        request,
        "quarantine.html",
        user,
        "sync",
        quarantine=result,
        record=request.query_params.get("record", "")[:20],
        replayed=done,
        failed=failed if failed in set(ReplayOutcome) else "",
        failed_detail=request.query_params.get("detail", "")[:300],
    )


def replay(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("quarantine"))],
    record_id: int,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form(user, csrf)
    # The replay commits on its own connection: whatever this request wrote so far (its session's last-seen time)
    # is committed first, or SQLite's one writer would be this request, waiting for the replay that waits for it.
    session.commit()
    try:
        replay_record(session, settings_of(request), record_id)
    except ReplayRefused as exc:
        session.rollback()
        _audit_replay(session, user, record_id, "refused")
        # A source's own error is shown as it is (it names the file or the server); every other outcome is a code
        # the page says in its language.
        detail = exc.detail if exc.outcome is ReplayOutcome.SOURCE_ERROR else ""
        return redirect("/sync/quarantine", failed=exc.outcome.value, record=str(record_id), detail=detail)
    _audit_replay(session, user, record_id, "replayed")
    return redirect("/sync/quarantine", done=str(record_id))


def _audit_replay(session: Session, user: Principal, record_id: int, result: str) -> None:
    audit.record(
        session,
        user,
        "quarantine.replay",
        object_type="quarantine",
        object_id=str(record_id),
        changes={"result": [None, result]},
    )


__all__ = [
    "QuarantineRow",
    "ReplayOutcome",
    "ReplayRefused",
    "RunRow",
    "quarantine",
    "quarantine_page",
    "replay",
    "replay_record",
    "sync_page",
    "sync_progress_chart",
    "sync_runs",
]
