"""The working calendar's pages: who may open and change them, an edit audited that moves no due date, and the
decisions (one, all; move, keep) of the officers of the dossier's center and of administrators."""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.identity.models import AuditEntry
from hopnhat.identity.service import add_user
from hopnhat.settlement.models import CalendarDay
from hopnhat.store.models import Dossier
from tests.identity_support import page_csrf
from tests.web.conftest import CENTER_A, CENTER_B, PASSWORD, Site, dossier

DAY = date(2030, 3, 13)
"""A Wednesday far from the seeded dossiers' dates: only the dossiers below run across it."""


def vn(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=VN_TZ)


def _seed_spanning(site: Site) -> None:
    """Two dossiers of center A and one of center B, each received on Monday 11/3/2030 09:00 with 5 working days:
    due Monday 18/3 09:00, Tuesday 19/3 09:00 with 13/3 off."""
    with Session(site.engine) as s:
        for code, center in (("CAL-A-1", CENTER_A), ("CAL-A-2", CENTER_A), ("CAL-B-1", CENTER_B)):
            d = dossier(code, center)
            d.received_at, d.due_at = vn("2030-03-11 09:00"), vn("2030-03-18 09:00")
            s.add(d)
        add_user(s, "auditor", PASSWORD, "auditor")
        s.commit()


def _due(site: Site, code: str) -> datetime:
    with Session(site.engine) as s:
        found = s.query(Dossier).filter_by(code=code).one().due_at
        assert found is not None
        return found


