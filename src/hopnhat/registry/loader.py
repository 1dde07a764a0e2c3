"""Loading the bundled unit tables and applying change sets.

A change set is a CSV in the format of the bundled ``lineage_2025-07-01.csv`` (old_commune_code, old_commune_name,
old_district_code, old_province_code, new_commune_code, new_commune_name, kind), optionally with the columns
``effective_date``, ``legal_basis``, ``legal_basis_date``, ``new_commune_type`` and ``new_province_code``; the
command line supplies what the file does not. So the next reform is a data file, not a code change.

Applying is all-or-nothing: every line is checked first and a bad file is refused whole, naming each bad line.
Loading and applying are idempotent: what is already there is left as it is.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.errors import InvalidInput
from hopnhat.files import CsvReader, FileLimits, read_text
from hopnhat.registry.models import OPEN_START, ChangeEvent, ChangeKind, Level, LineageLink, LinkKind, Unit
from hopnhat.registry.text import fold, official_form, split_type

REFORM_DATE = date(2025, 7, 1)
REFORM_BASIS = "Nghị quyết 1668/NQ-UBTVQH15"
REFORM_BASIS_DATE = date(2025, 6, 16)
PROVINCE_MERGE_BASIS = "Nghị quyết 202/2025/QH15"
PROVINCE_MERGE_BASIS_DATE = date(2025, 6, 12)
DISTRICT_ABOLITION_BASIS = "Luật Tổ chức chính quyền địa phương 2025 (Luật 72/2025/QH15)"
PROVINCE_NAMES_BEFORE = {
    "92": ("Thành phố", "Thành phố Cần Thơ"),
    "93": ("Tỉnh", "Tỉnh Hậu Giang"),
    "94": ("Tỉnh", "Tỉnh Sóc Trăng"),
}
LINEAGE_COLUMNS = (
    "old_commune_code",
    "old_commune_name",
    "old_district_code",
    "old_province_code",
    "new_commune_code",
    "new_commune_name",
    "kind",
)


def data_text(name: str) -> str:
    """A bundled data file of the registry (``hopnhat/registry/data``), as text."""
    return resources.files("hopnhat.registry").joinpath("data", name).read_text(encoding="utf-8-sig")


def _rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data_text(name))))


@dataclass
class LoadReport:
    units_added: int = 0
    events_added: int = 0
    links_added: int = 0
    units_closed: int = 0
    notes: list[str] = field(default_factory=list)

    def merge(self, other: LoadReport) -> None:
        self.units_added += other.units_added
        self.events_added += other.events_added
        self.links_added += other.links_added
        self.units_closed += other.units_closed
        self.notes += other.notes


class _Writer:
    """Idempotent inserts keyed on natural keys; keeps a cache so a load is a few queries, not thousands."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.units: dict[tuple[str, date], Unit] = {(u.code, u.valid_from): u for u in session.scalars(select(Unit))}
        self.events: dict[tuple[str, date, str], ChangeEvent] = {
            (e.kind, e.effective_date, e.key): e for e in session.scalars(select(ChangeEvent))
        }
        self.links: set[tuple[int, int | None, int]] = {
            (lk.from_unit_id, lk.to_unit_id, lk.event_id) for lk in session.scalars(select(LineageLink))
        }
        self.report = LoadReport()

    def unit(
        self,
        code: str,
        valid_from: date,
        *,
        level: Level,
        type_: str,
        name: str,
        parent_code: str | None,
        province_code: str,
        valid_to: date | None = None,
    ) -> Unit:
        found = self.units.get((code, valid_from))
        if found is not None:
            if valid_to is not None and found.valid_to is None:
                found.valid_to = valid_to
                self.report.units_closed += 1
            return found
        unit = Unit(
            code=code,
            valid_from=valid_from,
            valid_to=valid_to,
            level=level.value,
            type=type_,
            name=official_form(name),
            parent_code=parent_code,
            province_code=province_code,
        )
        self.session.add(unit)
        self.units[(code, valid_from)] = unit
        self.report.units_added += 1
        return unit

    def active(self, code: str, day: date) -> Unit | None:
        for (c, _), unit in self.units.items():
            if c == code and unit.active_on(day):
                return unit
        return None

    def close(self, unit: Unit, last_day: date) -> None:
        if unit.valid_to is None or unit.valid_to > last_day:
            unit.valid_to = last_day
            self.report.units_closed += 1

    def event(
        self, kind: ChangeKind, effective: date, key: str, basis: str, basis_date: date | None, note: str | None = None
    ) -> ChangeEvent:
        found = self.events.get((kind.value, effective, key))
        if found is not None:
            return found
        ev = ChangeEvent(
            kind=kind.value,
            effective_date=effective,
            key=key,
            legal_basis=basis,
            legal_basis_date=basis_date,
            note=note,
        )
        self.session.add(ev)
        self.session.flush()
        self.events[(kind.value, effective, key)] = ev
        self.report.events_added += 1
        return ev

    def link(self, event: ChangeEvent, from_unit: Unit, to_unit: Unit | None, kind: LinkKind) -> None:
        self.session.flush()
        key = (from_unit.id, to_unit.id if to_unit else None, event.id)
        if key in self.links:
            return
        self.session.add(
            LineageLink(
                event_id=event.id,
                from_unit_id=from_unit.id,
                to_unit_id=to_unit.id if to_unit else None,
                kind=kind.value,
            )
        )
        self.links.add(key)
        self.report.links_added += 1


