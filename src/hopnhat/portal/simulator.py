"""A simulator of the National Public Service Portal that speaks real HTTP on 127.0.0.1.

It does what the relay needs to be tested against: a session login (``POST /login``), the services
``DongBoHoSoMC``, ``CapNhatTienDoHoSoMC``, ``TraCuuHoSo`` and ``LayThuTuc`` (``POST /<service>``, JSON, success
``error_code`` "0"), and it records every record it accepted in its own SQLite file, so tests and reconciliation can
compare the portal's state with the local one. A repeated idempotency key is acknowledged and not applied twice.

It can be told to misbehave at runtime through ``/admin/faults`` (never through the portal services):

- ``mode="error"``: answer HTTP ``status`` (default 503);
- ``mode="timeout"``: apply the record, then hang ``hang_seconds`` so the client gives up: the answer is lost and the
  sender must retry with the same key (the hard case for exactly-once);
- ``remaining`` (requests) and/or ``seconds`` bound how long a fault lasts; ``delay_ms`` slows every request;
- ``reject_malformed`` (on by default) refuses records with empty required fields (``error_code`` "VALIDATION").

``GET /admin/accepted`` lists accepted records in arrival order; ``GET /admin/stats`` counts them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hopnhat.portal.defaults import DEFAULT_PASSWORD, DEFAULT_USERNAME
from hopnhat.portal.mapping import (
    SERVICE_DOSSIER,
    SERVICE_LOOKUP,
    SERVICE_PROCEDURES,
    SERVICE_STEP,
    missing_fields,
)

log = logging.getLogger(__name__)


SAMPLE_PROCEDURES = [
    # The only national code used here is one verified in DOMAIN.md; the list is a sample, not the catalogue.
    {"MaTTHC": "1.001193", "TenTTHC": "Đăng ký khai sinh", "MauDuLieu": "sample"},
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT UNIQUE,
    service TEXT NOT NULL,
    ma_ho_so TEXT NOT NULL,
    data TEXT NOT NULL,
    accepted_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_accepted_ma_ho_so ON accepted (ma_ho_so);
CREATE TABLE IF NOT EXISTS dossier (
    ma_ho_so TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Faults(BaseModel):
    """What the simulator is told to do wrong (see the module docstring)."""

    mode: str = "ok"
    status: int = 503
    remaining: int | None = None
    seconds: float | None = None
    hang_seconds: float = 5.0
    delay_ms: float = 0.0
    reject_malformed: bool = True


class SimulatorStore:
    """The simulator's SQLite file: accepted records (with their keys), the latest copy of each dossier."""

    def __init__(self, path: str | Path) -> None:
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def bump(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO counter (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                (name, by),
            )

    def accept(self, key: str | None, service: str, record: dict[str, Any]) -> bool:
        """Apply ``record`` unless ``key`` was seen; True when applied, False for a repeat."""
        code = str(record.get("MaHoSo", ""))
        now = time.time()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                try:
                    self._conn.execute(
                        "INSERT INTO accepted (idempotency_key, service, ma_ho_so, data, accepted_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (key, service, code, json.dumps(record, ensure_ascii=False), now),
                    )
                except sqlite3.IntegrityError:
                    self._conn.execute("ROLLBACK")
                    return False
                if service == SERVICE_DOSSIER:
                    self._conn.execute(
                        "INSERT INTO dossier (ma_ho_so, data, updated_at) VALUES (?, ?, ?) "
                        "ON CONFLICT (ma_ho_so) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                        (code, json.dumps(record, ensure_ascii=False), now),
                    )
                elif service == SERVICE_STEP and record.get("TrangThaiHoSo"):
                    row = self._conn.execute("SELECT data FROM dossier WHERE ma_ho_so = ?", (code,)).fetchone()
                    if row is not None:
                        data = json.loads(row[0])
                        data["TrangThaiHoSo"] = record["TrangThaiHoSo"]
                        self._conn.execute(
                            "UPDATE dossier SET data = ?, updated_at = ? WHERE ma_ho_so = ?",
                            (json.dumps(data, ensure_ascii=False), now, code),
                        )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return True

    def dossier(self, code: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT data FROM dossier WHERE ma_ho_so = ?", (code,)).fetchone()
            steps = self._conn.execute(
                "SELECT data FROM accepted WHERE ma_ho_so = ? AND service = ? ORDER BY id", (code, SERVICE_STEP)
            ).fetchall()
        if row is None:
            return None
        data: dict[str, Any] = json.loads(row[0])
        data["QuaTrinhXuLy"] = [json.loads(s[0]) for s in steps]
        return data

    def accepted(self, after_id: int = 0, limit: int = 10000) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, idempotency_key, service, ma_ho_so, data FROM accepted WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [
            {"id": r[0], "idempotency_key": r[1], "service": r[2], "MaHoSo": r[3], "data": json.loads(r[4])}
            for r in rows
        ]

    def stats(self) -> dict[str, int]:
        with self._lock:
            accepted = self._conn.execute("SELECT count(*) FROM accepted").fetchone()[0]
            dossiers = self._conn.execute("SELECT count(*) FROM dossier").fetchone()[0]
            counters = dict(self._conn.execute("SELECT name, value FROM counter").fetchall())
        return {"accepted": accepted, "dossiers": dossiers, **counters}


def create_simulator_app(
    db_path: str | Path, username: str = DEFAULT_USERNAME, password: str = DEFAULT_PASSWORD
) -> FastAPI:
    """The simulator as an ASGI app whose records go to the SQLite file ``db_path``."""
    store = SimulatorStore(db_path)
    app = FastAPI(title="National Public Service Portal (simulator)", docs_url=None, redoc_url=None)
    app.state.store = store
    sessions: set[str] = set()
    state: dict[str, Any] = {"faults": Faults(), "until": None}

    def active_fault() -> Faults | None:
        faults: Faults = state["faults"]
        if faults.mode == "ok":
            return None
        until = state["until"]
        if until is not None and time.monotonic() >= until:
            state["faults"] = Faults(delay_ms=faults.delay_ms, reject_malformed=faults.reject_malformed)
            return None
        if faults.remaining is not None:
            if faults.remaining <= 0:
                return None
            faults.remaining -= 1
        return faults

    async def misbehave() -> tuple[Faults | None, JSONResponse | None]:
        """Slowness and injected errors; returns the timeout fault to apply after the record, or a response."""
        faults: Faults = state["faults"]
        if faults.delay_ms > 0:
            await asyncio.sleep(faults.delay_ms / 1000)
        fault = active_fault()
        if fault is None:
            return None, None
        if fault.mode == "error":
            store.bump("injected_errors")
            return None, JSONResponse({"error_code": "SIMULATED", "message": "injected failure"}, fault.status)
        if fault.mode == "timeout":
            store.bump("injected_timeouts")
            return fault, None
        return None, None

    @app.post("/login")
    async def login(request: Request) -> JSONResponse:
        _, failure = await misbehave()
        if failure is not None:
            return failure
        body = await request.json()
        if body.get("username") != username or body.get("password") != password:
            return JSONResponse({"error_code": "AUTH", "message": "wrong username or password"}, 401)
        token = secrets.token_urlsafe(16)
        sessions.add(token)
        return JSONResponse({"error_code": "0", "session": token})

    @app.post("/{service}")
    async def service(service: str, request: Request) -> JSONResponse:
        hang, failure = await misbehave()
        if failure is not None:
            return failure
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error_code": "VALIDATION", "message": "body is not JSON"}, 400)
        if not isinstance(body, dict) or body.get("session") not in sessions:
            return JSONResponse({"error_code": "401", "message": "session expired or unknown"}, 401)
        data = body.get("data")
        if not isinstance(data, dict):
            return JSONResponse({"error_code": "VALIDATION", "message": "data must be an object"}, 400)
        if service == SERVICE_LOOKUP:
            found = store.dossier(str(data.get("MaHoSo", "")))
            if found is None:
                return JSONResponse({"error_code": "NOT_FOUND", "message": "unknown dossier code"})
            return JSONResponse({"error_code": "0", "data": found})
        if service == SERVICE_PROCEDURES:
            return JSONResponse({"error_code": "0", "data": SAMPLE_PROCEDURES})
        if service not in (SERVICE_DOSSIER, SERVICE_STEP):
            return JSONResponse({"error_code": "UNKNOWN_SERVICE", "message": f"no service {service}"}, 404)
        faults: Faults = state["faults"]
        missing = missing_fields(service, data)
        if missing and faults.reject_malformed:
            store.bump("rejected")
            message = f"required fields empty: {', '.join(missing)}"
            return JSONResponse({"error_code": "VALIDATION", "message": message})
        key = request.headers.get("Idempotency-Key") or body.get("IdempotencyKey")
        applied = store.accept(str(key) if key else None, service, data)
        if not applied:
            store.bump("duplicates")
        if hang is not None:
            await asyncio.sleep(hang.hang_seconds)  # the record is in; the answer gets lost
        return JSONResponse({"error_code": "0", "message": "ok" if applied else "duplicate", "duplicate": not applied})

    admin = FastAPI()

    @admin.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return dict(state["faults"].model_dump())

    @admin.post("/faults")
    async def set_faults(faults: Faults) -> dict[str, Any]:
        state["faults"] = faults
        state["until"] = time.monotonic() + faults.seconds if faults.seconds is not None else None
        return dict(faults.model_dump())

    @admin.delete("/faults")
    async def clear_faults() -> dict[str, Any]:
        state["faults"] = Faults()
        state["until"] = None
        return dict(state["faults"].model_dump())

    @admin.post("/expire-sessions")
    async def expire_sessions() -> dict[str, int]:
        count = len(sessions)
        sessions.clear()
        return {"expired": count}

    @admin.get("/accepted")
    async def accepted(after_id: int = 0, limit: int = 10000) -> list[dict[str, Any]]:
        return store.accepted(after_id, limit)

    @admin.get("/stats")
    async def stats() -> dict[str, int]:
        return store.stats()

    # Mounted before the catch-all service route would see /admin/...: Starlette matches routes in order.
    app.router.routes.insert(0, _mount("/admin", admin))
    return app


def _mount(path: str, sub: FastAPI) -> Any:
    from starlette.routing import Mount

    return Mount(path, app=sub)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(port: int, db_path: str | Path, host: str = "127.0.0.1") -> None:
    """Run the simulator in the foreground (``hopnhat portal simulate``)."""
    import uvicorn

    uvicorn.run(create_simulator_app(db_path), host=host, port=port, log_level="warning", access_log=False)


@contextmanager
def running_simulator(db_path: str | Path, port: int | None = None) -> Iterator[str]:
    """Run the simulator in a background thread on 127.0.0.1 (a real server); yields its base URL."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(
        create_simulator_app(db_path), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="portal-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the portal simulator did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "Faults",
    "SimulatorStore",
    "create_simulator_app",
    "free_port",
    "running_simulator",
    "serve",
]
