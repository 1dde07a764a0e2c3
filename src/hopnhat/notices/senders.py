"""How a notice leaves: one small interface (:class:`Sender`), an SMTP sender and an HTTP gateway sender.

Errors::

    SendError            the notice was not delivered
      retry=True         the provider is down or slow (connection, timeout, 5xx, 429): try again later
      retry=False        the provider refused this notice (a rejected address, a 4xx): a dead letter at once

A sender stops at the first transient failure of a batch: the notices after it are reported :data:`NOT_SENT`
(no attempt counted), so an outage costs one timeout per batch, not one per notice.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

import httpx


@dataclass(frozen=True)
class Message:
    """One rendered notice. ``id`` is stable: every send of the same notice carries it (at-least-once delivery)."""

    id: str
    to: str
    text: str
    event: str
    subject: str | None = None
    stop_url: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    """The template's fields, for gateways that fill a registered template themselves (ZNS, brand-name SMS)."""


class SendError(Exception):
    def __init__(self, detail: str, *, retry: bool = True) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry = retry


NOT_SENT = SendError("not sent: the provider was failing meanwhile")
"""Left as it was: the batch stopped at an earlier transient failure."""


class Sender(Protocol):
    def send(self, messages: Sequence[Message]) -> list[SendError | None]:
        """One result per message, in order: None when the provider accepted it."""
        ...

    def close(self) -> None: ...


def mask(contact: str) -> str:
    """A contact as logs and pages may show it: ``n***@example.vn``, ``*******678``."""
    if "@" in contact:
        local, _, domain = contact.partition("@")
        return f"{local[:1]}***@{domain}"
    return "*" * max(0, len(contact) - 3) + contact[-3:]


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    security: str = "none"
    """none, starttls or tls."""
    user: str | None = None
    password: str | None = None
    sender: str = "hopnhat@localhost"
    timeout: float = 20.0
    reuse: bool = True
    """Keep one connection for every message (False: one connection per message, the benchmark's anchor)."""


class SmtpSender:
    """E-mail over SMTP, one connection reused across messages and batches (re-opened after a failure)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None
        self.domain = config.sender.rpartition("@")[2] or "localhost"

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        smtp: smtplib.SMTP
        if c.security == "tls":
            smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            if c.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        if c.user:
            smtp.login(c.user, c.password or "")
        return smtp

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def build(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.config.sender
        email["To"] = message.to
        email["Subject"] = message.subject or message.event
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = f"<{message.id}@{self.domain}>"
        if message.stop_url:
            email["List-Unsubscribe"] = f"<{message.stop_url}>"
        email.set_content(message.text, charset="utf-8")
        return email

    def send(self, messages: Sequence[Message]) -> list[SendError | None]:
        results: list[SendError | None] = []
        for message in messages:
            if results and results[-1] is not None and results[-1].retry:
                results.append(NOT_SENT)
                continue
            results.append(self._one(message))
        if not self.config.reuse:
            self._drop()
        return results

    def _one(self, message: Message) -> SendError | None:
        try:
            if self._smtp is None or not self.config.reuse:
                self._drop()
                self._smtp = self._connect()
            self._smtp.send_message(self.build(message))
            return None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return SendError(f"SMTP refused the recipient ({codes})", retry=all(c < 500 for c in codes))
        except smtplib.SMTPResponseException as exc:
            self._drop()
            return SendError(f"SMTP {exc.smtp_code}", retry=exc.smtp_code < 500)
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return SendError(f"SMTP unavailable: {type(exc).__name__}")

    def close(self) -> None:
        self._drop()


@dataclass(frozen=True)
class GatewayConfig:
    url: str
    account: str | None = None
    key: str | None = None
    templates: dict[str, str] = field(default_factory=dict)
    """Event -> template code registered at the provider."""
    timeout: float = 10.0


def parse_templates(text: str) -> dict[str, str]:
    """``receipt=HN01,refusal=HN03`` -> a dict (the settings' form of template codes)."""
    out: dict[str, str] = {}
    for part in text.split(","):
        name, sep, code = part.partition("=")
        if sep and name.strip() and code.strip():
            out[name.strip()] = code.strip()[:64]
    return out


class GatewaySender:
    """SMS or Zalo through the provider's HTTP API: ``POST url`` with JSON ``{id, account, to, template, params,
    text}``, a Bearer key; the answer ``{"error_code": 0}`` (or HTTP 2xx without a body) is success. ``id`` lets the
    provider drop a repeat of a notice it already took."""

    def __init__(self, config: GatewayConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {config.key}"} if config.key else {}
        self._http = httpx.Client(timeout=config.timeout, headers=headers, transport=transport)

    def send(self, messages: Sequence[Message]) -> list[SendError | None]:
        results: list[SendError | None] = []
        for message in messages:
            if results and results[-1] is not None and results[-1].retry:
                results.append(NOT_SENT)
                continue
            results.append(self._one(message))
        return results

    def _one(self, message: Message) -> SendError | None:
        body: dict[str, Any] = {
            "id": message.id,
            "account": self.config.account,
            "to": message.to,
            "template": self.config.templates.get(message.event),
            "params": message.params,
            "text": message.text,
        }
        try:
            response = self._http.post(self.config.url, json=body)
        except httpx.HTTPError as exc:
            return SendError(f"gateway unavailable: {type(exc).__name__}")
        if response.status_code == 429 or response.status_code >= 500:
            return SendError(f"gateway HTTP {response.status_code}")
        if response.status_code >= 400:
            return SendError(f"gateway refused the notice: HTTP {response.status_code}", retry=False)
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            return SendError("gateway answered something other than JSON")
        code = str(answer.get("error_code", 0)) if isinstance(answer, dict) else "0"
        if code.strip("0") == "":
            return None
        # The provider's message is not kept: it may quote the phone number, and last_error is shown to operators.
        return SendError(f"gateway refused the notice: error_code {code[:20]}", retry=False)

    def close(self) -> None:
        self._http.close()


__all__ = [
    "NOT_SENT",
    "GatewayConfig",
    "GatewaySender",
    "Message",
    "SendError",
    "Sender",
    "SmtpConfig",
    "SmtpSender",
    "mask",
    "parse_templates",
]