@dataclass(frozen=True)
class ChangeRow:
    line: int
    old_code: str
    old_name: str
    new_code: str
    new_name: str
    new_type: str
    new_province: str
    kind: LinkKind


@dataclass(frozen=True)
class ChangeSet:
    effective: date
    legal_basis: str
    legal_basis_date: date | None
    rows: tuple[ChangeRow, ...]


def _parse_date(value: str, what: str, line: int) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"line {line}: {what} {value!r} is not a date (YYYY-MM-DD)") from None


def parse_change_set(
    text: str,
    *,
    effective: date | None = None,
    legal_basis: str | None = None,
    legal_basis_date: date | None = None,
    limits: FileLimits | None = None,
) -> ChangeSet:
    """Parse and check a change-set CSV (at most ``limits.max_rows`` rows); raise :class:`InvalidInput` listing
    every bad line."""
    reader = CsvReader(io.StringIO(text.removeprefix("\ufeff")), "change set", limits or FileLimits())
    missing = [c for c in LINEAGE_COLUMNS if c not in reader.fieldnames]
    if missing:
        raise InvalidInput(f"line 1: missing column(s) {', '.join(missing)}; expected {', '.join(LINEAGE_COLUMNS)}")
    errors: list[str] = []
    rows: list[ChangeRow] = []
    dates: set[date] = set()
    bases: set[str] = set()
    basis_dates: set[date] = set()
    for line, raw in enumerate(reader, start=2):
        rec: Mapping[str, str] = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        if None in raw:
            errors.append(f"line {line}: more fields than columns")
            continue
        try:
            if rec.get("effective_date"):
                dates.add(_parse_date(rec["effective_date"], "effective_date", line))
            if rec.get("legal_basis_date"):
                basis_dates.add(_parse_date(rec["legal_basis_date"], "legal_basis_date", line))
        except InvalidInput as exc:
            errors.append(exc.detail)
            continue
        if rec.get("legal_basis"):
            bases.add(rec["legal_basis"])
        problems = []
        for col in ("old_commune_code", "new_commune_code"):
            if not (rec[col].isdigit() and len(rec[col]) == 5):
                problems.append(f"{col} {rec[col]!r} is not a 5-digit commune code")
        for col in ("old_commune_name", "new_commune_name"):
            if not rec[col]:
                problems.append(f"{col} is empty")
        if rec["kind"] not in {k.value for k in LinkKind}:
            problems.append(f"kind {rec['kind']!r} is not one of whole, part, unchanged")
        new_type = rec.get("new_commune_type") or split_type(official_form(rec["new_commune_name"]))[0]
        if not new_type:
            problems.append(f"new_commune_name {rec['new_commune_name']!r} has no type word and no new_commune_type")
        if problems:
            errors.append(f"line {line}: " + "; ".join(problems))
            continue
        rows.append(
            ChangeRow(
                line,
                rec["old_commune_code"],
                official_form(rec["old_commune_name"]),
                rec["new_commune_code"],
                official_form(rec["new_commune_name"]),
                new_type,
                rec.get("new_province_code") or rec["old_province_code"],
                LinkKind(rec["kind"]),
            )
        )
    if len(dates) > 1:
        errors.append(f"the file mixes effective dates {sorted(str(d) for d in dates)}; one change set, one date")
    if not rows and not errors:
        errors.append("the file has no change rows")
    eff = next(iter(dates)) if dates else effective
    if eff is None and not errors:
        errors.append("no effective_date column and no --effective date given")
    basis = next(iter(bases)) if len(bases) == 1 else legal_basis
    if not basis and not errors:
        errors.append("no legal_basis column and no --basis given")
    # A unit cannot be both whole and part of the same change, and part links come at least in pairs.
    by_old: dict[str, list[ChangeRow]] = defaultdict(list)
    for row in rows:
        by_old[row.old_code].append(row)
    for old_code, links in by_old.items():
        kinds = {r.kind for r in links}
        if len(kinds) > 1:
            errors.append(f"line {links[0].line}: old unit {old_code} is both {' and '.join(sorted(kinds))}")
        elif kinds == {LinkKind.PART} and len(links) < 2:
            errors.append(f"line {links[0].line}: old unit {old_code} is split ('part') but has one successor")
        elif len(links) > 1 and kinds != {LinkKind.PART}:
            errors.append(f"line {links[1].line}: old unit {old_code} has several successors but is not 'part'")
    by_new: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        by_new[row.new_code].add(row.new_name)
    for code, names in by_new.items():
        if len(names) > 1:
            errors.append(f"new unit {code} is given several names: {', '.join(sorted(names))}")
    if errors:
        raise InvalidInput("change set refused, nothing applied: " + " | ".join(errors))
    assert eff is not None and basis is not None
    bdate = next(iter(basis_dates)) if len(basis_dates) == 1 else legal_basis_date
    return ChangeSet(eff, basis, bdate, tuple(rows))


