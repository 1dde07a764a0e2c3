"""Bad input through the API: a body over the limit (413), characters the store refuses (400 naming the field), values
past the store's or the calendar's range (422), and no personal data in any log, whatever the input."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from starlette.types import Message

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.identity.roles import Role
from hopnhat.limits_http import refuse_unstorable
from hopnhat.registry import service as registry
from hopnhat.registry.codes import CodeRule
from hopnhat.settlement.catalog import load_sample
from hopnhat.store.models import Dossier
from tests.identity_support import admin_headers, bearer, token_for

LIMIT = 4096
TAN_AN = "001.03.60.H13"
"""Service center of Phường Tân An (commune 31147)."""
CONTINUITY = "/api/v1/continuity"
APPLICANT = {
    "procedure_code": "1.001193",
    "channel": 2,
    "applicant_name": "Phạm Văn Đức",
    "applicant_id_number": "092090009999",
    "applicant_phone": "0901234567",
    "applicant_address": "Phường An Khánh, Quận Ninh Kiều, Cần Thơ",
    "commune_code": "31147",
}
SECRETS = ("Phạm Văn", "092090009999", "0901234567", "An Khánh")


@dataclass
class Site:
    engine: Engine
    app: FastAPI
    client: TestClient
    admin: dict[str, str]
    officer: dict[str, str]


@contextmanager
def _site(url: str) -> Iterator[Site]:
    engine = make_engine(url)
    try:
        app = create_app(Settings(database_url=url, max_request_bytes=LIMIT), engine=engine)
        officer = bearer(token_for(engine, Role.CENTER_LEADER, scopes="write", centers=[TAN_AN]))
        yield Site(engine, app, TestClient(app), admin_headers(engine), officer)
    finally:
        engine.dispose()


@pytest.fixture
def site(store_url: str) -> Iterator[Site]:
    """The app on a migrated store, once per backend; bodies are limited to 4 KiB."""
    with _site(store_url) as made:
        yield made


@pytest.fixture
def sqlite_site(tmp_path: Path) -> Iterator[Site]:
    """The same on SQLite alone, for what happens before the store is reached."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    engine.dispose()
    with _site(url) as made:
        yield made


# --- the body's size ------------------------------------------------------------------------------------------------


def test_a_declared_body_over_the_limit_is_refused_before_any_rule(sqlite_site: Site) -> None:
    body = b"{" + b" " * LIMIT + b"}"
    for headers in ({}, sqlite_site.admin):  # 413 even without a token: nothing of the request was looked at
        r = sqlite_site.client.post(
            f"{CONTINUITY}/systems", content=body, headers={**headers, "content-type": "application/json"}
        )
        assert r.status_code == 413, r.text
        assert r.json() == {
            "error": "payload_too_large",
            "detail": f"the request body is larger than {LIMIT} bytes (setting max_request_bytes)",
        }
    start = b'{"code": "ct-at-limit", "name": "x"'
    at_limit = start + b" " * (LIMIT - len(start) - 1) + b"}"
    json_headers = {**sqlite_site.admin, "content-type": "application/json"}
    assert sqlite_site.client.post(f"{CONTINUITY}/systems", content=at_limit, headers=json_headers).status_code == 201


def test_a_chunked_body_is_counted_as_it_streams(sqlite_site: Site) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"code": "ct-chunked", "name": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    r = sqlite_site.client.post(
        f"{CONTINUITY}/systems", content=chunks(), headers={**sqlite_site.admin, "content-type": "application/json"}
    )
    assert "content-length" not in r.request.headers and r.request.headers["transfer-encoding"] == "chunked"
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert sqlite_site.client.get(f"{CONTINUITY}/systems/ct-chunked", headers=sqlite_site.admin).status_code == 404


