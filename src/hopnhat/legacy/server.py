"""The Cần Thơ system's HTTP JSON API (``hopnhat legacy serve DIR``), served from ``DIR/cantho.db``.

Every request reads the store afresh, so ``tick`` changes are served live; ``DIR/faults.json`` is re-read on every
request so tests can make the server fail or hang (see FORMATS.md).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
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
from urllib.parse import urlencode

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

    routes = [Route("/api/hoso", hoso), Route("/api/health", health)]
    for config in sorted(out_dir.glob("*/api.json")):
        routes += described_routes(config.parent)
    return Starlette(routes=routes)


def described_routes(folder: Path) -> list[Route]:
    """The API of a system described in the catalogue (``DIR/NAME/api.db`` and ``api.json``): its pagination style
    (page, offset, cursor or link_header) and auth (api_key, or oauth2 with a client-credentials token endpoint),
    as FORMATS.md describes them."""
    name = folder.name
    api = json.loads((folder / "api.json").read_text(encoding="utf-8"))
    style, auth = str(api["pagination"]), str(api["auth"])
    secret = (folder / "client_secret").read_text(encoding="utf-8").strip()
    db_path = folder / "api.db"
    tokens: set[str] = set()

    def allowed(request: Request) -> bool:
        if auth == "api_key":
            return secrets.compare_digest(request.headers.get("x-api-key", ""), secret)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token in tokens

    async def token(request: Request) -> Response:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            client, _, given = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            client, given = "", ""
        form = await request.form()
        if scheme.lower() != "basic":
            # RFC 6749 2.3.1: the client may send its credentials in the body instead of HTTP basic.
            client, given = str(form.get("client_id") or ""), str(form.get("client_secret") or "")
        if client != f"hopnhat-{name}" or not secrets.compare_digest(given, secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        issued = secrets.token_urlsafe(24)
        tokens.add(issued)
        return JSONResponse({"access_token": issued, "token_type": "Bearer", "expires_in": 3600})

    def rows(since: str, after: tuple[str, int] | None, offset: int, size: int) -> list[tuple[str, int, bytes]]:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            if after is None:
                found = conn.execute(
                    "SELECT upd, rid, CAST(item AS BLOB) FROM items WHERE upd >= ? ORDER BY upd, rid LIMIT ? OFFSET ?",
                    (since, size, offset),
                ).fetchall()
            else:
                found = conn.execute(
                    "SELECT upd, rid, CAST(item AS BLOB) FROM items WHERE upd >= ? AND (upd, rid) > (?, ?) "
                    "ORDER BY upd, rid LIMIT ?",
                    (max(since, after[0]), *after, size),
                ).fetchall()
        finally:
            conn.close()
        return [(str(u), int(r), bytes(b)) for u, r, b in found]

    async def records(request: Request) -> Response:
        if not allowed(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        params = request.query_params
        try:
            since_text = params.get("since") or ""
            since = datetime.fromisoformat(since_text).strftime("%Y-%m-%d %H:%M:%S") if since_text else ""
            size_key = {"page": "size", "offset": "limit", "cursor": "limit", "link_header": "per_page"}[style]
            size = int(params.get(size_key) or DEFAULT_PAGE_SIZE)
            if not 1 <= size <= MAX_PAGE_SIZE:
                raise ValueError(f"{size_key} must be 1..{MAX_PAGE_SIZE}")
            offset = 0
            after: tuple[str, int] | None = None
            if style == "page":
                offset = (int(params.get("page") or 1) - 1) * size
            elif style == "offset":
                offset = int(params.get("offset") or 0)
            elif params.get("cursor") or params.get("after"):
                upd, rid = json.loads(base64.urlsafe_b64decode(str(params.get("cursor") or params.get("after"))))
                after = (str(upd), int(rid))
            if offset < 0:
                raise ValueError("offset cannot be negative")
        except (ValueError, TypeError):
            return _bad("bad since, page, offset, size or cursor")
        found = await asyncio.to_thread(rows, since, after, offset, size + 1)
        more = len(found) > size
        found = found[:size]
        items = b"[" + b", ".join(r[2] for r in found) + b"]"
        nxt: str | None = None
        if more and found:
            nxt = base64.urlsafe_b64encode(json.dumps([found[-1][0], found[-1][1]]).encode()).decode()
        headers: dict[str, str] = {}
        if style == "page":
            body = b'{"data": ' + items + b', "page": ' + str(offset // size + 1).encode() + b"}"
        elif style == "offset":
            body = b'{"result": {"items": ' + items + b', "offset": ' + str(offset).encode() + b"}}"
        elif style == "cursor":
            body = b'{"records": ' + items + b', "next_cursor": ' + json.dumps(nxt).encode() + b"}"
        else:
            body = items
            if nxt is not None:
                query = urlencode({"per_page": size, "since": since_text, "after": nxt})
                headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
        return Response(body, media_type="application/json", headers=headers)

    return [Route(f"/{name}/api/records", records), Route(f"/{name}/oauth/token", token, methods=["POST"])]


def set_base_url(out_dir: Path, base_url: str) -> None:
    """Point the simulated APIs of ``DIR/sources.toml`` (every ``base_url`` and ``token_url`` on 127.0.0.1) at a
    running server."""
    path = out_dir / "sources.toml"
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    text = re.sub(
        r'(?m)^(base_url|token_url) = "http://127\.0\.0\.1:\d+', lambda m: f'{m.group(1)} = "{base_url}', text
    )
    path.write_text(text, encoding="utf-8")


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