def apply_change_set(session: Session, change: ChangeSet, *, writer: _Writer | None = None) -> LoadReport:
    """Close every old unit the day before the change and open every new unit on the effective date, with the
    typed events and lineage links between them. Old units must exist in the registry on the day before."""
    w = writer or _Writer(session)
    day_before = change.effective - timedelta(days=1)
    errors = []
    olds: dict[str, Unit] = {}
    for row in change.rows:
        old = olds.get(row.old_code) or w.active(row.old_code, day_before)
        if old is None:
            errors.append(f"line {row.line}: old unit {row.old_code} does not exist on {day_before}")
            continue
        if fold(split_type(old.name)[1]) != fold(split_type(row.old_name)[1]):
            errors.append(
                f"line {row.line}: old unit {row.old_code} is {old.name!r} on {day_before}, not {row.old_name!r}"
            )
            continue
        # Closing a unit on another day than the one it already ends on would rewrite settled history (and leave
        # its later lineage dangling); only the same change applied again may find it already closed.
        if old.valid_to is not None and old.valid_to != day_before:
            errors.append(
                f"line {row.line}: old unit {row.old_code} ({old.name}) already ends on {old.valid_to}; "
                f"a change effective {change.effective} cannot close it on {day_before}"
            )
            continue
        olds[row.old_code] = old
    if errors:
        raise InvalidInput("change set refused, nothing applied: " + " | ".join(errors))

    by_new: dict[str, list[ChangeRow]] = defaultdict(list)
    for row in change.rows:
        by_new[row.new_code].append(row)
    # A code names one unit at a time: a new unit may not take a code that another unit still bears on or after the
    # effective date, unless this change set closes that unit the day before.
    closing = {id(u) for u in olds.values()}
    for code, rows in by_new.items():
        # Applied again, the new unit is there already and may have been closed by a later change since.
        already = w.units.get((code, change.effective))
        if already is not None and fold(already.name) != fold(rows[0].new_name):
            errors.append(
                f"line {rows[0].line}: new unit {code} from {change.effective} already exists as "
                f"{already.name!r}, not {rows[0].new_name!r}"
            )
        last_day = already.valid_to if already is not None else None
        for (other_code, other_from), other in w.units.items():
            if other_code != code or other is already or id(other) in closing:
                continue
            if (last_day is None or other_from <= last_day) and (
                other.valid_to is None or other.valid_to >= change.effective
            ):
                errors.append(
                    f"line {rows[0].line}: code {code} is still borne by {other.name} ({other.valid_from} to "
                    f"{other.valid_to or 'today'}), which this change set does not close"
                )
    if errors:
        raise InvalidInput("change set refused, nothing applied: " + " | ".join(errors))
    news: dict[str, Unit] = {}
    for code, rows in by_new.items():
        first = rows[0]
        existing = w.units.get((code, change.effective))
        news[code] = existing or w.unit(
            code,
            change.effective,
            level=Level.COMMUNE,
            type_=first.new_type,
            name=first.new_name,
            parent_code=first.new_province,
            province_code=first.new_province,
        )
    for old in olds.values():
        w.close(old, day_before)

    for code, rows in by_new.items():
        new = news[code]
        whole = [r for r in rows if r.kind is not LinkKind.PART]
        if len(rows) > 1:
            kind = ChangeKind.MERGE
        elif rows[0].kind is LinkKind.UNCHANGED:
            kind = ChangeKind.UNCHANGED
        elif rows[0].kind is LinkKind.PART:
            kind = ChangeKind.ESTABLISH
        elif rows[0].old_code != code:
            kind = ChangeKind.RECODE
        elif fold(rows[0].old_name) != fold(new.name):
            kind = ChangeKind.RENAME
        else:
            kind = ChangeKind.UNCHANGED
        ev = w.event(
            kind, change.effective, code, change.legal_basis, change.legal_basis_date, note=f"forms {new.name} ({code})"
        )
        for r in whole:
            w.link(ev, olds[r.old_code], new, r.kind)
    split_olds = {r.old_code for r in change.rows if r.kind is LinkKind.PART}
    for old_code in sorted(split_olds):
        old = olds[old_code]
        ev = w.event(
            ChangeKind.SPLIT,
            change.effective,
            old_code,
            change.legal_basis,
            change.legal_basis_date,
            note=f"splits {old.name} ({old_code})",
        )
        for r in change.rows:
            if r.old_code == old_code:
                w.link(ev, old, news[r.new_code], LinkKind.PART)
    session.flush()
    return w.report


