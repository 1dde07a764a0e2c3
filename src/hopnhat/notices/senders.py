"""How a notice leaves: one small interface (:class:`Sender`), an SMTP sender and an HTTP gateway sender.

Errors::

    SendError            the notice was not delivered
      retry=True         the provider is down or slow (connection, timeout, 5xx, 429): try again later
      retry=False        the provider refused this notice (a rejected address, a 4xx): a dead letter at once

A sender stops at the first transient failure of a batch: the notices after it are reported :data:`NOT_SENT`
(no attempt counted), so an outage costs one timeout per batch, not one per notice.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.header import Header
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
    """Keep the connections for every message (False: one connection per message, the benchmark's anchor)."""
    connections: int = 4
    """Connections used at once. One SMTP message costs four round trips (MAIL, RCPT, DATA, the text) and most
    servers do not pipeline, so one connection waits most of the time; a few in parallel fill those waits."""


def _ascii(value: str) -> bool:
    return value.isascii() and "\r" not in value and "\n" not in value


class _Lane:
    """One connection and the messages it carries, in order."""

    def __init__(self, sender: SmtpSender) -> None:
        self.sender = sender
        self.smtp: smtplib.SMTP | None = None

    def drop(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def send(self, messages: Sequence[Message]) -> list[SendError | None]:
        results: list[SendError | None] = []
        for message in messages:
            if results and results[-1] is not None and results[-1].retry:
                results.append(NOT_SENT)  # this connection just failed: the rest wait for the next batch
                continue
            results.append(self.one(message))
        if not self.sender.config.reuse:
            self.drop()
        return results

    def one(self, message: Message) -> SendError | None:
        config = self.sender.config
        try:
            if self.smtp is None or not config.reuse:
                self.drop()
                self.smtp = self.sender.connect()
            self.smtp.sendmail(config.sender, [message.to], self.sender.raw(message))
            return None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return SendError(f"SMTP refused the recipient ({codes})", retry=all(c < 500 for c in codes))
        except smtplib.SMTPResponseException as exc:
            self.drop()
            return SendError(f"SMTP {exc.smtp_code}", retry=exc.smtp_code < 500)
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            self.drop()
            return SendError(f"SMTP unavailable: {type(exc).__name__}")


class SmtpSender:
    """E-mail over SMTP: ``connections`` connections, each reused across messages and batches (re-opened after a
    failure); a batch is dealt round-robin over them and its results come back in the batch's order."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.domain = config.sender.rpartition("@")[2] or "localhost"
        self._lanes = [_Lane(self) for _ in range(max(1, config.connections))]
        self._pool = ThreadPoolExecutor(max_workers=len(self._lanes), thread_name_prefix="smtp")

    def connect(self) -> smtplib.SMTP:
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

    def build(self, message: Message) -> EmailMessage:
        """The e-mail as the standard library builds it (the general path: a non-ASCII address)."""
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

    def raw(self, message: Message) -> bytes:
        """The e-mail's bytes. Written directly for the usual case (ASCII addresses and link; Vietnamese subject and
        text as RFC 2047 and base64): ``EmailMessage``'s header folding took 3 ms a message, more than the send."""
        if not (_ascii(message.to) and _ascii(self.config.sender) and _ascii(message.stop_url or "")):
            return self.build(message).as_bytes()
        subject = " ".join((message.subject or message.event).split())
        lines = [
            f"From: {self.config.sender}",
            f"To: {message.to}",
            f"Subject: {Header(subject, 'utf-8', header_name='Subject').encode()}",
            f"Date: {formatdate(usegmt=True)}",
            f"Message-ID: <{message.id}@{self.domain}>",
        ]
        if message.stop_url:
            lines.append(f"List-Unsubscribe: <{message.stop_url}>")
        lines += ["MIME-Version: 1.0", 'Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: base64"]
        body = base64.encodebytes(message.text.encode("utf-8")).replace(b"\n", b"\r\n")
        return "\r\n".join(lines).encode("ascii") + b"\r\n\r\n" + body

    def send(self, messages: Sequence[Message]) -> list[SendError | None]:
        lanes = len(self._lanes)
        if lanes == 1 or len(messages) <= 1:
            return self._lanes[0].send(messages)
        dealt = [list(messages[i::lanes]) for i in range(lanes)]
        answers = list(self._pool.map(lambda pair: pair[0].send(pair[1]), zip(self._lanes, dealt, strict=True)))
        results: list[SendError | None] = [None] * len(messages)
        for i, lane_results in enumerate(answers):
            for j, result in enumerate(lane_results):
                results[i + j * lanes] = result
        return results

    def close(self) -> None:
        for lane in self._lanes:
            lane.drop()
        self._pool.shutdown(wait=True)


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
