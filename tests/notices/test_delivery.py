"""Notices end to end against real components: the SMTP server and the gateway simulator as processes, the store on
SQLite and PostgreSQL, the relay as a process for the kill test. Back-off is compressed (settings), never slept."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.db import make_engine, session_scope
from hopnhat.identity.models import AuditEntry
from hopnhat.identity.roles import Role
from hopnhat.identity.service import secret_key
from hopnhat.notices import service
from hopnhat.notices.relay import NoticeRelay, make_sender
from hopnhat.portal.client import PortalClient
from hopnhat.portal.relay import Relay, RelayConfig
from hopnhat.portal.simulator import free_port, running_simulator
from hopnhat.settlement.schemas import ActionIn
from hopnhat.settlement.service import load_calendar
from hopnhat.settlement.workflow import act
from hopnhat.store.models import Dossier, OutboxEvent
from tests.http_support import serve
from tests.identity_support import principal
from tests.notices.conftest import Gateway, SmtpSink
from tests.portal.factories import RECEIVED, make_dossier

HOPNHAT = str(Path(sys.executable).with_name("hopnhat"))
EMAIL = "nguyen.an@example.vn"
PHONE = "0912345678"


def _settings(url: str, **more: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "notice_channels": "email,sms",
        "notice_backoff_seconds": 0.01,
        "notice_backoff_cap_seconds": 0.05,
        "notice_max_attempts": 3,
        "notice_public_url": "https://dichvucong.example.vn",
        "smtp_host": "127.0.0.1",
        "smtp_timeout_seconds": 20,
    }
    values.update(more)
    return Settings(**values)  # type: ignore[arg-type]


def _dossier(session: Session, code: str, **fields: object) -> Dossier:
    values: dict[str, object] = {
        "status": 1,
        "notice_consent": True,
        "applicant_email": EMAIL,
        "applicant_phone": PHONE,
    }
    values.update(fields)
    return make_dossier(session, code, **values)


def _act(session: Session, d: Dossier, hours: int, action: str, **fields: object) -> None:
    act(
        session,
        d,
        ActionIn(action=action, **fields),  # type: ignore[arg-type]
        actor="canbo1",
        at=RECEIVED + timedelta(hours=hours),
        calendar=load_calendar(session),
    )


def _lifecycle(engine: Engine) -> None:
    """Dossier A: receipt, supplement, delay, result; dossier B: refusal."""
    with session_scope(engine) as s:
        a = _dossier(s, "000.00.31.H13-260210-0001")
        _act(s, a, 1, "receive")
        _act(s, a, 2, "start")
        _act(s, a, 3, "request_supplement", items=["Bản sao giấy chứng nhận kết hôn"], where="Quầy số 3")
        _act(s, a, 4, "supplement_received")
        _act(s, a, 5, "extend", new_due_at=RECEIVED + timedelta(days=10), note="Thư xin lỗi số 12")
        _act(s, a, 6, "finish")
        b = _dossier(s, "000.00.31.H13-260210-0002")
        _act(s, b, 1, "refuse", reason="Hồ sơ không thuộc thẩm quyền giải quyết")


def _keys(engine: Engine, destination: str) -> list[str]:
    with Session(engine) as s:
        return list(
            s.scalars(
                select(OutboxEvent.idempotency_key)
                .where(OutboxEvent.destination == destination)
                .order_by(OutboxEvent.dossier_code, OutboxEvent.seq)
            ).all()
        )


def _states(engine: Engine, destination: str) -> list[str]:
    with Session(engine) as s:
        return list(
            s.scalars(
                select(OutboxEvent.state)
                .where(OutboxEvent.destination == destination)
                .order_by(OutboxEvent.dossier_code, OutboxEvent.seq)
            ).all()
        )


def test_each_event_sends_its_notice_once_per_distinct_id(
    store_url: str, smtp: SmtpSink, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOPNHAT_NOTICE_CHANNELS", "email,sms")
    settings = _settings(store_url, smtp_port=smtp.port, sms_url=f"{gateway.url}/send", sms_templates="receipt=HN01")
    engine = make_engine(store_url)
    _lifecycle(engine)
    email_keys, sms_keys = _keys(engine, "email"), _keys(engine, "sms")
    assert len(email_keys) == len(sms_keys) == 5  # receipt, supplement, delay, result of A; refusal of B

    for channel in ("email", "sms"):
        with NoticeRelay(engine, channel, make_sender(channel, settings), settings) as relay:
            assert relay.drain(timeout=60) == 5
            assert relay.drain(timeout=60) == 0  # nothing is sent twice

    assert sorted(smtp.ids()) == sorted(f"<{service.message_id(k)}@localhost>" for k in email_keys)
    received = gateway.received()
    assert sorted(r["id"] for r in received) == sorted(service.message_id(k) for k in sms_keys)
    texts = " ".join(r["text"] for r in received)
    assert "Bản sao giấy chứng nhận kết hôn" in texts and "Hồ sơ không thuộc thẩm quyền" in texts
    assert "20/02/2026" in texts  # the delay's new date, in Vietnam time
    assert all("https://dichvucong.example.vn/notices/stop/" in r["text"] for r in received)
    assert all(r["to"] == PHONE for r in received)
    assert {r["template"] for r in received} == {"HN01", None}
    assert _states(engine, "email") == ["delivered"] * 5
    engine.dispose()


def _relay_process(url: str, smtp_port: int, *args: str, connections: int = 4) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HOPNHAT_SMTP_CONNECTIONS": str(connections),
        "HOPNHAT_DATABASE_URL": url,
        "HOPNHAT_NOTICE_CHANNELS": "email",
        "HOPNHAT_SMTP_HOST": "127.0.0.1",
        "HOPNHAT_SMTP_PORT": str(smtp_port),
    }
    return subprocess.Popen(
        [HOPNHAT, "notices", "relay", "--channel", "email", "--lease-seconds", "1", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_relay_killed_mid_send_and_restarted_delivers_every_notice_with_the_same_ids(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOPNHAT_NOTICE_CHANNELS", "email")
    engine = make_engine(store_url)
    with session_scope(engine) as s:
        for i in range(30):
            _act(s, _dossier(s, f"000.00.31.H13-260210-{i:04d}"), 1, "receive")
    keys = _keys(engine, "email")
    assert len(keys) == 30
    # One connection at 200 ms a message: the batch of 30 takes 6 s, so a test process slowed by a busy machine
    # still kills the relay in mid-batch (at 40 ms over four connections it was 0.3 s).
    sink = SmtpSink(tmp_path / "smtp.log", delay_ms=200).start()
    try:
        first = _relay_process(store_url, sink.port, connections=1)
        deadline = time.monotonic() + 60
        while len(sink.ids()) < 5:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the relay sent nothing"
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        sent_before_kill = len(sink.ids())
        assert 5 <= sent_before_kill < 30
        assert "delivered" not in _states(engine, "email")  # killed before it could record the batch

        second = _relay_process(store_url, sink.port, "--once")
        _, err = second.communicate(timeout=120)
        assert second.returncode == 0, err.decode()
    finally:
        sink.stop()
    ids = sink.ids()
    expected = {f"<{service.message_id(k)}@localhost>" for k in keys}
    assert set(ids) == expected  # every notice, under its own id and no other
    assert len(ids) - len(set(ids)) == sent_before_kill  # the resends of the killed batch, same ids
    assert _states(engine, "email") == ["delivered"] * 30
    engine.dispose()


def test_an_sms_gateway_outage_retries_then_dead_letters_and_a_resend_keeps_the_id(
    store_url: str, gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HOPNHAT_NOTICE_CHANNELS", "sms")
    settings = _settings(store_url, sms_url=f"{gateway.url}/send")
    engine = make_engine(store_url)
    with session_scope(engine) as s:
        d = _dossier(s, "000.00.31.H13-260210-0009")
        _act(s, d, 1, "receive")
        _act(s, d, 2, "refuse", reason="Thiếu giấy tờ")
    gateway.faults(mode="error", status=503)
    with NoticeRelay(engine, "sms", make_sender("sms", settings), settings) as relay:
        deadline = time.monotonic() + 30
        while "dead" not in _states(engine, "sms"):
            assert time.monotonic() < deadline
            relay.run_once()
            time.sleep(0.02)  # the compressed back-off (10-50 ms)
        # Three tries of the receipt, then dead; the refusal waits behind it (order per dossier and channel).
        assert gateway.stats()["calls"] == 3
        assert sorted(_states(engine, "sms")) == ["dead", "pending"]
        with session_scope(engine) as s:
            dead = service.dead_letters(s, "000.00.31.H13-260210-0009")
            assert [(n.event, n.attempts) for n in dead] == [("receipt", 3)]
            assert "503" in (dead[0].last_error or "") and PHONE not in (dead[0].last_error or "")
            service.resend(s, principal(Role.CENTER_OFFICER, username="canbo1"), dead[0].id)
        gateway.clear()
        assert relay.drain(timeout=30) == 2
        with session_scope(engine) as s:  # a number the provider refuses: dead at once, masked in the log
            _act(s, _dossier(s, "000.00.31.H13-260210-0010"), 3, "receive")
        gateway.faults(mode="refuse", remaining=1)
        relay.drain(timeout=30)
    assert "*******678" in caplog.text and PHONE not in caplog.text and "Nguyễn" not in caplog.text
    keys = _keys(engine, "sms")[:2]
    assert [r["id"] for r in gateway.received()] == [service.message_id(k) for k in keys]
    with Session(engine) as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.action == "notice.resend")).all()
        assert actions == ["notice.resend"]
    engine.dispose()


def test_an_smtp_outage_does_not_delay_the_portal(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPNHAT_NOTICE_CHANNELS", "email")
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)  # accepts the TCP connection and never says a word: an SMTP server that hangs
    settings = _settings(store_url, smtp_port=hole.getsockname()[1], smtp_timeout_seconds=60)
    engine = make_engine(store_url)
    _lifecycle(engine)
    email = NoticeRelay(engine, "email", make_sender("email", settings), settings)
    stuck = threading.Thread(target=email.run_once)
    stuck.start()
    conn, _ = hole.accept()  # the e-mail relay is now inside its batch, waiting for the SMTP greeting
    try:
        with (
            running_simulator(Path(os.environ.get("TMPDIR", "/tmp")) / f"sim-{free_port()}.db") as url,
            PortalClient(url, "hopnhat", "hopnhat", timeout=10) as client,
            Relay(engine, client, RelayConfig(), relay_id="portal-1") as portal,
        ):
            assert portal.drain(timeout=60) == len(_keys(engine, "portal"))
        assert set(_states(engine, "portal")) == {"delivered"}
        assert set(_states(engine, "email")) == {"pending"}
    finally:
        conn.close()  # the SMTP server "goes away": the e-mail relay's batch fails and is retried later
        hole.close()
        stuck.join(timeout=30)
        email.close()
    assert set(_states(engine, "email")) == {"pending"}
    engine.dispose()


def test_an_opt_out_stops_the_next_notice(store_url: str, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPNHAT_NOTICE_CHANNELS", "email")
    settings = _settings(store_url, smtp_port=smtp.port)
    engine = make_engine(store_url)
    code = "000.00.31.H13-260210-0042"
    with session_scope(engine) as s:
        d = _dossier(s, code)
        _act(s, d, 1, "receive")
    relay = NoticeRelay(engine, "email", make_sender("email", settings), settings)
    assert relay.drain() == 1
    with session_scope(engine) as s:
        d = s.scalars(select(Dossier).where(Dossier.code == code)).one()
        _act(s, d, 2, "start")
        _act(s, d, 3, "request_supplement", items=["Tờ khai"])  # queued before the opt-out
    token = service.stop_token(secret_key(engine, settings), code)
    with serve(create_app(settings, engine)) as base, httpx.Client(base_url=base) as http:
        asked = http.get(f"/notices/stop/{token}")
        assert asked.status_code == 200 and "Ngừng nhận thông báo" in asked.text
        assert http.get(f"/notices/stop/{code}.AAAAAAAAAAAAAAAAAAAAAAAA").status_code == 404  # forged
        with Session(engine) as s:
            assert s.scalars(select(Dossier.notice_consent).where(Dossier.code == code)).one() is True  # GET: nothing
        done = http.post(f"/notices/stop/{token}")
        assert done.status_code == 200 and "Đã ghi nhận" in done.text
    assert relay.drain() == 0  # the queued supplement notice is dropped at delivery
    with session_scope(engine) as s:
        d = s.scalars(select(Dossier).where(Dossier.code == code)).one()
        assert d.notice_consent is False
        _act(s, d, 4, "supplement_received")
        _act(s, d, 5, "extend", new_due_at=RECEIVED + timedelta(days=10), note="Thư xin lỗi")
    relay.close()
    assert len(smtp.ids()) == 1
    assert _states(engine, "email") == ["delivered", "skipped"]  # and nothing queued after the opt-out
    with Session(engine) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "notice.opt_out")).one()
        assert entry.object_id == code
    engine.dispose()
