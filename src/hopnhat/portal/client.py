"""HTTP client of the National Public Service Portal, speaking the protocol as real provincial systems do.

No official specification is public; DOMAIN.md ("National Public Service Portal sync") reads the de facto protocol
from three public codebases, and every name it uses is configurable here (:class:`Protocol`):

- a session login ``{username, password}`` answered ``{error_code: 0, session}``; every later call carries the
  header ``dstcode`` and, in its body, ``session`` and ``madonvi``; a new session when the portal says it expired;
- two styles: ``service`` (OpenCPS: one URL, the operation in a ``service`` field of the body, ``isUpdating``
  "True"/"False") or ``urls`` (the newer system: one URL each for create, update, steps and lookup);
- ``data`` is a **list**: one call carries several dossiers (``DongBoHoSoMC``) or several steps
  (``CapNhatTienDoHoSoMC``);
- answers ``{error_code, message}``: 0, "0" or "00" is success; a create answered 3 or -3 with "đã tồn tại" means
  the portal holds the dossier already (:class:`PortalExists`: send it again as an update).

There is no idempotency key in the real protocol: delivery is at least once, and the portal is assumed to
deduplicate a dossier by ``MaHoSo`` and a step by ``MaHoSo``, time and status.

Errors say whether to retry::

    PortalError
    ├── PortalUnavailable   transient: 5xx, 429, timeout, connection refused -> retry later with backoff
    └── PortalRejected      terminal: the portal refused the call (bad field, unknown dossier) -> bisect / dead letter
        └── PortalExists    a create of a dossier the portal holds -> send it as an update

One :class:`PortalClient` holds one pooled ``httpx.Client`` and is safe to share between threads.
"""

from __future__ import annotations

import threading
import time
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from hopnhat.errors import HopnhatError
from hopnhat.portal.mapping import SERVICE_DOSSIER, SERVICE_LOOKUP, SERVICE_PROCEDURES, SERVICE_STEP


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


class PortalExists(PortalRejected):
    """A create the portal answered "đã tồn tại" (3 or -3): it holds the dossier already."""

    code = "portal_exists"


Style = Literal["service", "urls"]

SUCCESS_CODES = frozenset({"0", "00"})
EXISTS_CODES = frozenset({"3", "-3"})
EXISTS_TEXT = "đã tồn tại"
LOGIN_RETRY_SECONDS = 2.0
"""After a failed login, calls fail fast this long instead of each trying (and waiting out) a login of its own."""
_SESSION_CODES = frozenset({"401", "SESSION_EXPIRED"})
_SESSION_TEXTS = ("phiên", "session")


@dataclass(frozen=True)
class Protocol:
    """How this portal (or the gateway in front of it) wants to be spoken to; every name configurable."""

    style: Style = "service"
    login_path: str = "/login"
    service_path: str = "/"
    """``service`` style: the one URL every operation is posted to."""
    create_path: str = "/hoso/them"
    update_path: str = "/hoso/capnhat"
    steps_path: str = "/hoso/tiendo"
    lookup_path: str = "/hoso/tracuu"
    dstcode: str = "DVCQG"
    """Header ``dstcode``: the gateway's code of the destination (the national portal)."""
    madonvi: str = "hopnhat"
    """Body ``madonvi``: the sending agency's identification code (set it to the province's)."""


def _nfc(text: Any) -> str:
    return unicodedata.normalize("NFC", str(text or "")).lower()


def is_success(answer: dict[str, Any]) -> bool:
    return str(answer.get("error_code")).strip() in SUCCESS_CODES


