"""JSON logs with request ids, never personal data; production settings checked at start-up."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.config import get_settings
from hopnhat.db import make_engine, session_scope
from hopnhat.ops import production
from hopnhat.ops.logs import JsonFormatter
from hopnhat.store.models import Dossier
from tests.http_support import free_port
from tests.ops.support import start, terminate

NAME, ID_NUMBER, PHONE, EMAIL = "Lý Thị Mỹ Hạnh", "094188012345", "0912345678", "hanh.ly@example.vn"


def test_json_logs_carry_request_ids_and_no_personal_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    from hopnhat.db import ensure_schema

    ensure_schema(engine)
    with session_scope(engine) as s:
        s.add(
            Dossier(
                code="H92-LOG-0001",
                province_code="92",
                procedure_code="1.001193",
                applicant_name=NAME,
                applicant_id_number=ID_NUMBER,
                applicant_phone=PHONE,
                applicant_email=EMAIL,
                status=2,
                received_at=datetime(2025, 7, 2, tzinfo=UTC),
            )
        )
    engine.dispose()
    port = free_port()
    server = start(url, "serve", "--port", str(port), env={"HOPNHAT_LOG_FORMAT": "json"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/api/v1/health")
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        ours = httpx.get(
            f"{base}/lookup", params={"code": ID_NUMBER}, headers={"X-Request-ID": "proxy-0123456789abcdef"}
        )
        assert ours.headers["x-request-id"] == "proxy-0123456789abcdef"
        made = httpx.get(f"{base}/api/v1/dossiers/{ID_NUMBER}", headers={"X-Request-ID": f"{PHONE} {ID_NUMBER}"})
        assert made.headers["x-request-id"] not in {"", f"{PHONE} {ID_NUMBER}"}  # caller text never becomes the id
        httpx.get(f"{base}/api/v1/public/dossiers/H92-LOG-0001")
        httpx.post(f"{base}/api/v1/dossiers", json={"applicant_name": NAME, "applicant_phone": PHONE, "x": EMAIL})
    finally:
        _, stderr = terminate(server)

    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is one JSON object
    access = [entry for entry in lines if entry["logger"] == "hopnhat.access"]
    assert len(access) >= 5
    assert all(entry["request_id"] and entry["route"] and entry["status"] for entry in access)
    assert {"request_id": "proxy-0123456789abcdef", "route": "/lookup"}.items() <= access[1].items()
    assert any(entry["route"] == "/api/v1/dossiers/{code}" for entry in access)  # the template, not the path
    for secret in (NAME, ID_NUMBER, PHONE, EMAIL, "Hạnh"):
        assert secret not in stderr


def test_the_last_guard_masks_what_a_message_should_not_have_carried() -> None:
    record = logging.LogRecord(
        "hopnhat.x", logging.WARNING, __file__, 1, "sent to %s, %s and %s", (ID_NUMBER, PHONE, EMAIL), None
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "sent to [masked], [masked] and [masked]"
    keep = logging.LogRecord(
        "hopnhat.x", logging.INFO, __file__, 1, "dossier 000.00.31.H13-250701-0001, 42 rows", (), None
    )
    assert json.loads(JsonFormatter().format(keep))["message"] == "dossier 000.00.31.H13-250701-0001, 42 rows"


def test_a_production_process_refuses_to_start_naming_every_missing_setting(tmp_path: Path) -> None:
    env = {"HOPNHAT_PRODUCTION": "true", "HOPNHAT_DEBUG": "false"}
    refused = CliRunner().invoke(app, ["--db", f"sqlite:///{tmp_path / 's.db'}", "monitor", "--once"], env=env)
    assert refused.exit_code == 1
    message = " ".join(refused.output.split())
    for name in ("HOPNHAT_DATABASE_URL", "HOPNHAT_AUDIT_KEY", "HOPNHAT_SCAN_DIR", "HOPNHAT_TRUSTED_PROXIES"):
        assert name in message
    assert not (tmp_path / "s.db").exists()  # refused before touching anything

    ready = get_settings(
        production=True,
        database_url="postgresql+psycopg://hopnhat@db.internal/hopnhat",
        audit_key="a" * 40,
        scan_dir=str(tmp_path),
        trusted_proxies="127.0.0.1",
    )
    assert production.problems(ready) == []
    production.check(ready)
    weak = ready.model_copy(update={"secret_key": "short", "cookie_secure": False})
    assert len(production.problems(weak)) == 2