def load_bundled(session: Session) -> LoadReport:
    """Load the three bundled tables: units before and from 2025-07-01 and the lineage between them, with the
    province merger and the abolition of the district level. Idempotent."""
    w = _Writer(session)
    before = _rows("units_before_2025-07-01.csv")
    after = _rows("units_from_2025-07-01.csv")
    day_before = REFORM_DATE - timedelta(days=1)
    old_provinces = {}
    for code, (type_, name) in PROVINCE_NAMES_BEFORE.items():
        old_provinces[code] = w.unit(
            code,
            OPEN_START,
            level=Level.PROVINCE,
            type_=type_,
            name=name,
            parent_code=None,
            province_code=code,
            valid_to=day_before,
        )
    new_province = w.unit(
        "92",
        REFORM_DATE,
        level=Level.PROVINCE,
        type_="Thành phố",
        name="Thành phố Cần Thơ",
        parent_code=None,
        province_code="92",
    )
    districts: dict[str, Unit] = {}
    for row in before:
        if row["district_code"] not in districts:
            dtype, _ = split_type(official_form(row["district_name"]))
            districts[row["district_code"]] = w.unit(
                row["district_code"],
                OPEN_START,
                level=Level.DISTRICT,
                type_=dtype,
                name=row["district_name"],
                parent_code=row["province_code"],
                province_code=row["province_code"],
                valid_to=day_before,
            )
        w.unit(
            row["commune_code"],
            OPEN_START,
            level=Level.COMMUNE,
            type_=row["commune_type"],
            name=row["commune_name"],
            parent_code=row["district_code"],
            province_code=row["province_code"],
            valid_to=None,
        )
    types = {r["commune_code"]: r["commune_type"] for r in after}
    provinces = {r["commune_code"]: r["province_code"] for r in after}
    lineage = data_text("lineage_2025-07-01.csv")
    # The bundled lineage is applied through the same path as any later change set. The new province comes from the
    # table of new units: a commune formed from Hậu Giang's or Sóc Trăng's communes belongs to 92, not to 93 or 94.
    header, *lines = lineage.splitlines()
    text_with_types = "\n".join(
        [header + ",new_commune_type,new_province_code"]
        + [ln + "," + types[ln.split(",")[4]] + "," + provinces[ln.split(",")[4]] for ln in lines if ln.strip()]
    )
    change = parse_change_set(
        text_with_types, effective=REFORM_DATE, legal_basis=REFORM_BASIS, legal_basis_date=REFORM_BASIS_DATE
    )
    apply_change_set(session, change, writer=w)
    merge = w.event(
        ChangeKind.MERGE,
        REFORM_DATE,
        "92",
        PROVINCE_MERGE_BASIS,
        PROVINCE_MERGE_BASIS_DATE,
        note="Cần Thơ + Hậu Giang + Sóc Trăng -> Thành phố Cần Thơ (92)",
    )
    for old in old_provinces.values():
        w.link(merge, old, new_province, LinkKind.WHOLE)
    abolished = w.event(
        ChangeKind.LEVEL_ABOLISHED,
        REFORM_DATE,
        "district",
        DISTRICT_ABOLITION_BASIS,
        None,
        note="district level abolished; the 28 districts end on 2025-06-30",
    )
    for district in districts.values():
        w.link(abolished, district, None, LinkKind.WHOLE)
    missing = set(types) - {code for code, _ in w.units if _ == REFORM_DATE}
    if missing:
        raise InvalidInput(f"bundled data inconsistent: new units without predecessors {sorted(missing)}")
    session.flush()
    return w.report


def read_change_file(path: Path, limits: FileLimits | None = None) -> str:
    """The text of a change-set file, read within ``limits`` (:mod:`hopnhat.files`), or :class:`InvalidInput`
    saying in one line why it cannot be read."""
    if path.is_dir():
        raise InvalidInput(f"{path}: is a directory, not a change-set file")
    text = read_text(path, limits or FileLimits())
    if not text.strip():
        raise InvalidInput(f"{path}: the file is empty")
    return text


def iter_units(session: Session) -> Iterable[Unit]:
    return session.scalars(select(Unit).order_by(Unit.code, Unit.valid_from))
