"""Loading the bundled unit tables and applying change sets.

A change set is a CSV in one canonical format, read by ``registry apply-changes`` and written by ``registry export
--table changes``:

``effective_date, legal_basis, legal_basis_date, level, old_code, old_name, new_code, new_name, new_type,
new_parent_code, new_province_code, kind``

One row per predecessor -> successor edge, at any level: a province renamed or made a city (``75 Tỉnh Đồng Nai ->
75 Thành phố Đồng Nai``), a commune made a ward, communes merged (several rows to one new code) or split (``part``
rows, one per successor). ``level`` follows from the code's length (2 province, 3 district, 5 commune) when empty.
The columns of the bundled lineage table (``old_commune_code, old_commune_name, ..., new_commune_type``) are read
as the same columns, and the command line supplies a date or legal basis the file does not. A file may hold several
change sets (one per effective date and legal basis); they are applied in date order.

Applying is all-or-nothing: every line is checked first and a bad file is refused whole, naming each bad line.
Loading and applying are idempotent: what is already there is left as it is.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from hopnhat.errors import InvalidInput
from hopnhat.files import CsvReader, FileLimits, read_text
from hopnhat.registry.bundled import National, bundled_change_files, data_text, national
from hopnhat.registry.models import OPEN_START, ChangeEvent, ChangeKind, Level, LineageLink, LinkKind, Unit
from hopnhat.registry.text import fold, official_form, split_type

REFORM_DATE = date(2025, 7, 1)
REFORM_BASIS = "Nghị quyết 1668/NQ-UBTVQH15"
"""The commune arrangements of 1 July 2025 (one resolution per province, 1654-1687/NQ-UBTVQH15 of 16 June 2025)."""
REFORM_BASIS_DATE = date(2025, 6, 16)
PROVINCE_MERGE_BASIS = "Nghị quyết 202/2025/QH15"
PROVINCE_MERGE_BASIS_DATE = date(2025, 6, 12)
DISTRICT_ABOLITION_BASIS = "Luật Tổ chức chính quyền địa phương 2025 (Luật 72/2025/QH15)"
CHANGE_COLUMNS = (
    "effective_date",
    "legal_basis",
    "legal_basis_date",
    "level",
    "old_code",
    "old_name",
    "new_code",
    "new_name",
    "new_type",
    "new_parent_code",
    "new_province_code",
    "kind",
)
"""The canonical change-set columns, in the order ``registry export`` writes them."""
REQUIRED_COLUMNS = ("old_code", "old_name", "new_code", "new_name", "kind")
ALIASES = {
    "old_commune_code": "old_code",
    "old_commune_name": "old_name",
    "new_commune_code": "new_code",
    "new_commune_name": "new_name",
    "new_commune_type": "new_type",
}
"""Columns of the bundled lineage table, read as the canonical ones."""
LEVEL_OF_LENGTH = {2: Level.PROVINCE, 3: Level.DISTRICT, 5: Level.COMMUNE}


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


class Writer:
    """Idempotent inserts keyed on natural keys; keeps a cache so a load is a few queries, not thousands.

    Units and events are flushed as they come (their ids are needed); lineage links are collected and inserted in
    one statement by :meth:`finish`, since a national load has ten thousand of them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.units: dict[tuple[str, date], Unit] = {}
        self.by_code: dict[str, list[Unit]] = defaultdict(list)
        for u in session.scalars(select(Unit)):
            self._remember(u)
        self.events: dict[tuple[str, date, str], ChangeEvent] = {
            (e.kind, e.effective_date, e.key): e for e in session.scalars(select(ChangeEvent))
        }
        self.links: set[tuple[int, int | None, int]] = {
            (lk.from_unit_id, lk.to_unit_id, lk.event_id) for lk in session.scalars(select(LineageLink))
        }
        self.pending: list[tuple[ChangeEvent, Unit, Unit | None, LinkKind]] = []
        self.report = LoadReport()
        # Ids given here, not by the database: a flush of rows that have their key is one batched statement, where
        # fetching a generated key per row made a national load three times slower (5 s on PostgreSQL).
        self.next_id = {table: (session.scalar(select(func.max(table.id))) or 0) + 1 for table in (Unit, ChangeEvent)}
        self.gave_ids = False

    def _id(self, table: type[Unit] | type[ChangeEvent]) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        self.gave_ids = True
        return value

    def _remember(self, unit: Unit) -> None:
        self.units[(unit.code, unit.valid_from)] = unit
        self.by_code[unit.code].append(unit)

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
            id=self._id(Unit),
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
        self._remember(unit)
        self.report.units_added += 1
        return unit

    def active(self, code: str, day: date) -> Unit | None:
        for unit in self.by_code.get(code, ()):
            if unit.active_on(day):
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
            id=self._id(ChangeEvent),
            kind=kind.value,
            effective_date=effective,
            key=key,
            legal_basis=basis,
            legal_basis_date=basis_date,
            note=note,
        )
        self.session.add(ev)
        self.events[(kind.value, effective, key)] = ev
        self.report.events_added += 1
        return ev

    def link(self, event: ChangeEvent, from_unit: Unit, to_unit: Unit | None, kind: LinkKind) -> None:
        self.pending.append((event, from_unit, to_unit, kind))

    def finish(self) -> None:
        """Flush the units and events, then insert the links not there yet in one statement."""
        self.session.flush()
        rows = []
        for event, src, dst, kind in self.pending:
            key = (src.id, dst.id if dst is not None else None, event.id)
            if key in self.links:
                continue
            self.links.add(key)
            rows.append({"event_id": event.id, "from_unit_id": src.id, "to_unit_id": key[1], "kind": kind.value})
        self.pending.clear()
        if rows:
            self.session.execute(insert(LineageLink), rows)
            self.report.links_added += len(rows)
        if self.gave_ids and self.session.get_bind().dialect.name == "postgresql":
            # The serial sequences must pass the ids given above, or the next ordinary insert would collide.
            for table in (Unit, ChangeEvent):
                name = table.__tablename__
                self.session.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                )
            self.gave_ids = False


