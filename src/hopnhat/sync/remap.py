"""Unit remapping through the registry, held in memory for a run (the registry is a few hundred rows): a code or a
name as of the receipt date -> the unit of that date -> the unit(s) responsible today."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.registry.models import LineageLink, Unit
from hopnhat.registry.text import fold, modern_tones, nfc

ABBREVIATIONS = {
    "p.": "Phường",
    "x.": "Xã",
    "tt.": "Thị trấn",
    "q.": "Quận",
    "h.": "Huyện",
    "tx.": "Thị xã",
    "tp.": "Thành phố",
}


@dataclass(frozen=True, slots=True)
class Remapped:
    original_code: str
    unit_code: str | None
    review: str | None
    """Why an officer must look (split without a rule, no successor, unit matched only loosely)."""


def _expand(part: str) -> str:
    head, _, rest = part.strip().partition(" ")
    full = ABBREVIATIONS.get(head.lower())
    return f"{full} {rest}" if full else part.strip()


class Remapper:
    def __init__(self, session: Session, today: date, split_rules: Mapping[str, str] | None = None) -> None:
        self.today = today
        self.rules = dict(split_rules or {})
        units = session.scalars(select(Unit)).all()
        self.by_id = {u.id: u for u in units}
        self.by_code: dict[str, list[Unit]] = defaultdict(list)
        for u in units:
            self.by_code[u.code].append(u)
        self.next: dict[int, list[int]] = defaultdict(list)
        for link in session.scalars(select(LineageLink)).all():
            if link.to_unit_id is not None:
                self.next[link.from_unit_id].append(link.to_unit_id)
        # Names of the units that existed just before the merger, folded: (name, parent name or "") -> codes.
        self.names: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.exact: set[tuple[str, str]] = set()
        eve = date(2025, 6, 30)
        for u in units:
            if not u.active_on(eve):
                continue
            parent = self._on(u.parent_code, eve) if u.parent_code else None
            for pname in ("", parent.name if parent else ""):
                self.names[(fold(u.name), fold(pname))].add(u.code)
                self.exact.add((modern_tones(u.name).lower(), modern_tones(pname).lower()))
        # Provinces of the eve by folded full name ("tinh soc trang" -> "94"): the last part of a written unit name.
        self.provinces = {fold(u.name): u.code for u in units if u.level == "province" and u.active_on(eve)}
        self._cache: dict[tuple[str, int], Remapped | None] = {}
        # Plain tuples: the per-record pick must not go through ORM attribute access.
        self._spans: dict[str, list[tuple[date, date | None, int]]] = {
            code: [(u.valid_from, u.valid_to, u.id) for u in found] for code, found in self.by_code.items()
        }
        self._names: dict[tuple[str, str], tuple[str | None, bool]] = {}
        self.centers = self._centers(session, [u for u in units if u.active_on(today)])

    def _centers(self, session: Session, units: list[Unit]) -> dict[str, str]:
        """Agency code of the service center handling each unit of today (none until codes are issued)."""
        from hopnhat.registry import service as registry

        return registry.service_centers(session, units, self.today)

    def _on(self, code: str | None, day: date) -> Unit | None:
        for u in self.by_code.get(code or "", []):
            if u.active_on(day):
                return u
        return None

    def code_for_name(self, name: str, province_code: str) -> tuple[str | None, bool]:
        """Old unit code of a unit written as a name (``P. Vị Tân, TP. Vị Thanh``); second value: the name matched
        only once diacritics were dropped (a misspelling an officer should confirm). Cached: a source repeats a few
        hundred names over its whole history."""
        key = (name, province_code)
        if key not in self._names:
            self._names[key] = self._code_for_name(name, province_code)
        return self._names[key]

    def _code_for_name(self, name: str, province_code: str) -> tuple[str | None, bool]:
        """The province and district written in the name decide (a source also holds dossiers transferred from
        another province: ``X. Phú Tân, H. Châu Thành, Tỉnh Sóc Trăng`` in Hậu Giang's export is Sóc Trăng's
        commune); only a name without its province falls back to the source's ``province_code`` to settle a name
        several provinces share. A province outside the registry matches nothing: its units are not ours."""
        parts = [_expand(p) for p in nfc(name).split(",") if p.strip()]
        written: str | None = None
        if len(parts) > 1:
            last = fold(parts[-1])
            if last in self.provinces:
                written, parts = self.provinces[last], parts[:-1]
            elif last.startswith(("tinh ", "thanh pho can tho")):
                written, parts = "", parts[:-1]
        if not parts:
            return None, False
        key = (fold(parts[0]), fold(parts[1]) if len(parts) > 1 else "")
        codes = self.names.get(key, set())
        eve = date(2025, 6, 30)
        if written is not None:
            codes = {c for c in codes if (self._on(c, eve) or Unit()).province_code == written}
        elif len(codes) > 1:
            same = {c for c in codes if (self._on(c, eve) or Unit()).province_code == province_code}
            codes = same if len(same) == 1 else codes
        if len(codes) != 1:
            return None, False
        exact = (modern_tones(parts[0]).lower(), modern_tones(parts[1]).lower() if len(parts) > 1 else "")
        return next(iter(codes)), exact not in self.exact

    def remap(self, code: str, received: date) -> Remapped | None:
        """``None`` when no unit had that code on the receipt date."""
        unit_id = self._pick(code, received)
        if unit_id is None:
            return None
        # Cached per unit, not per (code, day): a million dossiers carry a few hundred codes but tens of thousands of
        # (code, receipt day) pairs, and the successor walk below is the costly part.
        key = (code, unit_id)
        if key not in self._cache:
            self._cache[key] = self._resolve(code, self.by_id[unit_id])
        found = self._cache[key]
        if found is not None:
            return found
        # A district abolished on 2025-07-01 without a successor: its dossiers fall to the merged city (that of the
        # receipt date, hence not cached with the district).
        city = self.remap(self.by_id[unit_id].province_code, received)
        if city is not None and city.unit_code is not None:
            return Remapped(code, city.unit_code, None)
        return Remapped(code, None, f"unit {code} has no successor on {self.today}")

    def _pick(self, code: str, received: date) -> int | None:
        """The unit holding ``code`` on the receipt date, else the one that last held it before."""
        spans = self._spans.get(code)
        if not spans:
            return None
        for valid_from, valid_to, unit_id in spans:
            if valid_from <= received and (valid_to is None or received <= valid_to):
                return unit_id
        # The old systems were not reconfigured at the merger: dossiers received after it still carry the old codes,
        # which mean the unit that last held the code before the receipt date.
        earlier = [(valid_from, unit_id) for valid_from, _, unit_id in spans if valid_from <= received]
        return max(earlier, key=lambda e: e[0])[1] if earlier else None

    def candidates(self, code: str, received: date) -> list[str]:
        """Codes of the units of today that took over the unit ``code`` meant on the receipt date: the choices a
        data steward has for a dossier the remapping could not settle (a split commune). Empty when none."""
        unit_id = self._pick(code, received)
        if unit_id is None:
            return []
        unit = self.by_id[unit_id]
        return [unit.code] if unit.active_on(self.today) else self._successors(unit)

    def name_of(self, code: str) -> str | None:
        """The name of the unit holding ``code`` today (None when no unit does)."""
        unit = self._on(code, self.today)
        return unit.name if unit is not None else None

    def _successors(self, unit: Unit) -> list[str]:
        found: dict[int, Unit] = {}
        frontier, seen = [unit.id], {unit.id}
        while frontier:
            nxt = []
            for uid in frontier:
                for to in self.next.get(uid, []):
                    if to in seen:
                        continue
                    seen.add(to)
                    succ = self.by_id[to]
                    if succ.active_on(self.today):
                        found[to] = succ
                    elif succ.valid_from <= self.today:
                        nxt.append(to)
            frontier = nxt
        return sorted({u.code for u in found.values()})

    def _resolve(self, code: str, unit: Unit) -> Remapped | None:
        """The unit(s) responsible today for ``unit``; ``None`` for a district without successor (see remap)."""
        if unit.active_on(self.today):
            return Remapped(code, unit.code, None)
        codes = self._successors(unit)
        if len(codes) == 1:
            return Remapped(code, codes[0], None)
        if len(codes) > 1:
            rule = self.rules.get(code)
            if rule in codes:
                return Remapped(code, rule, None)
            return Remapped(code, None, f"unit {code} was split into {', '.join(codes)}: no routing rule")
        if unit.level == "district":
            return None
        return Remapped(code, None, f"unit {code} has no successor on {self.today}")
