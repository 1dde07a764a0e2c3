"""The registry API in-process, on SQLite and PostgreSQL: answers, JSON errors, a valid OpenAPI schema, and
schemathesis finding no server error."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date

import anyio
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from openpyxl import load_workbook
from schemathesis.checks import not_a_server_error

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.registry import service
from hopnhat.registry.codes import CodeRule
from tests.conftest import BACKENDS, _create_pg_database, _drop_pg_database

API = "/api/v1/registry"


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """An app over a store of its own with the registry loaded and codes issued (requests commit)."""
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path_factory.mktemp('api') / 'store.db'}", None
    else:
        url = drop = _create_pg_database()
    engine = make_engine(url)
    try:
        ensure_schema(engine)
        with session_scope(engine) as session:
            service.load(session)
            service.issue_codes(session, CodeRule(), issued_on=date(2025, 7, 1), decision="QĐ 1/2025")
        yield create_app(Settings(database_url=url), engine=engine)
    finally:
        engine.dispose()
        if drop is not None:
            _drop_pg_database(drop)


@pytest.fixture(scope="module")
def client(api: FastAPI) -> TestClient:
    return TestClient(api)


def test_units_and_lineage(client: TestClient) -> None:
    assert client.get(f"{API}/units/31120", params={"on": "2025-06-30"}).json()["name"] == "Phường An Hòa"
    assert client.get(f"{API}/units/31120", params={"on": "2025-07-01"}).json()["name"] == "Phường Cái Khế"
    succ = client.get(f"{API}/units/31183/successors").json()
    assert sorted((s["unit"]["code"], s["kind"]) for s in succ["successors"]) == [("31150", "part"), ("31183", "part")]
    pred = client.get(f"{API}/units/31120/predecessors", params={"on": "2025-07-01"}).json()
    assert len(pred["predecessors"]) == 3


def test_search_stats_export(client: TestClient) -> None:
    hits = client.get(f"{API}/search", params={"q": "cai khee", "on": "2025-07-01"}).json()["hits"]
    assert hits[0]["unit"]["code"] == "31120"
    stats = client.get(f"{API}/stats", params={"province": "92", "on": "2025-07-01"}).json()
    assert stats["by_level_and_type"]["commune"] == {"Phường": 31, "Xã": 72}
    old = client.get(f"{API}/stats", params=[("province", "92,93"), ("province", "94"), ("on", "2025-06-30")]).json()
    assert (old["by_level"]["commune"], old["by_level"]["district"]) == (263, 28)
    csv_ = client.get(f"{API}/export", params={"on": "2025-07-01", "format": "csv", "table": "units", "province": "92"})
    assert csv_.status_code == 200 and csv_.headers["content-type"].startswith("text/csv")
    assert csv_.text.count("\n") == 1 + 104
    xlsx = client.get(f"{API}/export", params={"on": "2025-07-01", "format": "xlsx"})
    assert load_workbook(io.BytesIO(xlsx.content)).sheetnames == ["units", "lineage"]


def test_agencies(client: TestClient) -> None:
    resolved = client.get(f"{API}/agencies/000.00.31.H13", params={"on": "2025-07-01"}).json()
    assert resolved["asked"]["valid_to"] == "2025-06-30"
    assert resolved["current"]["code"] == "000.00.00.H13"
    centers = client.get(f"{API}/agencies", params={"kind": "service_center", "on": "2025-07-01"}).json()
    assert len(centers) == 104


MB = "x" * 1_000_000


@pytest.mark.parametrize(
    ("path", "params", "status", "error"),
    [
        ("/units/%20", {}, 422, "invalid_input"),
        ("/units/abc", {}, 422, "invalid_input"),
        ("/units/99999", {"on": "2025-07-01"}, 404, "not_found"),
        ("/units/31120", {"on": "2025-13-45"}, 422, "invalid_input"),
        ("/search", {"q": ""}, 422, "invalid_input"),
        ("/search", {"q": "qxzqxzqxz", "on": "2025-07-01"}, 404, "not_found"),
        ("/search", {"q": "x" * 60_000}, 422, "invalid_input"),  # httpx refuses longer URLs
        ("/search", {"q": "cai khe", "limit": "0"}, 422, "invalid_input"),
        ("/stats", {"province": "zz"}, 422, "invalid_input"),
        ("/stats", {}, 422, "invalid_input"),
        ("/export", {"format": "csv"}, 422, "invalid_input"),
        ("/agencies/gibberish", {}, 422, "invalid_input"),
        ("/agencies/000.00.77.H13", {}, 404, "not_found"),
    ],
)
def test_bad_input_is_a_json_4xx(
    client: TestClient, path: str, params: dict[str, str], status: int, error: str
) -> None:
    response = client.get(API + path, params=params)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["detail"], str) and 0 < len(body["detail"]) < 1000


def _raw_get(app: FastAPI, path: str, query: bytes) -> tuple[int, dict[str, str]]:
    """One GET straight through ASGI: no HTTP client limits the URL, so a 1 MB query reaches the app."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "root_path": "",
    }
    anyio.run(app, scope, receive, send)  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")  # type: ignore[misc]
    return int(start["status"]), json.loads(body)  # type: ignore[call-overload]


def test_a_megabyte_of_text_is_a_json_4xx(api: FastAPI) -> None:
    status, body = _raw_get(api, f"{API}/search", b"q=" + MB.encode())
    assert (status, body["error"]) == (422, "invalid_input")
    assert "at most 200" in body["detail"]
    status, body = _raw_get(api, f"{API}/units/{MB}", b"")
    assert status == 422 and len(body["detail"]) < 200


def test_openapi_schema_is_valid(api: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api)
    schema.validate()
    paths = api.openapi()["paths"]
    assert {f"{API}/units/{{code}}", f"{API}/search", f"{API}/stats", f"{API}/export"} <= set(paths)


def test_schemathesis_finds_no_server_error(api: FastAPI) -> None:
    """Every registry operation, fuzzed from the OpenAPI schema: no input may produce a 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", api).include(path_regex="^/api/v1/registry/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        fuzz()
