"""The settings a production deployment must set, checked when any process starts with ``HOPNHAT_PRODUCTION=true``
(``serve`` and each of its workers, ``monitor``, ``sync run --watch``, ``portal relay``, every other command that
opens the store): one list, in README's "Production settings", and one check, so a unit file missing a line fails
at start with every missing setting named, not weeks later."""

from __future__ import annotations

from pathlib import Path

from hopnhat.config import Settings
from hopnhat.errors import HopnhatError


class NotProductionReady(HopnhatError):
    code = "not_production_ready"


def problems(settings: Settings) -> list[str]:
    """What is missing or wrong for production, one readable reason each (empty: ready)."""
    from hopnhat.identity.service import weak_secret_reason

    found: list[str] = []
    if not settings.database_url.startswith("postgresql"):
        found.append("HOPNHAT_DATABASE_URL must be a PostgreSQL URL (the SQLite file is for one machine)")
    if not settings.audit_key or len(settings.audit_key) < 32:
        found.append("HOPNHAT_AUDIT_KEY must be set, 32 characters or more (it signs the audit chain's heads)")
    weak = weak_secret_reason(settings.secret_key)  # unset is fine: generated once, kept in the store
    if weak:
        found.append(weak)
    if not settings.scan_dir:
        found.append("HOPNHAT_SCAN_DIR must name the scans' directory (a shared volume when several hosts serve)")
    elif not Path(settings.scan_dir).is_dir():
        found.append(f"HOPNHAT_SCAN_DIR {settings.scan_dir!r} is not a directory")
    if not settings.trusted_proxies:
        found.append("HOPNHAT_TRUSTED_PROXIES must name the TLS reverse proxy (else HTTPS is not seen, cookies leak)")
    if settings.cookie_secure is False:
        found.append("HOPNHAT_COOKIE_SECURE must not be false (session cookies over plain HTTP)")
    if settings.debug:
        found.append("HOPNHAT_DEBUG must be off (tracebacks may quote records)")
    return found


def check(settings: Settings) -> None:
    """Refuse to start a production process with its settings incomplete, naming every problem."""
    if not settings.production:
        return
    found = problems(settings)
    if found:
        raise NotProductionReady("HOPNHAT_PRODUCTION is set but: " + "; ".join(found))


__all__ = ["NotProductionReady", "check", "problems"]
