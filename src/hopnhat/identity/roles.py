"""The one access matrix: roles, what each may do, and what a token's scope lets through.

README.md's "Roles and access" table is this module in words; ``tests/identity/test_routes.py`` tries every route of
the app against it.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What an account is for. One main role per account; more may come as memberships (from the provider's groups)."""

    ADMINISTRATOR = "administrator"
    """Accounts, tokens, settings, probes; also systems, plan and sources like the department operator."""
    DEPARTMENT_OPERATOR = "department_operator"
    """The Department of Science and Technology (Sở Khoa học và Công nghệ): registry, sync, reconciliation, cut-over,
    reports, systems, plan, centers; no personal data."""
    DATA_STEWARD = "data_steward"
    """Quarantined records and review queues (người quản lý dữ liệu), with the personal data they carry."""
    CENTER_LEADER = "center_leader"
    """Leader of a service center (lãnh đạo Trung tâm): that center's dossiers, queues and reports."""
    CENTER_OFFICER = "center_officer"
    """Officer of a service center (cán bộ Trung tâm Phục vụ hành chính công): dossiers received at or handled by
    that center."""
    PROCESSING_OFFICER = "processing_officer"
    """Officer of a department or agency (cán bộ xử lý): dossiers handed to that unit."""
    AUDITOR = "auditor"
    """Reads the audit log (thanh tra, kiểm tra)."""


class Permission(StrEnum):
    """One thing a route or a command does. ``PUBLIC`` needs no principal at all."""

    PUBLIC = "public"
    REGISTRY = "registry"
    """The operators' pages over the registry (units, conversion); the registry's API itself is public."""
    SYNC_READ = "sync.read"
    QUARANTINE = "quarantine"
    DOSSIER_READ = "dossier.read"
    DOSSIER_WRITE = "dossier.write"
    DUE_LISTS = "settlement.due"
    REPORTS = "settlement.reports"
    CONTINUITY_READ = "continuity.read"
    CONTINUITY_WRITE = "continuity.write"
    HEARTBEAT = "continuity.heartbeat"
    PROBES = "continuity.probes"
    CENTERS = "continuity.centers"
    PORTAL_READ = "portal.read"
    PORTAL_WRITE = "portal.write"
    METRICS = "metrics"
    AUDIT = "audit.read"
    CALENDAR = "settlement.calendar"
    """The operator's table of the working-day calendar (days off, Saturdays worked, "not a day off")."""
    DUE_DECISIONS = "settlement.due_decisions"
    """Decide, after a calendar edit, whether a dossier keeps its due date or moves to the new calendar's (only the
    dossiers the principal sees)."""
    NOTICES_READ = "notices.read"
    """The notices to citizens' counts and dead letters (no contact in them)."""
    NOTICES_WRITE = "notices.write"
    """Resend a dead notice (audited); an officer does it from the dossier's page with ``dossier.write``."""
    NOTICE_TEMPLATES = "notices.templates"
    """Edit the notices' texts (audited)."""
    ACCOUNTS = "accounts"
    SELF = "self"
    """Anyone signed in, whatever the role: who am I."""


class Scope(StrEnum):
    """What a machine token may be used for; it narrows the account's rights, never widens them."""

    LOOKUP = "lookup"
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


_OPERATIONS = frozenset(
    {
        Permission.REGISTRY,
        Permission.SYNC_READ,
        Permission.REPORTS,
        Permission.DUE_LISTS,
        Permission.CONTINUITY_READ,
        Permission.CONTINUITY_WRITE,
        Permission.HEARTBEAT,
        Permission.CENTERS,
        Permission.PORTAL_READ,
        Permission.PORTAL_WRITE,
        Permission.METRICS,
        Permission.CALENDAR,
        Permission.NOTICES_READ,
        Permission.NOTICES_WRITE,
    }
)

