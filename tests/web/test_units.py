"""Passwords, session cookies, texts and charts: the pieces under the pages."""

from __future__ import annotations

import re
import unicodedata

import pytest
from sqlalchemy.orm import Session

from hopnhat.errors import Conflict, InvalidInput
from hopnhat.web import auth, charts
from hopnhat.web.i18n import TEXTS, pick_lang, translate


def test_password_hash_is_salted_and_verifies() -> None:
    first, second = auth.hash_password("mật khẩu dài"), auth.hash_password("mật khẩu dài")
    assert first != second  # a fresh salt each time
    assert "mật khẩu" not in first
    assert auth.verify_password("mật khẩu dài", first)
    assert not auth.verify_password("mật khẩu dàii", first)
    assert not auth.verify_password("x", "not-a-hash")


def test_session_cookie_rejects_tampering_other_keys_and_expiry(db: Session) -> None:
    user = auth.add_user(db, "admin", "12345678", "administrator")
    cookie = auth.session_cookie("key-1", user, now=1_000_000)
    assert auth.read_cookie("key-1", cookie, now=1_000_001) is not None
    assert auth.read_cookie("key-1", cookie, now=1_000_001)[0] == "admin"  # type: ignore[index]
    assert auth.read_cookie("key-2", cookie, now=1_000_001) is None
    body, mac = cookie.split(".")
    assert auth.read_cookie("key-1", body[:-2] + "AA." + mac, now=1_000_001) is None
    assert auth.read_cookie("key-1", cookie, now=1_000_000 + auth.SESSION_MAX_AGE + 1) is None
    assert auth.read_cookie("key-1", "garbage", now=1_000_001) is None


def test_account_rules(db: Session) -> None:
    auth.add_user(db, "officer", "12345678", "center_officer", "000.00.31.H92")
    with pytest.raises(Conflict, match="officer already exists"):
        auth.add_user(db, "officer", "12345678", "administrator")
    with pytest.raises(InvalidInput, match="needs --center"):
        auth.add_user(db, "x", "12345678", "center_officer")
    with pytest.raises(InvalidInput, match="only a center officer"):
        auth.add_user(db, "y", "12345678", "administrator", "000.00.31.H92")
    with pytest.raises(InvalidInput, match="role 'boss'"):
        auth.add_user(db, "z", "12345678", "boss")
    with pytest.raises(InvalidInput, match="at least 8"):
        auth.add_user(db, "w", "short", "administrator")
    with pytest.raises(InvalidInput, match="username"):
        auth.add_user(db, "a b", "12345678", "administrator")
    assert auth.authenticate(db, "officer", "12345678") is not None
    assert auth.authenticate(db, "officer", "wrong-password") is None
    assert auth.authenticate(db, "nobody", "12345678") is None


def test_texts_are_complete_nfc_and_accented() -> None:
    for key, (vi, en) in TEXTS.items():
        assert vi and en, key
        assert unicodedata.is_normalized("NFC", vi), key
    # Vietnamese without diacritics would read as a different (or no) word: spot-check the words that carry them.
    assert translate("lookup", "vi") == "Tra cứu hồ sơ"
    assert translate("overdue", "vi") == "Quá hạn"
    assert translate("lookup", "en") == "Dossier lookup"
    assert pick_lang(None, None) == "vi"
    assert pick_lang("en", "vi") == "en"
    assert pick_lang("fr", "en") == "en"


def test_bar_chart_scales_bars_and_escapes_labels() -> None:
    svg = str(charts.bar_chart("Tỷ lệ <đúng hạn>", [("A", 50.0), ("B<script>", 100.0)], unit="%", max_value=100))
    assert svg.startswith('<svg class="chart" role="img"')
    assert "<title>Tỷ lệ &lt;đúng hạn&gt;</title>" in svg
    assert "<script>" not in svg
    widths = [float(w) for w in re.findall(r'<rect x="\d+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert widths == [130.0, 260.0]


def test_line_chart_draws_one_line_per_series() -> None:
    svg = str(charts.line_chart("Uptime", ["01/07", "02/07", "03/07"], [("LGSP", [100, 50, 100]), ("DVC", [0, 0, 0])]))
    assert svg.count("<polyline") == 2
    points = re.findall(r'points="([^"]+)"', svg)[0].split()
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] == ys[2] < ys[1]  # 100 % is drawn higher than 50 %
