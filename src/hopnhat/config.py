"""One typed settings object, read from ``HOPNHAT_*`` environment variables.

Every field carries its help text; ``tests/test_config.py`` fails when a field is missing from README.md, so a
setting cannot exist without being documented.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
"""Vietnam time (UTC+7, no daylight saving): every legal date and deadline is in it."""


class Settings(BaseSettings):
    """Settings of one hopnhat process (CLI command, API server or worker)."""

    model_config = SettingsConfigDict(env_prefix="HOPNHAT_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///hopnhat.db",
        description="SQLAlchemy URL of the store. SQLite file by default; "
        "postgresql+psycopg://postgres@127.0.0.1:5432/hopnhat in production.",
    )
    province_code: str = Field(
        default="92",
        pattern=r"^\d{2}$",
        description="Code of the province this installation serves (two digits, as on 1 July 2025: Thành phố Cần "
        "Thơ = 92, Tỉnh Đồng Nai = 75). Every part reads it through hopnhat.config.province_code(); the "
        "registry holds the whole country, the centers and the routing are this province's.",
    )
    debug: bool = Field(default=False, description="Show tracebacks for unexpected errors in the CLI.")
    log_level: str = Field(
        default="INFO",
        description="Log level of the hopnhat loggers (the server and the long-running commands; a one-shot CLI "
        "command logs warnings only unless this is set).",
    )
    lang: Literal["vi", "en"] = Field(
        default="vi",
        description="Language of the CLI's tables and messages for people: vi (the default) or en. --json output "
        "is the same in both.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text (one readable line) or json (one JSON object a line, with the request id, for the city's "
        "log collector); personal data never reaches the log in either.",
    )
    ready_relay_lag_seconds: int = Field(
        default=3600,
        ge=0,
        description="Readiness fails when the oldest event the portal relay has not delivered is older than this "
        "(0: not checked).",
    )
    ready_sync_max_age_hours: float = Field(
        default=26,
        ge=0,
        description="Readiness fails when the last sync run failed or ended longer ago than this (0: age not "
        "checked; no run yet passes).",
    )
    production: bool = Field(
        default=False,
        description="A production deployment: serve, monitor, sync and the relay refuse to start unless the settings "
        "README lists under Production are set (PostgreSQL store, audit key, secret key, file store).",
    )
    public_rate_limit_per_minute: int = Field(
        default=120, description="Requests per minute one client may make to the public dossier lookup."
    )
    sync_config: str | None = Field(
        default=None,
        description="Path of the sources.toml the web pages use to replay quarantined records "
        "(hopnhat demo sets it to its --out folder's sources.toml when unset).",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key that signs web cookies and CSRF tokens. Unset: generated on first use and kept in the store, "
        "so every host on one PostgreSQL shares it; serve on a non-loopback address refuses a known-weak value.",
    )
    session_idle_minutes: int = Field(
        default=60, ge=1, le=24 * 60, description="A web session ends after this many minutes without a request."
    )
    session_absolute_hours: float = Field(
        default=12, gt=0, le=24 * 30, description="A web session ends this many hours after sign-in, active or not."
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="Mark cookies Secure (sent over HTTPS only). Unset: Secure whenever the request came over HTTPS, "
        "directly or through a trusted proxy.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks of reverse proxies allowed to set X-Forwarded-For and "
        "X-Forwarded-Proto; from any other peer those headers are ignored.",
    )
    officer_rate_limit_per_minute: int = Field(
        default=600, ge=1, description="Requests per minute one signed-in account or token may make to the API."
    )
    cli_account: str | None = Field(
        default=None,
        description="Account the CLI acts as on a local SQLite store (whoever can open the file is trusted, as psql "
        "trusts a peer). Unset: the account named like the OS user, if there is one.",
    )
    token: str | None = Field(
        default=None,
        description="Machine token the CLI presents (hopnhat tokens create); required on PostgreSQL for commands "
        "that show personal data or change dossiers.",
    )
    scan_dir: str | None = Field(
        default=None,
        description="Directory of the dossiers' scanned documents (the file store). Unset: a 'scans' folder beside "
        "the SQLite store; required with PostgreSQL (a shared volume when several hosts serve).",
    )
    scan_max_mb: float = Field(
        default=8.0,
        gt=0,
        le=200,
        description="Largest scanned document accepted, in megabytes (keep it under HOPNHAT_MAX_REQUEST_BYTES).",
    )
    scan_types: str = Field(
        default="pdf,jpeg,png",
        description="Comma-separated kinds of scan accepted (pdf, jpeg, png); each is checked by its content.",
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="Issuer URL of the city's OpenID Connect provider; set it to offer single sign-on.",
    )
    oidc_client_id: str | None = Field(default=None, description="Client id of hopnhat at the OpenID provider.")
    oidc_client_secret: str | None = Field(default=None, description="Client secret of hopnhat at the OpenID provider.")
    oidc_scopes: str = Field(
        default="openid profile email groups", description="Scopes hopnhat asks the OpenID provider for."
    )
    oidc_audience: str | None = Field(
        default=None,
        description="Audience the API requires in the provider's JWT access tokens (unset: the client id).",
    )
    oidc_role_mapping: str | None = Field(
        default=None,
        description="YAML or JSON file mapping the provider's groups or claims to roles, centers and units "
        "(see README, Identity and access); unset: the bundled mapping.",
    )
    probe_allowed_networks: str = Field(
        default="10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,global",
        description="Comma-separated networks health probes may reach ('global' = any public address); checked when "
        "a probe is saved and again when it connects. Loopback and link-local only when listed.",
    )
    max_request_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest request body the API and pages accept, in bytes; a larger one gets 413.",
    )
    import_max_bytes: int = Field(
        default=200 * 1024 * 1024,
        ge=1024,
        description="Largest file an operator may import (centers, catalogue, plan, change sets, convert-file), "
        "in bytes.",
    )
    import_max_rows: int = Field(
        default=2_000_000, ge=1, description="Most rows an imported CSV or XLSX file may have."
    )
    xlsx_max_uncompressed_bytes: int = Field(
        default=500 * 1024 * 1024,
        ge=1024,
        description="Largest decompressed size of an XLSX file (a zip bomb is refused before it is parsed).",
    )
    audit_key: str | None = Field(
        default=None,
        description="Key that signs the audit chain's heads, kept outside the store so a database writer cannot "
        "recompute the chain; unset (demo, tests): the heads are unsigned and audit verify says so.",
    )
    notice_channels: str = Field(
        default="",
        description="Comma-separated channels the notices to citizens go by (email, sms, zalo); empty: no notices. "
        "A notice goes only to a contact given with the dossier with the applicant's consent.",
    )
    notice_public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Public address of hopnhat's pages, for the lookup and opt-out links in notices.",
    )
    notice_center_name: str = Field(
        default="Trung tâm Phục vụ hành chính công",
        description="Name a notice gives when the dossier's center has none in the registry.",
    )
    notice_center_phone: str = Field(
        default="",
        description="Phone a notice gives when the dossier's center has none in the registry (never invented: "
        "empty leaves the line out).",
    )
    notice_max_attempts: int = Field(
        default=8, ge=1, le=100, description="Failed sends after which a notice goes to the dead letters."
    )
    notice_backoff_seconds: float = Field(
        default=30.0, gt=0, description="Wait after a notice's first failed send; doubles with each failure."
    )
    notice_backoff_cap_seconds: float = Field(
        default=3600.0, gt=0, description="Longest wait between two sends of a failing notice."
    )
    smtp_host: str | None = Field(default=None, description="SMTP server of the e-mail notices.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Port of the SMTP server.")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="none",
        description="none, starttls (upgrade the connection, port 587) or tls (TLS from the start, port 465).",
    )
    smtp_user: str | None = Field(default=None, description="SMTP account, when the server requires a login.")
    smtp_password: str | None = Field(default=None, description="Password of the SMTP account.")
    smtp_sender: str = Field(
        default="hopnhat@localhost", description="From address of the e-mail notices (its domain ends the Message-ID)."
    )
    smtp_timeout_seconds: float = Field(default=20.0, gt=0, description="Timeout of one SMTP exchange.")
    smtp_connections: int = Field(
        default=4, ge=1, le=32, description="SMTP connections the e-mail relay keeps open and uses at once."
    )
    sms_url: str | None = Field(default=None, description="URL of the SMS provider's send API (HTTP POST, JSON).")
    sms_account: str | None = Field(default=None, description="Account (brand name / client id) at the SMS provider.")
    sms_key: str | None = Field(default=None, description="API key at the SMS provider (sent as a Bearer token).")
    sms_templates: str = Field(
        default="",
        description="Registered template codes at the SMS provider, event=code comma-separated "
        "(receipt, supplement, refusal, delay, result), e.g. receipt=HN01,refusal=HN03.",
    )
    zalo_url: str | None = Field(default=None, description="URL of the Zalo (ZNS) provider's send API.")
    zalo_account: str | None = Field(default=None, description="Zalo Official Account id.")
    zalo_key: str | None = Field(default=None, description="Access key of the Zalo Official Account (Bearer).")
    zalo_templates: str = Field(
        default="", description="Approved ZNS template ids, event=id comma-separated, as for HOPNHAT_SMS_TEMPLATES."
    )
    gateway_timeout_seconds: float = Field(default=10.0, gt=0, description="Timeout of one SMS or Zalo call.")


def files_dir(settings: Settings) -> Path | None:
    """The scans' file store, as the officer's day stores them: ``HOPNHAT_SCAN_DIR``, else ``scans/`` beside the
    SQLite store (None on PostgreSQL unset)."""
    if settings.scan_dir:
        return Path(settings.scan_dir)
    url = settings.database_url
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///")).resolve().parent / "scans"
    return None


def province_code() -> str:
    """The province this deployment serves (``HOPNHAT_PROVINCE_CODE``): the one call every part makes for it."""
    return get_settings().province_code


def notice_channels() -> tuple[str, ...]:
    """The channels notices go by (``HOPNHAT_NOTICE_CHANNELS``), known ones only, in a fixed order."""
    wanted = {c.strip().lower() for c in get_settings().notice_channels.split(",") if c.strip()}
    return tuple(c for c in ("email", "sms", "zalo") if c in wanted)


def get_settings(**overrides: object) -> Settings:
    """Read the environment, then apply explicit overrides (the CLI's ``--db`` and friends)."""
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)  # type: ignore[arg-type]