@dataclass(frozen=True)
class ChangeRow:
    line: int
    level: Level
    old_code: str
    old_name: str
    new_code: str
    new_name: str
    new_type: str
    new_parent: str | None
    new_province: str
    kind: LinkKind

    @property
    def new_level(self) -> Level:
        return LEVEL_OF_LENGTH[len(self.new_code)]


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


def _check_row(line: int, rec: Mapping[str, str]) -> tuple[ChangeRow | None, list[str]]:
    problems = []
    for col in ("old_code", "new_code"):
        if not (rec[col].isascii() and rec[col].isdigit() and len(rec[col]) in LEVEL_OF_LENGTH):
            problems.append(f"{col} {rec[col]!r} is not a 2-digit province, 3-digit district or 5-digit commune code")
    for col in ("old_name", "new_name"):
        if not rec[col]:
            problems.append(f"{col} is empty")
    if rec["kind"] not in {k.value for k in LinkKind}:
        problems.append(f"kind {rec['kind']!r} is not one of whole, part, unchanged")
    level = LEVEL_OF_LENGTH.get(len(rec["old_code"]))
    if rec.get("level") and level is not None and rec["level"] != level.value:
        problems.append(f"level {rec['level']!r} does not fit the {len(rec['old_code'])}-digit code {rec['old_code']}")
    new_level = LEVEL_OF_LENGTH.get(len(rec["new_code"]))
    # Only an island district without communes may become a unit of another level (a special zone, đặc khu).
    if (
        level is not None
        and new_level is not None
        and level != new_level
        and not (level is Level.DISTRICT and new_level is Level.COMMUNE)
    ):
        problems.append(f"a {level.value} cannot become a {new_level.value} ({rec['old_code']} -> {rec['new_code']})")
    new_type = rec.get("new_type") or split_type(official_form(rec["new_name"]))[0]
    if not new_type and rec["new_name"]:
        problems.append(f"new_name {rec['new_name']!r} has no type word and no new_type")
    province = rec.get("new_province_code") or rec.get("old_province_code") or ""
    if new_level is Level.PROVINCE:
        province = rec["new_code"]
    if not province and not problems:
        problems.append("no new_province_code")
    elif province and not (province.isdigit() and len(province) == 2):
        problems.append(f"new_province_code {province!r} is not a 2-digit province code")
    if problems or level is None:
        return None, problems
    parent = rec.get("new_parent_code") or (None if new_level is Level.PROVINCE else province)
    row = ChangeRow(
        line,
        level,
        rec["old_code"],
        official_form(rec["old_name"]),
        rec["new_code"],
        official_form(rec["new_name"]),
        new_type,
        parent,
        province,
        LinkKind(rec["kind"]),
    )
    return row, []


def _check_set(rows: list[ChangeRow]) -> list[str]:
    """A unit cannot be both whole and part of the same change, part links come at least in pairs, and a new unit
    has one name."""
    errors: list[str] = []
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
    return errors


