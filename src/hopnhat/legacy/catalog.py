"""What the simulated systems are made of: the old units and agencies, procedures, statuses and fake people.

Everything here is sample data for the simulators. Agency numbering follows the placeholders of
``hopnhat.registry.codes`` (unconfirmed); procedure codes other than ``1.001193`` are local sample codes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from hopnhat.registry.bundled import national
from hopnhat.registry.codes import known_groups
from hopnhat.registry.text import fold


def _systems() -> list[dict[str, str]]:
    """The simulated former systems, as data (``legacy/data/systems.csv``): source name, former province, weight."""
    text = resources.files("hopnhat.legacy").joinpath("data", "systems.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


SOURCES = tuple(r["source"] for r in _systems())
PROVINCE_OF = {r["source"]: r["province_code"] for r in _systems()}
GROUP_OF = {code: known_groups()[code].group for code in PROVINCE_OF.values()}
PROVINCE_NAME = {code: national().old_provinces[code].name for code in PROVINCE_OF.values()}
SOURCE_WEIGHTS = tuple(float(r["weight"]) for r in _systems())  # roughly the populations of the former provinces
DEPARTMENTS = {"justice": 3, "planning": 8}  # level-2 numbers of provincial departments (placeholders)

STATUS_WORDS = {
    1: "Mới đăng ký",
    2: "Đã tiếp nhận",
    3: "Từ chối tiếp nhận",
    4: "Đang xử lý",
    5: "Yêu cầu bổ sung",
    6: "Chờ nộp phí",
    7: "Công dân rút hồ sơ",
    8: "Dừng xử lý",
    9: "Đã xử lý xong",
    10: "Đã trả kết quả",
}
OPEN_STATUSES = frozenset({1, 2, 4, 5, 6})
# Sóc Trăng's own status codes -> national codes (documented in FORMATS.md).
SOCTRANG_STATUS = {0: 1, 1: 2, 2: 4, 3: 5, 4: 6, 5: 9, 6: 10, 7: 3, 8: 7, 9: 8}
SOCTRANG_STATUS_NAMES = {
    0: "Mới tạo",
    1: "Đã nhận",
    2: "Đang giải quyết",
    3: "Chờ bổ sung",
    4: "Chờ nộp phí",
    5: "Đã giải quyết",
    6: "Đã trả",
    7: "Từ chối",
    8: "Rút hồ sơ",
    9: "Dừng",
}
SOCTRANG_OWN_STATUS = {national: own for own, national in SOCTRANG_STATUS.items()}
APPLICANT_WORDS = {1: "Công dân", 2: "Doanh nghiệp", 3: "Cơ quan nhà nước", 4: "Tổ chức khác"}
CHANNEL_WORDS = {1: "Trực tiếp", 2: "Trực tuyến", 3: "Bưu chính công ích"}
ABBREVIATIONS = {
    "Phường": "P.",
    "Xã": "X.",
    "Thị trấn": "TT.",
    "Quận": "Q.",
    "Huyện": "H.",
    "Thị xã": "TX.",
    "Thành phố": "TP.",
}


@dataclass(frozen=True)
class Procedure:
    code: str
    name: str
    field_code: str
    field_name: str
    level: str
    """Competence before the reform: ``commune``, ``district`` or ``province``."""
    days: int
    """Time limit in working days."""
    weight: float
    business: bool = False


PROCEDURES = (
    Procedure("1.001193", "Đăng ký khai sinh", "HT", "Hộ tịch", "commune", 1, 20),
    Procedure("MAU.HT.02", "Đăng ký khai tử", "HT", "Hộ tịch", "commune", 1, 6),
    Procedure("MAU.HT.03", "Đăng ký kết hôn", "HT", "Hộ tịch", "commune", 3, 6),
    Procedure("MAU.HT.04", "Cấp bản sao trích lục hộ tịch", "HT", "Hộ tịch", "commune", 1, 10),
    Procedure("MAU.HT.05", "Cấp Giấy xác nhận tình trạng hôn nhân", "HT", "Hộ tịch", "commune", 3, 10),
    Procedure("MAU.CT.01", "Chứng thực bản sao từ bản chính", "CT", "Chứng thực", "commune", 1, 25),
    Procedure("MAU.CT.02", "Chứng thực chữ ký trong giấy tờ, văn bản", "CT", "Chứng thực", "commune", 1, 6),
    Procedure("MAU.BTXH.01", "Trợ cấp xã hội hàng tháng", "BTXH", "Bảo trợ xã hội", "district", 15, 3),
    Procedure("MAU.DD.01", "Đăng ký biến động quyền sử dụng đất", "DD", "Đất đai", "district", 10, 5),
    Procedure("MAU.XD.01", "Cấp giấy phép xây dựng nhà ở riêng lẻ", "XD", "Xây dựng", "district", 15, 3),
    Procedure("MAU.HKD.01", "Đăng ký thành lập hộ kinh doanh", "HKD", "Hộ kinh doanh", "district", 3, 4, True),
    Procedure("MAU.DN.01", "Đăng ký thành lập doanh nghiệp tư nhân", "DN", "Doanh nghiệp", "province", 3, 1, True),
    Procedure("MAU.LLTP.01", "Cấp Phiếu lý lịch tư pháp", "LLTP", "Lý lịch tư pháp", "province", 10, 1),
)
PROCEDURE_BY_CODE = {p.code: p for p in PROCEDURES}


@dataclass(frozen=True)
class Place:
    """An old unit where a dossier is handled, with its agency code and the names a person would write."""

    code: str
    level: str
    province_code: str
    district_code: str | None
    agency: str
    type_: str
    name: str
    """Without the type word: "Vị Tân"."""
    district_type: str
    district_name: str
    ambiguous: bool
    """The commune name occurs twice in the three provinces ("Phường 1", "Phường Thuận An"): write the district."""


@dataclass(frozen=True)
class Geography:
    communes: dict[str, tuple[Place, ...]]
    districts: dict[str, tuple[Place, ...]]
    provinces: dict[str, Place]
    by_code: dict[str, Place]


def _split(name: str) -> tuple[str, str]:
    for word in ("Thành phố", "Thị trấn", "Thị xã", "Phường", "Huyện", "Quận", "Tỉnh", "Xã"):
        if name.startswith(word + " "):
            return word, name[len(word) + 1 :]
    return "", name


_PLACES: dict[str, Place] = {}
"""Every place of every geography built so far, by old unit code (old codes are unique in the country)."""
_GEOGRAPHY_OF: dict[str, Geography] = {}
"""The geography each former province was built in."""


def geography() -> Geography:
    """Old communes, districts and provinces of the three former provinces of Cần Thơ, with agency codes."""
    return geography_for(tuple(sorted(GROUP_OF.items())))


def geography_of(province: str) -> Geography:
    """The geography a former province was built in (the three of Cần Thơ unless another was built)."""
    if province not in _GEOGRAPHY_OF:
        geography()
    try:
        return _GEOGRAPHY_OF[province]
    except KeyError:
        raise KeyError(f"no simulated geography holds former province {province}") from None


def place_of(code: str) -> Place:
    if not _PLACES:
        geography()
    return _PLACES[code]


def province_name(code: str) -> str:
    return PROVINCE_NAME.get(code) or national().old_provinces[code].name


def group_of(province: str) -> str:
    """The level-1 group the simulated old agency codes of ``province`` carry."""
    return GROUP_OF.get(province) or geography_of(province).provinces[province].agency.rsplit(".", 1)[1]


@lru_cache(maxsize=8)
def geography_for(groups: tuple[tuple[str, str], ...]) -> Geography:
    """Old communes, districts and provinces of the former provinces ``groups`` names (code, level-1 group of its
    old agency codes) from the registry's bundled table, with agency codes. A group is given, never made up: the
    simulated old agency codes carry the group the deployment was configured with."""
    group_by = dict(groups)
    data = national()
    rows = [
        {
            "province_code": c.province_code,
            "district_code": c.district_code,
            "district_name": data.districts[c.district_code].name,
            "commune_code": c.code,
            "commune_name": c.name,
        }
        for c in data.old_communes.values()
        if c.province_code in group_by
    ]
    communes: dict[str, list[Place]] = {p: [] for p in group_by}
    districts: dict[str, list[Place]] = {p: [] for p in group_by}
    by_code: dict[str, Place] = {}
    # Over the three provinces (a transferred dossier must stay unambiguous too), and folded: a reader cannot rely
    # on diacritics ("Xã Thạnh Qưới" of Cần Thơ and "Xã Thạnh Quới" of Sóc Trăng are one name to it).
    names: dict[str, int] = {}
    for row in rows:
        names[fold(row["commune_name"])] = names.get(fold(row["commune_name"]), 0) + 1
    for province in group_by:
        group = group_by[province]
        prov_rows = sorted((r for r in rows if r["province_code"] == province), key=lambda r: r["commune_code"])
        district_codes = sorted({r["district_code"] for r in prov_rows})
        for i, dcode in enumerate(district_codes):
            drows = [r for r in prov_rows if r["district_code"] == dcode]
            dtype, dname = _split(drows[0]["district_name"])
            dplace = Place(
                dcode, "district", province, dcode, f"000.00.{31 + i:02d}.{group}", dtype, dname, dtype, dname, False
            )
            districts[province].append(dplace)
            by_code[dcode] = dplace
            for j, r in enumerate(drows, start=1):
                ctype, cname = _split(r["commune_name"])
                place = Place(
                    r["commune_code"],
                    "commune",
                    province,
                    dcode,
                    f"000.{j:02d}.{31 + i:02d}.{group}",
                    ctype,
                    cname,
                    dtype,
                    dname,
                    names[fold(r["commune_name"])] > 1,
                )
                communes[province].append(place)
                by_code[place.code] = place
    provinces = {}
    for province in group_by:
        ptype, pname = _split(province_name(province))
        provinces[province] = Place(
            province, "province", province, None, f"000.00.00.{group_by[province]}", ptype, pname, "", "", False
        )
        by_code[province] = provinces[province]
    geo = Geography(
        {k: tuple(v) for k, v in communes.items()}, {k: tuple(v) for k, v in districts.items()}, provinces, by_code
    )
    _PLACES.update(by_code)
    _GEOGRAPHY_OF.update(dict.fromkeys(group_by, geo))
    return geo


def department_agency(province: str, procedure: Procedure) -> str:
    level2 = DEPARTMENTS["planning" if procedure.business else "justice"]
    return f"000.00.{level2:02d}.{group_of(province)}"


FAMILY = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Huỳnh",
    "Hoàng",
    "Phan",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
    "Trương",
    "Lâm",
    "Thạch",
    "Sơn",
    "Danh",
)
MIDDLE_M = ("Văn", "Hữu", "Minh", "Thanh", "Quốc", "Công", "Đức", "Hoàng")
MIDDLE_F = ("Thị", "Ngọc", "Thanh", "Kim", "Thùy", "Mỹ", "Hồng", "Bích")
GIVEN_M = (
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Hùng",
    "Khoa",
    "Long",
    "Nam",
    "Phúc",
    "Quang",
    "Sơn",
    "Tài",
    "Thắng",
    "Tuấn",
    "Vinh",
)
GIVEN_F = (
    "Anh",
    "Chi",
    "Diễm",
    "Giang",
    "Hạnh",
    "Hoa",
    "Lan",
    "Linh",
    "Mai",
    "Ngân",
    "Nhung",
    "Phương",
    "Thảo",
    "Trang",
    "Yến",
)
STREETS = ("Đường 30/4", "Đường Trần Hưng Đạo", "Đường Nguyễn Trãi", "Đường 3/2", "Đường Hùng Vương", "Quốc lộ 1A")
HAMLETS = ("Ấp 1", "Ấp 2", "Ấp Tân Phú", "Ấp Long Hòa", "Khu vực 3", "Khóm 4")
BUSINESS = ("Công ty TNHH", "Doanh nghiệp tư nhân", "Hộ kinh doanh")
BUSINESS_NAMES = ("Phát Đạt", "Mê Kông Xanh", "Tây Đô", "Hưng Thịnh", "Sông Hậu", "Phù Sa")
