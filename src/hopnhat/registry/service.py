"""The registry's rules: which unit bore a code on a day, lineage, search, statistics, export, agencies and their
identification codes. No commit and no HTTP here: the CLI command or the request owns the transaction.

Other parts route dossiers with :func:`center_for_commune` and :func:`provincial_center`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Literal

from rapidfuzz import fuzz
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.config import province_code as deployment_province
from hopnhat.errors import Conflict, InvalidInput, NotFound
from hopnhat.files import FileLimits, write_csv, write_xlsx
from hopnhat.registry import repository as repo
from hopnhat.registry.bundled import national
from hopnhat.registry.codes import CodeRule, code, for_province, parse_code
from hopnhat.registry.loader import (
    CHANGE_COLUMNS,
    REFORM_DATE,
    Writer,
    apply_change_set,
    load_bundled,
    parse_change_sets,
)
from hopnhat.registry.models import OPEN_START, Agency, AgencyKind, CodeIssuance, Level, Unit
from hopnhat.registry.schemas import (
    AgencyOut,
    AgencyResolution,
    IssuanceOut,
    IssueOut,
    LineageOut,
    LinkOut,
    LoadOut,
    SearchHit,
    SearchOut,
    StatsOut,
    UnitOut,
)
from hopnhat.registry.text import fold, split_type

MAX_TEXT = 200
"""Longest search text accepted: the longest unit name is far shorter; anything longer is not a name."""
LEVEL_ORDER = {Level.PROVINCE.value: 0, Level.DISTRICT.value: 1, Level.COMMUNE.value: 2}
ExportFormat = Literal["csv", "json", "xlsx"]
ExportTable = Literal["all", "units", "lineage", "changes"]


def _show(value: str, limit: int = 40) -> str:
    """A user value quoted in an error message, cut short (a 1 MB argument must not become a 1 MB message)."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def check_unit_code(value: str) -> str:
    """A unit code as typed: 2 (province), 3 (district) or 5 (commune) digits."""
    text = value.strip()
    if not text:
        raise InvalidInput("unit code is empty")
    if not (text.isascii() and text.isdigit() and len(text) in (2, 3, 5)):
        raise InvalidInput(
            f"unit code {_show(text)} is not a 2-digit province, 3-digit district or 5-digit commune code"
        )
    return text


