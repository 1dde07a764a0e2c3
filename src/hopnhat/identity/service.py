"""Rules of identity: accounts, passwords, sign-in, sessions, machine tokens, secrets and the principal they make.

No commit here: the request, command or job that calls owns the transaction. The one exception is
:func:`secret_key`, which a process needs before any request and which must be the same for every process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hopnhat.config import Settings
from hopnhat.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited, Unauthorized
from hopnhat.identity import limits, passwords
from hopnhat.identity import repository as repo
from hopnhat.identity import repository as repository
from hopnhat.identity.models import ApiToken, Membership, Secret, User, WebSession
from hopnhat.identity.principal import Principal, Via
from hopnhat.identity.roles import SCOPED_ROLES, Role, Scope, parse_role, parse_scopes

log = logging.getLogger(__name__)

TOKEN_PREFIX = "hnt_"
"""Every machine token starts with this, so a leaked one is recognisable (secret scanners) and never taken for a
provider's JWT."""

WEAK_SECRETS = frozenset({"change-me-in-production", "changeme", "secret", "dev", "test"})


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- secrets ------------------------------------------------------------------------------------------------------


def secret_key(engine: Engine, settings: Settings) -> str:
    """The key that signs cookies: the setting when given, else one generated on first use and kept in the store,
    so every process and host on the store signs alike (and a restart does not sign everyone out)."""
    if settings.secret_key:
        return settings.secret_key
    with Session(engine) as session:
        found = repo.secret(session, "cookie")
        if found is not None:
            return found.value
        session.add(Secret(name="cookie", value=secrets.token_urlsafe(48)))
        try:
            session.commit()
        except IntegrityError:  # another process made it first: use theirs
            session.rollback()
        found = repo.secret(session, "cookie")
        assert found is not None
        return found.value


def weak_secret_reason(value: str | None) -> str | None:
    """Why a configured secret is not fit for a network-facing server, or None."""
    if value is None:
        return None
    if value in WEAK_SECRETS:
        return "HOPNHAT_SECRET_KEY is a published default; set a long random value (or unset it to generate one)"
    if len(value) < 32:
        return "HOPNHAT_SECRET_KEY is shorter than 32 characters; set a long random value (or unset it)"
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_can_serve(host: str, settings: Settings) -> None:
    """Refuse to serve off loopback with a published or short cookie key (anyone knowing it could sign their own
    administrator session) or without the audit key (the chain's heads would be unsigned): one rule for ``serve``
    and ``demo``."""
    if is_loopback(host):
        return
    reason = weak_secret_reason(settings.secret_key)
    if reason is None and not settings.audit_key:
        reason = "HOPNHAT_AUDIT_KEY is not set: the audit chain's heads would be unsigned (set a long random value)"
    if reason:
        raise InvalidInput(f"refusing to serve on {host}: {reason}")


# --- accounts -----------------------------------------------------------------------------------------------------


def _check_username(username: str) -> str:
    username = username.strip()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-@" for c in username):
        raise InvalidInput(f"username {username[:64]!r}: 1-64 letters, digits, '.', '_', '-' or '@'")
    return username


def add_user(
    session: Session,
    username: str,
    password: str | None,
    role: str,
    *,
    centers: Iterable[str] = (),
    units: Iterable[str] = (),
    extra_roles: Iterable[str] = (),
) -> User:
    """Create a local account (``password`` None: a service account, which acts only through tokens).

    ``centers`` are agency codes of service centers (the first is the main one), ``units`` agency codes of
    processing units; the callers resolve a commune code to its center first."""
    username = _check_username(username)
    parsed = parse_role(role)
    center_list = [c.strip() for c in centers if c and c.strip()]
    unit_list = [u.strip() for u in units if u and u.strip()]
    if parsed in {Role.CENTER_OFFICER, Role.CENTER_LEADER} and not center_list:
        raise InvalidInput(f"user {username}: a {parsed.value} needs --center (the center's agency or commune code)")
    if parsed is Role.PROCESSING_OFFICER and not unit_list:
        raise InvalidInput(f"user {username}: a processing officer needs --unit (the department's agency code)")
    if parsed not in SCOPED_ROLES and (center_list or unit_list):
        raise InvalidInput(f"user {username}: only center and processing officers belong to a center or unit")
    if password is not None:
        passwords.check_policy(password, username)
    if repo.user_by_name(session, username) is not None:
        raise Conflict(f"user {username} already exists")
    user = User(
        username=username,
        password_hash=passwords.hash_password(password) if password is not None else "",
        role=parsed.value,
        center_code=center_list[0] if center_list else None,
        password_changed_at=_now() if password is not None else None,
    )
    user.memberships = [Membership(kind="center", code=c) for c in center_list[1:]]
    user.memberships += [Membership(kind="unit", code=u) for u in unit_list]
    user.memberships += [Membership(kind="role", code=parse_role(r).value) for r in extra_roles]
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> User:
    user = repo.user_by_name(session, username.strip())
    if user is None:
        raise NotFound(f"user {username.strip()[:64]} does not exist")
    return user


