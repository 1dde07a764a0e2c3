"""What a request may carry before any of it reaches a rule: a bounded body, and text the store can hold.

- :class:`BodyLimit` (pure ASGI, every path, pages' forms too): a ``Content-Length`` above the setting
  ``max_request_bytes`` is answered 413 before the app runs; a body without one (chunked) is counted as it streams,
  and the read that crosses the limit raises :class:`BodyTooLarge`, rendered 413 by the app's handler. Nothing is
  buffered here: whoever reads the body holds at most the limit.
- :func:`refuse_unstorable` (a dependency of every route): NUL, which PostgreSQL ``text`` refuses (SQLite keeps it
  and would hand it on to the portal and the pages), and lone surrogates, which no UTF-8 store can encode, are
  answered 400 ``invalid_character`` naming the field, in a path or query parameter, a JSON string or key, or a form
  field. It is a dependency rather than a Pydantic validator because one check then covers every model, ``Query``
  and ``Form`` parameter of every part, including the pages, and it reads what FastAPI already parsed (the request
  caches its body, JSON and form): nothing is parsed twice, and a request without such a character costs a regex
  over its parameters and a substring test over its body.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Path, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hopnhat.bounds import INT_MAX
from hopnhat.errors import InvalidCharacter, PayloadTooLarge

RowId = Annotated[int, Path(ge=1, le=INT_MAX, description="Id of a stored row")]
"""A path parameter naming a row by its id: a larger one is a 422, not an overflow in the driver."""

REFUSED = re.compile("[\x00\ud800-\udfff]")
"""NUL and the UTF-16 surrogates (valid only in pairs, which Python has already joined)."""


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes (setting max_request_bytes)"


class BodyTooLarge(HTTPException):
    """Raised by the counting ``receive`` when a streamed body crosses the limit. An ``HTTPException`` because FastAPI
    turns any other error met while reading a body into 400 "error parsing the body"."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=PayloadTooLarge.status_code, detail=_too_large(limit))


class BodyLimit:
    """Pure ASGI (no task per request, like :class:`hopnhat.app.SecurityHeaders`): refuses a body over ``limit``."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            # Answered before the app runs: no rule, no store, and the body is never read.
            response = JSONResponse(
                {"error": PayloadTooLarge.code, "detail": _too_large(self.limit)},
                status_code=PayloadTooLarge.status_code,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            if received > self.limit:  # a reader that caught the first refusal still gets nothing more
                raise BodyTooLarge(self.limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def refuse_unstorable(request: Request) -> None:
    """Raise :class:`InvalidCharacter` naming the first path, query, JSON or form field that holds a character the
    store refuses. Async so that it costs no thread-pool hop (the public lookup runs on the event loop)."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and REFUSED.search(value):
            raise _refused(f"path.{name}", value)
    for name, value in request.query_params.multi_items():
        if REFUSED.search(name) or REFUSED.search(value):
            raise _refused(f"query.{name}", value)
    route = request.scope.get("route")
    if getattr(route, "body_field", None) is None:
        return  # a route without a body never reads one
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # parsed once: FastAPI has read it and the request keeps it
        for name, item in form.multi_items():
            if isinstance(item, UploadFile):
                continue  # a file's bytes are the file's business
            if REFUSED.search(name) or REFUSED.search(item):
                raise _refused(f"body.{name}", item)
        return
    body = await request.body()
    # In valid JSON both can only arrive escaped (\u0000, \ud800): a body without "\u" holds neither.
    if b"\\u" not in body:
        return
    try:
        parsed = await request.json()
    except ValueError:
        return  # not JSON: validation answers it
    found = _find(parsed, ("body",))
    if found is not None:
        raise _refused(".".join(found[0]), found[1])


def _find(value: Any, where: tuple[str, ...]) -> tuple[tuple[str, ...], str] | None:
    """The location and value of the first refused string in a parsed JSON document, depth first."""
    if isinstance(value, str):
        return (where, value) if REFUSED.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if REFUSED.search(key):
                return (*where, REFUSED.sub("?", key)), key
            found = _find(item, (*where, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find(item, (*where, str(index)))
            if found is not None:
                return found
    return None


def _refused(field: str, value: str) -> InvalidCharacter:
    what = "a NUL character" if "\x00" in value else "a lone UTF-16 surrogate"
    # The field's name is the caller's own; the value is never echoed (it may be personal data).
    return InvalidCharacter(f"{REFUSED.sub('?', field)}: contains {what}, which the store cannot hold")


__all__ = ["REFUSED", "BodyLimit", "BodyTooLarge", "RowId", "refuse_unstorable"]
