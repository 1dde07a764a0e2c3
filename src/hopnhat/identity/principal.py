"""The principal: who is asking (a person signed in, a machine token, the CLI's operator, or nobody) and what they
may do. Services receive one and call :meth:`Principal.require`; pages, the API and the CLI only build it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hopnhat.errors import Forbidden, Unauthorized
from hopnhat.identity.roles import (
    SCOPED_ROLES,
    Permission,
    Role,
    Scope,
    expand_scopes,
    needed_scope,
    permissions_of,
)

Via = Literal["anonymous", "session", "token", "oidc", "cli"]


@dataclass(frozen=True)
class Principal:
    """An account acting through one channel. ``scopes`` is None for a person (the role decides alone) and the
    token's scopes for a machine token or a provider's access token."""

    username: str | None
    roles: frozenset[Role] = frozenset()
    centers: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    via: Via = "anonymous"
    scopes: frozenset[Scope] | None = None
    user_id: int | None = None
    session_csrf: str | None = field(default=None, repr=False)
    """The CSRF value of the web session this principal came from (cookie-authenticated calls must echo it)."""
    client: str | None = None
    """Where the request came from (the client's address through trusted proxies only, or ``cli``): audited."""

    @property
    def anonymous(self) -> bool:
        return self.username is None

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_of(self.roles)

    def can(self, permission: Permission) -> bool:
        if permission is Permission.PUBLIC:
            return self.scopes is None or Scope.LOOKUP in expand_scopes(self.scopes)
        if self.anonymous or permission not in self.permissions:
            return False
        return self.scopes is None or needed_scope(permission) in expand_scopes(self.scopes)

    def require(self, permission: Permission) -> None:
        """Raise 401 for nobody, 403 for somebody without the right (the message names what is missing)."""
        if self.can(permission):
            return
        if self.anonymous:
            raise Unauthorized("sign in, or send a token (Authorization: Bearer ...)")
        if permission in self.permissions:
            raise Forbidden(f"this token's scope does not allow {permission.value}")
        raise Forbidden(f"{self.username} may not do {permission.value}")

    @property
    def dossier_scope(self) -> DossierScope:
        """Which dossiers this principal sees: all of them (steward, administrator) or those of its centers and
        units. A role that is not scoped and has the right sees all; holding a scoped role alone narrows."""
        if self.roles - SCOPED_ROLES and Permission.DOSSIER_READ in permissions_of(self.roles - SCOPED_ROLES):
            return DossierScope(everything=True)
        return DossierScope(
            everything=False,
            centers=self.centers,
            units=self.units if Role.PROCESSING_OFFICER in self.roles else frozenset(),
            username=self.username,
        )


@dataclass(frozen=True)
class DossierScope:
    """The dossiers a principal sees: a dossier belongs to the center that received it and to the center or unit
    handling it, and both see it."""

    everything: bool
    centers: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    username: str | None = None

    def allows(
        self,
        *,
        received_center: str | None,
        center: str | None,
        holder_unit: str | None,
        holder_username: str | None = None,
    ) -> bool:
        if self.everything:
            return True
        if received_center in self.centers or center in self.centers:
            return True
        if holder_unit is not None and holder_unit in self.units:
            return True
        return holder_username is not None and holder_username == self.username


ANONYMOUS = Principal(username=None)


__all__ = ["ANONYMOUS", "DossierScope", "Principal", "Via"]
