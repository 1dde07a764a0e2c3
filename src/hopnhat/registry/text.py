"""Text normalisation for Vietnamese unit names: one place, used by search, address conversion and sync."""

from __future__ import annotations

import re
import unicodedata

# Old-style tone placement ("Hoà", "Thuỷ", "Khoẻ") -> the placement of the official lists ("Hòa", "Thủy", "Khỏe").
_OLD_TONES = {
    "oà": "òa",
    "oá": "óa",
    "oả": "ỏa",
    "oã": "õa",
    "oạ": "ọa",
    "oè": "òe",
    "oé": "óe",
    "oẻ": "ỏe",
    "oẽ": "õe",
    "oẹ": "ọe",
    "uỳ": "ùy",
    "uý": "úy",
    "uỷ": "ủy",
    "uỹ": "ũy",
    "uỵ": "ụy",
}
_OLD_TONES.update({k.capitalize(): v.capitalize() for k, v in list(_OLD_TONES.items())})
_OLD_TONE_RE = re.compile("(?:" + "|".join(_OLD_TONES) + r")(?!\w)")
_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^0-9a-z ]+")


def nfc(text: str) -> str:
    """NFC form: how hopnhat stores every Vietnamese text."""
    return unicodedata.normalize("NFC", text)


def modern_tones(text: str) -> str:
    """Move tone marks to the placement the official lists use (Hoà -> Hòa); the input must be NFC."""
    # Only at a word end: "hoàn" keeps its mark where it is.
    return _OLD_TONE_RE.sub(lambda m: _OLD_TONES[m.group(0)], text) if _OLD_TONE_RE.search(text) else text


_NEW_TONES = {v: k for k, v in _OLD_TONES.items()}
_NEW_TONE_RE = re.compile("(?:" + "|".join(_NEW_TONES) + r")(?!\w)")


def old_tones(text: str) -> str:
    """The old tone placement people still type (Hòa -> Hoà): :func:`modern_tones` the other way round."""
    return _NEW_TONE_RE.sub(lambda m: _NEW_TONES[m.group(0)], text)


def official_form(text: str) -> str:
    """NFC, modern tone placement, single spaces: the spelling to store."""
    return _SPACES.sub(" ", modern_tones(nfc(text))).strip()


def fold(text: str) -> str:
    """Diacritic-, case- and punctuation-insensitive key: "Phường Vị Tân" and "PHUONG VI TAN" fold alike."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return _SPACES.sub(" ", _NON_WORD.sub(" ", stripped)).strip()


TYPE_WORDS = ("Đặc khu", "Thành phố", "Thị trấn", "Thị xã", "Phường", "Huyện", "Quận", "Tỉnh", "Xã")


def split_type(name: str) -> tuple[str, str]:
    """ "Phường Cái Khế" -> ("Phường", "Cái Khế"). A name without a type word gives ("", name). The type word's
    case does not matter (the official list writes "Thành Phố Bắc Kạn"); the type returned is the official one."""
    for word in TYPE_WORDS:
        if name.startswith(word + " ") or name[: len(word) + 1].lower() == word.lower() + " ":
            return word, name[len(word) + 1 :]
    return "", name
