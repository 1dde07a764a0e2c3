"""Rendering of the Decision 766 report rows as CSV, JSON or XLSX (through the safe writer of :mod:`hopnhat.files`)."""

from __future__ import annotations

import json

from hopnhat.errors import InvalidInput
from hopnhat.files import write_csv, write_xlsx
from hopnhat.settlement.schemas import ReportRow

FIELDS = list(ReportRow.model_fields)


def render(rows: list[ReportRow], fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps([r.model_dump() for r in rows], ensure_ascii=False, indent=2).encode()
    if fmt == "csv":
        return write_csv((r.model_dump() for r in rows), FIELDS).encode("utf-8")
    if fmt == "xlsx":
        return write_xlsx({"report": (FIELDS, (r.model_dump() for r in rows))})
    raise InvalidInput(f"report format {fmt!r}: use csv, json or xlsx")


__all__ = ["FIELDS", "render"]
