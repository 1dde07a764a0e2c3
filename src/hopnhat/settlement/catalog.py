"""Catalogue import/export (CSV, JSON) and re-levelling of district procedures (two-level model, 2025-07-01)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from hopnhat.errors import InvalidInput
from hopnhat.files import FileLimits, read_csv_rows, write_csv
from hopnhat.settlement import repository as repo
from hopnhat.settlement.schemas import ProcedureIn
from hopnhat.settlement.service import upsert_procedure

COLUMNS = list(ProcedureIn.model_fields)
LIST_COLUMNS = ("required_documents", "fee_items", "receiving_centers", "handling_units")
"""Structured columns: JSON text in a CSV cell (``[{"code": "TP1", "name": "Tờ khai"}]``, ``["province"]``)."""


def _cell_list(row: dict[str, Any], key: str, where: str) -> None:
    value = row.get(key)
    if value is None or not isinstance(value, str):
        return
    try:
        row[key] = json.loads(value)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{where}: column {key}: not JSON ({exc.msg})") from None


def _rows(text: str, fmt: str, limits: FileLimits) -> list[dict[str, Any]]:
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"catalogue JSON: {exc.msg} at line {exc.lineno}") from None
        rows = data.get("procedures") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise InvalidInput('catalogue JSON: expected a list of procedures or {"procedures": [...]}')
        return [r for r in rows if isinstance(r, dict)]
    if fmt == "csv":
        rows = read_csv_rows(text, limits, "catalogue CSV")
        out = [{k: (v if v != "" else None) for k, v in r.items() if k} for r in rows]
        for i, row in enumerate(out, start=2):
            for key in LIST_COLUMNS:
                _cell_list(row, key, f"catalogue CSV line {i} ({row.get('code')})")
            for key in LIST_COLUMNS:
                if row.get(key) is None:
                    row.pop(key, None)
        return out
    raise InvalidInput(f"catalogue format {fmt!r}: use csv or json")


def import_catalog(session: Session, text: str, fmt: str, limits: FileLimits | None = None) -> int:
    """Insert or update every procedure; the first bad record stops the import with its line and reason. A CSV
    has at most ``limits.max_rows`` rows (the file's size is the caller's to bound, :func:`hopnhat.files.read_text`)."""
    count = 0
    for i, row in enumerate(_rows(text, fmt, limits or FileLimits()), start=1):
        try:
            data = ProcedureIn.model_validate(row)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(f"catalogue record {i} ({row.get('code')}): {where}: {first['msg']}") from None
        upsert_procedure(session, data)
        count += 1
    return count


def export_catalog(session: Session, fmt: str) -> str:
    rows = [ProcedureIn.model_validate(p, from_attributes=True).model_dump() for p in repo.procedures(session)]
    if fmt == "json":
        return json.dumps({"procedures": rows}, ensure_ascii=False, indent=2)
    if fmt == "csv":
        flat = [{k: json.dumps(v, ensure_ascii=False) if k in LIST_COLUMNS else v for k, v in r.items()} for r in rows]
        return write_csv(flat, COLUMNS)
    raise InvalidInput(f"catalogue format {fmt!r}: use csv or json")


def load_sample(session: Session) -> int:
    """The bundled SAMPLE catalogue (only 1.001193 is a verified national code; the others are local MAU-...)."""
    text = resources.files("hopnhat.settlement").joinpath("data/sample_catalog.json").read_text("utf-8")
    return import_catalog(session, text, "json")


@dataclass
class RelevelResult:
    moved: list[tuple[str, str]] = field(default_factory=list)
    unassigned: list[str] = field(default_factory=list)


def read_rules(text: str, limits: FileLimits | None = None) -> list[tuple[str, str]]:
    """Rule table CSV ``match,to_level``: ``match`` is a procedure code, ``field:<field name>`` or ``*``; the
    first matching row wins."""
    rules: list[tuple[str, str]] = []
    for i, row in enumerate(read_csv_rows(text, limits or FileLimits(), "rules"), start=2):
        match, level = (row.get("match") or "").strip(), (row.get("to_level") or "").strip()
        if not match or level not in ("commune", "province"):
            raise InvalidInput(
                f"rules line {i}: need match and to_level (commune or province), got {match!r}, {level!r}"
            )
        rules.append((match, level))
    return rules


def relevel(session: Session, rules: list[tuple[str, str]]) -> RelevelResult:
    """Move every district-level procedure to commune or province level; list those no rule covers."""
    result = RelevelResult()
    for proc in repo.procedures(session):
        if proc.level != "district":
            continue
        for match, level in rules:
            if match in ("*", proc.code) or (match.startswith("field:") and match[6:] == (proc.field or "")):
                proc.level = level
                result.moved.append((proc.code, level))
                break
        else:
            result.unassigned.append(proc.code)
    session.flush()
    return result


__all__ = ["RelevelResult", "export_catalog", "import_catalog", "load_sample", "read_rules", "relevel"]
