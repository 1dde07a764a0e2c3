"""The error tree. Every error a user can cause is a :class:`HopnhatError` carrying its HTTP status.

::

    HopnhatError (400)
    ├── InvalidInput (422)          bad value typed or sent by a user; names the field/record and the reason
    ├── NotFound (404)
    ├── Conflict (409)
    │   └── InvalidTransition (409) a dossier status change the workflow does not allow
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── RateLimited (429)
    └── ServiceUnavailable (503)    a peer (legacy system, portal, database) cannot be reached

The API renders them as ``{"error": <code>, "detail": <message>}``; the CLI prints one line and exits 1.
"""

from __future__ import annotations

from typing import ClassVar


class HopnhatError(Exception):
    """Root of every error hopnhat raises on purpose."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(HopnhatError):
    status_code = 422
    code = "invalid_input"


class NotFound(HopnhatError):
    status_code = 404
    code = "not_found"


class Conflict(HopnhatError):
    status_code = 409
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class Unauthorized(HopnhatError):
    status_code = 401
    code = "unauthorized"


class Forbidden(HopnhatError):
    status_code = 403
    code = "forbidden"


class RateLimited(HopnhatError):
    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(HopnhatError):
    status_code = 503
    code = "service_unavailable"


__all__ = [
    "Conflict",
    "Forbidden",
    "HopnhatError",
    "InvalidInput",
    "InvalidTransition",
    "NotFound",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthorized",
]
