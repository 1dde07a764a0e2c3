"""A simulator of an SMS or Zalo (ZNS) provider's send API over real HTTP, for tests, the demo and benchmarks.

``POST /send`` takes ``{id, account, to, template, params, text}`` and answers ``{"error_code": 0, "message":
"Success"}``; it records every call and every notice it accepted. It keeps no delivery idempotency of its own: what
a repeat looks like is the test's question (``/admin/stats`` counts calls, accepted notices and distinct ids).

Faults through ``POST /admin/faults``: ``mode="error"`` answers HTTP ``status`` (default 503), ``mode="refuse"``
answers ``error_code`` -1 (a refused number), ``mode="hang"`` waits ``hang_seconds`` before answering; bounded by
``remaining`` calls when given. ``DELETE /admin/faults`` clears them. Run it as a process:
``hopnhat notices gateway-sim --port 8911`` or ``python -m hopnhat.notices.simulator 8911``.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class Faults(BaseModel):
    mode: str = "error"
    status: int = 503
    remaining: int | None = None
    hang_seconds: float = 5.0


def create_gateway_app() -> FastAPI:
    app = FastAPI(title="SMS / Zalo gateway simulator")
    lock = threading.Lock()
    received: list[dict[str, Any]] = []
    state: dict[str, Any] = {"calls": 0, "faults": None}

    def take_fault() -> Faults | None:
        with lock:
            faults: Faults | None = state["faults"]
            if faults is None:
                return None
            if faults.remaining is not None:
                if faults.remaining <= 0:
                    state["faults"] = None
                    return None
                faults.remaining -= 1
            return faults

    @app.post("/send")
    async def send(request: Request) -> JSONResponse:
        with lock:
            state["calls"] += 1
        faults = take_fault()
        if faults is not None and faults.mode == "error":
            return JSONResponse({"error_code": 99, "message": "Service unavailable"}, status_code=faults.status)
        if faults is not None and faults.mode == "hang":
            await asyncio.sleep(faults.hang_seconds)
        body = await request.json()
        if not isinstance(body, dict) or not body.get("id") or not body.get("to"):
            return JSONResponse({"error_code": -2, "message": "id and to are required"}, status_code=400)
        if faults is not None and faults.mode == "refuse":
            return JSONResponse({"error_code": -1, "message": "Số điện thoại không hợp lệ"})
        with lock:
            received.append(body)
        return JSONResponse({"error_code": 0, "message": "Success"})

    @app.post("/admin/faults")
    async def set_faults(faults: Faults) -> dict[str, Any]:
        with lock:
            state["faults"] = faults
        return {"ok": True}

    @app.delete("/admin/faults")
    async def clear_faults() -> dict[str, Any]:
        with lock:
            state["faults"] = None
        return {"ok": True}

    @app.get("/admin/received")
    async def list_received() -> list[dict[str, Any]]:
        with lock:
            return list(received)

    @app.get("/admin/stats")
    async def stats() -> dict[str, int]:
        with lock:
            return {"calls": state["calls"], "received": len(received), "distinct": len({r["id"] for r in received})}

    return app


def serve(port: int, host: str = "127.0.0.1") -> None:
    import uvicorn

    uvicorn.run(create_gateway_app(), host=host, port=port, log_level="warning", access_log=False)


@contextmanager
def running_gateway(port: int | None = None) -> Iterator[str]:
    """The simulator in a background thread of this process (a real server on 127.0.0.1); yields its URL."""
    import time

    import uvicorn

    from hopnhat.portal.simulator import free_port

    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_gateway_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="gateway-simulator", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8911)


__all__ = ["create_gateway_app", "running_gateway", "serve"]
