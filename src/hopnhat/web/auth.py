"""The pages' side of identity: which permission each page needs, and the signed pre-sign-in CSRF token.

Accounts, sessions and the rules themselves live in :mod:`hopnhat.identity`; this module only names what the pages
need of them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission

PRESIGNIN_COOKIE = "hopnhat_presignin"
"""A random value set with the sign-in form: the form must echo its MAC, which another site cannot compute, so a
forged sign-in (login CSRF: signing a victim into the attacker's account) is refused."""

PAGE_PERMISSIONS: dict[str, Permission] = {
    "overview": Permission.CONTINUITY_READ,
    "registry": Permission.REGISTRY,
    "convert": Permission.REGISTRY,
    "sync": Permission.SYNC_READ,
    "quarantine": Permission.QUARANTINE,
    "sources": Permission.QUARANTINE,
    "steward": Permission.SYNC_READ,
    "systems": Permission.CONTINUITY_READ,
    "plan": Permission.CONTINUITY_READ,
    "centers": Permission.CENTERS,
    "dossiers": Permission.DOSSIER_READ,
    "officer": Permission.DOSSIER_READ,
    "intake": Permission.DOSSIER_WRITE,
    "lookup": Permission.PUBLIC,
    "audit": Permission.AUDIT,
    "calendar": Permission.CALENDAR,
    "due_decisions": Permission.DUE_DECISIONS,
    "portal": Permission.PORTAL_READ,
    "portal_write": Permission.PORTAL_WRITE,
    "report766": Permission.REPORTS,
}
"""Pages and the permission each needs (:data:`hopnhat.identity.roles.MATRIX` says which roles have it)."""


def may_open(principal: Principal | None, page: str) -> bool:
    permission = PAGE_PERMISSIONS.get(page, Permission.PUBLIC)
    if principal is None:
        return permission is Permission.PUBLIC
    return principal.can(permission)


def new_presignin() -> str:
    return secrets.token_urlsafe(24)


def presignin_token(secret_key: str, value: str) -> str:
    return hmac.new(secret_key.encode(), f"presignin:{value}".encode(), hashlib.sha256).hexdigest()


def presignin_ok(secret_key: str, cookie: str | None, supplied: str) -> bool:
    if not cookie or not supplied or len(cookie) > 100:
        return False
    return hmac.compare_digest(presignin_token(secret_key, cookie), supplied)


__all__ = ["PAGE_PERMISSIONS", "PRESIGNIN_COOKIE", "may_open", "new_presignin", "presignin_ok", "presignin_token"]