def list_users(session: Session) -> Sequence[User]:
    return repo.users(session)


def set_password(session: Session, username: str, password: str) -> User:
    """A new password ends every session of the account: whoever knew the old one is out."""
    user = get_user(session, username)
    if user.issuer:
        raise InvalidInput(f"user {username}: the city's sign-in platform keeps this account's password")
    passwords.check_policy(password, user.username)
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = _now()
    repo.end_sessions(session, user.id, _now())
    return user


def set_active(session: Session, username: str, active: bool) -> User:
    """Disable (ending every session; its tokens stop working) or enable an account."""
    user = get_user(session, username)
    user.active = active
    user.disabled_at = None if active else _now()
    if not active:
        repo.end_sessions(session, user.id, _now())
    return user


def principal_for(user: User, via: Via, scopes: frozenset[Scope] | None = None, csrf: str | None = None) -> Principal:
    roles = {Role(user.role)}
    centers = {user.center_code} if user.center_code else set()
    units: set[str] = set()
    for m in user.memberships:
        if m.kind == "role":
            roles.add(Role(m.code))
        elif m.kind == "center":
            centers.add(m.code)
        elif m.kind == "unit":
            units.add(m.code)
    return Principal(
        username=user.username,
        roles=frozenset(roles),
        centers=frozenset(centers),
        units=frozenset(units),
        via=via,
        scopes=scopes,
        user_id=user.id,
        session_csrf=csrf,
    )


# --- sign-in ------------------------------------------------------------------------------------------------------


def authenticate(session: Session, username: str, password: str, address: str) -> User:
    """The account whose password this is, or an error that says nothing about which part was wrong.

    Throttled per account and address (:mod:`hopnhat.identity.limits`); unknown accounts cost the same hash as
    wrong passwords, so timing does not tell which usernames exist."""
    now = _now()
    name = username.strip()[:64]
    wait = limits.signin_wait(session, name, address, now)
    if wait > 0:
        raise SigninThrottled(wait)
    user = repo.user_by_name(session, name)
    if user is None or not user.active or not user.password_hash:
        passwords.verify_password(password, passwords.dummy_hash())
        limits.record_signin_failure(session, name, address, now)
        raise InvalidInput("wrong username or password")
    if not passwords.verify_password(password, user.password_hash):
        limits.record_signin_failure(session, name, address, now)
        raise InvalidInput("wrong username or password")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    limits.clear_signin_failures(session, name, address)
    return user


class SigninThrottled(RateLimited):
    """Too many failed sign-ins: try again after ``retry_after`` seconds."""

    def __init__(self, wait: float) -> None:
        self.retry_after = max(1, int(wait + 0.999))
        super().__init__(f"too many failed sign-ins; try again in {self.retry_after} s")


# --- sessions -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    token: str
    """The cookie's value: shown to the browser once, stored only as a hash."""
    row: WebSession


def start_session(
    session: Session, user: User, settings: Settings, method: str = "password", id_token: str | None = None
) -> NewSession:
    now = _now()
    token = secrets.token_urlsafe(32)
    row = WebSession(
        token_hash=_digest(token),
        user_id=user.id,
        csrf=secrets.token_urlsafe(24),
        method=method,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_hours),
        id_token=id_token,
    )
    session.add(row)
    session.flush()
    return NewSession(token, row)


_TOUCH_EVERY = timedelta(seconds=60)
"""How stale ``last_seen_at`` may be: one write per minute per session, not one per request."""


