"""A simulator of the National Public Service Portal that speaks real HTTP on 127.0.0.1, the way the real one is
spoken to (DOMAIN.md, "National Public Service Portal sync").

Both styles at once: ``POST /`` with the operation in a ``service`` field (``DongBoHoSoMC`` with ``isUpdating``,
``CapNhatTienDoHoSoMC``, ``TraCuuHoSo``, ``LayThuTuc``), or the three URLs ``/hoso/them`` (create),
``/hoso/capnhat`` (update), ``/hoso/tiendo`` (steps), plus ``/hoso/tracuu`` (lookup). ``POST /login`` opens a
session; every call needs the ``dstcode`` header and ``session`` and ``madonvi`` in the body; ``data`` is a list.

It answers like the real one:
- success is ``error_code`` 0 (or the string "00" when told to, as one gateway does: ``/admin/config``);
- a create of a dossier it holds is refused ``-3`` "Hồ sơ ... đã tồn tại"; an update or a step of a dossier it
  does not hold is refused ``-1`` "... không tồn tại"; a record with an empty required field, a free-text field
  over its limit or a ``MaHoSo`` it cannot take is refused ``-1`` naming the record: the whole call is refused
  (nothing of it applied), so the sender must find the bad record;
- a session expires after ``session_seconds`` (or at ``/admin/expire-sessions``): "Phiên làm việc đã hết hạn".

There is no idempotency key: it deduplicates the way the portal is assumed to, a dossier by ``MaHoSo`` (an update
that changes nothing is not applied) and a step by ``MaHoSo``, ``ThoiDiemXuLy`` and ``TrangThai`` (a repeat is
acknowledged, not applied). ``GET /admin/applied`` lists what it APPLIED in arrival order, ``/admin/calls`` the calls
it answered, ``/admin/stats`` the counts; tests count what the portal applied, not what was sent.

Faults through ``/admin/faults`` (never through the portal services): ``mode="error"`` answers HTTP ``status``;
``mode="timeout"`` applies the call then hangs ``hang_seconds`` (the answer is lost: the sender re-sends); bounded
by ``remaining`` calls and/or ``seconds``; ``delay_ms`` slows every call.
"""

from __future__ import annotations

import asyncio
import hashlib
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
    DOSSIER_CODE_PATTERN,
    SERVICE_DOSSIER,
    SERVICE_LOOKUP,
    SERVICE_PROCEDURES,
    SERVICE_STEP,
    TEXT_LIMITS,
    missing_fields,
)

log = logging.getLogger(__name__)


SAMPLE_PROCEDURES = [
    # The only national code used here is one verified in DOMAIN.md; the list is a sample, not the catalogue.
    {"MaTTHC": "1.001193", "TenTTHC": "Đăng ký khai sinh", "MauDuLieu": "sample"},
]

