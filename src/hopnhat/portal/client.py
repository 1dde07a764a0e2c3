"""HTTP client of the National Public Service Portal.

The portal takes a session login, then one POST of JSON per service (``DongBoHoSoMC``, ``CapNhatTienDoHoSoMC``,
``TraCuuHoSo``, ``LayThuTuc``); ``error_code == "0"`` means success. Every write carries the outbox event's
idempotency key, as the ``Idempotency-Key`` header and as ``IdempotencyKey`` in the body, so a record delivered twice
(a lost answer, a relay restart) is acknowledged by the portal without being applied twice.

Errors say whether to retry::

    PortalError
    ├── PortalUnavailable   transient: 5xx, 429, timeout, connection refused -> retry later with backoff
    └── PortalRejected      terminal: the portal refused the record (bad field, unknown procedure) -> dead letter

One :class:`PortalClient` holds one pooled ``httpx.Client`` and is safe to share between threads.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from hopnhat.errors import HopnhatError
from hopnhat.portal.mapping import SERVICE_LOOKUP, SERVICE_PROCEDURES


class PortalError(HopnhatError):
    """The portal did not take a request; ``retry`` says whether sending it again later may succeed."""

    status_code = 502
    code = "portal_error"
    retry = True


class PortalUnavailable(PortalError):
    status_code = 503
    code = "portal_unavailable"
    retry = True


class PortalRejected(PortalError):
    status_code = 422
    code = "portal_rejected"
    retry = False


_SESSION_EXPIRED = {"401", "SESSION_EXPIRED"}


class PortalClient:
    """A logged-in session on the portal at ``base_url`` (logs in lazily, and again when the session expires)."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 10.0,
        max_connections: int = 32,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )
        self._session: str | None = None
        self._lock = threading.Lock()
        self._timeout = timeout
        self._login_failed_at: float | None = None
        self._login_error = ""

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PortalClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            response = self._http.post(path, json=body, headers=headers)
        except httpx.TimeoutException:
            raise PortalUnavailable(f"portal {path}: no answer within the timeout") from None
        except httpx.TransportError as exc:
            raise PortalUnavailable(f"portal {path}: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise PortalUnavailable(f"portal {path}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise PortalUnavailable(f"portal {path}: HTTP {response.status_code} without JSON") from None
        if not isinstance(data, dict):
            raise PortalUnavailable(f"portal {path}: unexpected answer")
        if response.status_code == 401:
            data.setdefault("error_code", "401")
        return data

    def login(self) -> str:
        """Open a session; raises PortalRejected on wrong credentials."""
        data = self._post("/login", {"username": self._username, "password": self._password})
        if str(data.get("error_code")) != "0" or not data.get("session"):
            raise PortalRejected(f"portal login refused: {data.get('message', 'no reason given')}")
        session = str(data["session"])
        self._session = session
        return session

    def _current_session(self) -> str:
        with self._lock:
            if self._session is not None:
                return self._session
            # Threads queued behind a login that just failed fail fast instead of each waiting out a timeout.
            if self._login_failed_at is not None and time.monotonic() - self._login_failed_at < self._timeout:
                raise PortalUnavailable(f"{self._login_error} (a moment ago; not retrying yet)")
            try:
                session = self.login()
            except PortalUnavailable as exc:
                self._login_failed_at = time.monotonic()
                self._login_error = exc.detail
                raise
            self._login_failed_at = None
            return session

    def call(self, service: str, data: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """POST ``data`` to ``service``; returns the portal's answer when ``error_code`` is "0"."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        for attempt in range(2):
            session = self._current_session()
            body: dict[str, Any] = {"session": session, "data": data}
            if idempotency_key:
                body["IdempotencyKey"] = idempotency_key
            answer = self._post(f"/{service}", body, headers)
            code = str(answer.get("error_code"))
            if code == "0":
                return answer
            if code in _SESSION_EXPIRED and attempt == 0:
                with self._lock:
                    if self._session == session:
                        self._session = None  # another thread may have logged in again already
                continue
            raise PortalRejected(f"portal {service}: error_code {code}: {answer.get('message', 'no reason given')}")
        raise PortalUnavailable(f"portal {service}: session refused after a fresh login")

    def lookup(self, dossier_code: str) -> dict[str, Any]:
        """``TraCuuHoSo``: the portal's copy of a dossier."""
        answer = self.call(SERVICE_LOOKUP, {"MaHoSo": dossier_code})
        result = answer.get("data")
        return result if isinstance(result, dict) else {}

    def procedures(self) -> list[dict[str, Any]]:
        """``LayThuTuc``: the procedures the portal knows."""
        answer = self.call(SERVICE_PROCEDURES, {})
        result = answer.get("data")
        return list(result) if isinstance(result, list) else []


__all__ = ["PortalClient", "PortalError", "PortalRejected", "PortalUnavailable"]