def check_level(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    levels = [lv.value for lv in Level]
    if value not in levels:
        raise InvalidInput(f"level {_show(value)} is not one of {', '.join(levels)}")
    return value


def unit_out(unit: Unit) -> UnitOut:
    return UnitOut.model_validate(unit)


# --- loading -------------------------------------------------------------------------------------------------------


def load(session: Session, rule: CodeRule | None = None, provinces: Sequence[str] | None = None) -> LoadOut:
    """Load the bundled units and lineage (the whole country, or ``provinces`` and what formed them) and seed the
    standing agencies of the province the deployment serves; idempotent. Without a group number for that province
    (none known, none in ``rule``) the units are loaded and the agencies left for ``agencies issue --rule``."""
    report = load_bundled(session, provinces)
    note = None
    try:
        added = seed_agencies(session, rule or CodeRule())
    except InvalidInput as exc:
        if rule is not None:
            raise
        added, note = 0, f"no agency seeded: {exc.detail}"
    return LoadOut(
        note=note,
        units_added=report.units_added,
        units_closed=report.units_closed,
        events_added=report.events_added,
        links_added=report.links_added,
        agencies_added=added,
        units_total=session.scalar(select(func.count()).select_from(Unit)) or 0,
        agencies_total=session.scalar(select(func.count()).select_from(Agency)) or 0,
    )


def apply_changes(
    session: Session, text: str, *, effective: date | None, basis: str | None, limits: FileLimits | None = None
) -> dict[str, int]:
    """Apply a change-set CSV all or nothing, its change sets in date order (see :mod:`hopnhat.registry.loader` for
    the format); applied again it changes nothing."""
    changes = parse_change_sets(text, effective=effective, legal_basis=basis, limits=limits)
    writer = Writer(session)
    for change in changes:
        apply_change_set(session, change, writer=writer)
    writer.finish()
    report = writer.report
    return {
        "change_sets": len(changes),
        "rows": sum(len(c.rows) for c in changes),
        "units_added": report.units_added,
        "units_closed": report.units_closed,
        "events_added": report.events_added,
        "links_added": report.links_added,
    }


# --- units and lineage ---------------------------------------------------------------------------------------------


def _require_loaded(session: Session) -> None:
    if session.scalar(select(Unit.id).limit(1)) is None:
        raise NotFound("the registry is empty: run `hopnhat registry load` first")


def show(session: Session, code: str, day: date) -> Unit:
    """The unit that bore ``code`` on ``day``."""
    code = check_unit_code(code)
    unit = repo.unit_on(session, code, day)
    if unit is not None:
        return unit
    _require_loaded(session)
    periods = repo.units_with_code(session, code)
    if not periods:
        raise NotFound(f"no unit has ever had code {code}")
    spans = "; ".join(f"{u.name} {u.valid_from} to {u.valid_to or 'today'}" for u in periods)
    raise NotFound(f"no unit bore code {code} on {day} (it was: {spans})")


def _pick(session: Session, code: str, day: date | None, *, ended: bool) -> Unit:
    if day is not None:
        return show(session, code, day)
    code = check_unit_code(code)
    periods = repo.units_with_code(session, code)
    if not periods:
        _require_loaded(session)
        raise NotFound(f"no unit has ever had code {code}")
    if ended:
        # Without a date, the successors asked for are those of the period that ended most recently.
        closed = [u for u in periods if u.valid_to is not None]
        return closed[-1] if closed else periods[-1]
    return periods[-1]


def successors(session: Session, code: str, day: date | None = None) -> LineageOut:
    """Where the unit went. Without ``day``: the most recent period of the code that has ended."""
    unit = _pick(session, code, day, ended=True)
    links = [
        LinkOut(
            unit=unit_out(to) if to is not None else None,
            kind=link.kind,
            event=event.kind,
            effective_date=event.effective_date,
            legal_basis=event.legal_basis,
        )
        for link, event, to in repo.successor_links(session, unit.id)
    ]
    return LineageOut(unit=unit_out(unit), successors=links)


def predecessors(session: Session, code: str, day: date | None = None) -> LineageOut:
    """Where the unit came from. Without ``day``: the newest period of the code."""
    unit = _pick(session, code, day, ended=False)
    links = [
        LinkOut(
            unit=unit_out(src),
            kind=link.kind,
            event=event.kind,
            effective_date=event.effective_date,
            legal_basis=event.legal_basis,
        )
        for link, event, src in repo.predecessor_links(session, unit.id)
    ]
    return LineageOut(unit=unit_out(unit), predecessors=links)


def current_units(session: Session, unit: Unit, day: date) -> list[Unit]:
    """The units active on ``day`` that carry ``unit``'s territory, following lineage forward (several when split)."""
    if unit.active_on(day):
        return [unit]
    found: dict[int, Unit] = {}
    frontier, seen = [unit], {unit.id}
    while frontier:
        nxt = []
        for u in frontier:
            for _, _, to in repo.successor_links(session, u.id):
                if to is None or to.id in seen:
                    continue
                seen.add(to.id)
                if to.active_on(day):
                    found[to.id] = to
                elif to.valid_from <= day:
                    nxt.append(to)
        frontier = nxt
    return sorted(found.values(), key=lambda u: u.code)


# --- search ----------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _folded(name: str) -> tuple[str, str]:
    """Folded full name and folded name without its type word (names repeat across searches: fold each once)."""
    return fold(name), fold(split_type(name)[1])


_TYPE_PREFIXES = tuple(
    fold(w) + " " for w in ("Thành phố", "Thị trấn", "Thị xã", "Phường", "Huyện", "Quận", "Tỉnh", "Xã")
)


def _score(query: str, typed: bool, full: str, bare: str) -> float:
    if typed:
        score = fuzz.ratio(query, full)
    else:
        score = fuzz.ratio(query, bare)
        # "cai k" finds "Cái Khế": a prefix of the name is a strong hint, but only once it is long enough to mean it.
        if len(query) >= 3 and bare.startswith(query):
            score = max(score, 90.0 + 10.0 * len(query) / len(bare))
        elif len(query) >= 4:
            score = max(score, 0.9 * fuzz.partial_ratio(query, bare))
    return float(score)


def _parent_name(session: Session, unit: Unit, day: date) -> str | None:
    if unit.parent_code is None:
        return None
    parent = repo.unit_on(session, unit.parent_code, day)
    return parent.name if parent is not None else None


def search(
    session: Session, text: str, day: date, *, level: str | None = None, limit: int = 10, cutoff: float = 70.0
) -> SearchOut:
    """Units active on ``day`` whose name is close to ``text``, best first; diacritics, case and small typos do
    not matter ("phuong cai khe", "Cai Khee" both find Phường Cái Khế). A code finds its unit."""
    if not text.strip():
        raise InvalidInput("search text is empty")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"search text is {len(text)} characters long; at most {MAX_TEXT} are accepted")
    if not 1 <= limit <= 100:
        raise InvalidInput(f"limit {limit} must be between 1 and 100")
    level = check_level(level)
    query = fold(text)
    if not query:
        raise InvalidInput(f"search text {_show(text)} has no letters or digits")
    typed = query.startswith(_TYPE_PREFIXES)
    hits: list[tuple[float, Unit]] = []
    for unit in repo.active_units(session, day, level=level):
        if query == unit.code:
            hits.append((100.0, unit))
            continue
        score = _score(query, typed, *_folded(unit.name))
        if score >= cutoff:
            hits.append((score, unit))
    if not hits:
        _require_loaded(session)
        raise NotFound(f"no unit active on {day} matches {_show(text)}")
    hits.sort(key=lambda h: (-h[0], LEVEL_ORDER.get(h[1].level, 9), h[1].code))
    return SearchOut(
        query=text,
        on=day,
        hits=[
            SearchHit(unit=unit_out(u), parent_name=_parent_name(session, u, day), score=round(s, 1))
            for s, u in hits[:limit]
        ],
    )


