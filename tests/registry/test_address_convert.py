"""Address conversion on the bundled tables (no database): the rules users rely on."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections import defaultdict
from datetime import date

import pytest

from hopnhat.errors import InvalidInput
from hopnhat.registry.bundled import data_text
from hopnhat.registry.convert import MAX_ADDRESS_LENGTH, AddressConverter, Status, bundled_converter
from hopnhat.registry.text import fold

AFTER = date(2025, 7, 1)


@pytest.fixture(scope="module")
def conv() -> AddressConverter:
    return bundled_converter(AFTER)


def _old_units() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data_text("units_before_2025-07-01.csv"))))


def _successors() -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for r in csv.DictReader(io.StringIO(data_text("lineage_2025-07-01.csv"))):
        out[r["old_commune_code"]].add(r["new_commune_code"])
    return out


def test_issue_example_keeps_the_street(conv: AddressConverter) -> None:
    r = conv.convert("12 Đường 30/4, P. Xuân Khánh, Q. Ninh Kiều, TP Cần Thơ")
    assert r.status is Status.EXACT
    assert r.new_address == "12 Đường 30/4, Phường Ninh Kiều, Thành phố Cần Thơ"
    assert (r.new_commune_code, r.new_commune_name) == ("31135", "Phường Ninh Kiều")
    assert r.candidates[0].old_code == "31144"


@pytest.mark.parametrize(
    ("province", "code", "name"),
    [("Tỉnh Hậu Giang", "31378", "Xã Phú Hữu"), ("Tỉnh Sóc Trăng", "31582", "Xã Thuận Hòa")],
)
def test_the_two_phu_tan(conv: AddressConverter, province: str, code: str, name: str) -> None:
    r = conv.convert(f"Xã Phú Tân, Huyện Châu Thành, {province}")
    assert (r.status, r.new_commune_code, r.new_commune_name) == (Status.EXACT, code, name)
    assert r.new_address == f"{name}, Thành phố Cần Thơ"  # the old province name maps to the new city


def test_phu_tan_without_district_lists_both(conv: AddressConverter) -> None:
    r = conv.convert("Xa Phu Tan, Chau Thanh, Can Tho")  # the new city's name covers Hậu Giang and Sóc Trăng
    assert r.status is Status.AMBIGUOUS
    assert r.new_commune_code is None and r.new_address is None
    assert {c.code for c in r.candidates} == {"31378", "31582"}
    anywhere = conv.convert("Xa Phu Tan")  # a dozen Phú Tân in the country: every one listed
    assert anywhere.status is Status.AMBIGUOUS and {c.code for c in anywhere.candidates} > {"31378", "31582"}


@pytest.mark.parametrize(
    ("address", "successors"),
    [
        ("P. Bùi Hữu Nghĩa, Q. Bình Thủy, TP Cần Thơ", {"31120", "31168"}),
        ("Phường Long Tuyền, Quận Bình Thuỷ", {"31150", "31183"}),
        ("PHUONG THOT NOT, Q. THOT NOT, CAN THO", {"31207", "31228"}),
    ],
)
def test_each_split_ward_is_ambiguous_with_both_successors(
    conv: AddressConverter, address: str, successors: set[str]
) -> None:
    r = conv.convert(address)
    assert r.status is Status.AMBIGUOUS
    assert {c.code for c in r.candidates} == successors
    assert r.new_commune_code is None


_STYLES = [
    "Phường Xuân Khánh, Quận Ninh Kiều, Thành phố Cần Thơ",
    "phuong xuan khanh, quan ninh kieu, thanh pho can tho",
    "PHƯỜNG XUÂN KHÁNH, QUẬN NINH KIỀU, TP CẦN THƠ",
    "P. Xuân Khánh, Q. Ninh Kiều, TP. Cần Thơ",
    "P.Xuân Khánh, Q.Ninh Kiều, Tp. Cần Thơ",
    "Xuân Khánh, Ninh Kiều, Cần Thơ",
    "Xuan Khanh, Ninh Kieu",
    unicodedata.normalize("NFD", "Phường Xuân Khánh, Quận Ninh Kiều, Thành phố Cần Thơ"),
    "Phường Xuân Khánh, Quận Ninh Kiều, Thành phố Cần Thơ, Việt Nam",
    "P. Xuân Khánh Q. Ninh Kiều TP Cần Thơ",
    "PHUONG XUAN KHANH QUAN NINH KIEU THANH PHO CAN THO",
    "P. Xuân Khánh Q. Ninh Kiều Cần Thơ",
]


@pytest.mark.parametrize("address", _STYLES)
def test_input_styles_give_the_same_answer(conv: AddressConverter, address: str) -> None:
    r = conv.convert(address)
    assert (r.status, r.new_commune_code) == (Status.EXACT, "31135"), address


@pytest.mark.parametrize(
    ("address", "code"),
    [
        ("Xã Hoà An, H. Phụng Hiệp, T. Hậu Giang", "31393"),  # old tone placement
        ("X. Vị Thuỷ, H. Vị Thuỷ, Hậu Giang", "31453"),
        ("TT. Thanh An, H. Vĩnh Thạnh, Cần Thơ", "31231"),
        ("Xã Long Phú, TX. Long Mỹ, Hậu Giang", "31480"),
        ("P.1, TP Sóc Trăng", "31510"),
        ("Phường 7, Thành phố Sóc Trăng, Tỉnh Sóc Trăng", "31507"),
        ("Xã Hòa Tú 2, Huyện Mỹ Xuyên", "31717"),
    ],
)
def test_abbreviations_tones_and_numbered_wards(conv: AddressConverter, address: str, code: str) -> None:
    r = conv.convert(address)
    assert r.new_commune_code == code, (address, r)


def test_every_old_commune_converts_to_its_lineage(conv: AddressConverter) -> None:
    succ = _successors()
    for row in _old_units():
        full = f"{row['commune_name']}, {row['district_name']}, {row['province_name']}"
        for text in (full, ", ".join(fold(part) for part in full.split(", ")).upper()):
            r = conv.convert(text)
            expected = succ[row["commune_code"]]
            if len(expected) == 1:
                if text.isupper():
                    # Without diacritics two names may fold alike in one district: ambiguous, never wrong.
                    assert r.new_commune_code in expected or {c.code for c in r.candidates} >= expected, text
                else:
                    assert (r.status, r.new_commune_code) == (Status.EXACT, next(iter(expected))), text
            else:
                assert r.status is Status.AMBIGUOUS and {c.code for c in r.candidates} == expected, text


def test_a_new_address_is_already_new(conv: AddressConverter) -> None:
    r = conv.convert("12 Đường 30/4, Phường Ninh Kiều, Thành phố Cần Thơ")
    assert r.status is Status.ALREADY_NEW
    assert r.new_address == "12 Đường 30/4, Phường Ninh Kiều, Thành phố Cần Thơ"


def test_old_name_of_a_different_new_unit(conv: AddressConverter) -> None:
    # Old Phường Tân An (Ninh Kiều) became Phường Ninh Kiều; new Phường Tân An is another unit.
    with_district = conv.convert("Phường Tân An, Quận Ninh Kiều, TP Cần Thơ")
    assert (with_district.status, with_district.new_commune_code) == (Status.EXACT, "31135")
    # Without a district, "commune, province in force" is the new form: the new Phường Tân An.
    without = conv.convert("Phường Tân An, TP Cần Thơ")
    assert (without.status, without.new_commune_code) == (Status.ALREADY_NEW, "31147")
    old_only = conv.convert("Phường Tân An, Quận Ninh Kiều")
    assert (old_only.status, old_only.new_commune_code) == (Status.EXACT, "31135")
    old_province = conv.convert("Xã Hưng Phú, Tỉnh Sóc Trăng")  # new Phường Hưng Phú is elsewhere
    assert old_province.new_commune_code == "31579"


def test_misspelling_is_fuzzy(conv: AddressConverter) -> None:
    r = conv.convert("12 Nguyen Trai, Xuan Khan, Ninh Kieu, Can Tho")
    assert (r.status, r.new_commune_code) == (Status.FUZZY, "31135")
    assert r.new_address == "12 Nguyen Trai, Phường Ninh Kiều, Thành phố Cần Thơ"
    d = conv.convert("Xã Trưng Thành, H. Thới Lai")
    assert (d.status, d.new_commune_code) == (Status.FUZZY, "31288")


@pytest.mark.parametrize("text", ["asdfgh qwerty", "12 Nguyễn Trãi", "!!!", "Ấp 3", "x", "7", "\x00", "TP", "P."])
def test_gibberish_is_not_found(conv: AddressConverter, text: str) -> None:
    r = conv.convert(text)
    assert r.status is Status.NOT_FOUND
    assert r.new_commune_code is None and not r.candidates


@pytest.mark.parametrize("text", ["", "   ", ", ,", "x" * (MAX_ADDRESS_LENGTH + 1), "Cần Thơ " * 130_000])
def test_empty_or_huge_input_is_refused(conv: AddressConverter, text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        conv.convert(text)
    assert "empty" in exc.value.detail or "characters long" in exc.value.detail


def test_before_the_reform_old_units_are_in_force() -> None:
    r = AddressConverter.bundled(date(2025, 6, 30)).convert("P. Xuân Khánh, Q. Ninh Kiều")
    assert (r.status, r.new_commune_code, r.new_commune_name) == (Status.ALREADY_NEW, "31144", "Phường Xuân Khánh")


def test_precomputed_answers_change_nothing() -> None:
    plain, warmed = AddressConverter.bundled(AFTER), AddressConverter.bundled(AFTER).warm()
    rows = _old_units()
    # The deployment's province is warmed; elsewhere a sample (one commune in 25) shows nothing else changes.
    for row in [r for i, r in enumerate(rows) if r["province_code"] in ("92", "93", "94") or i % 25 == 0]:
        for text in (
            f"{row['commune_name']}, {row['district_name']}",
            f"{fold(row['commune_name']).upper()}, {row['province_name']}",
            f"5 Hùng Vương, {row['commune_name']}",
        ):
            assert plain.convert(text) == warmed.convert(text), text


def test_reused_code_follows_names_not_codes(conv: AddressConverter) -> None:
    # Old 31120 was Phường An Hòa; new 31120 is Phường Cái Khế, formed from old Cái Khế (31117) and An Hòa.
    an_hoa = conv.convert("Phường An Hoà, Quận Ninh Kiều, TP Cần Thơ")
    assert (an_hoa.new_commune_code, an_hoa.new_commune_name) == ("31120", "Phường Cái Khế")
    assert an_hoa.candidates[0].old_code == "31120" and an_hoa.candidates[0].old_name == "Phường An Hòa"
    cai_khe = conv.convert("Phường Cái Khế, Quận Ninh Kiều")
    assert cai_khe.candidates[0].old_code == "31117"


def test_conversion_never_opens_a_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # "No network use, ever": a fresh converter, built, warmed and used, with every outgoing connection refused.
    import socket

    attempts: list[object] = []

    def refuse(_sock: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network use is not allowed here")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)

    def no_lookup(*args: object, **_kwargs: object) -> list[object]:
        attempts.append(args)
        raise OSError("name lookups are not allowed here")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    fresh = AddressConverter.bundled(AFTER).warm()
    addresses = ("Xã Phú Tân", "P. An Hoà, Q. Ninh Kiều", "Phuong Xuan Khanhh, Ninh Kieu")
    answers = [fresh.convert(a).status for a in addresses]
    assert answers == [Status.AMBIGUOUS, Status.EXACT, Status.FUZZY]
    assert attempts == []
