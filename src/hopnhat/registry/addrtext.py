"""Fast text keys for address matching: the hot path of address conversion, so no regex per character.

Two keys per name:

- the *accent key*: NFC, lower case, modern tone placement (Hoà -> hòa), punctuation as single spaces, Roman
  numerals at the end as digits (Hòa Tú II -> hòa tú 2). Tells "Vĩnh Thạnh" from "Vĩnh Thành".
- the *fold key*: the accent key without diacritics (đ -> d). What people type without a Vietnamese keyboard;
  it conflates names (vinh thanh), so it is tried only when the accent key misses.

:func:`name_key` strips a leading unit type word or its abbreviation (P., X., TT., Q., H., TX., TP, Tp., T.) and
reports the type it implies.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from hopnhat.registry.text import modern_tones


def _fold_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for cp in range(0x00C0, 0x1F00):
        ch = chr(cp)
        if unicodedata.combining(ch):
            table[cp] = None  # NFD input: drop the marks
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        if base != ch and base.isascii() and base.isalpha():
            table[cp] = base
    table[ord("đ")] = "d"
    table[ord("Đ")] = "D"
    return table


_FOLD = _fold_table()
_NON_WORD = re.compile(r"[\W_]+")
_ROMAN = {
    "i": "1",
    "ii": "2",
    "iii": "3",
    "iv": "4",
    "v": "5",
    "vi": "6",
    "vii": "7",
    "viii": "8",
    "ix": "9",
    "x": "10",
}
_P_NUMBER = re.compile(r"^[pf](\d{1,2})$")  # "P1", "F1": how the south writes Phường 1

# Type words and abbreviations, as fold-key tokens -> the official type word.
TYPE_PREFIXES: dict[tuple[str, ...], str] = {
    ("dac", "khu"): "Đặc khu",
    ("thanh", "pho"): "Thành phố",
    ("thi", "tran"): "Thị trấn",
    ("thi", "xa"): "Thị xã",
    ("phuong",): "Phường",
    ("xa",): "Xã",
    ("quan",): "Quận",
    ("huyen",): "Huyện",
    ("tinh",): "Tỉnh",
    ("tp",): "Thành phố",
    ("tt",): "Thị trấn",
    ("tx",): "Thị xã",
    ("p",): "Phường",
    ("f",): "Phường",
    ("x",): "Xã",
    ("q",): "Quận",
    ("h",): "Huyện",
    ("t",): "Tỉnh",
}
# With diacritics the type word must be spelt right: "Xà Phiên" is a name, not "Xã Phiên".
_ACCENT_TYPES = {
    ("đặc", "khu"): "Đặc khu",
    ("thành", "phố"): "Thành phố",
    ("thị", "trấn"): "Thị trấn",
    ("thị", "xã"): "Thị xã",
    ("phường",): "Phường",
    ("xã",): "Xã",
    ("quận",): "Quận",
    ("huyện",): "Huyện",
    ("tỉnh",): "Tỉnh",
}

COMMUNE_TYPES = frozenset({"Phường", "Xã", "Thị trấn", "Đặc khu"})
DISTRICT_TYPES = frozenset({"Quận", "Huyện", "Thị xã", "Thành phố"})
PROVINCE_TYPES = frozenset({"Tỉnh", "Thành phố"})


def fold_fast(text: str) -> str:
    """Lower-case ASCII letters of a (lower-case) text: diacritics and NFD combining marks dropped."""
    return text.translate(_FOLD)


def accent_tokens(text: str) -> list[str]:
    """Tokens of the accent key of ``text`` (any normal form, any case)."""
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    low = text.lower()
    if not low.isascii():
        low = modern_tones(low)
    if low.replace(" ", "").isalnum():
        return low.split()  # letters, digits and spaces only (most segments): what the substitution would give
    return _NON_WORD.sub(" ", low).split()


def _numerals(tokens: list[str]) -> list[str]:
    if len(tokens) >= 1 and tokens[-1] in _ROMAN:
        return [*tokens[:-1], _ROMAN[tokens[-1]]]
    return tokens


class NameKey(NamedTuple):
    """One reading of a segment: the type it names (or ``""``) and the keys of the name itself. A named tuple, not
    a frozen dataclass: one is made per reading of every new segment, and a frozen dataclass's ``__init__`` cost
    as much as the rest of the reading."""

    type: str
    accent: str
    fold: str
    has_marks: bool


def _key(type_: str, tokens: list[str], marked: bool = False) -> NameKey:
    tokens = _numerals(tokens)
    accent = " ".join(tokens)
    fold = fold_fast(accent)
    return NameKey(type_, accent, fold, marked or fold != accent)


def _key_of(type_: str, tokens: list[str], folded: list[str], marked: bool) -> NameKey:
    """:func:`_key` for tokens already folded (one ``translate`` per segment, not one per token and reading)."""
    if tokens and tokens[-1] in _ROMAN:  # a Roman numeral is ASCII: its fold is itself
        digit = _ROMAN[tokens[-1]]
        tokens = [*tokens[:-1], digit]
        folded = [*folded[:-1], digit]
    return NameKey(type_, " ".join(tokens), " ".join(folded), marked)


def readings(text: str) -> tuple[NameKey, ...]:
    """Ways to read one address segment, most specific first: with its leading type word stripped, then whole.

    "P. Xuân Khánh" -> (Phường, xuân khánh); "Xa Phien" -> (Xã, phien), then (-, xa phien).
    """
    tokens = accent_tokens(text)
    if not tokens:
        return ()
    joined = " ".join(tokens)
    # The fold table maps a letter to letters or to nothing (a combining mark), never to a space: folding the
    # joined tokens once and splitting gives the tokens folded one by one.
    # A segment written with diacritics ("Xã Nga Thanh") spells its name as meant: "Nga Thanh" is not "Nga Thành"
    # typed without them, so the accent key decides even where the name itself has no mark.
    if joined.isascii():
        folded, marked = tokens, False
    else:
        folded = fold_fast(joined).split()
        marked = folded != tokens
    n = len(tokens)
    if n == 1:
        first = folded[0]
        if first[0] in "pf":
            m = _P_NUMBER.match(first)
            if m:
                return (_key_of("Phường", [m.group(1)], [m.group(1)], False), _key_of("", tokens, folded, marked))
        return (_key_of("", tokens, folded, marked),)
    type_: str | None = None
    width = 2
    if n > 2:
        head = (tokens[0], tokens[1])
        type_ = (
            _ACCENT_TYPES.get(head)
            if marked and not (head[0].isascii() and head[1].isascii())
            else TYPE_PREFIXES.get((folded[0], folded[1]))
        )
    if not type_:
        width = 1
        type_ = (
            _ACCENT_TYPES.get((tokens[0],)) if marked and not tokens[0].isascii() else TYPE_PREFIXES.get((folded[0],))
        )
    whole = _key_of("", tokens, folded, marked)
    if type_:
        return (_key_of(type_, tokens[width:], folded[width:], marked), whole)
    return (whole,)


def unit_key(type_: str, name: str) -> NameKey:
    """The key of an official unit name without its type word ("Cái Khế" of "Phường Cái Khế")."""
    return _key(type_, accent_tokens(name))


def unit_keys(type_: str, name: str) -> tuple[NameKey, ...]:
    """:func:`unit_key`, and the key the name has once its diacritics are gone when that reads differently: "Ba
    Vì" typed "Ba Vi" ends in what reads as a Roman numeral (ba 6), so both keys lead to it."""
    key = unit_key(type_, name)
    bare = _key(type_, [fold_fast(t) for t in accent_tokens(name)])
    return (key,) if bare.fold == key.fold else (key, bare)


__all__ = [
    "COMMUNE_TYPES",
    "DISTRICT_TYPES",
    "PROVINCE_TYPES",
    "TYPE_PREFIXES",
    "NameKey",
    "accent_tokens",
    "fold_fast",
    "readings",
    "unit_key",
    "unit_keys",
]
