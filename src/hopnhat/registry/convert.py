"""Address conversion, old -> new: "12 Đường 30/4, P. Xuân Khánh, Q. Ninh Kiều, TP Cần Thơ" ->
"12 Đường 30/4, Phường Ninh Kiều, Thành phố Cần Thơ".

The converter is an in-memory index over the units and their lineage, built either from the bundled tables
(:meth:`AddressConverter.bundled`: no database, offline, what the CLI uses by default) or from the store's
``registry_unit`` / ``registry_lineage_link`` rows (:meth:`AddressConverter.from_store`: change sets applied later
count). Answers name the units in force on a target date (``on``; default today).

How an address is read: split on commas; the street part in front stays as written. The last one to three segments
are read as [commune, district, province] (each optional but the commune); every reading is tried, scored (a
segment that matches exactly weighs more than a fuzzy one, a contradicting type word costs a little) and the best
wins. Equally good readings with different answers make the result ambiguous, never a silent guess. Lookups are
dict hits on precomputed keys (:mod:`hopnhat.registry.addrtext`); rapidfuzz runs only on a miss.

Statuses:

- ``exact``: one old unit (or several with the same successor) -> one unit in force.
- ``fuzzy``: the same, but a name was misspelt or its type word contradicts the registry.
- ``ambiguous``: a split ward, or a name that fits several units with different successors; every candidate listed.
- ``already_new``: the address names a unit in force on the target date (beware: 11 old communes bear the exact name
  of a different new unit; an old district or old province in the address decides for the old unit).
- ``not_found``: no unit recognised.
"""

from __future__ import annotations

import gc
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, NamedTuple

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.config import province_code
from hopnhat.errors import InvalidInput
from hopnhat.registry.addrtext import (
    COMMUNE_TYPES,
    DISTRICT_TYPES,
    PROVINCE_TYPES,
    TYPE_PREFIXES,
    NameKey,
    fold_fast,
    readings,
    unit_keys,
)
from hopnhat.registry.bundled import national
from hopnhat.registry.loader import REFORM_DATE, bundled_later_changes
from hopnhat.registry.models import OPEN_START, Level, LineageLink, LinkKind, Unit
from hopnhat.registry.text import fold, old_tones, split_type

MAX_ADDRESS_LENGTH = 500
"""Longest address accepted (characters); a longer text is refused rather than scanned."""
FUZZY_CUTOFF = 85.0
"""rapidfuzz ratio (0-100) a misspelt name must reach; one typo in a two-syllable name scores about 90."""
FUZZY_MARGIN = 4.0
"""Runners-up this close to the best fuzzy score count as candidates too (then the answer may be ambiguous)."""
SPELLING_VARIANTS = {"Thanh An": ("Thạnh An",), "Thạnh Qưới": ("Thạnh Quới",), "Hòa Tú II": ("Hòa Tú 2",)}
"""Other spellings in use of official names (PROVENANCE.md): the official list and the resolution differ."""
_STREET_WORDS = ("ấp ", "ap ", "khóm ", "khom ", "số ", "so nha ", "hẻm ", "hem ", "kiệt ", "tổ ")
"""Segments starting so are a hamlet, house or lane, never a unit (no unit name here starts with these words)."""
_COUNTRY = frozenset({"việt nam", "viet nam", "vietnam", "vn"})
_ABBREVIATIONS: dict[str, list[str]] = defaultdict(list)
"""How type words are abbreviated in addresses, lower case ("p.", "tp.", "tp"): the forms learn_forms() reads in
advance. Taken from the abbreviations the reading itself knows; a one-letter one is read in advance only with its
dot ("p phú tân" is rare, and may be a house number's letter)."""
for _words, _type in TYPE_PREFIXES.items():
    if len(_words) == 1 and len(_words[0]) <= 2 and _words[0] != fold_fast(_type.lower()):  # "p", "tp"; not "xa"
        _ABBREVIATIONS[_type] += [f"{_words[0]}.", _words[0]] if len(_words[0]) == 2 else [f"{_words[0]}."]


class Status(StrEnum):
    EXACT = "exact"
    FUZZY = "fuzzy"
    AMBIGUOUS = "ambiguous"
    ALREADY_NEW = "already_new"
    NOT_FOUND = "not_found"


class NotFound(StrEnum):
    """Why an address is not found (``Conversion.reason``); the pages and the CLI say it in words."""

    NO_UNIT = "no_unit"  # no part names a unit of the country: nonsense, or a place abroad
    UNITS_APART = "units_apart"  # names of units, but not within one another (a commune not in the district written)
    BARE_NAME = "bare_name"  # a bare name that is a district's or province's too, with no district: a guess
    BARE_NUMBER = "bare_number"  # a number alone ("3, Ngã Năm"): may as well be a house number
    NO_SUCCESSOR = "no_successor"  # the unit named leads to none in force on the date asked
    EMPTY = "empty"  # refused before conversion (InvalidInput): said in a file's reason column
    TOO_LONG = "too_long"


@dataclass(frozen=True, slots=True, eq=False)
class URec:
    """A unit during one period, detached from any session."""

    code: str
    valid_from: date
    valid_to: date | None
    level: str
    type: str
    name: str
    parent_code: str | None
    province_code: str

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    @property
    def last_day(self) -> date:
        return self.valid_to or date.max


@dataclass(frozen=True, slots=True)
class Candidate:
    """A unit in force the address may mean, and the old unit it was read as (none when the address named it)."""

    code: str
    name: str
    old_code: str | None = None
    old_name: str | None = None
    old_district: str | None = None
    old_province: str | None = None

    def label(self) -> str:
        via = f" (from {self.old_code} {self.old_name})" if self.old_code else ""
        return f"{self.code} {self.name}{via}"


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a tenth of a conversion
class Conversion:
    """The answer for one address. ``new_*`` are set only when the answer is definite."""

    input: str
    status: Status
    new_commune_code: str | None
    new_commune_name: str | None
    new_address: str | None
    street: str
    candidates: tuple[Candidate, ...]
    reason: NotFound | None = None  # set when not found