def test_a_streamed_body_is_read_no_further_than_the_limit(sqlite_site: Site) -> None:
    """Driven at the ASGI level (the test client hands the app the whole body at once): the app pulls the chunk that
    crosses the limit and no other, then answers 413."""
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": pulled < 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"{CONTINUITY}/systems",
        "raw_path": f"{CONTINUITY}/systems".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
            *[(k.lower().encode(), v.encode()) for k, v in sqlite_site.admin.items()],
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(sqlite_site.app(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert pulled == LIMIT // 1000 + 1


def test_a_page_form_over_the_limit_is_refused(sqlite_site: Site) -> None:
    r = sqlite_site.client.post("/signin", data={"username": "x", "password": "y" * LIMIT})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


# --- characters the store refuses -----------------------------------------------------------------------------------


def test_a_nul_anywhere_is_400_naming_the_field_and_nothing_personal_is_logged(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for field in ("applicant_name", "applicant_id_number", "applicant_phone", "applicant_address"):
        body = {**APPLICANT, field: f"{APPLICANT[field]}\x00"}
        r = site.client.post("/api/v1/dossiers", json=body, headers=site.officer)
        assert r.status_code == 400, r.text
        assert r.json() == {
            "error": "invalid_character",
            "detail": f"body.{field}: contains a NUL character, which the store cannot hold",
        }
        for secret in SECRETS:
            assert secret not in r.text
    with session_scope(site.engine) as session:
        assert session.scalar(select(func.count()).select_from(Dossier)) == 0
    for secret in (*SECRETS, "Traceback"):
        assert secret not in caplog.text


def test_nul_in_path_query_nested_json_and_forms_and_lone_surrogates(site: Site) -> None:
    def detail(r: Any) -> str:
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_character"
        return str(r.json()["detail"])

    assert detail(site.client.get(f"{CONTINUITY}/systems/ct%00x", headers=site.admin)).startswith("path.code:")
    assert detail(site.client.get("/api/v1/registry/search", params={"q": "An\x00"})).startswith("query.q:")
    r = site.client.post("/api/v1/addresses/convert", json={"addresses": ["Ninh Kiều", "An\x00Khánh"]})
    assert detail(r).startswith("body.addresses.1:")
    task = {"code": "t1", "title": "T", "deadline": "2026-01-01", "depends_on": ["a", "b\x00"]}
    assert detail(site.client.put(f"{CONTINUITY}/tasks/t1", json=task, headers=site.admin)).startswith(
        "body.depends_on.1:"
    )
    surrogate = b'{"code": "ct-s", "name": "x\\ud800"}'
    r = site.client.post(
        f"{CONTINUITY}/systems", content=surrogate, headers={**site.admin, "content-type": "application/json"}
    )
    assert detail(r) == "body.name: contains a lone UTF-16 surrogate, which the store cannot hold"
    assert detail(site.client.post("/signin", data={"username": "a\x00", "password": "x"})).startswith("body.username:")
    # Escaped text that only looks like one passes: "\\u0000" is a backslash followed by "u0000".
    ok = site.client.post(f"{CONTINUITY}/systems", json={"code": "ct-ok", "name": "\\u0000"}, headers=site.admin)
    assert ok.status_code == 201 and ok.json()["name"] == "\\u0000"


@pytest.mark.parametrize("new_store_url", ["postgresql"], indirect=True)
def test_an_unexpected_store_error_is_a_500_without_personal_data_in_the_log(
    new_store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With the check switched off, PostgreSQL's own refusal of a NUL reaches the app (SQLAlchemy's message quotes
    every parameter of the INSERT): the answer is a plain 500, and the log names the error's type, never its text.
    The test client re-raises whatever escapes the app, as uvicorn would log it: nothing does."""
    caplog.set_level(logging.DEBUG)
    engine = make_engine(new_store_url)
    ensure_schema(engine)
    with session_scope(engine) as session:
        registry.load(session)
        registry.issue_codes(session, CodeRule(), issued_on=date(2025, 7, 1))
        load_sample(session)
    engine.dispose()
    with _site(new_store_url) as site:
        site.app.dependency_overrides[refuse_unstorable] = lambda: None
        body = {**APPLICANT, "applicant_address": "An Khánh\x00"}
        r = site.client.post("/api/v1/dossiers", json=body, headers=site.officer)
        assert r.status_code == 500
        assert r.json() == {"error": "internal_error", "detail": "unexpected server error"}
    assert "unexpected DataError on POST '/api/v1/dossiers'" in caplog.text
    for secret in SECRETS:
        assert secret not in caplog.text


# --- values past the store's or the calendar's range (each was a 500; the over-long string on PostgreSQL only) -----


BAD = [
    ("patch", f"{CONTINUITY}/systems/ct-a", {"name": None}, "body.name"),
    ("patch", f"{CONTINUITY}/systems/ct-a", {"status": None, "target_date": "9999-12-31"}, "body.status"),
    ("put", f"{CONTINUITY}/systems/ct-a/probes", {"name": "p", "kind": "heartbeat", "period_s": 2**40}, "period_s"),
    ("put", f"{CONTINUITY}/systems/ct-a/probes", {"name": "p", "kind": "heartbeat", "expect_status": 2**40}, "expect"),
    ("post", f"{CONTINUITY}/incidents/{2**80}/notes", {"note": "x"}, "path.incident_id"),
    ("get", f"{CONTINUITY}/systems/ct-a/uptime?from=0001-01-01&to=0001-01-02", None, "query.from"),
    ("get", f"{CONTINUITY}/systems/ct-a/uptime?to=9999-12-31", None, "query.to"),
    ("get", f"{CONTINUITY}/tasks?horizon_days={2**70}", None, "query.horizon_days"),
    ("put", f"{CONTINUITY}/tasks/t1", {"code": "t1", "title": "T", "deadline": "9999-12-31"}, "body.deadline"),
    ("post", f"{CONTINUITY}/systems", {"code": "ct-b", "name": "B", "owner_unit": "x" * 301}, "body.owner_unit"),
    ("put", f"{CONTINUITY}/tasks/{'t' * 41}", {"code": "t", "title": "T", "deadline": "2026-01-01"}, "path.code"),
    (
        "post",
        f"{CONTINUITY}/systems/ct-a/maintenance",
        {"starts_at": "0001-01-01T00:00:00+07:00", "ends_at": "2026-01-01T00:00:00+07:00"},
        "body.starts_at",
    ),
    (
        "post",
        f"{CONTINUITY}/systems/ct-a/maintenance",
        {"starts_at": "2026-01-01T00:00:00", "ends_at": "2026-01-02T00:00:00"},
        "timezone",
    ),
    ("get", "/api/v1/settlement/reports?start=9999-12-31&end=9999-12-31", None, "query.start"),
    ("get", f"/api/v1/sync/quarantine/{2**80}", None, "path.record_id"),
    ("post", f"/api/v1/portal/dead/{2**80}/requeue", None, "path.event_id"),
]


def test_values_out_of_range_are_422_naming_the_field(site: Site) -> None:
    assert site.client.post(f"{CONTINUITY}/systems", json={"code": "ct-a", "name": "A"}, headers=site.admin).is_success
    for method, path, body, named in BAD:
        r = site.client.request(method.upper(), path, json=body, headers=site.admin)
        assert r.status_code == 422, (method, path, r.text)
        assert r.json()["error"] == "invalid_input" and named in r.json()["detail"], (path, r.text)
    transition = {"to": "4", "due_at": "9999-12-31T23:00:00-12:00", "note": "x"}
    r = site.client.post("/api/v1/dossiers/ANY/transitions", json=transition, headers=site.officer)
    assert r.status_code == 422 and "body.due_at" in r.json()["detail"]
    # A target date may be cleared (its column takes null); the system is otherwise unchanged.
    r = site.client.patch(f"{CONTINUITY}/systems/ct-a", json={"target_date": None}, headers=site.admin)
    assert r.status_code == 200 and r.json()["name"] == "A"


# --- the description ------------------------------------------------------------------------------------------------


def test_the_openapi_description_shows_the_error_shape_and_every_error_status(sqlite_site: Site) -> None:
    doc = sqlite_site.client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert schemas["ErrorOut"]["required"] == ["error", "detail"]
    assert "HTTPValidationError" not in schemas  # FastAPI's own 422 shape, which this API never sends
    operations = [op for item in doc["paths"].values() for op in item.values()]
    assert len(operations) > 30
    for op in operations:
        for status in ("400", "401", "403", "404", "409", "413", "422", "429"):
            content = op["responses"][status]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, (op["operationId"], status)