class PortalClient:
    """A logged-in session on the portal at ``base_url`` (logs in lazily, and again when the session expires)."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        protocol: Protocol | None = None,
        timeout: float = 10.0,
        max_connections: int = 32,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.protocol = protocol or Protocol()
        self._username = username
        self._password = password
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
            headers={"dstcode": self.protocol.dstcode},
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

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(path, json=body)
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
        data = self._post(self.protocol.login_path, {"username": self._username, "password": self._password})
        if not is_success(data) or not data.get("session"):
            raise PortalRejected(f"portal login refused: {data.get('message', 'no reason given')}")
        session = str(data["session"])
        self._session = session
        return session

    def _current_session(self) -> str:
        with self._lock:
            if self._session is not None:
                return self._session
            # Threads queued behind a login that just failed fail fast instead of each waiting out a timeout.
            wait = min(self._timeout, LOGIN_RETRY_SECONDS)
            if self._login_failed_at is not None and time.monotonic() - self._login_failed_at < wait:
                raise PortalUnavailable(f"{self._login_error} (a moment ago; not retrying yet)")
            try:
                session = self.login()
            except PortalUnavailable as exc:
                self._login_failed_at = time.monotonic()
                self._login_error = exc.detail
                raise
            self._login_failed_at = None
            return session

    @staticmethod
    def _session_expired(answer: dict[str, Any]) -> bool:
        code = str(answer.get("error_code")).strip()
        message = _nfc(answer.get("message"))
        return code in _SESSION_CODES or ("hết hạn" in message and any(t in message for t in _SESSION_TEXTS))

    def _route(self, service: str, updating: bool) -> tuple[str, dict[str, Any]]:
        """The URL and the body fields that name the operation, in the configured style."""
        p = self.protocol
        if p.style == "service":
            fields: dict[str, Any] = {"service": service}
            if service == SERVICE_DOSSIER:
                fields["isUpdating"] = "True" if updating else "False"
            return p.service_path, fields
        paths = {SERVICE_STEP: p.steps_path, SERVICE_LOOKUP: p.lookup_path, SERVICE_PROCEDURES: p.lookup_path}
        if service == SERVICE_DOSSIER:
            return (p.update_path if updating else p.create_path), {}
        if service not in paths:
            raise PortalRejected(f"service {service} has no URL in the 'urls' style")
        return paths[service], ({"service": service} if service == SERVICE_PROCEDURES else {})

    def call(self, service: str, data: Any, *, updating: bool = False) -> dict[str, Any]:
        """Send ``data`` to ``service``; returns the portal's answer when it reports success."""
        path, fields = self._route(service, updating)
        for _attempt in range(2):
            session = self._current_session()
            body: dict[str, Any] = {**fields, "session": session, "madonvi": self.protocol.madonvi, "data": data}
            answer = self._post(path, body)
            if is_success(answer):
                return answer
            if self._session_expired(answer):
                with self._lock:
                    if self._session == session:
                        self._session = None  # another thread may have logged in again already
                continue
            code = str(answer.get("error_code")).strip()
            message = str(answer.get("message") or "no reason given")
            if service == SERVICE_DOSSIER and not updating and code in EXISTS_CODES and EXISTS_TEXT in _nfc(message):
                raise PortalExists(f"portal {service}: error_code {code}: {message}")
            raise PortalRejected(f"portal {service}: error_code {code}: {message}")
        raise PortalUnavailable(f"portal {service}: session refused after a fresh login")

    def push_dossiers(self, records: list[dict[str, Any]], *, updating: bool) -> None:
        """``DongBoHoSoMC`` with a list of dossiers (create or update, per ``updating``)."""
        self.call(SERVICE_DOSSIER, records, updating=updating)

    def push_steps(self, records: list[dict[str, Any]]) -> None:
        """``CapNhatTienDoHoSoMC`` with a list of steps."""
        self.call(SERVICE_STEP, records)

    def lookup(self, dossier_code: str) -> dict[str, Any] | None:
        """``TraCuuHoSo``: the portal's copy of a dossier, or None when the portal does not hold the code."""
        try:
            answer = self.call(SERVICE_LOOKUP, {"MaHoSo": dossier_code})
        except PortalExists:  # pragma: no cover - a lookup is never a create
            raise
        except PortalRejected as exc:
            if "không tồn tại" in _nfc(exc.detail) or "not_found" in _nfc(exc.detail):
                return None
            raise
        result = answer.get("data")
        if isinstance(result, list):
            result = result[0] if result else None
        return result if isinstance(result, dict) and result else None

    def procedures(self) -> list[dict[str, Any]]:
        """``LayThuTuc``: the procedures the portal knows."""
        answer = self.call(SERVICE_PROCEDURES, {})
        result = answer.get("data")
        return list(result) if isinstance(result, list) else []


__all__ = [
    "PortalClient",
    "PortalError",
    "PortalExists",
    "PortalRejected",
    "PortalUnavailable",
    "Protocol",
    "Style",
    "is_success",
]