def parse_change_sets(
    text: str,
    *,
    effective: date | None = None,
    legal_basis: str | None = None,
    legal_basis_date: date | None = None,
    limits: FileLimits | None = None,
) -> list[ChangeSet]:
    """Parse and check a change-set CSV (at most ``limits.max_rows`` rows) into its change sets, oldest first; raise
    :class:`InvalidInput` listing every bad line."""
    reader = CsvReader(io.StringIO(text.removeprefix("\ufeff")), "change set", limits or FileLimits())
    columns = {ALIASES.get(c, c) for c in reader.fieldnames}
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InvalidInput(
            f"line 1: missing column(s) {', '.join(missing)}; expected {', '.join(CHANGE_COLUMNS)} "
            "(see README, Registry change sets)"
        )
    errors: list[str] = []
    groups: dict[tuple[date | None, str | None, date | None], list[ChangeRow]] = defaultdict(list)
    for line, raw in enumerate(reader, start=2):
        if None in raw:
            errors.append(f"line {line}: more fields than columns")
            continue
        rec: dict[str, str] = {ALIASES.get(k, k): (v or "").strip() for k, v in raw.items() if k is not None}
        try:
            eff = _parse_date(rec["effective_date"], "effective_date", line) if rec.get("effective_date") else effective
            bdate = (
                _parse_date(rec["legal_basis_date"], "legal_basis_date", line)
                if rec.get("legal_basis_date")
                else legal_basis_date
            )
        except InvalidInput as exc:
            errors.append(exc.detail)
            continue
        row, problems = _check_row(line, rec)
        if problems:
            errors.append(f"line {line}: " + "; ".join(problems))
            continue
        assert row is not None
        groups[(eff, rec.get("legal_basis") or legal_basis, bdate)].append(row)
    if not groups and not errors:
        errors.append("the file has no change rows")
    out: list[ChangeSet] = []
    for (eff, basis, bdate), rows in groups.items():
        if eff is None:
            errors.append(f"line {rows[0].line}: no effective_date and no --effective date given")
        if not basis:
            errors.append(f"line {rows[0].line}: no legal_basis and no --basis given")
        errors += _check_set(rows)
        if eff is not None and basis:
            out.append(ChangeSet(eff, basis, bdate, tuple(rows)))
    if errors:
        raise InvalidInput("change set refused, nothing applied: " + " | ".join(errors))
    return sorted(out, key=lambda c: (c.effective, c.rows[0].line))


def parse_change_set(
    text: str,
    *,
    effective: date | None = None,
    legal_basis: str | None = None,
    legal_basis_date: date | None = None,
    limits: FileLimits | None = None,
) -> ChangeSet:
    """:func:`parse_change_sets` for a file that must hold one change set (one date, one legal basis)."""
    sets = parse_change_sets(
        text, effective=effective, legal_basis=legal_basis, legal_basis_date=legal_basis_date, limits=limits
    )
    if len(sets) > 1:
        dates = sorted({str(c.effective) for c in sets})
        raise InvalidInput(
            f"change set refused, nothing applied: the file mixes effective dates or legal bases {dates}; "
            "one change set, one date"
        )
    return sets[0]


def _event_kind(rows: list[ChangeRow], code: str, new_name: str) -> ChangeKind:
    if len(rows) > 1:
        return ChangeKind.MERGE
    row = rows[0]
    if row.kind is LinkKind.UNCHANGED:
        return ChangeKind.UNCHANGED
    if row.kind is LinkKind.PART:
        return ChangeKind.ESTABLISH
    if row.old_code != code:
        return ChangeKind.RECODE
    if fold(row.old_name) == fold(new_name):
        return ChangeKind.UNCHANGED
    if fold(split_type(row.old_name)[1]) == fold(split_type(new_name)[1]):
        return ChangeKind.TYPE_CHANGE  # Tỉnh Đồng Nai -> Thành phố Đồng Nai, Xã Lộc Ninh -> Phường Lộc Ninh
    return ChangeKind.RENAME


def apply_change_set(session: Session, change: ChangeSet, *, writer: Writer | None = None) -> LoadReport:
    """Close every old unit the day before the change and open every new unit on the effective date, with the
    typed events and lineage links between them. Old units must exist in the registry on the day before."""
    w = writer or Writer(session)
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
        for other in w.by_code.get(code, ()):
            if other is already or id(other) in closing:
                continue
            if (last_day is None or other.valid_from <= last_day) and (
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
            level=first.new_level,
            type_=first.new_type,
            name=first.new_name,
            parent_code=first.new_parent,
            province_code=first.new_province,
        )
    for old in olds.values():
        w.close(old, day_before)

    for code, rows in by_new.items():
        new = news[code]
        ev = w.event(
            _event_kind(rows, code, new.name),
            change.effective,
            code,
            change.legal_basis,
            change.legal_basis_date,
            note=f"forms {new.name} ({code})",
        )
        for r in rows:
            if r.kind is not LinkKind.PART:
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
    if writer is None:
        w.finish()
    return w.report


