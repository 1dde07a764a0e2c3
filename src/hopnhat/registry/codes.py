"""Agency identification codes (mã định danh điện tử, Decision 20/2020/QĐ-TTg; QCVN 102:2016/BTTTT).

Structure ``V1V2V3.Z1Z2.Y1Y2.MX1X2`` read right to left: ``MX1X2`` is the level-1 group (``H`` + two digits = a
provincial People's Committee, ``K`` its People's Council, ``G`` central bodies), ``Y1Y2`` level 2 (bodies directly
under it: departments, formerly district committees), ``Z1Z2`` level 3 (bodies under a level-2 body), ``V1V2V3``
level 4. Unused levels are zeros: the provincial People's Committee itself is ``000.00.00.Hnn``. At most 35 characters.

Everything that is not law here is an assumption and lives in :class:`CodeRule`, loadable from a YAML/JSON file
(``hopnhat agencies issue --rule FILE``):

- the province's H-number and its former provinces': the ones known today (Cần Thơ H13, Hậu Giang H28, Sóc Trăng
  H51) are in ``data/agency_groups.csv``, all unconfirmed; any other province's must be given (``city_group``,
  ``old_province_groups``): a group number is never invented (:func:`for_province` refuses without one);
- the level-2 numbers of the former district committees (placeholders, numbered in district-code order from 31);
- **the default issuing rule for the two-level model** (unconfirmed; no published rule yet): every new commune's
  People's Committee is a level-3 body under a level-2 *commune group* of the city: groups 60, 61, ... hold 99
  communes each, communes take the next free level-3 number in commune-code order, so Cần Thơ's first commune
  (31120) gets ``000.01.60.H13``. The commune's Public Administration Service Center is level 4 under its committee
  (``001.01.60.H13``). A number already held by any agency, open or closed, or already issued, is skipped: a code
  is never reused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hopnhat.errors import InvalidInput
from hopnhat.files import FileLimits, parse_yaml, read_text

MAX_LENGTH = 35
_STRUCTURE = re.compile(r"^(?P<l4>\d{3})\.(?P<l3>\d{2})\.(?P<l2>\d{2})\.(?P<group>[A-Z])(?P<group_no>\d{2})$")
GROUP_LETTERS = {"G": "central body", "H": "provincial People's Committee", "K": "provincial People's Council"}


@dataclass(frozen=True)
class AgencyCode:
    """A parsed, valid agency code."""

    level4: int
    level3: int
    level2: int
    group: str
    """Level-1 group, e.g. ``H13``."""

    def __str__(self) -> str:
        return f"{self.level4:03d}.{self.level3:02d}.{self.level2:02d}.{self.group}"

    @property
    def level(self) -> int:
        """The deepest non-zero level: 1 for ``000.00.00.H13``, 4 for ``001.01.60.H13``."""
        if self.level4:
            return 4
        if self.level3:
            return 3
        return 2 if self.level2 else 1


def parse_code(code: str) -> AgencyCode:
    """Check ``code`` against the structure; raise :class:`InvalidInput` saying what is wrong."""
    text = code.strip()
    if not text:
        raise InvalidInput("agency code is empty")
    if len(text) > MAX_LENGTH:
        raise InvalidInput(f"agency code is {len(text)} characters long; at most {MAX_LENGTH} are allowed")
    m = _STRUCTURE.match(text.upper())
    if m is None:
        raise InvalidInput(
            f"agency code {text[:40]!r} does not have the structure V1V2V3.Z1Z2.Y1Y2.MX1X2 (e.g. 000.00.00.H13)"
        )
    l4, l3, l2 = int(m["l4"]), int(m["l3"]), int(m["l2"])
    # A lower level cannot exist without the level above it.
    if (l4 and not l3) or (l3 and not l2):
        raise InvalidInput(f"agency code {text!r}: a lower level is set while the level above it is zero")
    return AgencyCode(l4, l3, l2, m["group"] + m["group_no"])


def is_valid_code(code: str) -> bool:
    try:
        parse_code(code)
    except InvalidInput:
        return False
    return True


@dataclass(frozen=True)
class NamedCode:
    level2: int
    name: str


@dataclass(frozen=True)
class CodeRule:
    """The configurable facts and the issuing rule (see the module docstring for the defaults)."""

    city_group: str = ""
    """The level-1 group of the province served (``H13``); empty: the known one, else :func:`for_province` refuses."""
    old_province_groups: dict[str, str] = field(default_factory=dict)
    """Former provinces merged into the province, by unit code -> their closed level-1 group; missing ones are taken
    from the known groups, else :func:`for_province` refuses."""
    departments: tuple[NamedCode, ...] = (
        NamedCode(1, "Văn phòng Ủy ban nhân dân"),
        NamedCode(2, "Sở Nội vụ"),
        NamedCode(3, "Sở Tư pháp"),
        NamedCode(4, "Sở Tài chính"),
        NamedCode(5, "Sở Khoa học và Công nghệ"),
    )
    provincial_center: NamedCode = NamedCode(20, "Trung tâm Phục vụ hành chính công")
    """Its name is completed with the province's (``... thành phố Cần Thơ``) unless the rule file names it whole."""
    district_first_level2: int = 31
    """Former district committees: level-2 numbers in district-code order from this one (placeholder)."""
    commune_groups: tuple[int, ...] = (60, 61, 62)
    """Level-2 numbers that hold the commune committees, 99 per group, filled in order."""
    center_level4: int = 1
    reserved: frozenset[str] = frozenset()
    """Codes that must never be issued (e.g. known codes of bodies not in this registry)."""

    def describe(self) -> str:
        groups = ",".join(f"{g:02d}" for g in self.commune_groups)
        return f"commune-groups {groups}.{self.city_group}; center level4 {self.center_level4:03d}"


