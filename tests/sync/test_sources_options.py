"""The reading options of the HTTP and SQL connectors beyond the bundled profiles: page/size and offset/limit
pagination, API key and basic auth, Retry-After on 429, a SQL query instead of a table, secrets by reference only."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from hopnhat.legacy import generate
from hopnhat.sync.connectors.base import TerminalError
from hopnhat.sync.connectors.http_api import HttpApiConnector
from hopnhat.sync.connectors.sql import SqlConnector
from tests.sync.helpers import config

ITEMS = [{"ma": f"R-{i}", "sua": f"2025-06-0{1 + i % 9}T08:00:00"} for i in range(7)]
MAPPING = {"id": "ma", "updated": "sua", "fields": {"code": "ma"}, "dates": {"formats": ["iso"]}}


def _connector(handler: Any, **options: Any) -> HttpApiConnector:
    base = {"base_url": "http://api.test", "endpoint": "/hs", "page_size": 3, "mapping": MAPPING}
    base["backoff_seconds"] = 0.0
    return HttpApiConnector({**base, **options}, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("pagination", "params"),
    [("page", {"page_param": "trang", "size_param": "so_dong"}), ("offset", {"limit_param": "lim"})],
)
def test_page_and_offset_pagination_read_every_record_once(pagination: str, params: dict[str, str]) -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        q = dict(request.url.params)
        seen.append(q)
        if pagination == "page":
            size = int(q["so_dong"])
            start = (int(q["trang"]) - 1) * size
        else:
            size, start = int(q["lim"]), int(q["offset"])
        return httpx.Response(200, json={"items": ITEMS[start : start + size]})

    got = [r.source_id for r in _connector(handler, pagination=pagination, **params).extract(None)]
    assert got == [i["ma"] for i in ITEMS]
    assert len(seen) == 3  # 3 + 3 + 1: the short page ends it


def test_api_key_and_basic_auth_send_their_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPNHAT_TEST_API_KEY", "k-123")
    monkeypatch.setenv("HOPNHAT_TEST_PASSWORD", "p-456")
    headers: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        headers.append(request.headers)
        return httpx.Response(200, json={"items": ITEMS[:2]})

    auth = {"kind": "api_key", "header": "X-Khoa", "key": {"env": "HOPNHAT_TEST_API_KEY"}}
    list(_connector(handler, pagination="none", auth=auth).extract(None))
    basic = {"kind": "basic", "username": "hopnhat", "password": {"env": "HOPNHAT_TEST_PASSWORD"}}
    list(_connector(handler, pagination="none", auth=basic).extract(None))
    assert headers[0]["X-Khoa"] == "k-123"
    assert headers[1]["Authorization"] == "Basic " + base64.b64encode(b"hopnhat:p-456").decode()


def test_a_429_is_retried_after_the_servers_delay_and_a_missing_env_secret_is_named() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json={"items": ITEMS})])
    got = list(_connector(lambda r: next(answers), pagination="none").extract(None))
    assert len(got) == len(ITEMS)
    auth = {"kind": "bearer", "token": {"env": "HOPNHAT_TEST_NOT_SET_ANYWHERE"}}
    with pytest.raises(TerminalError, match="environment variable HOPNHAT_TEST_NOT_SET_ANYWHERE is not set"):
        list(_connector(lambda r: httpx.Response(200, json={"items": []}), auth=auth).extract(None))


def test_a_sql_source_read_through_a_query_and_a_url_password_refused(tmp_path: Path) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=40, seed=41, fault_rate=0.0, sql="sqlite", xlsx=False)
    options = dict(config(out)["soctrang"])
    with sqlite3.connect(str(options["url"]).removeprefix("sqlite:///")) as db:
        wanted = [r[0] for r in db.execute("SELECT ma_hs FROM tb_hoso WHERE trang_thai = 6 ORDER BY ngay_cap_nhat, id")]
    assert wanted, "no dossier returned: the test would prove nothing"
    options.pop("table")
    options["query"] = "SELECT * FROM tb_hoso WHERE trang_thai = 6"
    records = list(SqlConnector(options).extract(None))
    # Its own code 6 is the national 10 (result returned), through the profile's value map.
    assert [r.source_id for r in records] == wanted and all(r.fields["status"] == 10 for r in records)
    with pytest.raises(TerminalError) as refused:
        SqlConnector({**options, "url": "postgresql+psycopg://hopnhat:s3cr3t@db.example/legacy"})
    assert "password" in str(refused.value) and "s3cr3t" not in str(refused.value)
