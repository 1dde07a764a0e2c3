"""Address conversion for the whole country, on a national set generated in every writing style
(``tests/registry/address_set.py``: the expected answers come from the tables, not from the converter)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from hopnhat.registry.bundled import national
from hopnhat.registry.convert import AddressConverter, Conversion, Status, bundled_converter
from tests.registry.address_set import STYLES, Case, generate

AFTER = date(2025, 7, 1)
DEFINITE = (Status.EXACT, Status.FUZZY, Status.ALREADY_NEW)


@pytest.fixture(scope="module")
def conv() -> AddressConverter:
    return bundled_converter(AFTER)


@pytest.fixture(scope="module")
def answered(conv: AddressConverter) -> list[tuple[Case, Conversion]]:
    # 3 old communes of each of the 63 old provinces and 80 of the 440 split ones, in the 13 styles; 3 new communes
    # of each new province in the new form; nonsense and foreign addresses.
    return [(case, conv.convert(case.address)) for case in generate(3, splits=80)]


def _codes(r: Conversion) -> set[str]:
    if r.status is Status.AMBIGUOUS:
        return {c.code for c in r.candidates}
    return {r.new_commune_code} if r.new_commune_code else set()


def test_the_set_covers_every_style_and_province(answered: list[tuple[Case, Conversion]]) -> None:
    styles = Counter(case.style for case, _ in answered)
    assert set(styles) == {*STYLES, "new_form", "nonsense"}
    provinces = {national().old_communes[c.old_code].province_code for c, _ in answered if c.old_code}
    assert len(provinces) == 63
    assert sum(1 for c, _ in answered if len(c.expected) > 1) > 500  # split communes and colliding names


def test_no_wrong_answer_and_no_silent_guess(answered: list[tuple[Case, Conversion]]) -> None:
    wrong = []
    for case, r in answered:
        if case.style in ("nonsense", "new_form") or r.status is Status.NOT_FOUND:
            continue
        got = _codes(r)
        if r.status in DEFINITE and (len(case.expected) != 1 or got != case.expected):
            wrong.append((case.address, r.status.value, sorted(got), sorted(case.expected)))
    assert wrong == []


def test_every_ambiguous_answer_lists_every_candidate(answered: list[tuple[Case, Conversion]]) -> None:
    ambiguous = [(case, r) for case, r in answered if len(case.expected) > 1 and r.status is not Status.NOT_FOUND]
    assert len(ambiguous) > 500
    for case, r in ambiguous:
        assert r.status is Status.AMBIGUOUS, case.address
        assert _codes(r) >= case.expected, case.address
        assert r.new_commune_code is None and r.new_address is None
        assert all(c.old_code for c in r.candidates), case.address  # each says which old commune it comes from


def test_almost_every_old_address_is_answered(answered: list[tuple[Case, Conversion]]) -> None:
    by_style: dict[str, list[bool]] = {}
    for case, r in answered:
        if case.old_code:
            by_style.setdefault(case.style, []).append(r.status is not Status.NOT_FOUND)
    shares = {style: sum(v) / len(v) for style, v in by_style.items()}
    # Without type words "1, 3, Hồ Chí Minh" is no address: numbered wards need their type word, so a few go unread.
    assert {s: share for s, share in shares.items() if share < (0.95 if s == "no_type_words" else 0.99)} == {}


def test_streets_and_hamlets_are_kept(answered: list[tuple[Case, Conversion]]) -> None:
    kept = [(case, r) for case, r in answered if case.street and r.status is not Status.NOT_FOUND]
    assert len(kept) > 400
    for case, r in kept:
        assert r.street == case.street, case.address
        if r.new_address is not None:
            assert r.new_address.startswith(case.street + ", "), case.address


def test_nonsense_and_foreign_addresses_are_not_found(answered: list[tuple[Case, Conversion]]) -> None:
    for case, r in answered:
        if case.style == "nonsense":
            assert (r.status, r.candidates) == (Status.NOT_FOUND, ()), case.address


def test_new_form_addresses_are_already_new(answered: list[tuple[Case, Conversion]]) -> None:
    new = [(case, r) for case, r in answered if case.new_form]
    assert len(new) == 2 * 3 * 34
    for case, r in new:
        assert (r.status, {r.new_commune_code}) == (Status.ALREADY_NEW, set(case.expected)), case.address


def test_other_provinces_never_land_in_the_deployments_by_a_fuzzy_match(
    answered: list[tuple[Case, Conversion]], conv: AddressConverter
) -> None:
    home = {c for c, n in national().new_communes.items() if n.province_code == "92"}
    elsewhere = [(case, r) for case, r in answered if case.expected and not case.expected & home]
    assert [case.address for case, r in elsewhere if _codes(r) & home] == []
    # The two answers the three-province converter got wrong, and misspellings far from Cần Thơ.
    for text, code in (
        ("Nam Hưng, Tiền Hải, Thái Bình", "13066"),
        ("XA AM HA, HUYEN HA HOA, PHU THO", "08053"),
    ):
        r = conv.convert(text)
        assert (r.status, r.new_commune_code) == (Status.EXACT, code), text
    for text in ("Xa Nam Hungg, Tien Hai, Thai Binh", "Phuong Ninh Kieuu, Thai Binh", "Ninh Kieu, Ha Noi"):
        assert not _codes(conv.convert(text)) & home, text


def test_a_named_province_or_district_is_never_crossed(conv: AddressConverter) -> None:
    # Ninh Kiều is a district of Cần Thơ: written under Hà Nội it is nothing, and a misspelt commune under a named
    # district is looked for in that district only.
    assert conv.convert("Phường Xuân Khánh, Quận Ninh Kiều, Thành phố Hà Nội").status is Status.NOT_FOUND
    r = conv.convert("Xa Nam Hungg, Huyen Tien Hai, Tinh Thai Binh")
    assert (r.status, r.new_commune_code) == (Status.FUZZY, "13066")
    assert r.new_address == "Xã Hưng Phú, Tỉnh Hưng Yên"  # Thái Bình is now part of Hưng Yên
    # The absorbing province's name counts as naming the former one, not the other way round.
    assert conv.convert("Xã Nam Hưng, Huyện Tiền Hải, Tỉnh Hưng Yên").new_commune_code == "13066"
    assert conv.convert("Xã Hưng Phú, Tỉnh Thái Bình").status is not Status.ALREADY_NEW


def test_island_districts_and_later_changes(conv: AddressConverter) -> None:
    zone = conv.convert("Khu 3, Huyện Côn Đảo, Tỉnh Bà Rịa - Vũng Tàu")
    assert (zone.status, zone.new_address) == (Status.EXACT, "Khu 3, Đặc khu Côn Đảo, Thành phố Hồ Chí Minh")
    assert conv.convert("Côn Đảo, Bà Rịa - Vũng Tàu").new_commune_code == "26732"
    today = bundled_converter(date(2026, 12, 1))
    r = today.convert("Thị trấn Lộc Ninh, Huyện Lộc Ninh, Tỉnh Bình Phước")
    assert r.new_address == "Phường Lộc Ninh, Thành phố Đồng Nai"  # a ward and a city since 2026-04-30
    assert conv.convert("Thị trấn Lộc Ninh, Huyện Lộc Ninh, Tỉnh Bình Phước").new_address == (
        "Xã Lộc Ninh, Tỉnh Đồng Nai"
    )


def test_not_found_says_why(conv: AddressConverter) -> None:
    why = {
        "Chiyoda, Tokyo, Japan": "no_unit",  # abroad
        "asdf qwer zxcv": "no_unit",
        "Phường Ninh Kiều, Tỉnh Thái Bình": "units_apart",  # a ward of Cần Thơ, written in Thái Bình
        "12 Đường 30/4, Phụng Hiệp": "bare_name",  # Phụng Hiệp is a district too: the commune would be a guess
        "3, Ngã Năm": "bare_number",  # "3" may be a house number: "Phường 3" is not
    }
    got = {text: conv.convert(text) for text in why}
    assert {text: (r.status, r.reason) for text, r in got.items()} == {
        text: (Status.NOT_FOUND, reason) for text, reason in why.items()
    }
    assert conv.convert("Phường Cái Khế, Quận Ninh Kiều, Thành phố Cần Thơ").reason is None
