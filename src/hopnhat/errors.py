"""The error tree. Every error a user can cause is a :class:`HopnhatError` carrying its HTTP status.

::

    HopnhatError (400)
    ├── InvalidCharacter (400)      a NUL or lone surrogate the store cannot hold; names the field
    ├── InvalidInput (422)          bad value typed or sent by a user; names the field/record and the reason
    ├── NotFound (404)
    ├── Conflict (409)
    │   └── InvalidTransition (409) a dossier status change the workflow does not allow
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── PayloadTooLarge (413)       a request body over the setting max_request_bytes
    ├── RateLimited (429)
    └── ServiceUnavailable (503)    a peer (legacy system, portal, database) cannot be reached

The API renders them as ``{"error": <code>, "detail": <message>}`` (:class:`ErrorOut`); the CLI prints one line and
exits 1.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field


class HopnhatError(Exception):
    """Root of every error hopnhat raises on purpose."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidCharacter(HopnhatError):
    code = "invalid_character"


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


class PayloadTooLarge(HopnhatError):
    status_code = 413
    code = "payload_too_large"


class RateLimited(HopnhatError):
    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(HopnhatError):
    status_code = 503
    code = "service_unavailable"


class ErrorOut(BaseModel):
    """How the API answers every error, whatever raised it (a rule, validation, a service, the framework)."""

    error: str = Field(description="Stable code: invalid_input, not_found, conflict, payload_too_large, ...")
    detail: str = Field(description="What went wrong, in words; names the field when one is at fault")


__all__ = [
    "Conflict",
    "ErrorOut",
    "Forbidden",
    "HopnhatError",
    "InvalidCharacter",
    "InvalidInput",
    "InvalidTransition",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthorized",
]