def _int(value: Any, what: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"rule file: {what} must be a whole number from {low} to {high}, not {value!r}")
    return value


def _group(value: Any, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]\d{2}", value):
        raise InvalidInput(f"rule file: {what} must look like H13, not {value!r}")
    return value


def load_rule(path: Path | None, limits: FileLimits | None = None) -> CodeRule:
    """The default rule, overridden by the keys of a YAML or JSON file (unknown keys are refused), read within
    ``limits`` (:mod:`hopnhat.files`)."""
    if path is None:
        return CodeRule()
    text = read_text(path, limits or FileLimits(), ("utf-8",))
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    else:
        data = parse_yaml(text, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a mapping of rule keys")
    known = {
        "city_group",
        "old_province_groups",
        "departments",
        "provincial_center",
        "district_first_level2",
        "commune_groups",
        "center_level4",
        "reserved",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(f"{path}: unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(sorted(known))}")
    base = CodeRule()
    kw: dict[str, Any] = {}
    if "city_group" in data:
        kw["city_group"] = _group(data["city_group"], "city_group")
    if "old_province_groups" in data:
        raw = data["old_province_groups"]
        if not isinstance(raw, dict):
            raise InvalidInput("rule file: old_province_groups must map a province code to a group like H28")
        kw["old_province_groups"] = {str(k): _group(v, f"old_province_groups[{k}]") for k, v in raw.items()}
    if "departments" in data:
        raw = data["departments"]
        if not isinstance(raw, list) or not all(isinstance(d, dict) for d in raw):
            raise InvalidInput("rule file: departments must be a list of {level2, name}")
        kw["departments"] = tuple(
            NamedCode(_int(d.get("level2"), "departments[].level2", 1, 99), str(d.get("name") or "").strip())
            for d in raw
        )
        if any(not d.name for d in kw["departments"]):
            raise InvalidInput("rule file: every department needs a name")
    if "provincial_center" in data:
        raw = data["provincial_center"]
        if not isinstance(raw, dict) or not raw.get("name"):
            raise InvalidInput("rule file: provincial_center must be {level2, name}")
        kw["provincial_center"] = NamedCode(
            _int(raw.get("level2"), "provincial_center.level2", 1, 99), str(raw["name"]).strip()
        )
    if "district_first_level2" in data:
        kw["district_first_level2"] = _int(data["district_first_level2"], "district_first_level2", 1, 99)
    if "commune_groups" in data:
        raw = data["commune_groups"]
        if not isinstance(raw, list) or not raw:
            raise InvalidInput("rule file: commune_groups must be a non-empty list of level-2 numbers")
        kw["commune_groups"] = tuple(_int(g, "commune_groups[]", 1, 99) for g in raw)
    if "center_level4" in data:
        kw["center_level4"] = _int(data["center_level4"], "center_level4", 1, 999)
    if "reserved" in data:
        raw = data["reserved"]
        if not isinstance(raw, list):
            raise InvalidInput("rule file: reserved must be a list of codes")
        kw["reserved"] = frozenset(str(parse_code(str(c))) for c in raw)
    rule = CodeRule(**{**base.__dict__, **kw})
    used = [d.level2 for d in rule.departments] + [rule.provincial_center.level2]
    clash = sorted(set(used) & set(rule.commune_groups))
    if clash or len(set(used)) != len(used):
        raise InvalidInput(
            f"rule file: level-2 numbers used twice (departments, center, commune groups): {clash or used}"
        )
    return rule


@dataclass(frozen=True)
class KnownGroup:
    province_code: str
    group: str
    confirmed: bool
    source: str


def known_groups() -> dict[str, KnownGroup]:
    """The level-1 groups known today, by province code (``data/agency_groups.csv``)."""
    from hopnhat.registry.bundled import agency_group_rows

    return {
        r["province_code"]: KnownGroup(r["province_code"], r["group"], r["confirmed"] == "true", r["source"])
        for r in agency_group_rows()
    }


def for_province(rule: CodeRule, province_code: str) -> CodeRule:
    """``rule`` completed for the new province ``province_code``: its group (the group of the former province whose
    name it keeps, Decision 09/2025/QĐ-TTg), the closed groups of the other former provinces, the names of the
    standing agencies. A group neither in the rule nor known is refused: a code is an identity, never a guess."""
    from hopnhat.registry.bundled import national
    from hopnhat.registry.text import fold, split_type

    data = national()
    province = data.new_provinces.get(province_code)
    if province is None:
        raise InvalidInput(
            f"no province {province_code!r} on 2025-07-01; province codes: {', '.join(data.new_provinces)}"
        )
    known = known_groups()
    formers = data.former_provinces(province_code)
    bare = fold(split_type(province.name)[1])
    keeper = next((o for o in formers if fold(split_type(data.old_provinces[o].name)[1]) == bare), province_code)
    city_group = rule.city_group or (known[keeper].group if keeper in known else "")
    missing = [] if city_group else [f"city_group (the H-number of {province.name}, kept from {keeper})"]
    old_groups: dict[str, str] = {}
    for old in formers:
        if old == keeper:
            continue
        group = rule.old_province_groups.get(old) or (known[old].group if old in known else "")
        if not group:
            missing.append(f"old_province_groups[{old}] (the H-number of {data.old_provinces[old].name})")
        old_groups[old] = group
    if missing:
        raise InvalidInput(
            f"agency codes of {province.name} ({province_code}) need group numbers hopnhat does not know and will "
            f"not invent; give them in the rule file (--rule): {'; '.join(missing)}"
        )
    type_word = province.type.lower()
    departments = tuple(
        NamedCode(d.level2, f"{d.name} {type_word}") if d.name == "Văn phòng Ủy ban nhân dân" else d
        for d in rule.departments
    )
    center = rule.provincial_center
    if center.name == CodeRule().provincial_center.name:
        center = NamedCode(center.level2, f"{center.name} {type_word} {split_type(province.name)[1]}")
    return replace(
        rule,
        city_group=city_group,
        old_province_groups=old_groups,
        departments=departments,
        provincial_center=center,
    )


def code(level4: int, level3: int, level2: int, group: str) -> str:
    return str(AgencyCode(level4, level3, level2, group))


__all__ = [
    "MAX_LENGTH",
    "AgencyCode",
    "CodeRule",
    "KnownGroup",
    "NamedCode",
    "code",
    "for_province",
    "is_valid_code",
    "known_groups",
    "load_rule",
    "parse_code",
]
