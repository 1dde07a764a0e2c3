"""The stewards' "check the sources again" button runs one check at a time: it reads every source whole, so a second
click while one runs is told to wait instead of holding another worker and write transaction."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hopnhat.web import steward_pages
from tests.identity_support import page_csrf
from tests.web.conftest import Site


def test_a_second_check_while_one_runs_is_told_to_wait(site: Site) -> None:
    client = site.client("steward")
    csrf = page_csrf(client, "/steward")
    assert steward_pages._CHECKING.acquire(blocking=False)  # a check in flight
    try:
        response = client.post("/steward/check", data={"csrf": csrf})
    finally:
        steward_pages._CHECKING.release()
    assert response.status_code == 303
    error = parse_qs(urlsplit(response.headers["location"]).query)["error"][0]
    assert error == steward_pages.TEXTS["st_check_running"][0]
    # Once it is over, the next click runs a check (here it reports the missing sources' configuration).
    after = client.post("/steward/check", data={"csrf": csrf})
    assert after.status_code == 303
    assert parse_qs(urlsplit(after.headers["location"]).query).get("error") != [error]