# --- statistics and export -----------------------------------------------------------------------------------------


def parse_provinces(values: Iterable[str]) -> list[str]:
    """``--province 92 --province 93`` or ``--province 92,93,94``."""
    codes: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if not (part.isascii() and part.isdigit() and len(part) == 2):
                raise InvalidInput(f"province {_show(part)} is not a 2-digit province code")
            if part not in codes:
                codes.append(part)
    if not codes:
        raise InvalidInput("give at least one province code (e.g. --province 92)")
    return codes


def stats(session: Session, provinces: Sequence[str], day: date) -> StatsOut:
    """Counts of the units active on ``day`` in the provinces, by level and by level and type."""
    codes = parse_provinces(provinces)
    units = repo.active_units(session, day, provinces=codes)
    if not units:
        _require_loaded(session)
        raise NotFound(f"no units of province {', '.join(codes)} on {day}")
    by_level = Counter(u.level for u in units)
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    for u in units:
        by_type[u.level][u.type] += 1
    order = sorted(by_level, key=lambda lv: LEVEL_ORDER.get(lv, 9))
    return StatsOut(
        provinces=codes,
        on=day,
        total=len(units),
        by_level={lv: by_level[lv] for lv in order},
        by_level_and_type={lv: dict(sorted(by_type[lv].items())) for lv in order},
    )


UNIT_COLUMNS = ("code", "valid_from", "valid_to", "level", "type", "name", "parent_code", "province_code")
LINEAGE_COLUMNS = (
    "effective_date",
    "event",
    "legal_basis",
    "from_code",
    "from_valid_from",
    "from_level",
    "from_name",
    "to_code",
    "to_valid_from",
    "to_name",
    "kind",
)


