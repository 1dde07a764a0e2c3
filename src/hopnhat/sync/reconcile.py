"""Reconciliation: each source read whole, mapped like the sync does, compared with the store."""

from __future__ import annotations

import html
import sys
from collections import Counter
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.sync import repository as repo
from hopnhat.sync.engine import SourceContext, batches, read_ahead
from hopnhat.sync.remap import Remapper
from hopnhat.sync.service import records

LIST_LIMIT = 100
BATCH = 5000


def reconcile_source(session: Session, name: str, options: dict[str, Any], remapper: Remapper) -> dict[str, Any]:
    """The source streamed once and kept as compact tuples (one per source id, the latest copy wins); the store read
    column-wise (Core, not ORM objects) with its per-status/unit/month counts grouped by the database."""
    ctx = SourceContext(name, str(options.get("province_code", "")), remapper, None)
    source: dict[str, tuple[str, int, str, str, str]] = {}
    months: dict[tuple[int, int], str] = {}
    read = records(options)
    for p in (p for batch in read_ahead(lambda: batches(read(None), ctx, BATCH)) for p in batch):
        record = p.record
        if p.values is None or not record.source_id:
            continue
        v = p.values
        latest = source.get(record.source_id)
        stamp = record.updated.isoformat() if record.updated else ""
        if latest is None or stamp >= latest[4]:
            received = v["received_at"]
            local = received if received.tzinfo is VN_TZ else received.astimezone(VN_TZ)
            month = months.get((local.year, local.month))
            if month is None:
                month = months[(local.year, local.month)] = f"{local.year:04d}-{local.month:02d}"
            unit = str(v.get("original_unit_code"))
            source[record.source_id] = (p.hash, v["status"], sys.intern(unit), month, stamp)
    store = repo.dossier_codes(session)
    held = repo.open_quarantine_ids(session, name)
    missing = sorted(sid for sid in source if sid not in store and sid not in held)
    extra: list[str] = []
    changed: list[str] = []
    store_rows = 0
    for sid, digest in repo.copy_digests(session, name):
        store_rows += 1
        mine = source.get(sid)
        if mine is None:
            extra.append(sid)
        elif sid in store and digest != mine[0]:
            changed.append(sid)
    extra.sort()
    changed.sort()
    src_status = Counter(str(s[1]) for s in source.values())
    src_unit = Counter(s[2] for s in source.values())
    src_month = Counter(s[3] for s in source.values())
    return {
        "source_rows": len(source),
        "store_rows": store_rows,
        "missing": len(missing),
        "extra": len(extra),
        "changed": len(changed),
        "quarantined_open": len(held),
        "missing_ids": missing[:LIST_LIMIT],
        "extra_ids": extra[:LIST_LIMIT],
        "changed_ids": changed[:LIST_LIMIT],
        "by_status": _diff(src_status, repo.copy_counts(session, name, "status")),
        "by_unit": _diff(src_unit, repo.copy_counts(session, name, "unit_code")),
        "by_month": _diff(src_month, repo.copy_counts(session, name, "received_month")),
    }


def _diff(source: Mapping[str, int], store: Mapping[str, int]) -> dict[str, dict[str, int]]:
    return {k: {"source": source.get(k, 0), "store": store.get(k, 0)} for k in sorted(set(source) | set(store))}


def reconcile(session: Session, config: dict[str, dict[str, Any]], today: date) -> dict[str, dict[str, Any]]:
    remapper = Remapper(session, today)
    out: dict[str, dict[str, Any]] = {}
    for name, options in config.items():
        try:
            out[name] = reconcile_source(session, name, options, remapper)
        except Exception as exc:
            out[name] = {"error": f"source {name}: {exc}", "missing": None, "extra": None, "changed": None}
    return out


def render_html(report: dict[str, dict[str, Any]]) -> str:
    parts = ["<!doctype html><meta charset=utf-8><title>Reconciliation</title><h1>Reconciliation</h1>"]
    for name, r in report.items():
        parts.append(f"<h2>{html.escape(name)}</h2><table border=1>")
        for key in ("source_rows", "store_rows", "missing", "extra", "changed", "quarantined_open", "error"):
            if key in r:
                parts.append(f"<tr><th>{key}</th><td>{html.escape(str(r[key]))}</td></tr>")
        parts.append("</table>")
        for key in ("missing_ids", "extra_ids", "changed_ids"):
            if r.get(key):
                parts.append(f"<p>{key}: {html.escape(', '.join(r[key]))}</p>")
        for key in ("by_status", "by_month"):
            rows = "".join(
                f"<tr><td>{html.escape(k)}</td><td>{v['source']}</td><td>{v['store']}</td></tr>"
                for k, v in r.get(key, {}).items()
            )
            parts.append(f"<h3>{key}</h3><table border=1><tr><th></th><th>source</th><th>store</th></tr>{rows}</table>")
    return "\n".join(parts)
