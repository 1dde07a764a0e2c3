"""Public Administration Service Centers: the provincial center and one per commune, and their readiness.

Readiness of a center (configurable with :class:`ReadinessRules`): a staff list recorded by ``staff_by``, an operating
regulation issued by ``regulation_by``, and every required equipment item in the required quantity.
Staff names are personal data: they are stored and returned to signed-in users, never logged or counted in errors.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.continuity import repository as repo
from hopnhat.continuity.models import Center, CenterRegulation, EquipmentItem, EquipmentRequirement, StaffAssignment
from hopnhat.errors import InvalidInput, NotFound
from hopnhat.files import FileLimits, read_csv_rows, read_xlsx
from hopnhat.registry.text import nfc


@dataclass(frozen=True)
class ReadinessRules:
    staff_by: date = date(2025, 6, 30)
    regulation_by: date = date(2025, 7, 10)
    require_equipment: bool = True


@dataclass(frozen=True)
class SeedResult:
    created: int
    """Centers created by this call."""
    linked: int
    """Centers that received their agency code in this call."""
    without_agency_code: int
    """Centers still without one (the registry has issued no service-center code for their commune yet)."""


def seed(session: Session, province: str | None = None) -> SeedResult:
    """Create the provincial center and one center per new commune (from the registry's bundled list) of
    ``province`` (default: the one this deployment serves), then fill in every missing agency code from the
    registry's service-center agencies. Idempotent: existing centers keep their names and details, so running it
    again after ``hopnhat agencies issue`` only adds the codes."""
    from hopnhat.config import province_code
    from hopnhat.registry.bundled import national

    data, code = national(), (province or province_code())
    served = data.new_provinces[code]
    center = f"Trung tâm Phục vụ hành chính công {served.name[:1].lower()}{served.name[1:]}"
    wanted = [(code, center, "province", code)]
    wanted += [
        (c.code, f"Trung tâm Phục vụ hành chính công {c.name}", "commune", c.code)
        for c in data.new_communes.values()
        if c.province_code == code
    ]
    existing = set(session.scalars(select(Center.code)))
    created = 0
    for code, name, level, unit in wanted:
        if code not in existing:
            session.add(Center(code=code, name=nfc(name), level=level, unit_code=unit))
            created += 1
    session.flush()
    linked = link_agencies(session)
    missing = sum(1 for c in repo.centers(session) if c.agency_code is None)
    return SeedResult(created=created, linked=linked, without_agency_code=missing)


def seed_centers(session: Session, province: str | None = None) -> int:
    """:func:`seed`, returning how many centers were created."""
    return seed(session, province).created


def link_agencies(session: Session) -> int:
    """Give every center without an agency code the code of its unit's service center in the registry; returns how
    many were filled. A code already set is kept (codes are never reused, so it cannot have gone stale), and a code
    another center holds is not given twice."""
    by_unit = repo.service_center_agency_codes(session)
    centers = list(repo.centers(session))
    held = {c.agency_code for c in centers if c.agency_code is not None}
    filled = 0
    for center in centers:
        if center.agency_code is not None:
            continue
        agency_code = by_unit.get(center.unit_code or center.code)
        if agency_code is None or agency_code in held:
            continue
        center.agency_code = agency_code
        held.add(agency_code)
        filled += 1
    session.flush()
    return filled


def resolve_center(session: Session, code: str) -> Center:
    """The center named by its agency code (``001.01.60.H13``) or its commune code (``31120``; ``92`` for the
    provincial center), with its agency code filled in. Raises :class:`InvalidInput` for an unknown code or a
    center whose agency code the registry has not issued yet: a center without one cannot be matched to dossiers.
    """
    text = nfc(code.strip())
    if not text:
        raise InvalidInput("center: give the center's agency code or its commune code")
    center = repo.center_by_code(session, text)
    if center is None or center.agency_code is None:
        # Codes issued after the centers were seeded: fill them in now rather than refuse a valid code.
        link_agencies(session)
        center = repo.center_by_code(session, text)
    if center is None:
        raise InvalidInput(
            f"center {text!r} is neither the agency code nor the commune code of a service center "
            "(`hopnhat centers list` shows them; run `hopnhat centers seed` first if it is empty)"
        )
    if center.agency_code is None:
        raise InvalidInput(
            f"center {center.code} ({center.name}) has no agency code yet: run `hopnhat agencies issue`, "
            "then `hopnhat centers seed`"
        )
    return center


def set_requirements(session: Session, items: Iterable[tuple[str, int]]) -> int:
    """Replace the required equipment list."""
    session.query(EquipmentRequirement).delete()
    count = 0
    for item, quantity in items:
        session.add(EquipmentRequirement(item=nfc(item.strip()), quantity=quantity))
        count += 1
    session.flush()
    return count


def seed_requirements(session: Session) -> int:
    """Load the bundled required-equipment list unless one is configured already; returns the items loaded."""
    if session.scalars(select(EquipmentRequirement)).first() is not None:
        return 0
    from hopnhat.continuity.inventory import data_text

    rows = list(csv.DictReader(io.StringIO(data_text("equipment_required.csv"))))
    return set_requirements(session, [(r["item"], int(r["quantity"])) for r in rows])


def staff_of(session: Session, code: str) -> list[StaffAssignment]:
    """The staff assigned to center ``code`` (personal data: for signed-in pages only, never logged)."""
    center = get_center(session, code)
    return list(
        session.scalars(
            select(StaffAssignment).where(StaffAssignment.center_id == center.id).order_by(StaffAssignment.from_date)
        )
    )


def get_center(session: Session, code: str) -> Center:
    center = repo.center_by_code(session, code)
    if center is None:
        raise NotFound(f"center {code!r} not found")
    return center


def readiness(session: Session, rules: ReadinessRules | None = None, code: str | None = None) -> list[dict[str, Any]]:
    """Readiness of every center (or of ``code``), with the reasons a center is not ready."""
    rules = rules or ReadinessRules()
    centers = [get_center(session, code)] if code else list(repo.centers(session))
    required = {r.item: r.quantity for r in session.scalars(select(EquipmentRequirement))}
    staff_counts = dict(
        session.execute(
            select(StaffAssignment.center_id, func.count())
            .where(StaffAssignment.recorded_on <= rules.staff_by)
            .group_by(StaffAssignment.center_id)
        ).all()
    )
    total_staff = dict(
        session.execute(select(StaffAssignment.center_id, func.count()).group_by(StaffAssignment.center_id)).all()
    )
    regulations = {r.center_id: r for r in session.scalars(select(CenterRegulation))}
    equipment: dict[int, dict[str, int]] = {}
    for item in session.scalars(select(EquipmentItem)):
        equipment.setdefault(item.center_id, {})[item.item] = item.quantity
    out: list[dict[str, Any]] = []
    for center in centers:
        reasons: list[str] = []
        on_time = int(staff_counts.get(center.id, 0))
        all_staff = int(total_staff.get(center.id, 0))
        staff_ok = on_time > 0
        if not staff_ok:
            reasons.append(
                f"staff list recorded after {rules.staff_by}" if all_staff else f"no staff list (due {rules.staff_by})"
            )
        regulation = regulations.get(center.id)
        regulation_ok = regulation is not None and regulation.issued_on <= rules.regulation_by
        if regulation is None:
            reasons.append(f"no operating regulation (due {rules.regulation_by})")
        elif not regulation_ok:
            reasons.append(f"regulation {regulation.number} issued {regulation.issued_on}, after {rules.regulation_by}")
        have = equipment.get(center.id, {})
        missing = [
            f"{item} ({have.get(item, 0)}/{qty})" for item, qty in sorted(required.items()) if have.get(item, 0) < qty
        ]
        equipment_ok = not missing or not rules.require_equipment
        if missing and rules.require_equipment:
            reasons.append(f"missing equipment: {', '.join(missing)}")
        out.append(
            {
                "code": center.code,
                "agency_code": center.agency_code,
                "name": center.name,
                "level": center.level,
                "address": center.address,
                "staff_count": all_staff,
                "staff_ok": staff_ok,
                "regulation": {"number": regulation.number, "issued_on": regulation.issued_on} if regulation else None,
                "regulation_ok": regulation_ok,
                "equipment_ok": equipment_ok,
                "missing_equipment": missing,
                "ready": staff_ok and regulation_ok and equipment_ok,
                "reasons": reasons,
            }
        )
    return out


# --- bulk import ---------------------------------------------------------------------------------------------------

_KINDS: dict[str, set[str]] = {
    "staff": {"center_code", "person", "from_date"},
    "equipment": {"center_code", "item", "quantity"},
    "regulation": {"center_code", "number", "issued_on"},
    "requirement": {"item", "quantity"},
    "center": {"code", "name"},
}


def _kind(headers: set[str], where: str) -> str:
    for kind, needed in _KINDS.items():
        if needed <= headers:
            return kind
    raise InvalidInput(
        f"{where}: unknown columns; expected one of: "
        + "; ".join(f"{k} ({', '.join(sorted(v))})" for k, v in _KINDS.items())
    )


def _day(value: Any, where: str, column: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    try:
        if "/" in text:
            return datetime.strptime(text, "%d/%m/%Y").date()
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{where}: {column} {text!r} is not a date (YYYY-MM-DD or dd/mm/yyyy)") from None


def _int(value: Any, where: str, column: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{where}: {column} {str(value)!r} is not a whole number") from None
    if number < 0:
        raise InvalidInput(f"{where}: {column} must not be negative")
    return number


def _text(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    return nfc(str(value).strip()) if value is not None else ""


def import_rows(session: Session, table: Iterable[dict[str, Any]], source: str) -> tuple[str, int]:
    """Import one table (kind detected from its columns); returns (kind, rows imported). The rows may be a stream,
    read as they are imported. Line numbers in errors count the header as line 1. Errors name the row by line and
    center, never by the person."""
    stream = iter(table)
    first = next(stream, None)
    if first is None:
        return ("empty", 0)
    kind = _kind({k.strip() for k in first if k}, source)
    rows = chain([first], stream)
    count = 0
    if kind == "requirement":
        return kind, set_requirements(
            session,
            [
                (_text(r, "item"), _int(r.get("quantity"), f"{source} line {n}", "quantity"))
                for n, r in enumerate(rows, start=2)
                if _text(r, "item")
            ],
        )
    for number, row in enumerate(rows, start=2):
        where = f"{source} line {number}"
        if kind == "center":
            code = _text(row, "code")
            if not code:
                raise InvalidInput(f"{where}: code is empty")
            center = repo.center_by_code(session, code)
            if center is None:
                center = Center(code=code, name=_text(row, "name"))
                session.add(center)
            center.name = _text(row, "name") or center.name
            center.level = _text(row, "level") or center.level or "commune"
            center.unit_code = _text(row, "unit_code") or center.unit_code or code
            center.address = _text(row, "address") or center.address
            agency_code = _text(row, "agency_code")
            if agency_code and agency_code != center.agency_code:
                holder = repo.center_by_code(session, agency_code)
                if holder is not None and holder is not center:
                    raise InvalidInput(f"{where}: agency code {agency_code!r} already belongs to center {holder.code}")
                center.agency_code = agency_code
            session.flush()
            count += 1
            continue
        code = _text(row, "center_code")
        center = repo.center_by_code(session, code)
        if center is None:
            raise InvalidInput(f"{where}: center {code!r} not found (run `hopnhat centers seed` first?)")
        where = f"{where} (center {code})"
        if kind == "staff":
            person = _text(row, "person")
            if not person:
                raise InvalidInput(f"{where}: person is empty")
            from_date = _day(row.get("from_date"), where, "from_date")
            recorded = _day(row.get("recorded_on"), where, "recorded_on") if row.get("recorded_on") else from_date
            session.add(
                StaffAssignment(
                    center_id=center.id,
                    person=person,
                    source_department=_text(row, "source_department"),
                    role=_text(row, "role"),
                    from_date=from_date,
                    recorded_on=recorded,
                )
            )
        elif kind == "equipment":
            item = _text(row, "item")
            quantity = _int(row.get("quantity"), where, "quantity")
            existing = session.scalar(
                select(EquipmentItem).where(EquipmentItem.center_id == center.id, EquipmentItem.item == item)
            )
            if existing is None:
                session.add(EquipmentItem(center_id=center.id, item=item, quantity=quantity))
            else:
                existing.quantity = quantity
        else:
            issued = _day(row.get("issued_on"), where, "issued_on")
            regulation = session.scalar(select(CenterRegulation).where(CenterRegulation.center_id == center.id))
            if regulation is None:
                session.add(CenterRegulation(center_id=center.id, number=_text(row, "number"), issued_on=issued))
            else:
                regulation.number, regulation.issued_on = _text(row, "number"), issued
        session.flush()
        count += 1
    return kind, count


def import_file(session: Session, path: Path, limits: FileLimits | None = None) -> list[tuple[str, int]]:
    """Import a CSV file, or every sheet of an XLSX workbook; each table's kind comes from its header row. The file
    is read within ``limits`` (:mod:`hopnhat.files`): an XLSX that would expand past them is refused unparsed."""
    limits = limits or FileLimits()
    if path.suffix.lower() == ".xlsx":
        return [import_rows(session, rows, f"{path.name}[{title}]") for title, rows in read_xlsx(path, limits).items()]
    if path.suffix.lower() != ".csv":
        raise InvalidInput(f"{path.name}: expected a .csv or .xlsx file")
    return [import_rows(session, read_csv_rows(path, limits), path.name)]