@dataclass(slots=True)
class _Commune:
    unit: URec
    district: URec | None
    province: URec | None
    targets: tuple[URec, ...]  # units in force on the target date it leads to (itself when in force)
    current: bool


@dataclass(slots=True)
class _Index:
    """name key -> units, by accent key and by fold key."""

    accent: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    fold: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    fold_of: dict[int, str] = field(default_factory=dict)  # item -> its official name's fold key
    types: list[str] = field(default_factory=list)  # item -> its type word ("Phường", "Huyện", ...)
    max_spaces: int = 0

    def seal(self) -> None:
        """Each key's items once each, ascending (they are added in order; a spelling variant may repeat one)."""
        for keys in (self.accent, self.fold):
            for name, items in keys.items():
                keys[name] = list(dict.fromkeys(items))

    def add(self, key: NameKey, item: int) -> None:
        self.accent[key.accent].append(item)
        self.fold[key.fold].append(item)
        self.fold_of.setdefault(item, key.fold)
        self.max_spaces = max(self.max_spaces, key.fold.count(" "))


@dataclass(slots=True, eq=False)  # not frozen: made on every lookup, and a frozen __init__ is slow
class _Hit:
    items: tuple[int, ...]
    score: int  # 4 exact, 3 exact but the type word contradicts, 2 fuzzy


_EXACT, _TYPE_OFF, _FUZZY = 4, 3, 2
_SHAPES = ((True, True), (True, False), (False, True), (False, False))
"""Readings of an address's last segments, widest first: (has a province, has a district) after the commune."""
_NOT_FOUND = Status.NOT_FOUND  # enum attribute access is slow on the hot path


_EXACT_S, _FUZZY_S, _AMBIGUOUS_S, _ALREADY_NEW_S = Status.EXACT, Status.FUZZY, Status.AMBIGUOUS, Status.ALREADY_NEW
_P, _D, _C = Level.PROVINCE, Level.DISTRICT, Level.COMMUNE


class _Answer(NamedTuple):  # a named tuple: one is made per new tail, and a frozen dataclass's __init__ is slow
    status: Status
    width: int  # segments read as units; those in front are the street
    target: URec | None
    candidates: tuple[Candidate, ...]
    province: str = ""
    reason: NotFound | None = None