def export_rows(
    session: Session, day: date, provinces: Sequence[str] | None = None, since: date = REFORM_DATE
) -> dict[str, list[dict[str, Any]]]:
    """The units active on ``day`` and every lineage edge in force by ``day``, as plain rows; ``changes``: the
    edges of the changes effective after ``since`` (default: those after the reform the bundled tables hold), in
    the canonical change-set format (:data:`loader.CHANGE_COLUMNS`) that ``registry apply-changes`` reads.
    ``provinces`` keeps the units of those provinces and the edges that touch them."""
    codes = parse_provinces(provinces) if provinces else None
    keep = set(codes) if codes else None
    if keep is not None:
        # A province's history includes the former provinces that formed it (their districts, their communes).
        keep |= {old for old, new in national().province_lineage.items() if new in keep}
    units = [{c: getattr(u, c) for c in UNIT_COLUMNS} for u in repo.active_units(session, day, provinces=codes)]
    lineage: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for link, ev, src, to in repo.lineage_until(session, day):
        if keep is not None and src.province_code not in keep and (to is None or to.province_code not in keep):
            continue
        lineage.append(
            {
                "effective_date": ev.effective_date,
                "event": ev.kind,
                "legal_basis": ev.legal_basis,
                "from_code": src.code,
                "from_valid_from": src.valid_from,
                "from_level": src.level,
                "from_name": src.name,
                "to_code": to.code if to else None,
                "to_valid_from": to.valid_from if to else None,
                "to_name": to.name if to else None,
                "kind": link.kind,
            }
        )
        if to is not None and ev.effective_date > since:
            changes.append(
                {
                    "effective_date": ev.effective_date,
                    "legal_basis": ev.legal_basis,
                    "legal_basis_date": ev.legal_basis_date,
                    "level": src.level,
                    "old_code": src.code,
                    "old_name": src.name,
                    "new_code": to.code,
                    "new_name": to.name,
                    "new_type": to.type,
                    "new_parent_code": to.parent_code,
                    "new_province_code": to.province_code,
                    "kind": link.kind,
                }
            )
    if not units and not lineage:
        _require_loaded(session)
    return {"units": units, "lineage": lineage, "changes": changes}


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def render_export(rows: dict[str, list[dict[str, Any]]], fmt: str, table: str, day: date) -> bytes:
    """Serialise :func:`export_rows`. CSV holds one table, so ``table`` must then be ``units`` or ``lineage``."""
    if fmt not in ("csv", "json", "xlsx"):
        raise InvalidInput(f"format {_show(fmt)} is not one of csv, json, xlsx")
    if table not in ("all", "units", "lineage", "changes"):
        raise InvalidInput(f"table {_show(table)} is not one of all, units, lineage, changes")
    names = ["units", "lineage"] if table == "all" else [table]
    columns = {"units": UNIT_COLUMNS, "lineage": LINEAGE_COLUMNS, "changes": CHANGE_COLUMNS}
    if fmt == "json":
        doc: dict[str, Any] = {"on": day.isoformat()}
        doc.update({n: [{k: _cell(v) for k, v in r.items()} for r in rows[n]] for n in names})
        return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")
    if fmt == "csv":
        if len(names) != 1:
            raise InvalidInput("CSV holds one table: choose units or lineage (or export json/xlsx for both)")
        cells = ({k: _cell(v) for k, v in r.items()} for r in rows[names[0]])
        return write_csv(cells, columns[names[0]], lineterminator="\n").encode("utf-8")
    return write_xlsx({n: (columns[n], ({k: _cell(v) for k, v in r.items()} for r in rows[n])) for n in names})


# --- agencies --------------------------------------------------------------------------------------------------------


def _committee_name(unit: Unit) -> str:
    type_, bare = split_type(unit.name)
    return f"Ủy ban nhân dân {type_.lower()} {bare}".strip()


def _center_name(unit: Unit) -> str:
    type_, bare = split_type(unit.name)
    return f"Trung tâm Phục vụ hành chính công {type_.lower()} {bare}".strip()


def _city(session: Session, province: str) -> Unit:
    unit = repo.unit_by_identity(session, province, REFORM_DATE)
    if unit is None:
        raise NotFound(f"province {province} is not in the registry: run `hopnhat registry load` first")
    return unit


