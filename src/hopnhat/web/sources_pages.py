"""The administrators' page of the sources: each configured source with the system the store knows under its name,
and the dry run of its mapping (``hopnhat sources check``) on demand. Reading a source writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request, Response
from sqlalchemy.orm import Session

from hopnhat.deps import SessionDep
from hopnhat.errors import HopnhatError
from hopnhat.i18n import translate
from hopnhat.identity.principal import Principal
from hopnhat.sync import service
from hopnhat.web.common import Panel, guard, lang_of, panel, render, settings_of

CHECK_RECORDS = 20_000
"""Records the page's dry run reads per source (the CLI reads more: a page must answer within a request)."""


def _identities(session: Session, config: dict[str, dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    from hopnhat.sync import repository as repo

    rows = []
    for name, options in config.items():
        known = repo.identity(session, name)
        rows.append(
            {
                "source": name,
                "connector": options.get("connector"),
                "profile": options.get("profile")
                or translate("profile_mapping" if "mapping" in options else "profile_default", lang),
                "location": known.location if known else None,
                "sample_ids": len(known.sample_ids) if known else 0,
                "checked_at": known.checked_at if known else None,
                "check": translate("dry_run", lang),
            }
        )
    return rows


def _check(session: Session, config: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    from hopnhat.sync import profiler, service

    remapper = service.remapper_for(session.get_bind(), {name: config[name]})  # type: ignore[arg-type]
    return profiler.check(name, config[name], remapper, CHECK_RECORDS)


def sources_page(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("sources"))],
    check: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    lang = lang_of(request)
    t = translate
    panels: list[Panel] = []
    path = settings_of(request).sync_config
    config: dict[str, dict[str, Any]] = {}
    if not path:
        panels.append(Panel(t("sources", lang), "sources", error=t("sources_not_set", lang)))
    else:
        try:
            config = service.load_config(Path(path))
        except HopnhatError as exc:
            panels.append(Panel(t("sources", lang), "sources", error=exc.detail))
    if config:
        rows = _identities(session, config, lang)

        def links(row: dict[str, Any]) -> dict[str, str]:
            return {"check": f"/sync/sources?{urlencode({'check': row['source']})}"}

        panels.append(panel(request, t("sources", lang), "sources", lambda: rows, links=links, drop=()))
    if check and check in config:
        try:
            report = _check(session, config, check)
        except Exception as exc:  # the dry run of a source that cannot be read says why, the page stays up
            panels.append(Panel(check, "check", error=f"{type(exc).__name__}: {str(exc)[:300]}"))
        else:
            panels.extend(_report_panels(request, report, lang))
    return render(request, "panels.html", user, "sync", title=t("sources", lang), panels=panels)


def _report_panels(request: Request, report: dict[str, Any], lang: str) -> list[Panel]:
    t = translate
    name = report["source"]
    summary = [
        {
            "records": report["records"],
            "duplicates": report["duplicates"],
            "would_quarantine": report["would_quarantine"],
            "file_problems": "; ".join(report["file_problems"].values()) or None,
        }
    ]
    fields = [
        {"field": f, "filled": f"{s['filled']:.1%}", "parsed": None if s["parsed"] is None else f"{s['parsed']:.1%}"}
        for f, s in report["fields"].items()
    ]
    unknown = [
        {"field": f, "value": v, "count": n}
        for f, values in report["unknown_values"].items()
        for v, n in values.items()
    ]
    reasons = [{"reason": r, "count": n} for r, n in report["reasons"].items()]
    out = []
    for key, title, items in (
        ("summary", f"{t('dry_run', lang)}: {name}", summary),
        ("fields", t("fields", lang), fields),
        ("unknown", t("unknown_values", lang), unknown),
        ("reasons", t("reasons", lang), reasons),
    ):
        out.append(panel(request, title, key, lambda items=items: items, drop=()))  # type: ignore[misc]
    return out


__all__ = ["sources_page"]