def read_session(session: Session, token: str | None, settings: Settings) -> tuple[WebSession, User] | None:
    """The live session of a cookie and its account; None when unknown, ended, idle too long, past its absolute
    end, or its account disabled."""
    if not token or len(token) > 100:
        return None
    row = repo.session_by_hash(session, _digest(token))
    if row is None or row.ended_at is not None:
        return None
    now = _now()
    if now >= row.expires_at or now - row.last_seen_at > timedelta(minutes=settings.session_idle_minutes):
        row.ended_at = now
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if now - row.last_seen_at > _TOUCH_EVERY:
        row.last_seen_at = now
    return row, user


def end_session(session: Session, token: str | None) -> WebSession | None:
    if not token or len(token) > 100:
        return None
    row = repo.session_by_hash(session, _digest(token))
    if row is not None and row.ended_at is None:
        row.ended_at = _now()
    return row


# --- machine tokens -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewToken:
    token: str
    row: ApiToken


def create_token(session: Session, username: str, name: str, scopes: str, days: int = 90) -> NewToken:
    """A token for ``username`` (a person or a service account) with ``scopes``; shown once."""
    user = get_user(session, username)
    name = name.strip()
    if not name or len(name) > 64:
        raise InvalidInput("token name: 1-64 characters")
    if not 1 <= days <= 730:
        raise InvalidInput("token lifetime: 1-730 days")
    parsed = parse_scopes(scopes)
    if Scope.ADMIN in parsed and Role.ADMINISTRATOR not in principal_for(user, "token").roles:
        raise Forbidden(f"only an administrator's token may carry the admin scope ({username} is not one)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        prefix=token[:10],
        token_hash=_digest(token),
        user_id=user.id,
        scopes=" ".join(sorted(s.value for s in parsed)),
        expires_at=_now() + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    return NewToken(token, row)


def list_tokens(session: Session) -> Sequence[ApiToken]:
    return repo.tokens(session)


def revoke_token(session: Session, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token has id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = _now()
    return row


def principal_for_token(session: Session, token: str) -> Principal | None:
    """The principal of a live machine token; None when unknown, revoked, expired or its account disabled."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    row = repo.token_by_hash(session, _digest(token))
    now = _now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
        row.last_used_at = now
    return principal_for(user, "token", frozenset(Scope(s) for s in row.scopes.split()))


__all__ = [
    "TOKEN_PREFIX",
    "NewSession",
    "NewToken",
    "SigninThrottled",
    "add_user",
    "authenticate",
    "check_can_serve",
    "cli_principal",
    "create_token",
    "end_session",
    "get_user",
    "is_loopback",
    "list_tokens",
    "list_users",
    "principal_for",
    "principal_for_token",
    "read_session",
    "revoke_token",
    "secret_key",
    "set_active",
    "set_password",
    "start_session",
    "weak_secret_reason",
]


# --- the CLI's principal ------------------------------------------------------------------------------------------


def cli_principal(session: Session, settings: Settings) -> Principal:
    """Who a CLI command acts as.

    With ``HOPNHAT_TOKEN``: that token's account and scopes, on any store. Without, on a SQLite file: whoever can
    open the file is trusted, as psql trusts a peer: the command acts as the account ``HOPNHAT_CLI_ACCOUNT`` names
    (or the account named like the OS user), with its roles; with no such account, as the OS user with every role,
    since they could edit the file anyway. Without a token on PostgreSQL: the OS user as a department operator
    (no personal data, no dossier changes), since the database password alone says nothing about who types."""
    import getpass

    if settings.token:
        found = principal_for_token(session, settings.token)
        if found is None:
            raise Unauthorized("HOPNHAT_TOKEN is unknown, expired or revoked")
        return dataclasses.replace(found, client="cli")
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):
        os_user = "unknown"
    if session.get_bind().dialect.name == "sqlite":
        name = settings.cli_account or os_user
        user = repo.user_by_name(session, name)
        if user is not None and user.active:
            return dataclasses.replace(principal_for(user, "cli"), client="cli")
        if settings.cli_account:
            raise Unauthorized(f"HOPNHAT_CLI_ACCOUNT names {name}, which is not an active account")
        return Principal(username=f"os:{os_user}"[:64], roles=frozenset(Role), via="cli", client="cli")
    return Principal(
        username=f"os:{os_user}"[:64], roles=frozenset({Role.DEPARTMENT_OPERATOR}), via="cli", client="cli"
    )