def _query(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


def _add_day(site: Site, username: str = "admin", kind: str = "off", day: date = DAY) -> dict[str, list[str]]:
    client = site.client(username)
    response = client.post(
        "/calendar/days",
        data={"day": day.isoformat(), "kind": kind, "legal_basis": "Quyết định thử", "csrf": page_csrf(client)},
    )
    assert response.status_code == 303, response.text
    return _query(response.headers["location"])


def test_each_role_opens_only_the_calendar_pages_it_may(site: Site) -> None:
    _seed_spanning(site)
    expected = {
        "admin": {"/calendar": 200, "/calendar/decisions": 200},
        "operator": {"/calendar": 200, "/calendar/decisions": 403},
        "officer_a": {"/calendar": 403, "/calendar/decisions": 200},
        "steward": {"/calendar": 403, "/calendar/decisions": 403},
        "auditor": {"/calendar": 403, "/calendar/decisions": 403},
    }
    for username, pages in expected.items():
        client = site.client(username)
        got = {path: client.get(path).status_code for path in pages}
        assert got == pages, username
    anonymous = site.client()
    for path in ("/calendar", "/calendar/decisions"):
        response = anonymous.get(path)
        assert response.status_code == 303 and response.headers["location"] == f"/signin?next={path}"
    assert "/calendar" in site.client("admin").get("/").text  # the nav links to it


def test_only_the_calendars_holders_change_it_and_only_with_the_forms_token(site: Site) -> None:
    _seed_spanning(site)
    form = {"day": DAY.isoformat(), "kind": "off", "legal_basis": "thử"}
    for username in ("officer_a", "steward", "auditor"):
        client = site.client(username)
        assert client.post("/calendar/days", data={**form, "csrf": page_csrf(client)}).status_code == 403
    assert site.client().post("/calendar/days", data=form).status_code == 303  # to the sign-in
    admin = site.client("admin")
    assert admin.post("/calendar/days", data={**form, "csrf": "forged"}).status_code == 403
    operator = site.client("operator")
    assert (
        operator.post("/calendar/decisions", data={"decision": "move", "csrf": page_csrf(operator)}).status_code == 403
    )
    with Session(site.engine) as s:
        assert s.get(CalendarDay, DAY) is None


def test_an_edit_is_audited_and_lists_the_dossiers_it_would_move_without_moving_them(site: Site) -> None:
    _seed_spanning(site)
    assert _add_day(site) == {"saved": [DAY.isoformat()], "listed": ["3"]}
    for code in ("CAL-A-1", "CAL-A-2", "CAL-B-1"):
        assert _due(site, code) == vn("2030-03-18 09:00")
    with Session(site.engine) as s:
        entry = s.query(AuditEntry).filter_by(action="calendar.set_day").one()
        assert (entry.actor, entry.object_id) == ("admin", DAY.isoformat())
        assert entry.changes == {"kind": [None, "off"], "legal_basis": [None, "Quyết định thử"]}
    page = site.client("admin").get("/calendar").text
    assert "Quyết định thử" in page and "Bảng của đơn vị vận hành" in page
    assert page.count('action="/calendar/decisions/CAL-') == 3
    assert "19/03/2030 09:00" in page  # the new calendar's due date, shown beside the one given
    # A bad date or kind says why and changes nothing.
    client = site.client("admin")
    bad = client.post(
        "/calendar/days", data={"day": "13/3", "kind": "off", "legal_basis": "x", "csrf": page_csrf(client)}
    )
    assert "error" in _query(bad.headers["location"])


def test_an_officer_decides_for_their_own_center_only(site: Site) -> None:
    _seed_spanning(site)
    _add_day(site)
    officer = site.client("officer_a")
    csrf = page_csrf(officer, "/calendar/decisions")
    listed = officer.get("/calendar/decisions").text
    assert "CAL-A-1" in listed and "CAL-A-2" in listed and "CAL-B-1" not in listed
    refused = officer.post("/calendar/decisions/CAL-B-1", data={"decision": "move", "csrf": csrf})
    assert "error" in _query(refused.headers["location"]) and _due(site, "CAL-B-1") == vn("2030-03-18 09:00")
    moved = officer.post("/calendar/decisions/CAL-A-1", data={"decision": "move", "csrf": csrf})
    assert _query(moved.headers["location"]) == {"decided": ["1"]}
    assert _due(site, "CAL-A-1") == vn("2030-03-19 09:00")
    kept_all = officer.post("/calendar/decisions", data={"decision": "keep", "csrf": csrf})
    assert _query(kept_all.headers["location"]) == {"decided": ["1"]}  # CAL-A-2 only: B is not theirs
    assert _due(site, "CAL-A-2") == vn("2030-03-18 09:00")
    assert "CAL-B-1" in site.client("officer_b").get("/calendar/decisions").text
    with Session(site.engine) as s:
        decisions = s.query(AuditEntry).filter_by(action="dossier.due_decision").order_by(AuditEntry.id).all()
        assert [(e.actor, e.object_id, e.changes["decision"][1]) for e in decisions] == [
            ("officer_a", "CAL-A-1", "move"),
            ("officer_a", "CAL-A-2", "keep"),
        ]
        steps = s.query(Dossier).filter_by(code="CAL-A-1").one().steps
        assert steps[-1].actor == "officer_a" and steps[-1].due_at == vn("2030-03-19 09:00")


def test_an_administrator_moves_all_and_removes_the_row(site: Site) -> None:
    _seed_spanning(site)
    _add_day(site)
    admin = site.client("admin")
    csrf = page_csrf(admin, "/calendar")
    moved = admin.post("/calendar/decisions", data={"decision": "move", "back": "calendar", "csrf": csrf})
    assert moved.headers["location"] == "/calendar?decided=3"
    assert {_due(site, c) for c in ("CAL-A-1", "CAL-A-2", "CAL-B-1")} == {vn("2030-03-19 09:00")}
    removed = admin.post(f"/calendar/days/{DAY.isoformat()}/remove", data={"csrf": csrf})
    # The dates moved are the ones given now: removing the day lists them again, to go back.
    assert _query(removed.headers["location"]) == {"saved": [DAY.isoformat()], "listed": ["3"]}
    with Session(site.engine) as s:
        assert s.get(CalendarDay, DAY) is None
        entry = s.query(AuditEntry).filter_by(action="calendar.remove_day").one()
        assert entry.actor == "admin" and entry.changes["kind"] == ["off", None]


def test_culture_day_is_unconfirmed_until_the_operator_decides(site: Site) -> None:
    admin = site.client("admin")
    row = _row(admin.get("/calendar").text, "2026-11-24")
    assert "Chưa xác nhận" in row and "Thư viện holidays" in row
    assert "Unconfirmed" in _row(admin.get("/calendar?lang=en").text, "2026-11-24")
    _add_day(site, kind="not_off", day=date(2026, 11, 24))
    row = _row(site.client("admin").get("/calendar?lang=vi").text, "2026-11-24")
    assert "Chưa xác nhận" not in row and "Không phải ngày nghỉ" in row and "Quyết định thử" in row


def _row(page: str, day: str) -> str:
    start = page.index(f'id="day-{day}"')
    return page[start : page.index("</tr>", start)]