class AddressConverter:
    """Converts addresses to the units in force on ``on``. Thread-safe for reading; build once, reuse."""

    def __init__(self, units: Iterable[URec], links: Iterable[tuple[URec, URec, str]], on: date) -> None:
        self.on = on
        units = [u for u in units if u.valid_from <= on]
        by_code: dict[tuple[str, str], list[URec]] = defaultdict(list)
        for u in units:
            by_code[(u.level, u.code)].append(u)
        succ: dict[int, list[URec]] = defaultdict(list)
        pred: dict[int, list[URec]] = defaultdict(list)
        for a, b, _kind in links:
            succ[id(a)].append(b)
            pred[id(b)].append(a)

        def at(level: str, code: str | None, day: date) -> URec | None:
            for u in by_code.get((level, code or ""), ()):
                if u.active_on(day):
                    return u
            return None

        def targets(u: URec, depth: int = 0) -> tuple[URec, ...]:
            if u.active_on(on):
                return (u,)
            if depth > 20:
                return ()
            out: dict[int, URec] = {}
            for nxt in succ.get(id(u), ()):
                if nxt.valid_from <= on:
                    for t in targets(nxt, depth + 1):
                        out[id(t)] = t
            return tuple(out.values())

        self._provinces: list[URec] = [u for u in units if u.level == Level.PROVINCE]
        # "TP Cần Thơ" after an old district of Hậu Giang is how people write it now: a province's name covers the
        # provinces merged into it (not the other way round).
        self._covers: dict[int, set[int]] = {}
        for prov in self._provinces:
            seen: set[int] = set()
            todo = [prov]
            while todo:
                cur = todo.pop()
                if id(cur) not in seen:
                    seen.add(id(cur))
                    todo.extend(pred.get(id(cur), ()))
            self._covers[id(prov)] = seen
        self._districts: list[URec] = [u for u in units if u.level == Level.DISTRICT]
        self._communes: list[_Commune] = []
        for u in units:
            if u.level == Level.DISTRICT and any(t.level == Level.COMMUNE for t in succ.get(id(u), ())):
                # An island district without communes became a special zone (Huyện Côn Đảo -> Đặc khu Côn Đảo):
                # its addresses name no commune, so the district itself is read where a commune is.
                self._communes.append(
                    _Commune(u, None, at(Level.PROVINCE, u.province_code, u.last_day), targets(u), False)
                )
                continue
            if u.level != Level.COMMUNE:
                continue
            current = u.active_on(on)
            if not current and u.last_day >= on:
                continue
            day = on if current else u.last_day
            parent = at(Level.DISTRICT, u.parent_code, day)
            self._communes.append(_Commune(u, parent, at(Level.PROVINCE, u.province_code, day), targets(u), current))
        # Communes by district and by province, districts by province: the filters an address's district or
        # province name sets are unions of these, not scans of the whole country.
        self._by_district: dict[int, list[int]] = defaultdict(list)
        self._by_province: dict[int, list[int]] = defaultdict(list)
        for i, c in enumerate(self._communes):
            if c.district is not None:
                self._by_district[id(c.district)].append(i)
            if c.province is not None:
                self._by_province[id(c.province)].append(i)
        self._districts_by_province: dict[int, list[int]] = defaultdict(list)
        for i, d in enumerate(self._districts):
            for p in self._provinces:
                if p.code == d.parent_code and p.active_on(d.last_day):
                    self._districts_by_province[id(p)].append(i)
        self._current_province_names = {p.code: p.name for p in self._provinces if p.active_on(on)}
        self._pidx = _Index()
        for i, p in enumerate(self._provinces):
            for key in unit_keys(p.type, split_type(p.name)[1]):
                self._pidx.add(key, i)
        self._didx = _Index()
        for i, d in enumerate(self._districts):
            for key in unit_keys(d.type, split_type(d.name)[1]):
                self._didx.add(key, i)
        self._cidx = _Index()
        variants = national().name_variants
        for i, c in enumerate(self._communes):
            base = split_type(c.unit.name)[1]
            names = [base, *SPELLING_VARIANTS.get(base, ())]
            if c.unit.valid_from == OPEN_START:
                # Spellings of the statistics office's own documents, by the code the old commune bore then.
                names += [split_type(v)[1] for v in variants.get(c.unit.code, ())]
            for name in dict.fromkeys(names):
                for key in unit_keys(c.unit.type, name):
                    self._cidx.add(key, i)
        self._indexes = (self._cidx, self._didx, self._pidx)
        self._pidx.types = [p.type for p in self._provinces]
        self._didx.types = [d.type for d in self._districts]
        self._cidx.types = [c.unit.type for c in self._communes]
        for idx in self._indexes:
            idx.seal()
        # No reading of a segment with more words than the longest name and a two-word type word can name a unit,
        # exactly or misspelt ("Xã Phú Tân - Huyện Châu Thành - Tỉnh Hậu Giang" before it is split on its type words).
        self._max_words = max(idx.max_spaces for idx in self._indexes) + 3
        # A segment's readings are told apart by what they hit. A fold key decides the hits by itself; an accent
        # key matters only where it hits otherwise than its fold key in some index ("vĩnh thạnh" / "vĩnh thành"):
        # precomputed here so that reading a new segment costs set lookups, not a tuple of hits per index.
        self._folds: frozenset[str] = frozenset().union(*(idx.fold for idx in self._indexes))
        self._accents: frozenset[str] = frozenset().union(*(idx.accent for idx in self._indexes))
        self._plain_accents = frozenset(
            a
            for a in self._accents
            if all(idx.accent.get(a, []) == idx.fold.get(fold_fast(a), []) for idx in self._indexes)
        )
        self._cfold = list(self._cidx.fold)
        self._dfold = list(self._didx.fold)
        self._pfold = list(self._pidx.fold)
        self._levels: dict[str, tuple[_Index, frozenset[str], list[str]]] = {
            Level.PROVINCE: (self._pidx, PROVINCE_TYPES, self._pfold),
            Level.DISTRICT: (self._didx, DISTRICT_TYPES, self._dfold),
            Level.COMMUNE: (self._cidx, COMMUNE_TYPES, self._cfold),
        }
        # Memos, all bounded: an address's answer depends only on its last three segments, and real address lists
        # repeat those endlessly; the street in front is never looked up.
        self._seg_cache: dict[str, int] = {}
        self._reading_ids: dict[object, int] = {(): 0}
        self._reading_list: list[tuple[NameKey, ...]] = [()]
        # The usual written forms of every unit's name, read once by learn_forms(): kept when the memos are reset.
        self._forms: dict[str, int] = {}
        self._kept = 1  # reading ids below this are the forms' (and 0, a street), kept on reset
        self._match_cache: dict[tuple[int, str, tuple[object, ...], bool], _Hit | None] = {}
        self._tail_cache: dict[tuple[int, ...], _Answer] = {}
        self._learnt: dict[tuple[int, ...], _Answer] = {}  # learn_answers(): kept when the memos are reset
        self._cand_rows: dict[int, tuple[tuple[tuple[str, date, str | None], URec, Candidate], ...]] = {}
        self.warmed = False
        # Filters by province / district, memoised: a handful of distinct ones, asked for on every address.
        self._pkeep: dict[tuple[int, ...], tuple[frozenset[int], frozenset[int]]] = {}
        self._dkeep: dict[tuple[int, ...], frozenset[int]] = {}

    # -- building ------------------------------------------------------------------------------------------------

    @classmethod
    def bundled(cls, on: date | None = None) -> AddressConverter:
        """From the tables shipped in the package, with the change sets shipped since: no database needed."""
        data = national()
        last = REFORM_DATE - timedelta(days=1)
        # Mutable specs first (a later change closes a unit of the reform); frozen records once every date is known.
        Spec = dict[str, Any]
        specs: list[Spec] = []
        links: list[tuple[Spec, Spec, str]] = []

        def spec(code: str, start: date, end: date | None, level: str, type_: str, name: str, parent: str | None,
                 province: str) -> Spec:  # fmt: skip
            item = {"code": code, "valid_from": start, "valid_to": end, "level": level, "type": type_, "name": name,
                    "parent_code": parent, "province_code": province}  # fmt: skip
            specs.append(item)
            return item

        old_p = {
            c: spec(c, OPEN_START, last, Level.PROVINCE, p.type, p.name, None, c) for c, p in data.old_provinces.items()
        }
        new_p = {
            c: spec(c, REFORM_DATE, None, Level.PROVINCE, p.type, p.name, None, c)
            for c, p in data.new_provinces.items()
        }
        districts = {
            c: spec(c, OPEN_START, last, Level.DISTRICT, d.type, d.name, d.province_code, d.province_code)
            for c, d in data.districts.items()
        }
        old = {
            c: spec(c, OPEN_START, last, Level.COMMUNE, u.type, u.name, u.district_code, u.province_code)
            for c, u in data.old_communes.items()
        }
        new = {
            c: spec(c, REFORM_DATE, None, Level.COMMUNE, u.type, u.name, u.province_code, u.province_code)
            for c, u in data.new_communes.items()
        }
        links += [(old[lk.old_code], new[lk.new_code], lk.kind) for lk in data.lineage]
        links += [(districts[lk.old_code], new[lk.new_code], lk.kind) for lk in data.island_lineage]
        links += [(old_p[o], new_p[n], LinkKind.WHOLE.value) for o, n in data.province_lineage.items()]
        current: dict[str, Spec] = {**new_p, **new}
        for change in bundled_later_changes():
            # The change sets shipped since, applied as the loader applies them to the store.
            made: dict[str, Spec] = {}
            for row in change.rows:
                was = current[row.old_code]
                was["valid_to"] = change.effective - timedelta(days=1)
                if row.new_code not in made:
                    made[row.new_code] = spec(row.new_code, change.effective, None, row.new_level, row.new_type,
                                              row.new_name, row.new_parent, row.new_province)  # fmt: skip
                links.append((was, made[row.new_code], row.kind.value))
            current.update(made)
        recs = {id(x): URec(**x) for x in specs}
        return cls(recs.values(), [(recs[id(a)], recs[id(b)], k) for a, b, k in links], on or date.today())

    @classmethod
    def from_store(cls, session: Session, on: date | None = None) -> AddressConverter:
        """From the store's registry, so change sets applied with ``registry apply-changes`` count."""
        rows = list(session.scalars(select(Unit)))
        recs = {
            u.id: URec(u.code, u.valid_from, u.valid_to, u.level, u.type, u.name, u.parent_code, u.province_code)
            for u in rows
        }
        links = [
            (recs[lk.from_unit_id], recs[lk.to_unit_id], lk.kind)
            for lk in session.scalars(select(LineageLink).where(LineageLink.to_unit_id.is_not(None)))
            if lk.to_unit_id is not None
        ]
        return cls(recs.values(), links, on or date.today())

    def settle(self) -> AddressConverter:
        """Keep the index out of the garbage collector's full passes; for a converter that lives long (the cached
        ones). The index is some 150,000 objects that live as long as it does, and a full collection walked them
        all for nothing: two or three times per 20,000 new addresses as the memos grow, 0.1 s each, a fifth of
        the time of a batch. ``gc.freeze`` moves every object alive now to the permanent generation, which full
        collections skip; unfreezing first lets an index replaced since be collected. Returns ``self``."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        return self

    def learn_forms(self) -> AddressConverter:
        """Read once the names of every unit of the country as people usually write them: with the type word, its
        abbreviation ("P.", "X.", "TT.", "Q.", "H.", "TX.", "TP.", "T.") or none, with or without diacritics, with
        the old tone placement (Hoà). A batch then mostly looks its segments up instead of reading them: the
        reading of a new segment was a third of the time of a national batch. The forms are read by the same code
        as any segment (so they cannot read otherwise), and survive the memos' resets. Idempotent; returns
        ``self``."""
        if self._forms:
            return self
        names: list[tuple[str, str]] = []
        for unit in (*self._provinces, *self._districts):
            names.append(split_type(unit.name))
        variants = national().name_variants
        for c in self._communes:
            type_, base = split_type(c.unit.name)
            names.append((type_, base))
            for other in SPELLING_VARIANTS.get(base, ()):
                names.append((type_, other))
            if c.unit.valid_from == OPEN_START:
                names += [(type_, split_type(v)[1]) for v in variants.get(c.unit.code, ())]
        forms: set[str] = set()
        for type_, base in dict.fromkeys(names):
            low = base.lower()
            written = [_written(type_, base, typed=False)]
            if type_:
                written.append(_written(type_, base, typed=True))
                written += [f"{abbr} {low}" for abbr in _ABBREVIATIONS.get(type_, ())]
            for text in written:
                forms.add(text)
                forms.add(fold_fast(text))
                forms.add(old_tones(text))
        for text in sorted(forms):  # sorted: the same reading ids whatever the hash seed
            self._reading_id(text)
        self._forms = dict(self._seg_cache)
        self._kept = len(self._reading_list)
        return self

    def learn_answers(self) -> AddressConverter:
        """Answer in advance, for every commune of the country, the ways an address most often ends: commune,
        district and province with their type words; the same with the new province's name; without the province;
        without the district; with no type word at all; and, for a commune in force, the new form (commune,
        province). Spellings do not matter here: a segment's reading id is shared by its forms (with or without
        diacritics, abbreviated, upper case). Answers are computed by the same code as on demand; they survive the
        memos' resets. Calls :meth:`learn_forms`. Idempotent; returns ``self``."""
        if self._learnt:
            return self
        self.learn_forms()
        forms = self._forms

        def rid(unit: URec, typed: bool) -> int | None:
            return forms.get(_written(*split_type(unit.name), typed=typed))

        now = {p.code: p for p in self._provinces if p.active_on(self.on)}
        tails: dict[tuple[int, ...], None] = {}
        shapes: list[tuple[int | None, ...]]
        for c in self._communes:
            if c.unit.level != Level.COMMUNE or c.province is None:
                continue
            ct, cb, pt, pb = rid(c.unit, True), rid(c.unit, False), rid(c.province, True), rid(c.province, False)
            if c.current:
                shapes = [(ct, pt), (cb, pb)]
            else:
                dt = rid(c.district, True) if c.district else None
                db = rid(c.district, False) if c.district else None
                successor = now.get(c.targets[0].province_code) if c.targets else None
                nt = rid(successor, True) if successor else None
                shapes = [(ct, dt, pt), (ct, dt, nt), (ct, dt), (ct, pt), (cb, db, pb)]
            for shape in shapes:
                known = tuple(r for r in shape if r is not None)
                if len(known) == len(shape):  # every unit's name has forms; a None would be a bug, not an address
                    tails[known] = None
        for tail in tails:
            if tail not in self._tail_cache:
                self._tail_cache[tail] = self._resolve(tail)
        self._learnt = dict(self._tail_cache)
        return self

    def warm(self, province: str | None = None) -> AddressConverter:
        """Precompute the answers for every unit of ``province`` (default the deployment's, with the former
        provinces it was formed from) written in the usual ways (with and without type words, district and
        province; with and without diacritics): worth it before a batch, since a batch's addresses then mostly only
        split, look up and join. The rest of the country is answered as it comes (the whole country would take
        seconds to warm for addresses a deployment rarely sees), but the names of the whole country are read once
        and its communes answered in the commonest shapes (:meth:`learn_answers`). About 3 s: for a batch
        (``convert-file``), not for a request. Returns ``self``."""
        self.learn_answers()
        code = province or province_code()
        home: set[int] = set()
        for p in self._provinces:
            if p.code == code and p.active_on(self.on):
                home |= self._covers[id(p)]
        dist_forms: dict[int, list[str]] = {}
        for c in self._communes:
            if c.province is None or id(c.province) not in home:
                continue
            forms_c = [c.unit.name, split_type(c.unit.name)[1]]
            if c.district is not None:
                key = id(c.district)
                if key not in dist_forms:
                    dist_forms[key] = [c.district.name, split_type(c.district.name)[1]]
                forms_d = [*dist_forms[key], ""]
            else:
                forms_d = [""]
            forms_p = [""]
            for p in self._provinces:
                if c.province is not None and id(c.province) in self._covers[id(p)]:
                    forms_p += [p.name, split_type(p.name)[1]]
            for fc in forms_c:
                for fd in forms_d:
                    for fp in forms_p:
                        parts = [x for x in (fc, fd, fp) if x]
                        for text in (", ".join(parts), ", ".join(fold(x) for x in parts)):
                            self.convert(text)
                            if len(parts) < 3:
                                self.convert("1 A, " + text)  # with a street in front
        self.warmed = True
        return self

    @property
    def commune_count(self) -> tuple[int, int]:
        """(old communes, communes in force) the converter knows."""
        cur = sum(1 for c in self._communes if c.current)
        return len(self._communes) - cur, cur

    # -- reading -------------------------------------------------------------------------------------------------

    def _reading_id(self, segment: str) -> int:
        """A small number for the readings of a segment: equal for "P. Xuân Khánh", "PHƯỜNG XUÂN KHÁNH" and
        "Phường Xuân Khánh" (NFD or with old tone marks), so that memos keyed on it are hit across spellings.
        ``0`` is a segment that cannot be a unit ("12 Nguyễn Trãi", "Ấp 3"): it only matters as not being one."""
        found = self._seg_cache.get(segment)
        if found is not None:
            return found
        low = segment.lower()
        if (low[0].isdigit() and " " in low) or low.startswith(_STREET_WORDS):
            return 0  # not memoised: streets are mostly unique and would crowd out the unit names
        if low.count(" ") >= self._max_words and len(_WORD.findall(low)) > self._max_words:
            return 0  # too long to be a unit: reads as a street
        keys = readings(segment)
        folds, accents, plain = self._folds, self._accents, self._plain_accents
        if len(keys) > 1 and ((keys[0].has_marks and keys[0].accent in accents) or keys[0].fold in folds):
            keys = keys[:1]  # a type word and a known name: how the type was spelt (P., Phường) no longer matters
        # Segments that hit the same units the same way behave alike (with or without diacritics, when no other
        # name folds alike): one id for them all.
        profile = tuple(
            [
                (k.type, k.fold, k.accent if k.has_marks and k.accent not in plain and k.fold in folds else None)
                for k in keys
            ]
        )
        rid = self._reading_ids.get(profile)
        if rid is None:
            if len(self._reading_list) > self._kept + 100_000:
                self._reset_memos()  # bounded memory whatever the input
            rid = self._reading_ids[profile] = len(self._reading_list)
            self._reading_list.append(keys)
        if len(self._seg_cache) > len(self._forms) + 100_000:
            self._seg_cache = dict(self._forms)
        self._seg_cache[segment] = rid
        return rid

    def _reset_memos(self) -> None:
        self._seg_cache = dict(self._forms)
        self._reading_ids = {k: v for k, v in self._reading_ids.items() if v < self._kept}
        self._reading_list[self._kept :] = []
        self._match_cache.clear()
        self._tail_cache = dict(self._learnt)

    def _match(
        self,
        segment: int,
        level: str,
        keep: frozenset[int] | None,
        fuzzy: bool,
    ) -> _Hit | None:
        """Units of ``level`` a segment names, restricted to the item numbers in ``keep`` (None: all)."""
        index, allowed, fold_keys = self._levels[level]
        types = index.types
        communes = index is self._cidx
        for key in self._reading_list[segment]:
            if key.type == "Huyện" and communes:
                # Only an island district read as the special zone it became: exact, and of that type.
                island = [i for i in index.fold.get(key.fold, ()) if types[i] == "Huyện"]
                island = [i for i in island if keep is None or i in keep]
                if island:
                    return _Hit(tuple(island), _EXACT)
                continue
            if key.type and key.type not in allowed:
                continue  # "Q. Ninh Kiều" is no commune
            if not key.type and key.fold.isdigit():
                continue  # "7" or "X" alone is no "Phường 7" / "Phường X": numbered wards need their type word
            hit: list[int] = []
            accented = False
            if key.has_marks:
                hit = _among(index.accent.get(key.accent), keep)
                accented = bool(hit)
            if not hit:
                hit = _among(index.fold.get(key.fold), keep)
            if not hit:
                continue
            if key.type:
                typed = [i for i in hit if types[i] == key.type]
                if typed:
                    return _Hit(tuple(typed), _EXACT)
                if key.has_marks and not accented:
                    # Neither its diacritics nor its type word fit: "X. Xuân Tắng" is as likely a misspelt Xã Xuân
                    # Thắng as Phường Xuân Tăng. Left to the fuzzy pass, which lists both.
                    continue
                return _Hit(tuple(hit), _TYPE_OFF)
            return _Hit(tuple(hit), _EXACT)
        if not fuzzy:
            return None
        keys = self._reading_list[segment]
        if keys and keys[0].type and keys[0].type not in allowed:
            return None  # "H. Thới Lai" is no misspelt commune
        for key in keys:
            if key.type and key.type not in allowed:
                continue
            if len(key.fold) < 4 or key.fold[0].isdigit() or key.fold.count(" ") > index.max_spaces:
                continue  # too short to tell, a house number, or longer than any name: no misspelt name
            choices = fold_keys
            if keep is not None:
                fold_of = index.fold_of
                choices = sorted({fold_of[i] for i in keep})
            found = process.extract(key.fold, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=5)
            if not found:
                continue
            # A misspelling keeps the number of syllables ("V Vị Thanh" is no misspelt "Vị Thanh") and is one edit
            # away (two in a long name): "Can Tho" is no misspelt "An Thới" however alike they score.
            words = key.fold.count(" ")
            edits = 1 if len(key.fold) < 12 else 2
            found = [
                f
                for f in found
                if f[0].count(" ") == words and OSA.distance(key.fold, f[0], score_cutoff=edits) <= edits
            ]
            if not found:
                continue
            best = found[0][1]
            items_f = [i for name, score, _ in found if score >= best - FUZZY_MARGIN for i in index.fold[name]]
            hit = [i for i in items_f if keep is None or i in keep]
            if hit:
                if key.type:
                    typed = [i for i in hit if types[i] == key.type]
                    if not typed:
                        # None of the closest names is of the type written: the closest that are join them, and
                        # the answer is ambiguous rather than a unit of another type.
                        scored = [
                            (score, i)
                            for name, score, _ in found
                            for i in index.fold[name]
                            if types[i] == key.type and (keep is None or i in keep)
                        ]
                        if scored:
                            top = max(score for score, _ in scored)
                            typed = hit + [i for score, i in scored if score >= top - FUZZY_MARGIN and i not in hit]
                    hit = typed or hit
                return _Hit(tuple(hit), _FUZZY)
        return None

    def _district_keep(self, districts: tuple[int, ...]) -> frozenset[int]:
        found = self._dkeep.get(districts)
        if found is None:
            by_district = self._by_district
            found = frozenset(j for i in districts for j in by_district.get(id(self._districts[i]), ()))
            self._dkeep[districts] = found
        return found

    def _province_keep(self, provinces: tuple[int, ...]) -> tuple[frozenset[int], frozenset[int]]:
        found = self._pkeep.get(provinces)
        if found is None:
            chosen: set[int] = set()
            for i in provinces:
                chosen |= self._covers[id(self._provinces[i])]
            communes = frozenset(j for p in chosen for j in self._by_province.get(p, ()))
            districts = frozenset(j for p in chosen for j in self._districts_by_province.get(p, ()))
            found = self._pkeep[provinces] = (communes, districts)
        return found

    def _bare_upper_unit(self, segment: int) -> bool:
        keys = self._reading_list[segment]
        if not keys or keys[0].type:
            return False
        if (
            self._match_memo(segment, _P, (), None, False) is None
            and self._match_memo(segment, _D, (), None, False) is None
        ):
            return False
        # An island district's name is also the special zone's: "Côn Đảo, Bà Rịa - Vũng Tàu" names the zone.
        hit = self._match_memo(segment, _C, (), None, False)
        return hit is None or not any(self._communes[i].unit.level == Level.DISTRICT for i in hit.items)

    def _match_memo(
        self, segment: int, level: str, keep_key: tuple[object, ...], keep: frozenset[int] | None, fuzzy: bool
    ) -> _Hit | None:
        key = (segment, level, keep_key, fuzzy)
        hit = self._match_cache.get(key)
        if hit is not None or key in self._match_cache:
            return hit
        hit = self._match(segment, level, keep, fuzzy)
        if len(self._match_cache) > 200_000:
            self._match_cache.clear()
        self._match_cache[key] = hit
        return hit

    def _parse(self, tail: tuple[int, ...], fuzzy: bool, min_width: int = 0) -> list[tuple[int, int, _Hit, bool, bool]]:
        """Readings of the last segments: (score, width, commune hit, every segment exact). ``width`` counts the
        segments read as units (commune [, district] [, province]); the rest in front is the street.

        With ``fuzzy``, only readings wider than ``min_width`` in which exactly one segment misses are tried, and
        rapidfuzz runs on that segment alone."""
        n = len(tail)
        out: list[tuple[int, int, _Hit, bool, bool]] = []
        cache = self._match_cache
        for has_p, has_d in _SHAPES:
            width = 1 + has_p + has_d
            if width > n or width <= min_width:
                continue
            if out and width < out[-1][1]:
                # Readings come widest first and a wider one always outscores a narrower one (each segment scores
                # 3-4 exact, 2 fuzzy, and one pass has at most one fuzzy segment), so a narrower one never wins.
                break
            pos = n - width
            if not has_d and n > 1 and self._bare_upper_unit(tail[pos]):
                # "..., Vị Thanh, Hậu Giang" / "..., Sóc Trăng" with no district: a bare name that is also a
                # district's or province's is most likely that, not the commune of the name; a guess either way.
                continue
            fuzzy_level = ""
            if fuzzy:
                plan = [(tail[pos], _C)]
                if has_d:
                    plan.append((tail[pos + 1], _D))
                if has_p:
                    plan.append((tail[n - 1], _P))
                misses = [lvl for seg, lvl in plan if self._match_memo(seg, lvl, (), None, False) is None]
                if len(misses) > 1 or (not has_d and self._bare_upper_unit(tail[pos])):
                    continue
                # Every name exists somewhere but not together: the commune may be misspelt into another's name.
                fuzzy_level = misses[0] if misses else _C
            score = 0
            clean = True
            keep_c: frozenset[int] | None = None
            keep_d: frozenset[int] | None = None
            keep_key: tuple[object, ...] = ()
            ph = dh = None
            if has_p:
                ph = self._match_memo(tail[n - 1], _P, (), None, fuzzy_level == _P)
                if ph is None:
                    continue
                clean = ph.score == _EXACT
                score = ph.score
                keep_c, keep_d = self._province_keep(ph.items)
                keep_key = ("p", ph.items)
            if has_d:
                dh = self._match_memo(tail[pos + 1], _D, keep_key, keep_d, fuzzy_level == _D)
                if dh is None:
                    continue
                clean &= dh.score == _EXACT
                score += dh.score
                keep_key = (*keep_key, "d", dh.items)
            fz = fuzzy_level == _C
            ckey = (tail[pos], _C, keep_key, fz)
            ch = cache.get(ckey)
            if ch is None and ckey not in cache:
                if dh is not None:  # the communes of the district, within the province: computed on a memo miss only
                    dk = self._district_keep(dh.items)
                    keep_c = dk if keep_c is None else keep_c & dk
                ch = self._match_memo(tail[pos], _C, keep_key, keep_c, fz)
            if ch is None:
                continue
            out.append((score + ch.score, width, ch, clean and ch.score == _EXACT, has_p and not has_d))
        return out

    def _resolve(self, tail: tuple[int, ...]) -> _Answer:
        """The answer for the last (up to three) segments: all an address's answer depends on but its street."""
        parses = self._parse(tail, fuzzy=False)
        # The readings of one pass are all of one width (a narrower one is not tried once one is found).
        widest = parses[0][1] if parses else 0
        if widest < len(tail):
            # A reading that uses more segments with one misspelt name beats a narrower exact one.
            parses += self._parse(tail, fuzzy=True, min_width=widest)
        if not parses:
            return _Answer(_NOT_FOUND, 0, None, (), "", self._why_not(tail))
        if len(parses) == 1:
            top = parses
        else:
            best = max(p[0] for p in parses)
            top = [p for p in parses if p[0] == best]
        if any(p[4] and p[3] for p in top):
            # The new form (commune and province, no district) names a commune in force exactly: it is that
            # commune, even where an old commune of the old province bore the same name (Phường Đại Mỗ, Hà Nội).
            new_form: list[tuple[int, int, _Hit, bool, bool]] = [
                (p[0], p[1], _Hit(tuple(i for i in p[2].items if self._communes[i].current), p[2].score), p[3], p[4])
                for p in top
                if p[4] and p[3]
            ]
            new_form = [p for p in new_form if p[2].items]
            if new_form:
                top = new_form
        width = max(p[1] for p in top) if len(top) > 1 else top[0][1]
        fuzzy_any = not all(p[3] for p in top)
        cands: dict[tuple[str, date, str | None], Candidate] = {}
        targets: dict[int, URec] = {}
        names_current = False
        cand_rows = self._cand_rows
        for _score, _width, hit, _clean, _new_form in top:
            for i in hit.items:
                rows = cand_rows.get(i)
                if rows is None:
                    rows = cand_rows[i] = self._candidate_rows(self._communes[i])
                if rows and rows[0][2].old_code is None:
                    names_current = True
                for key, t, cand in rows:
                    targets[id(t)] = t
                    cands.setdefault(key, cand)
        candidates = tuple(cands.values())
        if len(targets) != 1:
            if targets:
                return _Answer(_AMBIGUOUS_S, width, None, candidates)
            return _Answer(_NOT_FOUND, width, None, candidates, "", NotFound.NO_SUCCESSOR)
        (target,) = targets.values()
        status = _ALREADY_NEW_S if names_current else _FUZZY_S if fuzzy_any else _EXACT_S
        return _Answer(status, width, target, candidates, self._province_name(target))

    def _why_not(self, tail: tuple[int, ...]) -> NotFound:
        """Why no reading of ``tail`` names a commune: computed once per tail, from the memoised matches."""
        named = [seg for seg in tail if any(self._match_memo(seg, lvl, (), None, False) for lvl in (_C, _D, _P))]
        numbers = [seg for seg in tail if any(not k.type and k.fold.isdigit() for k in self._reading_list[seg])]
        if numbers and named and numbers[-1] != tail[-1]:
            return NotFound.BARE_NUMBER
        if not named:
            return NotFound.NO_UNIT
        if len(tail) > 1 and any(
            self._bare_upper_unit(seg) and self._match_memo(seg, _C, (), None, False) for seg in named
        ):
            return NotFound.BARE_NAME
        return NotFound.UNITS_APART

    @staticmethod
    def _candidate_rows(c: _Commune) -> tuple[tuple[tuple[str, date, str | None], URec, Candidate], ...]:
        """What naming this commune contributes to an answer: (key, unit in force, candidate) for each unit it
        leads to; built once per commune, since building candidates was a tenth of a conversion."""
        if c.current:
            return (((c.unit.code, c.unit.valid_from, None), c.unit, Candidate(c.unit.code, c.unit.name)),)
        district = c.district.name if c.district else None
        province = c.province.name if c.province else None
        return tuple(
            (
                (t.code, t.valid_from, c.unit.code),
                t,
                Candidate(t.code, t.name, c.unit.code, c.unit.name, district, province),
            )
            for t in c.targets
        )

    def convert(self, text: str, *, _split_done: bool = False) -> Conversion:
        """Convert one address; raise :class:`InvalidInput` when it is empty or longer than the cap. An address
        written without commas ("P. Xuân Khánh Q. Ninh Kiều TP Cần Thơ") is split before its type words."""
        if len(text) > MAX_ADDRESS_LENGTH:
            raise InvalidInput(f"address is {len(text)} characters long; at most {MAX_ADDRESS_LENGTH} are accepted")
        if not text.isascii() and not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
        if ";" in text or "\n" in text:
            text = text.replace(";", ",").replace("\n", ",")
        segs = [part.strip() for part in text.split(",")]
        if "" in segs:
            segs = [s for s in segs if s]
            if not segs:
                raise InvalidInput("address is empty")
        while len(segs) > 1 and segs[-1].lower() in _COUNTRY:
            segs.pop()
        cache = self._seg_cache
        ids = []
        for seg in segs[-3:]:
            low = seg.lower()
            rid = cache.get(low)
            ids.append(self._reading_id(low) if rid is None else rid)
        while len(ids) > 2 and ids[0] == 0 and ids[1] == 0:
            del ids[0]  # one street segment in front reads the same as two: one memo entry for both
        tail = tuple(ids)
        answer = self._tail_cache.get(tail)
        if answer is None:
            answer = self._resolve(tail)
            if len(self._tail_cache) > len(self._learnt) + 100_000:
                self._tail_cache = dict(self._learnt)
            self._tail_cache[tail] = answer
        if answer.status is _NOT_FOUND and len(segs) == 1 and not _split_done:
            split = self._split_province(_split_on_type_words(segs[0]))
            if split != segs[0]:
                result = self.convert(split, _split_done=True)
                if result.status is _NOT_FOUND and " - " in segs[0]:
                    # Names with a type word inside ("Xã Thượng Quan - Huyện Ngân Sơn": "Quan" folds as "Quận")
                    # cut wrongly on type words; the dashes may be the commas. Tried second: a province's name may
                    # hold a dash too ("Bà Rịa - Vũng Tàu").
                    dashed = self.convert(segs[0].replace(" - ", ", "), _split_done=True)
                    if dashed.status is not _NOT_FOUND:
                        result = dashed
                result.input = text
                return result
        street = ", ".join(segs[: len(segs) - answer.width])
        target = answer.target
        if target is None:
            return Conversion(text, answer.status, None, None, None, street, answer.candidates, answer.reason)
        new_address = f"{street}, {target.name}, {answer.province}" if street else f"{target.name}, {answer.province}"
        return Conversion(text, answer.status, target.code, target.name, new_address, street, answer.candidates)

    def _split_province(self, text: str) -> str:
        """A comma before a trailing province name written without its type word ("... Cái Khế Cần Thơ")."""
        words = text.split()
        for n in (2, 3):
            if len(words) <= n or words[-n - 1].endswith(",") or _fold(" ".join(words[-n:])) not in self._pidx.fold:
                continue
            before = _fold(" ".join(words[-n - 2 : -n])).split()
            if tuple(before[-1:]) in TYPE_PREFIXES or tuple(before[-2:]) in TYPE_PREFIXES:
                continue  # "Thành phố Cần Thơ" is one segment already
            return " ".join(words[:-n]) + ", " + " ".join(words[-n:])
        return text

    def _province_name(self, unit: URec) -> str:
        return self._current_province_names.get(unit.province_code, "")