def seed_agencies(session: Session, rule: CodeRule, province: str | None = None) -> int:
    """The standing agencies of ``province`` (default the deployment's): its People's Committee (it keeps the code
    of the former province whose name it keeps, Decision 09/2025/QĐ-TTg), its departments and provincial service
    center, and the former provinces' and districts' committees, closed on 2025-06-30 with the province's committee
    as successor. Idempotent: an agency already there (same kind and unit, or same name for departments) is left
    alone. Refused when a group number is neither known nor in ``rule`` (:func:`codes.for_province`)."""
    province = province or deployment_province()
    rule = for_province(rule, province)
    city = _city(session, province)
    existing = repo.agencies(session)
    by_unit = {(a.kind, a.unit_code, a.unit_valid_from) for a in existing if a.kind == AgencyKind.PEOPLE_COMMITTEE}
    by_name = {(a.kind, a.name) for a in existing}
    codes = {a.code for a in existing}
    added = 0
    last_day = REFORM_DATE - timedelta(days=1)
    city_pc = code(0, 0, 0, rule.city_group)

    def add(agency: Agency) -> None:
        nonlocal added
        parse_code(agency.code)
        if agency.code in codes:
            raise Conflict(f"agency code {agency.code} is already held; the rule would reuse it")
        session.add(agency)
        codes.add(agency.code)
        added += 1

    if (AgencyKind.PEOPLE_COMMITTEE.value, city.code, city.valid_from) not in by_unit:
        add(
            Agency(
                code=city_pc,
                name=_committee_name(city),
                kind=AgencyKind.PEOPLE_COMMITTEE.value,
                unit_code=city.code,
                unit_valid_from=city.valid_from,
                valid_from=OPEN_START,
                province_code=province,
                confirmed=False,
            )
        )
    standing = [(d, AgencyKind.DEPARTMENT) for d in rule.departments]
    standing.append((rule.provincial_center, AgencyKind.SERVICE_CENTER))
    for named, kind in standing:
        if (kind.value, named.name) in by_name:
            continue
        add(
            Agency(
                code=code(0, 0, named.level2, rule.city_group),
                name=named.name,
                kind=kind.value,
                unit_code=city.code,
                unit_valid_from=city.valid_from,
                valid_from=REFORM_DATE,
                province_code=province,
                confirmed=False,
            )
        )
    formers = [u.code for u in repo.predecessors_of(session, city) if u.level == Level.PROVINCE.value]
    groups = {old: rule.old_province_groups.get(old, rule.city_group) for old in formers}
    old_units = repo.active_units(session, last_day, provinces=sorted(groups))
    for old_province in (u for u in old_units if u.level == Level.PROVINCE.value):
        group = groups[old_province.code]
        if (
            group != rule.city_group
            and (AgencyKind.PEOPLE_COMMITTEE.value, old_province.code, old_province.valid_from) not in by_unit
        ):
            add(
                Agency(
                    code=code(0, 0, 0, group),
                    name=_committee_name(old_province),
                    kind=AgencyKind.PEOPLE_COMMITTEE.value,
                    unit_code=old_province.code,
                    unit_valid_from=old_province.valid_from,
                    valid_from=OPEN_START,
                    valid_to=last_day,
                    successor_code=city_pc,
                    province_code=old_province.code,
                    confirmed=False,
                )
            )
        districts = [u for u in old_units if u.level == Level.DISTRICT.value and u.province_code == old_province.code]
        for n, district in enumerate(districts):
            if (AgencyKind.PEOPLE_COMMITTEE.value, district.code, district.valid_from) in by_unit:
                continue
            add(
                Agency(
                    code=code(0, 0, rule.district_first_level2 + n, group),
                    name=_committee_name(district),
                    kind=AgencyKind.PEOPLE_COMMITTEE.value,
                    unit_code=district.code,
                    unit_valid_from=district.valid_from,
                    valid_from=OPEN_START,
                    valid_to=last_day,
                    successor_code=city_pc,
                    province_code=district.province_code,
                    confirmed=False,
                )
            )
    session.flush()
    return added


