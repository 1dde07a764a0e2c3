"""Reconciliation: each source read whole, mapped like the sync does, compared with the store."""

from __future__ import annotations

import html
from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.store.models import Dossier
from hopnhat.sync.engine import SourceContext, normalise
from hopnhat.sync.models import QuarantinedRecord, SourceCopy
from hopnhat.sync.remap import Remapper
from hopnhat.sync.service import records

LIST_LIMIT = 100


def reconcile_source(session: Session, name: str, options: dict[str, Any], remapper: Remapper) -> dict[str, Any]:
    ctx = SourceContext(name, str(options.get("province_code", "")), remapper, None)
    source: dict[str, tuple[str, int, str, str]] = {}
    for record in records(options)(None):
        p = normalise(ctx, record)
        if p.values is None or not record.source_id:
            continue
        v = p.values
        latest = source.get(record.source_id)
        stamp = record.updated.isoformat() if record.updated else ""
        if latest is None or stamp >= latest[3]:
            month = v["received_at"].astimezone(VN_TZ).strftime("%Y-%m")
            source[record.source_id] = (p.hash, v["status"], f"{v.get('original_unit_code')}|{month}", stamp)
    copies = {c.source_id: c for c in session.scalars(select(SourceCopy).where(SourceCopy.source == name))}
    store = dict(session.execute(select(Dossier.code, Dossier.row_hash)).all())
    held = set(
        session.scalars(
            select(QuarantinedRecord.source_id).where(
                QuarantinedRecord.source == name, QuarantinedRecord.state == "open"
            )
        )
    )
    missing = sorted(sid for sid in source if sid not in store and sid not in held)
    extra = sorted(sid for sid, c in copies.items() if sid not in source)
    changed = sorted(
        sid for sid, (h, *_rest) in source.items() if sid in store and sid in copies and copies[sid].row_hash != h
    )
    src_status = Counter(str(s) for _, s, _, _ in source.values())
    store_status = Counter(str(c.status) for c in copies.values())
    src_unit = Counter(k.split("|")[0] for _, _, k, _ in source.values())
    store_unit = Counter(str(c.unit_code) for c in copies.values())
    src_month = Counter(k.split("|")[1] for _, _, k, _ in source.values())
    store_month = Counter(str(c.received_month) for c in copies.values())
    return {
        "source_rows": len(source),
        "store_rows": len(copies),
        "missing": len(missing),
        "extra": len(extra),
        "changed": len(changed),
        "quarantined_open": len(held),
        "missing_ids": missing[:LIST_LIMIT],
        "extra_ids": extra[:LIST_LIMIT],
        "changed_ids": changed[:LIST_LIMIT],
        "by_status": _diff(src_status, store_status),
        "by_unit": _diff(src_unit, store_unit),
        "by_month": _diff(src_month, store_month),
    }


def _diff(source: Counter[str], store: Counter[str]) -> dict[str, dict[str, int]]:
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
