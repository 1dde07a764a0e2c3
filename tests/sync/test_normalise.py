"""What normalisation makes of the simulators' faults, one record at a time (the registry is needed to remap)."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime

import pytest
from sqlalchemy.orm import Session

from hopnhat.legacy.record import mojibake
from hopnhat.sync.connectors.base import RawRecord
from hopnhat.sync.engine import _MOJIBAKE, SourceContext, normalise
from hopnhat.sync.remap import Remapper

CLEAN = {
    "code": "000.00.31.H51-240102-0001",
    "procedure_code": "1.001193",
    "procedure_name": "Đăng ký khai sinh",
    "applicant_name": "Nguyễn Văn An",
    "applicant_address": "Ấp 1, Xã Phú Tân, Huyện Châu Thành, Tỉnh Sóc Trăng",
    "status": 10,
    "channel": 1,
    "applicant_type": 1,
    "received_at": "2024-01-02 08:00:00",
    "due_at": "2024-01-03 16:30:00",
    "returned_at": "2024-01-03 10:00:00",
    "unit": "31582",
    "agency_code": "000.01.31.H51",
}


def _context(session: Session, province: str = "94") -> SourceContext:
    return SourceContext("test", province, Remapper(session, date(2026, 1, 1)), None)


def _record(**fields: object) -> RawRecord:
    values = {**CLEAN, **fields}
    return RawRecord(str(values["code"]), datetime(2024, 1, 3, 10), dict(values), values)


def test_a_clean_record_loads(rdb: Session) -> None:
    prepared = normalise(_context(rdb), _record())
    assert prepared.reasons == [] and prepared.values is not None


@pytest.mark.parametrize("name", ["Nguyễn Văn An", "Trần Thị Hạnh", "Đỗ Minh Tuấn", "Lý Bích Yến", "Võ Hữu Phúc"])
def test_mojibake_names_are_wrong_encoding(rdb: Session, name: str) -> None:
    prepared = normalise(_context(rdb), _record(applicant_name=mojibake(name)))
    assert "wrong encoding in applicant_name" in prepared.reasons


@pytest.mark.parametrize("name", ["Phan Minh Dũng", "Danh Kim Dũng"])
def test_mojibake_of_names_with_u_tilde_is_wrong_encoding(rdb: Session, name: str) -> None:
    prepared = normalise(_context(rdb), _record(applicant_name=mojibake(name)))
    assert "wrong encoding in applicant_name" in prepared.reasons


def _vietnamese_letters() -> list[str]:
    """Every precomposed Vietnamese letter outside ASCII, lower and upper case, built from the rules (12 vowels x
    6 tones, and đ) rather than listed, so none can be forgotten."""
    tones = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
    lower = {unicodedata.normalize("NFC", vowel + tone) for vowel in "aăâeêioôơuưy" for tone in tones} | {"đ"}
    letters = sorted(c for c in lower | {c.upper() for c in lower} if not c.isascii())
    assert len(letters) == 134 and all(len(c) == 1 for c in letters)
    return letters


LETTERS = _vietnamese_letters()


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_every_vietnamese_letter_read_with_a_western_code_page_is_detected(encoding: str) -> None:
    missed = [
        c
        for c in LETTERS
        if not _MOJIBAKE.search(unicodedata.normalize("NFC", c.encode("utf-8").decode(encoding, errors="replace")))
    ]
    assert missed == []


def test_no_correctly_written_vietnamese_text_is_flagged() -> None:
    # Every letter alone, every ordered pair, and each letter between spaces and after punctuation: a telltale
    # sequence can only span two characters, so pairs cover any word.
    flagged = [a + b for a in [*LETTERS, " ", ",", "."] for b in [*LETTERS, " ", ",", "."] if _MOJIBAKE.search(a + b)]
    assert flagged == []
    for text in (CLEAN["applicant_name"], CLEAN["applicant_address"], "Ông Trương Thị Ửng, Ấp Ơn, Ỷ Lan", "Ừ, ữ"):
        assert not _MOJIBAKE.search(text)


def test_a_record_with_every_vietnamese_letter_loads_clean(rdb: Session) -> None:
    # The address: the only text column wide enough for the whole alphabet (a name is at most 200 characters).
    prepared = normalise(_context(rdb), _record(applicant_address=" ".join(LETTERS)))
    assert prepared.reasons == []
    garbled = normalise(_context(rdb), _record(applicant_address=mojibake(" ".join(LETTERS))))
    assert "wrong encoding in applicant_address" in garbled.reasons


def test_a_unit_name_with_another_province_maps_into_that_province(rdb: Session) -> None:
    record = _record(unit="X. Phú Tân, H. Châu Thành, Tỉnh Sóc Trăng", unit_is_name=True)
    prepared = normalise(_context(rdb, province="93"), record)
    assert prepared.values is not None and prepared.values["original_unit_code"] == "31582"


def test_a_unit_name_of_the_own_province_maps_into_it(rdb: Session) -> None:
    prepared = normalise(_context(rdb, province="93"), _record(unit="X. Phú Tân, H. Châu Thành", unit_is_name=True))
    assert prepared.values is not None and prepared.values["original_unit_code"] == "31379"


def test_a_unit_name_with_the_own_province_written_maps_into_it(rdb: Session) -> None:
    remapper = Remapper(rdb, date(2026, 1, 1))
    assert remapper.code_for_name("X. Phú Tân, H. Châu Thành, Tỉnh Hậu Giang", "94") == ("31379", False)
    assert remapper.code_for_name("X. Phú Tân, H. Châu Thành, Tỉnh Sóc Trăng", "93") == ("31582", False)


def test_a_province_without_district_still_settles_a_shared_name(rdb: Session) -> None:
    remapper = Remapper(rdb, date(2026, 1, 1))
    written = remapper.code_for_name("H. Châu Thành, Tỉnh Sóc Trăng", "93")[0]
    own, other = remapper.code_for_name("H. Châu Thành", "94")[0], remapper.code_for_name("H. Châu Thành", "93")[0]
    assert written is not None and written == own and own != other


def test_a_unit_name_of_a_province_outside_the_registry_matches_nothing(rdb: Session) -> None:
    # An Giang also has a Huyện Châu Thành with a Xã Phú Tân: mapping it into Hậu Giang would misroute it.
    assert Remapper(rdb, date(2026, 1, 1)).code_for_name("X. Phú Tân, H. Châu Thành, Tỉnh An Giang", "93")[0] is None