class _Allocator:
    """Hands out the next free level-3 number in the rule's commune groups, skipping every code ever used."""

    def __init__(self, rule: CodeRule, used: set[str]) -> None:
        self.rule = rule
        self.used = used | set(rule.reserved)
        self._slots = ((g, n) for g in rule.commune_groups for n in range(1, 100))

    def next_committee(self) -> str:
        for group, n in self._slots:
            candidate = code(0, n, group, self.rule.city_group)
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate
        raise Conflict(
            f"the commune groups {list(self.rule.commune_groups)} are full; add a group to the rule (commune_groups)"
        )

    def center_under(self, committee: str) -> str:
        parent = parse_code(committee)
        for n in range(self.rule.center_level4, 1000):
            candidate = code(n, parent.level3, parent.level2, parent.group)
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate
        raise Conflict(f"no free level-4 code under {committee}")


def _unit_agency(unit: Unit, kind: AgencyKind, code: str, name: str, decision: str | None) -> Agency:
    """A new commune's committee or center, valid from the commune's first day; confirmed once a decision names it."""
    return Agency(
        code=code,
        name=name,
        kind=kind.value,
        unit_code=unit.code,
        unit_valid_from=unit.valid_from,
        valid_from=unit.valid_from,
        province_code=unit.province_code,
        confirmed=decision is not None,
    )


def issue_codes(
    session: Session,
    rule: CodeRule,
    *,
    issued_on: date,
    decision: str | None = None,
    province: str | None = None,
) -> IssueOut:
    """Give every current commune of ``province`` a People's Committee and a service center with a code, by
    ``rule``, recording each issuance. Idempotent: a commune that has them keeps them; no code is ever reused."""
    province = province or deployment_province()
    seed_agencies(session, rule, province)
    rule = for_province(rule, province)
    # The communes of the issuing day; a decision taken before the reform issues to the communes it creates.
    communes = repo.active_units(session, max(issued_on, REFORM_DATE), level=Level.COMMUNE.value, provinces=[province])
    if not communes:
        raise NotFound(f"no communes of province {province}: run `hopnhat registry load` first")
    alloc = _Allocator(rule, repo.used_codes(session))
    issued: list[tuple[Agency, str]] = []
    already = 0
    for unit in communes:
        committee = repo.agency_for_unit(session, unit, AgencyKind.PEOPLE_COMMITTEE.value)
        if committee is None:
            committee = _unit_agency(
                unit, AgencyKind.PEOPLE_COMMITTEE, alloc.next_committee(), _committee_name(unit), decision
            )
            session.add(committee)
            issued.append((committee, "committee"))
        else:
            already += 1
        center = repo.agency_for_unit(session, unit, AgencyKind.SERVICE_CENTER.value)
        if center is None:
            center = _unit_agency(
                unit, AgencyKind.SERVICE_CENTER, alloc.center_under(committee.code), _center_name(unit), decision
            )
            session.add(center)
            issued.append((center, "center"))
        else:
            already += 1
    session.flush()
    for agency, _ in issued:
        session.add(
            CodeIssuance(
                code=agency.code,
                agency_id=agency.id,
                issued_on=issued_on,
                decision_number=decision,
                rule=rule.describe(),
            )
        )
    session.flush()
    closed = close_ended_commune_agencies(session)
    return IssueOut(
        rule=rule.describe(),
        issued=[
            IssuanceOut(
                code=a.code,
                agency_name=a.name,
                kind=a.kind,
                unit_code=a.unit_code,
                issued_on=issued_on,
                decision_number=decision,
            )
            for a, _ in issued
        ],
        already_issued=already,
        closed=closed,
    )