MAX_RECORDS_PER_CALL = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS applied (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,
    ma_ho_so TEXT NOT NULL,
    step_key TEXT UNIQUE,
    data TEXT NOT NULL,
    applied_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_applied_ma_ho_so ON applied (ma_ho_so);
CREATE TABLE IF NOT EXISTS dossier (
    ma_ho_so TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS call (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    service TEXT NOT NULL,
    updating INTEGER NOT NULL,
    records INTEGER NOT NULL,
    codes TEXT NOT NULL,
    error_code TEXT NOT NULL
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


class Behaviour(BaseModel):
    """How this portal answers (the differences between real gateways)."""

    success_code: str = "0"
    """``"0"`` answers the number 0; ``"00"`` the string "00", as one gateway does."""
    session_seconds: float = 3600.0
    reject_malformed: bool = True


class Refused(Exception):
    """A call the portal refuses as a whole: ``error_code`` and the message naming the record."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _step_key(record: dict[str, Any]) -> str:
    return f"{record.get('MaHoSo')}|{record.get('ThoiDiemXuLy')}|{record.get('TrangThai')}"


def _digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def check_record(service: str, record: Any) -> None:
    """Refuse a record the portal would not take (raises :class:`Refused` naming it)."""
    if not isinstance(record, dict):
        raise Refused(-1, "mỗi bản ghi phải là một đối tượng JSON")
    code = str(record.get("MaHoSo") or "")
    missing = missing_fields(service, record)
    if missing:
        raise Refused(-1, f"Hồ sơ {code[:60]}: thiếu trường bắt buộc {', '.join(missing)}")
    if not DOSSIER_CODE_PATTERN.fullmatch(code):
        raise Refused(-1, f"MaHoSo {code[:60]!r} không hợp lệ")
    for name, limit in TEXT_LIMITS.items():
        value = record.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise Refused(-1, f"Hồ sơ {code}: {name} vượt quá {limit} ký tự")


class SimulatorStore:
    """The simulator's SQLite file: what it applied, the latest copy of each dossier, the calls it answered."""

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
            self._bump(name, by)

    def _bump(self, name: str, by: int = 1) -> None:
        self._conn.execute(
            "INSERT INTO counter (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )

    def log_call(self, path: str, service: str, updating: bool, records: list[Any], error_code: str) -> None:
        codes = [str(r.get("MaHoSo", "")) if isinstance(r, dict) else "" for r in records]
        with self._lock:
            self._conn.execute(
                "INSERT INTO call (path, service, updating, records, codes, error_code) VALUES (?, ?, ?, ?, ?, ?)",
                (path, service, int(updating), len(records), json.dumps(codes), error_code),
            )

    def apply(self, service: str, updating: bool, records: list[dict[str, Any]]) -> tuple[int, int]:
        """Apply a whole call, or nothing of it (raises :class:`Refused`); returns (applied, repeats absorbed)."""
        now = time.time()
        applied = repeats = 0
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for record in records:
                    code = str(record.get("MaHoSo", ""))
                    data = json.dumps(record, ensure_ascii=False)
                    if service == SERVICE_DOSSIER:
                        row = self._conn.execute("SELECT digest FROM dossier WHERE ma_ho_so = ?", (code,)).fetchone()
                        digest = _digest(record)
                        if not updating and row is not None:
                            raise Refused(-3, f"Hồ sơ {code} đã tồn tại trên Cổng")
                        if updating and row is None:
                            raise Refused(-1, f"Hồ sơ {code} không tồn tại trên Cổng")
                        if row is not None and row[0] == digest:
                            repeats += 1  # the same dossier again: nothing to apply
                            continue
                        self._conn.execute(
                            "INSERT INTO dossier (ma_ho_so, data, digest, updated_at) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT (ma_ho_so) DO UPDATE SET data = excluded.data, digest = excluded.digest, "
                            "updated_at = excluded.updated_at",
                            (code, data, digest, now),
                        )
                    else:
                        row = self._conn.execute("SELECT data FROM dossier WHERE ma_ho_so = ?", (code,)).fetchone()
                        if row is None:
                            raise Refused(-1, f"Hồ sơ {code} không tồn tại trên Cổng")
                        seen = self._conn.execute(
                            "SELECT 1 FROM applied WHERE step_key = ?", (_step_key(record),)
                        ).fetchone()
                        if seen is not None:
                            repeats += 1
                            continue
                        if record.get("TrangThaiHoSo"):
                            current = json.loads(row[0])
                            current["TrangThaiHoSo"] = record["TrangThaiHoSo"]
                            self._conn.execute(
                                "UPDATE dossier SET data = ?, updated_at = ? WHERE ma_ho_so = ?",
                                (json.dumps(current, ensure_ascii=False), now, code),
                            )
                    self._conn.execute(
                        "INSERT INTO applied (service, ma_ho_so, step_key, data, applied_at) VALUES (?, ?, ?, ?, ?)",
                        (service, code, _step_key(record) if service == SERVICE_STEP else None, data, now),
                    )
                    applied += 1
                if repeats:
                    self._bump("duplicates", repeats)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return applied, repeats

    def dossier(self, code: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT data FROM dossier WHERE ma_ho_so = ?", (code,)).fetchone()
            steps = self._conn.execute(
                "SELECT data FROM applied WHERE ma_ho_so = ? AND service = ? ORDER BY id", (code, SERVICE_STEP)
            ).fetchall()
        if row is None:
            return None
        data: dict[str, Any] = json.loads(row[0])
        data["QuaTrinhXuLy"] = [json.loads(s[0]) for s in steps]
        return data

    def applied(self, after_id: int = 0, limit: int = 10000) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, service, ma_ho_so, data FROM applied WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [{"id": r[0], "service": r[1], "MaHoSo": r[2], "data": json.loads(r[3])} for r in rows]

    def calls(self, limit: int = 10000) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT path, service, updating, records, codes, error_code FROM call ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [
            {"path": r[0], "service": r[1], "updating": bool(r[2]), "records": r[3], "codes": json.loads(r[4]),
             "error_code": r[5]}
            for r in rows
        ]  # fmt: skip

    def stats(self) -> dict[str, int]:
        with self._lock:
            applied = self._conn.execute("SELECT count(*) FROM applied").fetchone()[0]
            dossiers = self._conn.execute("SELECT count(*) FROM dossier").fetchone()[0]
            calls = self._conn.execute("SELECT count(*) FROM call").fetchone()[0]
            counters = dict(self._conn.execute("SELECT name, value FROM counter").fetchall())
        return {"applied": applied, "dossiers": dossiers, "calls": calls, **counters}


_URL_ROUTES = {
    "/hoso/them": (SERVICE_DOSSIER, False),
    "/hoso/capnhat": (SERVICE_DOSSIER, True),
    "/hoso/tiendo": (SERVICE_STEP, False),
    "/hoso/tracuu": (SERVICE_LOOKUP, False),
}


def create_simulator_app(
    db_path: str | Path, username: str = DEFAULT_USERNAME, password: str = DEFAULT_PASSWORD
) -> FastAPI:
    """The simulator as an ASGI app whose records go to the SQLite file ``db_path``."""
    store = SimulatorStore(db_path)
    app = FastAPI(title="National Public Service Portal (simulator)", docs_url=None, redoc_url=None)
    app.state.store = store
    sessions: dict[str, float] = {}
    state: dict[str, Any] = {"faults": Faults(), "until": None, "behaviour": Behaviour()}

    def answer(code: int, message: str, **extra: Any) -> JSONResponse:
        behaviour: Behaviour = state["behaviour"]
        error_code: int | str = code
        if code == 0 and behaviour.success_code != "0":
            error_code = behaviour.success_code
        return JSONResponse({"error_code": error_code, "message": message, **extra})

    def active_fault() -> Faults | None:
        faults: Faults = state["faults"]
        if faults.mode == "ok":
            return None
        until = state["until"]
        if until is not None and time.monotonic() >= until:
            state["faults"] = Faults(delay_ms=faults.delay_ms)
            return None
        if faults.remaining is not None:
            if faults.remaining <= 0:
                return None
            faults.remaining -= 1
        return faults

    async def misbehave() -> tuple[Faults | None, JSONResponse | None]:
        """Slowness and injected errors; returns the timeout fault to apply after the call, or a response."""
        faults: Faults = state["faults"]
        if faults.delay_ms > 0:
            await asyncio.sleep(faults.delay_ms / 1000)
        fault = active_fault()
        if fault is None:
            return None, None
        if fault.mode == "error":
            store.bump("injected_errors")
            return None, JSONResponse({"error_code": -1, "message": "injected failure"}, fault.status)
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
        if not isinstance(body, dict) or body.get("username") != username or body.get("password") != password:
            return JSONResponse({"error_code": -1, "message": "Sai tên đăng nhập hoặc mật khẩu"}, 401)
        token = secrets.token_urlsafe(16)
        sessions[token] = time.monotonic()
        return answer(0, "Đăng nhập thành công", session=token)

    async def handle(request: Request, path: str, route: tuple[str, bool] | None) -> JSONResponse:
        hang, failure = await misbehave()
        if failure is not None:
            return failure
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error_code": -1, "message": "body is not JSON"}, 400)
        if not isinstance(body, dict):
            return JSONResponse({"error_code": -1, "message": "body must be an object"}, 400)
        if not request.headers.get("dstcode"):
            return answer(-1, "Thiếu dstcode")
        opened = sessions.get(str(body.get("session")))
        behaviour: Behaviour = state["behaviour"]
        if opened is None or time.monotonic() - opened > behaviour.session_seconds:
            return JSONResponse({"error_code": -1, "message": "Phiên làm việc đã hết hạn (session)"}, 401)
        if not body.get("madonvi"):
            return answer(-1, "Thiếu madonvi")
        if route is None:
            service = str(body.get("service") or "")
            updating = str(body.get("isUpdating", "False")).lower() == "true"
        else:
            service, updating = route
        data = body.get("data")
        if service == SERVICE_LOOKUP:
            query = data[0] if isinstance(data, list) and data else data
            code = str(query.get("MaHoSo", "")) if isinstance(query, dict) else ""
            store.bump("lookups")
            store.log_call(path, service, False, [{"MaHoSo": code}], "0")
            found = store.dossier(code)
            return answer(0, "Thành công", data=[found] if found else [])
        if service == SERVICE_PROCEDURES:
            return answer(0, "Thành công", data=SAMPLE_PROCEDURES)
        if service not in (SERVICE_DOSSIER, SERVICE_STEP):
            return answer(-1, f"Không có dịch vụ {service[:60]}")
        records = data if isinstance(data, list) else [data]
        if not records or len(records) > MAX_RECORDS_PER_CALL:
            return answer(-1, f"data phải là danh sách 1-{MAX_RECORDS_PER_CALL} bản ghi")
        try:
            if behaviour.reject_malformed:
                for record in records:
                    check_record(service, record)
            store.apply(service, updating, [r for r in records if isinstance(r, dict)])
        except Refused as refused:
            store.bump("refused")
            store.log_call(path, service, updating, records, str(refused.code))
            return answer(refused.code, refused.message)
        store.log_call(path, service, updating, records, "0")
        if hang is not None:
            await asyncio.sleep(hang.hang_seconds)  # the call is in; the answer gets lost
        return answer(0, "Thành công")

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

    @admin.post("/config")
    async def set_config(behaviour: Behaviour) -> dict[str, Any]:
        state["behaviour"] = behaviour
        return dict(behaviour.model_dump())

    @admin.post("/expire-sessions")
    async def expire_sessions() -> dict[str, int]:
        count = len(sessions)
        sessions.clear()
        return {"expired": count}

    @admin.get("/applied")
    async def applied(after_id: int = 0, limit: int = 10000) -> list[dict[str, Any]]:
        return store.applied(after_id, limit)

    @admin.get("/calls")
    async def calls(limit: int = 10000) -> list[dict[str, Any]]:
        return store.calls(limit)

    @admin.get("/stats")
    async def stats() -> dict[str, int]:
        return store.stats()

    async def service_style(request: Request) -> JSONResponse:
        return await handle(request, "/", None)

    app.add_api_route("/", service_style, methods=["POST"])

    def url_style(url: str, route: tuple[str, bool]) -> Any:
        async def endpoint(request: Request) -> JSONResponse:
            return await handle(request, url, route)

        return endpoint

    for url, route in _URL_ROUTES.items():
        app.add_api_route(url, url_style(url, route), methods=["POST"])
    app.mount("/admin", admin)
    return app


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
    "Behaviour",
    "Faults",
    "Refused",
    "SimulatorStore",
    "check_record",
    "create_simulator_app",
    "free_port",
    "running_simulator",
    "serve",
]
