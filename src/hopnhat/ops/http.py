"""Pure ASGI middleware: a request id on every request and answer, the latency histogram, one access log line."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hopnhat.ops import health
from hopnhat.ops.logs import REQUEST_ID

access = logging.getLogger("hopnhat.access")

_ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
"""A request id the reverse proxy sent (nginx ``$request_id``) is kept, so its log and ours join; anything else is
replaced (a header is caller input: it must not smuggle text into the log)."""


class ObserveRequests:
    """Sets the request id (``X-Request-ID``), times the request and (JSON logs: the collector wants them) logs one
    line with the route's template, never the path itself: a path may carry a dossier code, and the query string a
    lookup's ID number."""

    def __init__(self, app: ASGIApp, log_access: bool = False) -> None:
        self.app = app
        self.log_access = log_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _ACCEPTED_ID.match(incoming) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = _template(scope)
            method = str(scope.get("method", ""))
            health.observe_request(method, route, status, started)
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            if self.log_access:
                access.info(
                    "%s %s %s %.1f ms",
                    method,
                    route,
                    status,
                    duration_ms,
                    extra={"method": method, "route": route, "status": status, "duration_ms": duration_ms},
                )
            REQUEST_ID.reset(token)


def _template(scope: Scope) -> str:
    """The matched route's template with the prefix of the router it was included from (``/api/v1``), rebuilt
    from the path: the route object of an included router knows only its own part."""
    route = scope.get("route")
    own = getattr(route, "path_format", None)
    if not isinstance(own, str):
        return "unmatched"
    path: str = scope.get("path", "")
    try:
        concrete = own.format(**{k: str(v) for k, v in scope.get("path_params", {}).items()})
    except (KeyError, IndexError, ValueError):
        return own
    return path[: -len(concrete)] + own if concrete and path.endswith(concrete) else own


__all__ = ["ObserveRequests"]