def _written(type_: str, base: str, *, typed: bool) -> str:
    """A unit's name as a segment of an address reads once lower-cased: "xã phú tân", or "phú tân" bare."""
    return f"{type_.lower()} {base.lower()}" if typed and type_ else base.lower()


@lru_cache(maxsize=4096)
def _fold(words: str) -> str:
    """:func:`hopnhat.registry.text.fold`, memoised: the last words of addresses without commas are few (province
    names, type words) and repeat endlessly."""
    return fold(words)


def _among(items: list[int] | None, keep: frozenset[int] | None) -> list[int]:
    """``items`` (ascending, no repeats) that are in ``keep`` (None: all), in order. A common name ("Tân Phú",
    "Phường 1") has hundreds of units in the country: the filter runs in C, not as a Python loop."""
    if not items:
        return []
    if keep is None:
        return items
    if len(items) < 8:
        return [i for i in items if i in keep]
    return sorted(keep.intersection(items))


_WORD = re.compile(r"[^\W_]+")
"""A token as :func:`hopnhat.registry.addrtext.accent_tokens` cuts them: a run of letters and digits."""
_TYPE_WORD = re.compile(
    r"\b(?:(?:p|f|x|tt|q|h|tx|tp|t)\.|tp\b|(?:phường|phuong|xã|xa|thị trấn|thi tran|quận|quan|huyện|huyen|thị xã|"
    r"thi xa|thành phố|thanh pho|tỉnh|tinh|đặc khu|dac khu)\b)",
    re.IGNORECASE,
)


