"""Rendering of the Decision 766 report rows as CSV, JSON or XLSX."""

from __future__ import annotations

import csv
import io
import json

from hopnhat.errors import InvalidInput
from hopnhat.settlement.schemas import ReportRow

FIELDS = list(ReportRow.model_fields)


def render(rows: list[ReportRow], fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps([r.model_dump() for r in rows], ensure_ascii=False, indent=2).encode()
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(r.model_dump() for r in rows)
        return buf.getvalue().encode("utf-8")
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = "report"
        ws.append(FIELDS)
        for r in rows:
            ws.append([getattr(r, f) for f in FIELDS])
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    raise InvalidInput(f"report format {fmt!r}: use csv, json or xlsx")


__all__ = ["FIELDS", "render"]