def close_ended_commune_agencies(session: Session) -> list[str]:
    """Close the committee and center of every commune that a later change set ended, on the commune's last day,
    with the same kind of agency of its successor commune as successor (none when the commune was split: the work
    then goes to several agencies and naming one would be a guess). Returns the codes closed; idempotent."""
    kinds = [AgencyKind.PEOPLE_COMMITTEE.value, AgencyKind.SERVICE_CENTER.value]
    closed: list[str] = []
    for agency, unit in repo.open_unit_agencies(session, kinds):
        if unit.level != Level.COMMUNE.value or unit.valid_to is None:
            continue
        agency.valid_to = unit.valid_to
        targets = current_units(session, unit, unit.valid_to + timedelta(days=1))
        if len(targets) == 1:
            successor = repo.agency_for_unit(session, targets[0], agency.kind)
            agency.successor_code = successor.code if successor is not None else None
        closed.append(agency.code)
    session.flush()
    return closed


def agency_out(agency: Agency) -> AgencyOut:
    return AgencyOut.model_validate(agency)


def list_agencies(session: Session, *, day: date | None = None, kind: str | None = None) -> list[AgencyOut]:
    if kind is not None and kind not in {k.value for k in AgencyKind}:
        raise InvalidInput(f"kind {_show(kind)} is not one of {', '.join(k.value for k in AgencyKind)}")
    return [agency_out(a) for a in repo.agencies(session, day=day, kind=kind)]


def _committee_of_unit(session: Session, unit_code: str, day: date) -> Agency:
    """The People's Committee of the unit that bore ``unit_code`` on ``day``, or of its last period before."""
    code_ = check_unit_code(unit_code)
    periods = [u for u in repo.units_with_code(session, code_) if u.valid_from <= day]
    if not periods:
        _require_loaded(session)
        raise NotFound(f"no unit has code {code_} on or before {day}")
    unit = periods[-1]
    committee = repo.agency_for_unit(session, unit, AgencyKind.PEOPLE_COMMITTEE.value)
    if committee is None:
        raise NotFound(f"{unit.name} ({unit.code}) has no People's Committee code in the registry")
    return committee


def resolve_agency(session: Session, agency_code: str, day: date) -> AgencyResolution:
    """The agency that carries the work of ``agency_code`` on ``day``: itself while open, else its successors'.

    A unit code (``93``, ``916``) stands for that unit's People's Committee."""
    if agency_code.strip().isdigit():
        asked = _committee_of_unit(session, agency_code, day)
        parsed = asked.code
    else:
        parsed = str(parse_code(agency_code))
        found = repo.agency_by_code(session, parsed)
        if found is None:
            raise NotFound(f"no agency has code {parsed}")
        asked = found
    if day < asked.valid_from:
        raise NotFound(f"agency {parsed} ({asked.name}) did not exist yet on {day}; it starts on {asked.valid_from}")
    current, path = asked, [asked.code]
    while not current.active_on(day):
        if current.successor_code is None:
            raise NotFound(f"agency {current.code} ({current.name}) closed on {current.valid_to} without a successor")
        nxt = repo.agency_by_code(session, current.successor_code)
        if nxt is None or nxt.code in path:
            raise NotFound(f"agency {current.code}: successor {current.successor_code} is not in the registry")
        current = nxt
        path.append(current.code)
    return AgencyResolution(asked=agency_out(asked), on=day, current=agency_out(current), path=path)


def set_agency_contact(session: Session, code: str, *, address: str | None, phone: str | None) -> Agency:
    """Record an agency's address and phone (the citizen's lookup and the slips show them). ``None`` leaves a
    field as it is; an empty text clears it."""
    agency = repo.agency_by_code(session, code.strip())
    if agency is None:
        raise NotFound(f"no agency has code {code.strip()[:40]!r}")
    if phone is not None and phone.strip() and not re.fullmatch(r"[0-9 .+()-]{3,40}", phone.strip()):
        raise InvalidInput(f"agency {agency.code}: phone {phone[:40]!r} has characters a phone number does not")
    if address is not None:
        agency.address = unicodedata.normalize("NFC", address.strip())[:500] or None
    if phone is not None:
        agency.phone = phone.strip()[:40] or None
    session.flush()
    return agency