MATRIX: dict[Role, frozenset[Permission]] = {
    Role.ADMINISTRATOR: _OPERATIONS
    | {
        Permission.PROBES,
        Permission.ACCOUNTS,
        Permission.DOSSIER_READ,
        Permission.QUARANTINE,
        Permission.AUDIT,
        Permission.DUE_DECISIONS,
        Permission.NOTICE_TEMPLATES,
    },
    Role.DEPARTMENT_OPERATOR: _OPERATIONS,
    Role.DATA_STEWARD: frozenset({Permission.QUARANTINE, Permission.SYNC_READ, Permission.DOSSIER_READ}),
    Role.CENTER_LEADER: frozenset(
        {
            Permission.DOSSIER_READ,
            Permission.DOSSIER_WRITE,
            Permission.DUE_LISTS,
            Permission.REPORTS,
            Permission.DUE_DECISIONS,
        }
    ),
    Role.CENTER_OFFICER: frozenset(
        {Permission.DOSSIER_READ, Permission.DOSSIER_WRITE, Permission.DUE_LISTS, Permission.DUE_DECISIONS}
    ),
    Role.PROCESSING_OFFICER: frozenset({Permission.DOSSIER_READ, Permission.DOSSIER_WRITE, Permission.DUE_LISTS}),
    Role.AUDITOR: frozenset({Permission.AUDIT}),
}
"""What each role may do. Scoped roles (center leader and officer, processing officer) see only their dossiers:
see :meth:`hopnhat.identity.principal.Principal.dossier_scope`. The administrator reads dossiers and quarantined
records through the same views as anyone (the audit of issue 15 records it)."""

SCOPED_ROLES = frozenset({Role.CENTER_LEADER, Role.CENTER_OFFICER, Role.PROCESSING_OFFICER})

_NEEDS_SCOPE: dict[Permission, Scope] = {
    Permission.PUBLIC: Scope.LOOKUP,
    Permission.SELF: Scope.LOOKUP,
    Permission.CONTINUITY_WRITE: Scope.WRITE,
    Permission.HEARTBEAT: Scope.WRITE,
    Permission.DOSSIER_WRITE: Scope.WRITE,
    Permission.PORTAL_WRITE: Scope.WRITE,
    Permission.PROBES: Scope.ADMIN,
    Permission.ACCOUNTS: Scope.ADMIN,
    Permission.CALENDAR: Scope.WRITE,
    Permission.DUE_DECISIONS: Scope.WRITE,
    Permission.NOTICES_WRITE: Scope.WRITE,
    Permission.NOTICE_TEMPLATES: Scope.ADMIN,
}
"""The scope a token needs for a permission; every other permission needs ``read``."""

_IMPLIED: dict[Scope, frozenset[Scope]] = {
    Scope.LOOKUP: frozenset({Scope.LOOKUP}),
    Scope.READ: frozenset({Scope.LOOKUP, Scope.READ}),
    Scope.WRITE: frozenset({Scope.LOOKUP, Scope.READ, Scope.WRITE}),
    Scope.ADMIN: frozenset(Scope),
}


def needed_scope(permission: Permission) -> Scope:
    return _NEEDS_SCOPE.get(permission, Scope.READ)


def expand_scopes(scopes: frozenset[Scope]) -> frozenset[Scope]:
    """``write`` lets ``read`` through, ``admin`` everything."""
    out: set[Scope] = set()
    for scope in scopes:
        out |= _IMPLIED[scope]
    return frozenset(out)


def permissions_of(roles: frozenset[Role]) -> frozenset[Permission]:
    out: set[Permission] = {Permission.PUBLIC, Permission.SELF}
    for role in roles:
        out |= MATRIX[role]
    return frozenset(out)


def parse_role(value: str) -> Role:
    from hopnhat.errors import InvalidInput

    try:
        return Role(value.strip())
    except ValueError:
        raise InvalidInput(f"role {value!r}: one of {', '.join(r.value for r in Role)}") from None


def parse_scopes(text: str) -> frozenset[Scope]:
    from hopnhat.errors import InvalidInput

    out: set[Scope] = set()
    for part in text.replace(",", " ").split():
        try:
            out.add(Scope(part))
        except ValueError:
            raise InvalidInput(f"scope {part!r}: one of {', '.join(s.value for s in Scope)}") from None
    if not out:
        raise InvalidInput(f"a token needs at least one scope: {', '.join(s.value for s in Scope)}")
    return frozenset(out)


__all__ = [
    "MATRIX",
    "SCOPED_ROLES",
    "Permission",
    "Role",
    "Scope",
    "expand_scopes",
    "needed_scope",
    "parse_role",
    "parse_scopes",
    "permissions_of",
]
