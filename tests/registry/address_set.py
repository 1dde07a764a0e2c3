"""A national set of addresses in the ways people write them, with the answers computed independently of the
converter: from the bundled tables and name comparisons only (so a converter bug cannot hide in its own answer key).

Used by ``tests/registry/test_address_national.py`` (small) and ``benchmarks/address/bench_national.py`` (large).

Each old-form address names one old commune; its expected answer is the set of new communes that every old commune
the written words fit leads to (the commune itself, plus any other the words cannot tell apart): one code means a
definite answer, several mean "ambiguous, listing all of them".
"""

from __future__ import annotations

import random
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hopnhat.registry.bundled import National, national
from hopnhat.registry.text import fold, split_type

OLD_TONES = {"òa": "oà", "óa": "oá", "ỏa": "oả", "õa": "oã", "ọa": "oạ", "ùy": "uỳ", "úy": "uý", "ủy": "uỷ", "ụy": "uỵ"}
ABBREVIATIONS = {
    "Xã": "X.",
    "Phường": "P.",
    "Thị trấn": "TT.",
    "Quận": "Q.",
    "Huyện": "H.",
    "Thị xã": "TX.",
    "Thành phố": "TP.",
    "Tỉnh": "T.",
}
STYLES = (
    "full",
    "no_diacritics",
    "upper",
    "abbreviated",
    "old_tones",
    "decomposed",
    "street",
    "hamlet",
    "hyphenated",
    "no_province",
    "no_type_words",
    "messy_spacing",
    "new_province",
)
STREETS = ("12 Nguyễn Trãi", "Số 5 Lê Lợi", "45/2 Trần Hưng Đạo", "Tổ 3", "88 Hùng Vương")
HAMLETS = ("Ấp 3", "Thôn Đông", "Khóm 2", "Ấp Tân Thạnh", "Xóm Bãi")
NONSENSE = (
    "1600 Pennsylvania Avenue NW, Washington, DC, USA",
    "221B Baker Street, London, United Kingdom",
    "Sukhumvit Road, Khlong Toei, Bangkok, Thailand",
    "Chiyoda, Tokyo, Japan",
    "Phnom Penh, Cambodia",
    "asdf qwer zxcv",
    "Phường Không Tồn Tại, Quận Hư Cấu, Tỉnh Mơ Hồ",
    "xxxxxxxx, yyyyyyyy",
    "12345",
)


@dataclass(frozen=True)
class Case:
    address: str
    style: str
    expected: frozenset[str]
    """New commune codes: one = a definite answer; several = ambiguous with all of them; empty = not found."""
    street: str = ""
    old_code: str = ""
    new_form: bool = False


def _accent(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).lower().replace("-", " ").split())


def _old_tones(text: str) -> str:
    for new, old in OLD_TONES.items():
        text = text.replace(new + " ", old + " ").replace(new + ",", old + ",")
        if text.endswith(new):
            text = text[: -len(new)] + old
    return text


class _Truth:
    """Old communes by the words that name them, to compute what a written address can only mean."""

    def __init__(self, data: National) -> None:
        self.data = data
        self.succ: dict[str, set[str]] = defaultdict(set)
        for lk in data.lineage:
            self.succ[lk.old_code].add(lk.new_code)
        self.by_name: dict[tuple[bool, str], list[str]] = defaultdict(list)
        for c in data.old_communes.values():
            bare = split_type(c.name)[1]
            self.by_name[(True, _accent(bare))].append(c.code)
            self.by_name[(False, fold(bare))].append(c.code)

    def expected(
        self, code: str, *, accents: bool, typed: bool, district: bool, province: str | None
    ) -> frozenset[str]:
        """``province``: "old" (the old province named) or "new" (the new one named) or None (not written)."""
        data = self.data
        c = data.old_communes[code]
        key = _accent if accents else fold
        d = data.districts[c.district_code]
        out: set[str] = set()
        for other_code in self.by_name[(accents, key(split_type(c.name)[1]))]:
            o = data.old_communes[other_code]
            if typed and o.type != c.type:
                continue
            od = data.districts[o.district_code]
            if district and key(split_type(od.name)[1]) != key(split_type(d.name)[1]):
                continue
            if province == "old" and key(split_type(data.old_provinces[o.province_code].name)[1]) != key(
                split_type(data.old_provinces[c.province_code].name)[1]
            ):
                continue
            if province == "new" and data.province_lineage[o.province_code] != data.province_lineage[c.province_code]:
                continue
            out |= self.succ[other_code]
        return frozenset(out)


