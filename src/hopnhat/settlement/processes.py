"""Electronic processes: versioned ordered steps per procedure, and conversion of a legacy three-level process
(province / district / commune) into a two-level one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from hopnhat.errors import InvalidInput, NotFound
from hopnhat.settlement import repository as repo
from hopnhat.settlement.calendar import HOURS_PER_DAY
from hopnhat.settlement.models import ProcessStep, ProcessVersion


@dataclass
class ConvertResult:
    procedure_code: str
    version: int
    total_hours: float
    limit_hours: float | None

    @property
    def mismatch(self) -> bool:
        return self.limit_hours is not None and abs(self.total_hours - self.limit_hours) > 1e-6


def convert(session: Session, legacy: dict[str, Any], rules: dict[str, str], on: date) -> ConvertResult:
    """Rewrite a legacy process: every ``district`` step goes to the unit kind the rules give for its procedure
    (procedure code, else ``*``; default: the procedure's new level); consecutive steps of one role and kind are
    merged. A new version is stored; the result flags allowances that no longer add up to the legal limit."""
    code = str(legacy.get("procedure_code") or "")
    steps = legacy.get("steps")
    if not code or not isinstance(steps, list) or not steps:
        raise InvalidInput("legacy process: needs procedure_code and a non-empty steps list")
    proc = repo.procedure(session, code)
    if proc is None:
        raise NotFound(f"legacy process: procedure {code} is not in the catalogue")
    target = rules.get(code) or rules.get("*") or ("commune" if proc.level == "commune" else "province")
    merged: list[tuple[str, str, float]] = []
    for i, s in enumerate(steps, start=1):
        try:
            role, kind, hours = str(s["role"]), str(s["unit_kind"]), float(s["hours"])
        except (KeyError, TypeError, ValueError):
            raise InvalidInput(f"legacy process {code} step {i}: needs role, unit_kind and hours") from None
        if kind == "district":
            kind = target
        if merged and merged[-1][:2] == (role, kind):
            merged[-1] = (role, kind, merged[-1][2] + hours)
        else:
            merged.append((role, kind, hours))
    latest = repo.latest_process(session, code)
    version = ProcessVersion(
        procedure_code=code, version=(latest.version + 1) if latest else 1, valid_from=on, note="converted"
    )
    version.steps = [ProcessStep(position=i, role=r, unit_kind=k, hours=h) for i, (r, k, h) in enumerate(merged, 1)]
    session.add(version)
    session.flush()
    limit = proc.days_in_person * HOURS_PER_DAY if proc.days_in_person is not None else None
    return ConvertResult(code, version.version, sum(h for _, _, h in merged), limit)


def load_legacy(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"legacy process JSON: {exc.msg} at line {exc.lineno}") from None
    items = data if isinstance(data, list) else [data]
    return [i for i in items if isinstance(i, dict)]


__all__ = ["ConvertResult", "convert", "load_legacy"]
