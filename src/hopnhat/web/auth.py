"""Accounts, password hashing, the signed session cookie and the page access rules.

Passwords: ``scrypt`` (stdlib) with a random 16-byte salt, stored as ``scrypt$n$r$p$salt$hash``. The session cookie
is ``base64url(json).hmac-sha256`` keyed by settings.secret_key (stdlib only, no extra dependency); it holds the
username, a per-session nonce and an expiry, no personal data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.errors import Conflict, InvalidInput, NotFound
from hopnhat.web.models import Role, User

COOKIE = "hopnhat_session"
SESSION_MAX_AGE = 12 * 3600
"""One working day: an officer signs in once per shift."""

_N, _R, _P = 2**14, 8, 1

PAGE_ROLES: dict[str, frozenset[Role]] = {
    "overview": frozenset({Role.ADMINISTRATOR, Role.DEPARTMENT_OPERATOR}),
    "registry": frozenset({Role.ADMINISTRATOR, Role.DEPARTMENT_OPERATOR}),
    "sync": frozenset({Role.ADMINISTRATOR, Role.DEPARTMENT_OPERATOR}),
    "systems": frozenset({Role.ADMINISTRATOR, Role.DEPARTMENT_OPERATOR}),
    "plan": frozenset({Role.ADMINISTRATOR, Role.DEPARTMENT_OPERATOR}),
    "centers": frozenset({Role.ADMINISTRATOR}),
    "dossiers": frozenset({Role.ADMINISTRATOR, Role.CENTER_OFFICER}),
}
"""Pages that need sign-in and the roles that may open them; the public dossier lookup is not listed (no sign-in).
Dossier pages carry personal data, so the department operator (systems and sync work) does not see them."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual.hex(), digest)


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise InvalidInput("password: at least 8 characters")


def add_user(session: Session, username: str, password: str, role: str, center_code: str | None = None) -> User:
    """Create an account. A center officer's ``center_code`` may be the center's agency code or its commune code
    (see :func:`hopnhat.continuity.centers.resolve_center`); the agency code is stored."""
    username = username.strip()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        raise InvalidInput(f"username {username!r}: 1-64 letters, digits, '.', '_' or '-'")
    try:
        parsed = Role(role)
    except ValueError:
        raise InvalidInput(f"role {role!r}: one of {', '.join(r.value for r in Role)}") from None
    if parsed is Role.CENTER_OFFICER and not (center_code or "").strip():
        raise InvalidInput(
            f"user {username}: a center officer needs --center (the center's agency code or commune code)"
        )
    if parsed is not Role.CENTER_OFFICER and center_code:
        raise InvalidInput(f"user {username}: only a center officer belongs to a center")
    _check_password(password)
    if get_user(session, username) is not None:
        raise Conflict(f"user {username} already exists")
    if center_code:
        from hopnhat.continuity.centers import resolve_center

        # Stored as the agency code whichever code was given: dossiers carry that code, so the officer's list is
        # exactly their center's dossiers.
        center_code = resolve_center(session, center_code).agency_code
    user = User(username=username, password_hash=hash_password(password), role=parsed.value, center_code=center_code)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.username)).all()


def set_password(session: Session, username: str, password: str) -> User:
    user = get_user(session, username)
    if user is None:
        raise NotFound(f"user {username} does not exist")
    _check_password(password)
    user.password_hash = hash_password(password)
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = get_user(session, username.strip())
    if user is None or not user.active:
        # Spend the same time as a real check so the response time does not reveal which usernames exist.
        verify_password(password, hash_password("x" * 8))
        return None
    return user if verify_password(password, user.password_hash) else None


def _sign(secret_key: str, body: bytes) -> str:
    mac = hmac.new(secret_key.encode(), b"session:" + body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def session_cookie(secret_key: str, user: User, *, now: float | None = None) -> str:
    payload = {"u": user.username, "n": secrets.token_hex(8), "e": int((now or time.time()) + SESSION_MAX_AGE)}
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=")
    return f"{body.decode()}.{_sign(secret_key, body)}"


def read_cookie(secret_key: str, value: str | None, *, now: float | None = None) -> tuple[str, str] | None:
    """(username, per-session nonce) from a valid, unexpired cookie; None otherwise."""
    if not value or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    if not hmac.compare_digest(mac, _sign(secret_key, body.encode())):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), str) or not isinstance(data.get("e"), int):
        return None
    if data["e"] < (now or time.time()):
        return None
    return data["u"], str(data.get("n", ""))


def csrf_token(secret_key: str, username: str, nonce: str) -> str:
    """Token every form that changes something must carry: bound to this session, unknown to other sites."""
    return hmac.new(secret_key.encode(), f"csrf:{username}:{nonce}".encode(), hashlib.sha256).hexdigest()


def may_open(user: User | None, page: str) -> bool:
    roles = PAGE_ROLES.get(page)
    if roles is None:
        return True
    return user is not None and Role(user.role) in roles


__all__ = [
    "COOKIE",
    "PAGE_ROLES",
    "add_user",
    "authenticate",
    "csrf_token",
    "get_user",
    "hash_password",
    "list_users",
    "may_open",
    "read_cookie",
    "session_cookie",
    "set_password",
    "verify_password",
]