def _parts(data: National, code: str) -> tuple[str, str, str, str]:
    c = data.old_communes[code]
    new_province = data.new_provinces[data.province_lineage[c.province_code]].name
    return c.name, data.districts[c.district_code].name, data.old_provinces[c.province_code].name, new_province


def _abbreviate(name: str) -> str:
    type_, bare = split_type(name)
    return f"{ABBREVIATIONS[type_]} {bare}" if type_ in ABBREVIATIONS else name


def old_cases(code: str, rng: random.Random, truth: _Truth) -> Iterator[Case]:
    """The thirteen ways of writing the old commune ``code``."""
    commune, district, province, new_province = _parts(truth.data, code)
    bare = [split_type(x)[1] for x in (commune, district, province)]
    full = f"{commune}, {district}, {province}"
    exp: Callable[..., frozenset[str]] = truth.expected

    def case(style: str, address: str, expected: frozenset[str], street: str = "") -> Case:
        return Case(address, style, expected, street, code)

    typed_old = exp(code, accents=True, typed=True, district=True, province="old")
    folded_old = exp(code, accents=False, typed=True, district=True, province="old")
    yield case("full", full, typed_old)
    yield case("no_diacritics", ", ".join(fold(x).title() for x in (commune, district, province)), folded_old)
    yield case("upper", ", ".join(fold(x).upper() for x in (commune, district, province)), folded_old)
    yield case("abbreviated", ", ".join(_abbreviate(x) for x in (commune, district, province)), typed_old)
    yield case("old_tones", _old_tones(full), typed_old)
    yield case("decomposed", unicodedata.normalize("NFD", full), typed_old)
    street = rng.choice(STREETS)
    yield case("street", f"{street}, {full}", typed_old, street)
    hamlet = rng.choice(HAMLETS)
    yield case("hamlet", f"{hamlet}, {full}", typed_old, hamlet)
    yield case("hyphenated", f"{commune} - {district} - {province}", typed_old)
    yield case(
        "no_province", f"{commune}, {district}", exp(code, accents=True, typed=True, district=True, province=None)
    )
    yield case("no_type_words", ", ".join(bare), exp(code, accents=True, typed=False, district=True, province="old"))
    yield case("messy_spacing", f"  {commune} ,{district},   {province}  ".replace(" ", "  ", 1), typed_old)
    yield case(
        "new_province",
        f"{commune}, {district}, {new_province}",
        exp(code, accents=True, typed=True, district=True, province="new"),
    )


def new_cases(code: str, rng: random.Random, data: National) -> Iterator[Case]:
    """An address already in the new form: new commune, new province, no district; with and without a street."""
    c = data.new_communes[code]
    province = data.new_provinces[c.province_code].name
    yield Case(f"{c.name}, {province}", "new_form", frozenset({code}), "", "", True)
    street = rng.choice(STREETS)
    yield Case(f"{street}, {c.name}, {province}", "new_form", frozenset({code}), street, "", True)


def generate(per_province: int, *, seed: int = 24, splits: int | None = None) -> list[Case]:
    """``per_province`` old communes of every old province (all 63) in all thirteen styles, ``splits`` split communes
    (default all 440) likewise, ``per_province`` new communes of every new province in the new form, and the
    nonsense and foreign addresses."""
    data = national()
    rng = random.Random(seed)
    truth = _Truth(data)
    by_province: dict[str, list[str]] = defaultdict(list)
    for c in data.old_communes.values():
        by_province[c.province_code].append(c.code)
    chosen: list[str] = []
    for codes in by_province.values():
        chosen += rng.sample(codes, min(per_province, len(codes)))
    split = sorted({lk.old_code for lk in data.lineage if lk.kind == "part"})
    chosen += [c for c in (split if splits is None else rng.sample(split, splits)) if c not in chosen]
    cases = [case for code in chosen for case in old_cases(code, rng, truth)]
    new_by_province: dict[str, list[str]] = defaultdict(list)
    for n in data.new_communes.values():
        new_by_province[n.province_code].append(n.code)
    for codes in new_by_province.values():
        for code in rng.sample(codes, min(per_province, len(codes))):
            cases += new_cases(code, rng, data)
    cases += [Case(text, "nonsense", frozenset()) for text in NONSENSE]
    return cases


__all__ = ["STYLES", "Case", "generate"]