def center_for_commune(session: Session, commune_code: str, on: date | None = None) -> Agency:
    """The service center that serves a commune on ``on`` (today by default). An old commune code is followed to
    the commune that carries its territory; a split one raises :class:`Conflict` naming the candidates (route by
    the address then)."""
    day = on or date.today()
    code_ = check_unit_code(commune_code)
    unit = repo.unit_on(session, code_, day)
    if unit is None:
        periods = [u for u in repo.units_with_code(session, code_) if u.valid_from <= day]
        if not periods:
            _require_loaded(session)
            raise NotFound(f"no commune has code {code_} on or before {day}")
        targets = current_units(session, periods[-1], day)
        if not targets:
            raise NotFound(f"commune {code_} ({periods[-1].name}) has no successor on {day}")
        if len(targets) > 1:
            names = ", ".join(f"{u.name} ({u.code})" for u in targets)
            raise Conflict(f"commune {code_} ({periods[-1].name}) was split into {names}; route by the address")
        unit = targets[0]
    if unit.level != Level.COMMUNE.value:
        raise InvalidInput(f"unit {code_} is a {unit.level}, not a commune")
    served = deployment_province()
    if unit.province_code != served:
        # The registry knows the whole country; this deployment's centers serve its own province only.
        raise NotFound(
            f"{unit.name} ({unit.code}) is in province {unit.province_code}, not in province {served} that this "
            "deployment serves: no center of it handles the commune"
        )
    center = repo.agency_for_unit(session, unit, AgencyKind.SERVICE_CENTER.value)
    if center is None:
        if unit.valid_to is not None:
            raise NotFound(f"{unit.name} ({unit.code}) on {day} predates the commune service centers")
        raise NotFound(f"{unit.name} ({unit.code}) has no service center code yet: run `hopnhat agencies issue`")
    return center


def service_centers(session: Session, units: Iterable[Unit], on: date) -> dict[str, str]:
    """Agency code of the service center handling each of ``units`` (units of ``on``; communes and provinces, others
    skipped, as are units without a center yet): what :func:`center_for_commune` and :func:`provincial_center` give
    one by one, in one query, for a caller that routes by every unit (the sync's remapper: 103 queries at start-up
    were a tenth of an incremental run)."""
    kind = AgencyKind.SERVICE_CENTER.value
    latest: dict[tuple[str, date | None], Agency] = {}
    provincial: dict[str, Agency] = {}
    for agency in repo.agencies(session, kind=kind):  # ordered by code, as provincial_center scans them
        if agency.unit_code is None:
            continue
        key = (agency.unit_code, agency.unit_valid_from)
        if key not in latest or agency.valid_from > latest[key].valid_from:
            latest[key] = agency
        if agency.valid_from <= on and (agency.valid_to is None or agency.valid_to >= on):
            provincial.setdefault(agency.unit_code, agency)
    found: dict[str, str] = {}
    for unit in units:
        if unit.level == Level.COMMUNE.value:
            center = latest.get((unit.code, unit.valid_from))
        elif unit.level == Level.PROVINCE.value:
            center = provincial.get(unit.code)
        else:
            continue
        if center is not None:
            found[unit.code] = center.code
    return found


def provincial_center(session: Session, province_code: str | None = None, on: date | None = None) -> Agency:
    """The provincial Public Administration Service Center (it accepts dossiers from anywhere in the province);
    default the deployment's province."""
    province_code = province_code or deployment_province()
    day = on or date.today()
    for agency in repo.agencies(session, day=day, kind=AgencyKind.SERVICE_CENTER.value):
        if agency.unit_code == province_code:
            return agency
    raise NotFound(f"no provincial service center of province {province_code}: run `hopnhat registry load`")


__all__ = [
    "REFORM_DATE",
    "apply_changes",
    "center_for_commune",
    "check_unit_code",
    "close_ended_commune_agencies",
    "current_units",
    "export_rows",
    "issue_codes",
    "list_agencies",
    "load",
    "parse_provinces",
    "predecessors",
    "provincial_center",
    "render_export",
    "resolve_agency",
    "search",
    "seed_agencies",
    "service_centers",
    "show",
    "stats",
    "successors",
]
