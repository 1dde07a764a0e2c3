"""The overview an administrator scans: tiles, charts and the few short lists that need action, each linking to
the page of its part (systems, plan, centers, sync) for the rest. No long table: at 1366 × 900 it fits two
screens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from hopnhat.deps import SessionDep
from hopnhat.i18n import translate
from hopnhat.identity.principal import Principal
from hopnhat.settlement import repository as settlement_repo
from hopnhat.web import charts
from hopnhat.web.common import guard, lang_of, panel, render
from hopnhat.web.continuity_pages import center_links, cutover_verdicts, plan_tasks, readiness, system_states
from hopnhat.web.dossier_pages import center_names

SHORT = 5
"""Rows of a list on the overview; its part's page has the rest."""


@dataclass(frozen=True)
class Tile:
    """A figure on the overview; ``value`` None means nothing was measured (said so, not shown as 0)."""

    label: str
    value: int | None
    tone: str = ""
    href: str | None = None


@dataclass(frozen=True)
class NotReadyRow:
    name: str
    agency_code: str | None
    reasons: list[str]


def overview(request: Request, session: SessionDep, user: Annotated[Principal, Depends(guard("overview"))]) -> Response:
    lang = lang_of(request)
    figures = settlement_repo.consolidation(session)
    states = system_states(session)
    measured = states.measured > 0
    tiles = [
        Tile(translate("dossiers_total", lang), figures.total, href="/dossiers"),
        Tile(translate("migrated", lang), figures.migrated),
        Tile(translate("needs_review", lang), figures.review),
        # A system never probed is neither up nor down: with none measured, the tiles say so instead of a green 0.
        Tile(translate("systems_up", lang), states.count("up") if measured else None, "good", "/systems"),
        Tile(
            translate("systems_down", lang),
            states.count("down") if measured else None,
            "bad" if states.count("down") else "",
            "/systems",
        ),
        Tile(translate("systems_unknown", lang), states.count("unknown"), href="/systems"),
    ]
    progress = charts.bar_chart(
        translate("progress", lang),
        [(t.label, float(t.value or 0)) for t in tiles[:3]],
    )
    names = center_names(session, [code for code, _, _ in figures.on_time])
    on_time: Markup | None = None
    if figures.on_time:
        on_time = charts.bar_chart(
            translate("on_time_rate", lang),
            [
                (names.get(code, code) if code else translate("unknown", lang), 100.0 * ok / n)
                for code, n, ok in figures.on_time
                if n
            ],
            unit="%",
            max_value=100,
        )
    ready_rows = readiness(session)
    readiness_chart = None
    if ready_rows:
        n = len(ready_rows)
        readiness_chart = charts.bar_chart(
            translate("readiness", lang),
            [
                (translate(key, lang), 100.0 * sum(1 for r in ready_rows if getattr(r, key)) / n)
                for key in ("staff_ok", "regulation_ok", "equipment_ok", "ready")
            ],
            unit="%",
            max_value=100,
        )
    not_ready = [NotReadyRow(r.name, r.agency_code, r.reasons) for r in ready_rows if not r.ready]
    panels = [
        (
            panel(
                request,
                translate("verdicts", lang),
                "verdicts",
                lambda: cutover_verdicts(session),
                empty=translate("no_verdicts", lang),
                per_page=SHORT,
            ),
            "/sync",
        ),
        (
            panel(
                request,
                translate("overdue_tasks", lang),
                "overdue",
                lambda: plan_tasks(session, "overdue"),
                per_page=SHORT,
            ),
            "/plan",
        ),
        (
            panel(
                request,
                translate("not_ready", lang),
                "not_ready",
                lambda: not_ready,
                links=center_links,
                per_page=SHORT,
                drop=("agency_code",),
            ),
            "/centers",
        ),
    ]
    return render(
        request,
        "overview.html",
        user,
        "overview",
        tiles=tiles,
        progress=progress,
        on_time=on_time,
        panels=panels,
        readiness_chart=readiness_chart,
    )


__all__ = ["Tile", "overview"]
