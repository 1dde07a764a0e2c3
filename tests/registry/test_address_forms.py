"""What the batch paths do to go fast must not change an answer: the usual forms of every name read in advance
(``learn_forms``) and the commonest shapes of every commune answered in advance (``learn_answers``; ``warm`` calls
both), the memos' resets; and dashes instead of commas."""

from __future__ import annotations

from datetime import date

import pytest

from hopnhat.registry.convert import AddressConverter, Conversion, Status
from tests.registry.address_set import generate

AFTER = date(2025, 7, 1)


def _fields(r: Conversion) -> tuple[object, ...]:
    return (r.status, r.new_commune_code, r.new_address, r.street, tuple(c.label() for c in r.candidates))


@pytest.fixture(scope="module")
def addresses() -> list[str]:
    # Old addresses of every province in the 13 styles, new-form and nonsense ones; then the same with a letter
    # dropped and without commas (fuzzy matches and the split on type words).
    base = [case.address for case in generate(2, seed=11, splits=40)]
    return base + [a[:5] + a[6:] for a in base[::4]] + [a.replace(",", "") for a in base[1::4]]


def test_learnt_forms_and_answers_answer_exactly_as_reading_each_address(addresses: list[str]) -> None:
    cold = AddressConverter.bundled(AFTER)
    warm = AddressConverter.bundled(AFTER).learn_answers()
    assert len(warm._forms) > 40_000  # every unit of the country, in several forms each
    assert len(warm._learnt) > 40_000  # every commune, in several shapes each
    before = [_fields(cold.convert(a)) for a in addresses]
    assert [_fields(warm.convert(a)) for a in addresses] == before
    # A reset (the memos are bounded) keeps the forms and changes no answer.
    warm._reset_memos()
    assert len(warm._seg_cache) == len(warm._forms)
    assert len(warm._tail_cache) == len(warm._learnt)
    assert [_fields(warm.convert(a)) for a in addresses] == before
    answered = sum(1 for f in before if f[0] is not Status.NOT_FOUND)
    assert answered > 0.9 * len(addresses)


def test_dashes_as_commas_even_where_a_name_holds_a_type_word() -> None:
    conv = AddressConverter.bundled(AFTER)
    # "Quan" folds as "Quận": cut on type words, this address read as nonsense; the dashes are its commas.
    r = conv.convert("Xã Thượng Quan - Huyện Ngân Sơn - Tỉnh Bắc Kạn")
    assert (r.status, r.new_commune_code) == (Status.EXACT, "01957")
    assert r.street == ""
    # A province whose name holds a dash still reads whole.
    r = conv.convert("Phường 1 - Thành phố Vũng Tàu - Tỉnh Bà Rịa - Vũng Tàu")
    assert r.status is Status.EXACT and r.new_address and r.new_address.endswith("Thành phố Hồ Chí Minh")
    # The parts of a dashed address lose their dashes: the street is written clean.
    r = conv.convert("Ấp 3 - Xã Phú Tân - Huyện Châu Thành - Tỉnh Hậu Giang")
    assert r.street == "Ấp 3"
    assert r.new_commune_code == "31378"  # the trap PROVENANCE.md names: not 31582 (Thuận Hòa)


def test_a_misspelling_that_folds_onto_another_unit_is_not_answered_as_it() -> None:
    conv = AddressConverter.bundled(AFTER)
    # "X. Xuân Tắng": without diacritics it is Phường Xuân Tăng (Lào Cai), but neither its marks nor its type word
    # fit that ward; Xã Xuân Thắng (Cần Thơ, Thanh Hóa) is one letter away. Listed together, never a pick.
    r = conv.convert("X. Xuân Tắng")
    assert r.status is Status.AMBIGUOUS
    assert {"31273", "15643", "02671"} <= {c.code for c in r.candidates}
    # Its type word right, a ward written with other diacritics is still that ward.
    assert conv.convert("P. Xuân Tắng").new_commune_code == "02671"