def _reform(data: National) -> tuple[ChangeSet, ChangeSet]:
    """The reform of 1 July 2025 as two change sets of the same day: the communes (and the island districts that
    became special zones) under the NSO conversion table, and the provinces under Resolution 202/2025/QH15."""
    rows: list[ChangeRow] = []
    for n, lk in enumerate((*data.lineage, *data.island_lineage), start=2):
        new = data.new_communes[lk.new_code]
        level = LEVEL_OF_LENGTH[len(lk.old_code)]
        rows.append(
            ChangeRow(n, level, lk.old_code, lk.old_name, lk.new_code, new.name, new.type,
                      new.province_code, new.province_code, LinkKind(lk.kind))
        )  # fmt: skip
    communes = ChangeSet(REFORM_DATE, REFORM_BASIS, REFORM_BASIS_DATE, tuple(rows))
    prows = []
    for n, (old_code, new_code) in enumerate(sorted(data.province_lineage.items()), start=2):
        oldp, newp = data.old_provinces[old_code], data.new_provinces[new_code]
        same = old_code == new_code and fold(oldp.name) == fold(newp.name)
        kind = LinkKind.UNCHANGED if same and data.former_provinces(new_code) == [old_code] else LinkKind.WHOLE
        prows.append(
            ChangeRow(n, Level.PROVINCE, old_code, oldp.name, new_code, newp.name, newp.type, None, new_code, kind)
        )
    provinces = ChangeSet(REFORM_DATE, PROVINCE_MERGE_BASIS, PROVINCE_MERGE_BASIS_DATE, tuple(prows))
    return communes, provinces


def bundled_later_changes(provinces: Iterable[str] | None = None) -> list[ChangeSet]:
    """The change sets shipped with the package, after the reform (only those of ``provinces``, when given)."""
    wanted = None if provinces is None else set(provinces)
    out: list[ChangeSet] = []
    for name in bundled_change_files():
        for change in parse_change_sets(data_text(name)):
            if wanted is None or all(r.new_province in wanted for r in change.rows):
                out.append(change)
    return sorted(out, key=lambda c: c.effective)


def load_bundled(session: Session, provinces: Iterable[str] | None = None, *, later: bool = True) -> LoadReport:
    """Load the bundled tables: every unit before and from 2025-07-01, the lineage between them, the province
    mergers, the abolition of the district level and (``later``) the change sets shipped since. ``provinces``
    limits the load to those new provinces and what formed them (a demo, a test); default the whole country.
    Idempotent."""
    data = national() if provinces is None else national().subset(provinces)
    w = Writer(session)
    day_before = REFORM_DATE - timedelta(days=1)
    # Created closed: the reform below closes every one of them on the same day anyway.
    old = (
        *((Level.PROVINCE, p.code, p.type, p.name, None, p.code) for p in data.old_provinces.values()),
        *((Level.DISTRICT, d.code, d.type, d.name, d.province_code, d.province_code) for d in data.districts.values()),
        *(
            (Level.COMMUNE, c.code, c.type, c.name, c.district_code, c.province_code)
            for c in data.old_communes.values()
        ),
    )
    districts: list[Unit] = []
    for level, code, type_, name, parent, province in old:
        unit = w.unit(code, OPEN_START, level=level, type_=type_, name=name, parent_code=parent,
                      province_code=province, valid_to=day_before)  # fmt: skip
        if level is Level.DISTRICT:
            districts.append(unit)
    communes, province_set = _reform(data)
    apply_change_set(session, province_set, writer=w)
    apply_change_set(session, communes, writer=w)
    abolished = w.event(
        ChangeKind.LEVEL_ABOLISHED,
        REFORM_DATE,
        "district",
        DISTRICT_ABOLITION_BASIS,
        None,
        note="district level abolished; every district ends on 2025-06-30",
    )
    for district in districts:
        w.link(abolished, district, None, LinkKind.WHOLE)
    w.finish()
    missing = set(data.new_communes) - {code for code, start in w.units if start == REFORM_DATE}
    if missing:
        raise InvalidInput(f"bundled data inconsistent: new units without predecessors {sorted(missing)}")
    if later:
        for change in bundled_later_changes(data.new_provinces):
            apply_change_set(session, change, writer=w)
        w.finish()
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