_SEPARATORS = " -–—"
"""Stripped from the parts an address without commas is cut into: "Xã A - Huyện B" gives "Xã A", not "Xã A -"."""


def _split_on_type_words(text: str) -> str:
    """Commas before each type word after the first word; a type word alone joins what follows it."""
    cuts = [m.start() for m in _TYPE_WORD.finditer(text) if m.start() > 0]
    if not cuts:
        return text
    parts = [text[a:b].strip() for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    merged: list[str] = []
    for part in parts:
        if merged and _TYPE_WORD.fullmatch(merged[-1]):
            merged[-1] = f"{merged[-1]} {part}"
        else:
            merged.append(part)
    return ", ".join(q for q in (p.strip(_SEPARATORS) for p in merged) if q)


_cache: dict[date, AddressConverter] = {}


def bundled_converter(on: date | None = None, *, warm: bool = False) -> AddressConverter:
    """The converter over the bundled tables for ``on`` (default today), built once per date; ``warm`` for a
    batch (see :meth:`AddressConverter.warm`)."""
    day = on or date.today()
    conv = _cache.get(day)
    if conv is None:
        if len(_cache) > 8:
            _cache.clear()
        conv = _cache[day] = AddressConverter.bundled(day).settle()
    if warm and not conv.warmed:
        conv.warm().settle()
    return conv


__all__ = [
    "MAX_ADDRESS_LENGTH",
    "AddressConverter",
    "Candidate",
    "Conversion",
    "NotFound",
    "Status",
    "bundled_converter",
]
