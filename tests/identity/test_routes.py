"""Every route of the app has a rule, and each rule holds: anonymous, wrong role and the right principal are tried on
every route, pages and API alike; other-center principals are tried on the dossier routes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.routing import Mount

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.identity.http import rule_of
from hopnhat.identity.roles import Permission, Role, permissions_of
from hopnhat.store.models import Dossier, Status
from tests.identity_support import bearer, token_for

CENTER_A = "000.00.31.H92"
CENTER_B = "000.00.32.H92"
UNIT = "000.00.80.H92"
PUBLIC_MOUNTS = {"/static"}
"""Mounts that serve files only (vendored CSS, JS, Swagger UI): public by design."""


def _rules(found_route: Found) -> list[Permission]:
    route = found_route.route
    found: list[Permission] = [p for d in found_route.dependencies if (p := rule_of(d.dependency)) is not None]

    def walk(dependant: Any) -> None:
        for dep in dependant.dependencies:
            permission = rule_of(dep.call)
            if permission is not None:
                found.append(permission)
            walk(dep)

    walk(route.dependant)
    return found


@dataclass(frozen=True)
class Found:
    path: str
    route: Any
    dependencies: tuple[Any, ...] = ()


def _routes(app: FastAPI) -> list[Found]:
    """Every route with its full path, also those of included routers (FastAPI keeps them behind the router)."""
    out: list[Found] = []

    def walk(routes: list[Any], prefix: str, deps: tuple[Any, ...]) -> None:
        for route in routes:
            context = getattr(route, "include_context", None)
            if context is not None:
                walk(
                    list(route.original_router.routes),
                    prefix + (context.prefix or ""),
                    deps + tuple(context.dependencies or ()),
                )
            else:
                out.append(Found(prefix + getattr(route, "path", "?"), route, deps))

    walk(list(app.router.routes), "", ())
    return out


@dataclass
class Site:
    engine: Engine
    app: FastAPI
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = f"sqlite:///{tmp_path_factory.mktemp('routes') / 'store.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    app = create_app(Settings(database_url=url), engine)
    tokens: dict[str, str] = {}
    for role in Role:
        centers = [CENTER_A] if role in {Role.CENTER_OFFICER, Role.CENTER_LEADER} else []
        units = [UNIT] if role is Role.PROCESSING_OFFICER else []
        scopes = "admin" if role is Role.ADMINISTRATOR else "write"
        tokens[role.value] = token_for(engine, role, scopes=scopes, centers=centers, units=units)
    tokens["officer_b"] = token_for(engine, Role.CENTER_OFFICER, scopes="write", centers=[CENTER_B])
    with session_scope(engine) as s:
        now = datetime.now(UTC)
        s.add(
            Dossier(
                code="H92-A-0001",
                province_code="92",
                procedure_code="1.001234",
                applicant_name="Nguyễn Văn Riêng",
                status=int(Status.IN_PROCESS),
                received_at=now - timedelta(days=2),
                due_at=now + timedelta(days=3),
                center_code=CENTER_A,
                holder_unit_code=UNIT,
            )
        )
    yield Site(engine, app, tokens)
    engine.dispose()


def _path(found: Found) -> str:
    return re.sub(r"\{[^}]+\}", "1", found.path)


def test_every_route_has_exactly_one_rule(site: Site) -> None:
    missing, mounts = [], []
    found = _routes(site.app)
    for entry in found:
        route = entry.route
        if isinstance(route, Mount):
            if entry.path not in PUBLIC_MOUNTS:
                mounts.append(entry.path)
            continue
        if not isinstance(route, APIRoute):
            missing.append(f"{type(route).__name__} {entry.path}")
            continue
        if len(set(_rules(entry))) != 1:
            missing.append(f"{sorted(route.methods)} {entry.path}: {_rules(entry)}")
    assert missing == [], "routes without exactly one rule"
    assert mounts == [], "mounts that are not known to be public"
    assert len(found) > 60, "the enumeration reaches the included routers' routes"


def _holder(permission: Permission) -> Role | None:
    for role in (Role.DEPARTMENT_OPERATOR, Role.CENTER_OFFICER, Role.DATA_STEWARD, Role.AUDITOR, Role.ADMINISTRATOR):
        if permission in permissions_of(frozenset({role})):
            return role
    return None


def _lacker(permission: Permission) -> Role | None:
    for role in (Role.AUDITOR, Role.CENTER_OFFICER, Role.DEPARTMENT_OPERATOR):
        if permission not in permissions_of(frozenset({role})):
            return role
    return None


def _call(client: TestClient, found: Found, headers: dict[str, str]) -> int:
    method = sorted(found.route.methods - {"HEAD"})[0]
    body: dict[str, Any] | None = {} if method in {"POST", "PUT", "PATCH"} else None
    response = client.request(method, _path(found), headers=headers, json=body)
    return response.status_code


def test_each_rule_refuses_nobody_and_the_wrong_role_and_admits_the_right_one(site: Site) -> None:
    client = TestClient(site.app, follow_redirects=False)
    problems: list[str] = []
    tried = 0
    for entry in _routes(site.app):
        if not isinstance(entry.route, APIRoute):
            continue
        route = entry
        permission = _rules(entry)[0]
        page = not entry.path.startswith("/api/") and entry.path not in {"/metrics"}
        anonymous = _call(client, route, {})
        if permission is Permission.PUBLIC:
            if anonymous in {401, 403}:
                problems.append(f"{entry.path}: public but refused anonymous ({anonymous})")
            continue
        tried += 1
        refused_anonymous = {303} if page else {401}
        if anonymous not in refused_anonymous:
            problems.append(f"{entry.path}: anonymous got {anonymous}")
        if page:
            continue  # pages take cookies, not bearer tokens: test_pages_by_role covers them
        lacker = _lacker(permission)
        if lacker is not None and permission is not Permission.SELF:
            got = _call(client, route, bearer(site.tokens[lacker.value]))
            if got != 403:
                problems.append(f"{entry.path}: {lacker.value} (without {permission.value}) got {got}")
        holder = _holder(permission)
        assert holder is not None, permission
        got = _call(client, route, bearer(site.tokens[holder.value]))
        if got in {401, 403}:
            problems.append(f"{entry.path}: {holder.value} (with {permission.value}) got {got}")
    assert problems == []
    assert tried > 30


@pytest.mark.parametrize(
    ("who", "status"),
    [("center_officer", 200), ("center_leader", 200), ("processing_officer", 200), ("officer_b", 404)],
)
def test_a_dossier_is_seen_by_its_centers_and_unit_only(site: Site, who: str, status: int) -> None:
    client = TestClient(site.app)
    response = client.get("/api/v1/dossiers/H92-A-0001", headers=bearer(site.tokens[who]))
    assert response.status_code == status, response.text
    overdue_or_soon = client.get("/api/v1/settlement/due-soon?hours=100", headers=bearer(site.tokens[who]))
    codes = [d["code"] for d in overdue_or_soon.json()]
    assert ("H92-A-0001" in codes) is (status == 200)


def test_another_centers_officer_cannot_move_its_dossier(site: Site) -> None:
    client = TestClient(site.app)
    refused = client.post(
        "/api/v1/dossiers/H92-A-0001/transitions", json={"to": "finished"}, headers=bearer(site.tokens["officer_b"])
    )
    assert refused.status_code == 404
    with Session(site.engine) as s:
        assert s.query(Dossier).filter_by(code="H92-A-0001").one().status == int(Status.IN_PROCESS)


def test_a_read_token_cannot_write_and_a_lookup_token_cannot_read(site: Site) -> None:
    client = TestClient(site.app)
    read = token_for(site.engine, Role.DEPARTMENT_OPERATOR, scopes="read")
    assert client.get("/api/v1/continuity/systems", headers=bearer(read)).status_code == 200
    refused = client.post("/api/v1/continuity/systems", json={"code": "X", "name": "X"}, headers=bearer(read))
    assert refused.status_code == 403
    assert "scope" in refused.json()["detail"]
    lookup = token_for(site.engine, Role.DEPARTMENT_OPERATOR, scopes="lookup")
    assert client.get("/api/v1/continuity/systems", headers=bearer(lookup)).status_code == 403
    assert client.get("/api/v1/health", headers=bearer(lookup)).status_code == 200


def test_an_unknown_bearer_token_is_refused_not_ignored(site: Site) -> None:
    client = TestClient(site.app)
    response = client.get("/api/v1/health", headers=bearer("hnt_not-a-token"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
