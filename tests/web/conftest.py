"""Fixtures of the web tests: a store with accounts and dossiers of two centers, and a signed-in client per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.continuity.models import Center
from hopnhat.db import make_engine, session_scope
from hopnhat.identity.service import add_user
from hopnhat.store.models import Dossier, Status
from tests.identity_support import signin

PASSWORD = "mat-khau-rat-dai-123"
CENTER_A = "000.00.31.H92"
CENTER_B = "000.00.32.H92"
CENTER_A_NAME = "Trung tâm Phục vụ hành chính công Phường Cái Khế"
SECRET_NAME = "Nguyễn Thị Bí Mật"
SECRET_ID = "092123456789"


def dossier(
    code: str, center: str, *, status: Status = Status.IN_PROCESS, due_days: int = 5, **extra: object
) -> Dossier:
    now = datetime.now(UTC)
    return Dossier(
        code=code,
        province_code="92",
        procedure_code="1.001234",
        procedure_name="Đăng ký khai sinh",
        applicant_name=SECRET_NAME,
        applicant_id_number=SECRET_ID,
        applicant_phone="0909000111",
        status=int(status),
        received_at=now - timedelta(days=10),
        due_at=now + timedelta(days=due_days),
        unit_code="31120",
        center_code=center,
        **extra,
    )


def seed(engine: Engine) -> None:
    with session_scope(engine) as s:
        # The two centers as `hopnhat centers import` would record them, with the agency codes dossiers carry.
        s.add(Center(code="31120", name=CENTER_A_NAME, unit_code="31120", agency_code=CENTER_A))
        s.add(
            Center(
                code="31135",
                name="Trung tâm Phục vụ hành chính công Phường Ninh Kiều",
                unit_code="31135",
                agency_code=CENTER_B,
            )
        )
        s.flush()
        add_user(s, "admin", PASSWORD, "administrator")
        add_user(s, "operator", PASSWORD, "department_operator")
        add_user(s, "steward", PASSWORD, "data_steward")  # the quarantine holds personal data: not the operator's
        add_user(s, "officer_a", PASSWORD, "center_officer", centers=[CENTER_A])
        add_user(s, "officer_b", PASSWORD, "center_officer", centers=[CENTER_B])
        s.add(dossier("H92.31-250801-0001", CENTER_A))
        s.add(dossier("H92.31-250801-0002", CENTER_A, due_days=-2))  # overdue, still open
        s.add(dossier("H92.32-250801-0001", CENTER_B, origin="migrated"))
        # Past due but waiting for the applicant's supplement: the clock is stopped, so it is not late.
        paused = dossier("H92.31-250801-0003", CENTER_A, status=Status.SUPPLEMENT_REQUESTED, due_days=-1)
        paused.clock_paused_at = datetime.now(UTC) - timedelta(days=3)
        s.add(paused)


@dataclass
class Site:
    engine: Engine
    settings: Settings
    url: str

    def client(self, username: str | None = None) -> TestClient:
        client = TestClient(create_app(self.settings, self.engine), follow_redirects=False)
        if username is not None:
            response = signin(client, username, PASSWORD)
            assert response.status_code == 303, response.text  # type: ignore[attr-defined]
        return client


@pytest.fixture
def site(store_url: str) -> Iterator[Site]:
    engine = make_engine(store_url)
    seed(engine)
    try:
        yield Site(engine, Settings(database_url=store_url, secret_key="test-secret-key-0123456789"), store_url)
    finally:
        engine.dispose()
