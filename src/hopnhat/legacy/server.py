"""The Cần Thơ system's HTTP JSON API (``hopnhat legacy serve DIR``), served from ``DIR/cantho.db``.

Every request reads the store afresh, so ``tick`` changes are served live; ``DIR/faults.json`` is re-read on every
request so tests can make the server fail or hang (see FORMATS.md).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


def _bad(detail: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_input", "detail": detail}, status_code=400)


def _since(value: str | None) -> str:
    """``yyyyMMddHHmmss`` validated; empty means from the beginning."""
    if not value:
        return ""
    try:
        datetime.strptime(value, "%Y%m%d%H%M%S")
    except ValueError:
        raise ValueError(f"updated_since {value[:20]!r} is not yyyyMMddHHmmss") from None
    return value


def _token(position: tuple[str, str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def _position(token: str) -> tuple[str, str, int]:
    try:
        upd, ma, rid = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(upd), str(ma), int(rid)
    except Exception:
        raise ValueError("page_token is not a token this server gave") from None


class FaultSwitch:
    """Reads and decrements ``DIR/faults.json`` under a lock (one server process owns the file while it runs)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def take(self) -> tuple[str, Any]:
        """("down" | "fail" | "hang" | "ok", detail) for this request."""
        with self.lock:
            try:
                faults = json.loads(self.path.read_text(encoding="utf-8"))
            except (FileNotFoundError, ValueError):
                return "ok", None
            if not isinstance(faults, dict):
                return "ok", None
            if faults.get("down"):
                return "down", None
            for key, kind in (("fail_next", "fail"), ("hang_next", "hang")):
                left = int(faults.get(key) or 0)
                if left > 0:
                    faults[key] = left - 1
                    self.path.write_text(json.dumps(faults), encoding="utf-8")
                    detail = (
                        int(faults.get("fail_status", 500)) if kind == "fail" else float(faults.get("hang_seconds", 30))
                    )
                    return kind, detail
            return "ok", None


def create_app(out_dir: Path) -> Starlette:
    """The ASGI app of the Cần Thơ API over the store in ``out_dir``."""
    db_path = out_dir / "cantho.db"
    switch = FaultSwitch(out_dir / "faults.json")

    def query(
        since: str, after: tuple[str, str, int] | None, size: int
    ) -> tuple[list[bytes], tuple[str, str, int] | None]:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            if after is None:
                rows = conn.execute(
                    "SELECT upd, ma, rid, CAST(item AS BLOB) FROM hoso WHERE upd >= ? ORDER BY upd, ma, rid LIMIT ?",
                    (since, size + 1),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT upd, ma, rid, CAST(item AS BLOB) FROM hoso WHERE upd >= ? AND (upd, ma, rid) > (?, ?, ?) "
                    "ORDER BY upd, ma, rid LIMIT ?",
                    # The plain lower bound lets SQLite seek: the row value alone makes it scan from ``since``.
                    (max(since, after[0]), *after, size + 1),
                ).fetchall()
        finally:
            conn.close()
        more = len(rows) > size
        rows = rows[:size]
        last = (rows[-1][0], rows[-1][1], rows[-1][2]) if more else None
        return [r[3] for r in rows], last

    async def hoso(request: Request) -> Response:
        kind, detail = switch.take()
        if kind == "down":
            return JSONResponse({"error": "unavailable", "detail": "system under maintenance"}, status_code=503)
        if kind == "fail":
            return JSONResponse({"error": "internal", "detail": "internal server error"}, status_code=int(detail))
        if kind == "hang":
            await asyncio.sleep(float(detail))
        params = request.query_params
        try:
            since = _since(params.get("updated_since"))
            size = int(params.get("page_size") or DEFAULT_PAGE_SIZE)
            if not 1 <= size <= MAX_PAGE_SIZE:
                raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
            token = params.get("page_token")
            after = _position(token) if token else None
        except ValueError as exc:
            return _bad(str(exc))
        items, last = await asyncio.to_thread(query, since, after, size)
        next_token = json.dumps(_token(last)) if last else "null"
        # The items as stored, UTF-8 bytes (CAST AS BLOB): decoding a megabyte of Vietnamese text into str only to
        # encode it back was most of a page's cost, on the same two cores as the sync reading it.
        body = b'{"items": [' + b", ".join(items) + b'], "next_page_token": ' + next_token.encode() + b"}"
        return Response(body, media_type="application/json")

    async def health(request: Request) -> Response:
        try:
            clock = json.loads((out_dir / "clock.json").read_text(encoding="utf-8"))
            now = datetime.fromisoformat(clock["now"]).strftime("%Y%m%d%H%M%S")
        except (FileNotFoundError, ValueError, KeyError):
            now = None
        return JSONResponse({"status": "ok", "now": now})

    return Starlette(routes=[Route("/api/hoso", hoso), Route("/api/health", health)])


def set_base_url(out_dir: Path, base_url: str) -> None:
    """Point ``[sources.cantho].base_url`` of ``DIR/sources.toml`` at a running server."""
    path = out_dir / "sources.toml"
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    head, sep, rest = text.partition("[sources.cantho]")
    if not sep:
        return
    rest = re.sub(r'(?m)^base_url = ".*"$', f'base_url = "{base_url}"', rest, count=1)
    path.write_text(head + sep + rest, encoding="utf-8")


@dataclass
class RunningServer:
    base_url: str
    port: int


@contextmanager
def serve_in_thread(out_dir: Path, port: int = 0, *, update_config: bool = True) -> Iterator[RunningServer]:
    """Run the Cần Thơ API on 127.0.0.1 in a background thread (port 0 = a free port) for the block's duration.

    With ``update_config`` the ``base_url`` in ``DIR/sources.toml`` is pointed at it, so a sync of that file finds it.
    """
    if not (out_dir / "cantho.db").exists():
        from hopnhat.errors import InvalidInput

        raise InvalidInput(f"{out_dir}: no cantho.db (run `hopnhat legacy generate --out DIR` first)")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    actual = sock.getsockname()[1]
    config = uvicorn.Config(create_app(out_dir), log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    running = RunningServer(f"http://127.0.0.1:{actual}", actual)
    if update_config:
        set_base_url(out_dir, running.base_url)
    try:
        yield running
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
