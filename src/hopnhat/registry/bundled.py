"""The one reader of the unit tables shipped in the package (``hopnhat/registry/data``, see its PROVENANCE.md).

The whole country: 63 provinces, 696 districts and 10,035 communes on 30 June 2025; 34 provinces and 3,321 communes
from 1 July 2025; the lineage between them (440 old communes split among 2-5 new ones; five island districts with
no commune became special zones, đặc khu); spelling variants of old names; the later changes as change sets.

Codes are text and are reused: 2,179 new communes bear the code of a differently named old one, so the tables are
kept apart (old / new) and nothing here joins them on the code alone; :attr:`National.lineage` is the join.

The registry's loader, the address converter, the centers' seed and the simulators all read these tables through
:func:`national`, parsed once per process.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from hopnhat.registry.text import official_form, split_type


@dataclass(frozen=True, slots=True)
class Province:
    code: str
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class District:
    code: str
    name: str
    type: str
    province_code: str


@dataclass(frozen=True, slots=True)
class OldCommune:
    code: str
    name: str
    type: str
    district_code: str
    province_code: str


@dataclass(frozen=True, slots=True)
class NewCommune:
    code: str
    name: str
    type: str
    province_code: str


@dataclass(frozen=True, slots=True)
class Link:
    """Old commune (or an island district without communes) -> new commune; ``kind`` whole, part or unchanged."""

    old_code: str
    old_name: str
    new_code: str
    new_name: str
    kind: str


@dataclass(frozen=True)
class National:
    old_provinces: dict[str, Province]
    new_provinces: dict[str, Province]
    districts: dict[str, District]
    old_communes: dict[str, OldCommune]
    new_communes: dict[str, NewCommune]
    lineage: tuple[Link, ...]
    """Old commune -> new commune, as the NSO table gives it (with PROVENANCE's corrections)."""
    island_lineage: tuple[Link, ...]
    """Island district without communes -> the special zone (đặc khu) of the same name."""
    province_lineage: dict[str, str]
    """Old province code -> new province code (each old province goes to exactly one)."""
    name_variants: dict[str, tuple[str, ...]]
    """Old commune code -> other spellings of its name in the NSO's own documents."""

    def former_provinces(self, new_code: str) -> list[str]:
        """Codes of the provinces of 30 June 2025 that formed the new province ``new_code``."""
        return sorted(old for old, new in self.province_lineage.items() if new == new_code)

    def subset(self, new_provinces: Iterable[str]) -> National:
        """Only the new provinces named and the former provinces, districts and communes that formed them."""
        keep_new = set(new_provinces)
        unknown = keep_new - set(self.new_provinces)
        if unknown:
            raise KeyError(f"no province {', '.join(sorted(unknown))} on 2025-07-01")
        keep_old = {old for old, new in self.province_lineage.items() if new in keep_new}
        new_communes = {c: u for c, u in self.new_communes.items() if u.province_code in keep_new}
        districts = {c: d for c, d in self.districts.items() if d.province_code in keep_old}
        return National(
            old_provinces={c: p for c, p in self.old_provinces.items() if c in keep_old},
            new_provinces={c: p for c, p in self.new_provinces.items() if c in keep_new},
            districts=districts,
            old_communes={c: u for c, u in self.old_communes.items() if u.province_code in keep_old},
            new_communes=new_communes,
            lineage=tuple(lk for lk in self.lineage if lk.new_code in new_communes),
            island_lineage=tuple(lk for lk in self.island_lineage if lk.old_code in districts),
            province_lineage={o: n for o, n in self.province_lineage.items() if o in keep_old},
            name_variants=self.name_variants,
        )


def data_text(name: str) -> str:
    """A file shipped in ``hopnhat/registry/data`` (``changes/…`` for a bundled change set), as text."""
    node = resources.files("hopnhat.registry").joinpath("data")
    for part in name.split("/"):
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8-sig")


def _rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data_text(name))))


def agency_group_rows() -> list[dict[str, str]]:
    """Level-1 agency groups (H-numbers) known today, by province (``agency_groups.csv``; all unconfirmed)."""
    return _rows("agency_groups.csv")


def bundled_change_files() -> list[str]:
    """The later change sets shipped with the package (``data/changes/*.csv``), in the order of their dates."""
    folder = resources.files("hopnhat.registry").joinpath("data", "changes")
    return sorted(f"changes/{p.name}" for p in folder.iterdir() if p.name.endswith(".csv"))


def _province(code: str, name: str) -> Province:
    full = official_form(name)
    return Province(code, full, split_type(full)[0])


@lru_cache(maxsize=1)
def national() -> National:
    """The whole country, parsed once per process."""
    old_provinces: dict[str, Province] = {}
    districts: dict[str, District] = {}
    old_communes: dict[str, OldCommune] = {}
    for r in _rows("units_before_2025-07-01.csv"):
        pcode = r["province_code"]
        if pcode not in old_provinces:
            old_provinces[pcode] = _province(pcode, r["province_name"])
        if r["district_code"] not in districts:
            dname = official_form(r["district_name"])
            districts[r["district_code"]] = District(r["district_code"], dname, split_type(dname)[0], pcode)
        old_communes[r["commune_code"]] = OldCommune(
            r["commune_code"], official_form(r["commune_name"]), r["commune_type"], r["district_code"], pcode
        )
    new_provinces: dict[str, Province] = {}
    new_communes: dict[str, NewCommune] = {}
    for r in _rows("units_from_2025-07-01.csv"):
        pcode = r["province_code"]
        if pcode not in new_provinces:
            new_provinces[pcode] = _province(pcode, r["province_name"])
        new_communes[r["commune_code"]] = NewCommune(
            r["commune_code"], official_form(r["commune_name"]), r["commune_type"], pcode
        )
    lineage = tuple(
        Link(
            r["old_commune_code"],
            official_form(r["old_commune_name"]),
            r["new_commune_code"],
            new_communes[r["new_commune_code"]].name,
            r["kind"],
        )
        for r in _rows("lineage_2025-07-01.csv")
    )
    island: list[Link] = []
    for r in _rows("lineage_island_districts_2025-07-01.csv"):
        # The island districts had no commune, so the table of communes does not list them.
        dname = official_form(r["old_district_name"])
        districts[r["old_district_code"]] = District(
            r["old_district_code"], dname, split_type(dname)[0], r["old_province_code"]
        )
        island.append(
            Link(r["old_district_code"], dname, r["new_commune_code"], official_form(r["new_commune_name"]), r["kind"])
        )
    variants: dict[str, list[str]] = defaultdict(list)
    for r in _rows("name_variants_before_2025-07-01.csv"):
        variants[r["commune_code"]].append(official_form(r["variant"]))
    return National(
        old_provinces=old_provinces,
        new_provinces=new_provinces,
        districts=dict(sorted(districts.items())),
        old_communes=old_communes,
        new_communes=new_communes,
        lineage=lineage,
        island_lineage=tuple(island),
        province_lineage={
            r["old_province_code"]: r["new_province_code"] for r in _rows("provinces_lineage_2025-07-01.csv")
        },
        name_variants={k: tuple(v) for k, v in variants.items()},
    )


__all__ = [
    "District",
    "Link",
    "National",
    "NewCommune",
    "OldCommune",
    "Province",
    "agency_group_rows",
    "bundled_change_files",
    "data_text",
    "national",
]
