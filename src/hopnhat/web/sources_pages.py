"""The administrators' page of the sources: each configured source with the system the store knows under its name,
and the dry run of its mapping (``hopnhat sources check``) on demand. Reading a source writes nothing."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request, Response
from sqlalchemy.orm import Session

from hopnhat.deps import SessionDep
from hopnhat.errors import HopnhatError
from hopnhat.i18n import translate
from hopnhat.identity.principal import Principal
from hopnhat.web import pages
from hopnhat.web import sources as parts

CHECK_RECORDS = 20_000
"""Records the page's dry run reads per source (the CLI reads more: a page must answer within a request)."""


def _identities(session: Session, config: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    from hopnhat.sync import repository as repo

    rows = []
    for name, options in config.items():
        known = repo.identity(session, name)
        rows.append(
            {
                "source": name,
                "connector": options.get("connector"),
                "profile": options.get("profile") or ("(mapping)" if "mapping" in options else "(default)"),
                "location": known.location if known else None,
                "sample_ids": len(known.sample_ids) if known else 0,
                "checked_at": known.checked_at if known else None,
                "check": f"/sync/sources?{urlencode({'check': name})}",
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
    user: Annotated[Principal, Depends(pages.guard("sources"))],
    check: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    lang = pages._lang(request)
    t = translate
    panels: list[dict[str, Any]] = []
    try:
        config = parts._sync_config(pages._settings(request))
    except HopnhatError as exc:
        panels.append({"title": t("sources", lang), "available": True, "error": exc.detail, "columns": [], "rows": []})
        config = {}
    if config:
        rows = _identities(session, config)
        links = [{"check": row.pop("check")} for row in rows]
        for row, link in zip(rows, links, strict=True):
            row["check"] = t("dry_run", lang)
            link["check"] = f"/sync/sources?{urlencode({'check': row['source']})}"
        columns, table = parts.table(rows, drop=())
        panels.append(
            {"title": t("sources", lang), "available": True, "columns": columns, "rows": table, "hrefs": links}
        )
    if check and check in config:
        try:
            report = _check(session, config, check)
        except Exception as exc:  # the dry run of a source that cannot be read says why, the page stays up
            panels.append(
                {"title": check, "available": True, "error": f"{type(exc).__name__}: {str(exc)[:300]}", "rows": []}
            )
        else:
            panels.extend(_report_panels(report, lang))
    return pages.render(request, "panels.html", user, "sync", title=t("sources", lang), panels=panels)


def _report_panels(report: dict[str, Any], lang: str) -> list[dict[str, Any]]:
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
    for title, items in (
        (f"{t('dry_run', lang)}: {name}", summary),
        (t("fields", lang), fields),
        (t("unknown_values", lang), unknown),
        (t("reasons", lang), reasons),
    ):
        columns, rows = parts.table(items, drop=())
        out.append({"title": title, "available": True, "columns": columns, "rows": rows})
    return out


def mount(get: Any) -> None:
    get("/sync/sources", sources_page)


__all__ = ["mount", "sources_page"]
