"""One typed settings object, read from ``HOPNHAT_*`` environment variables.

Every field carries its help text; ``tests/test_config.py`` fails when a field is missing from README.md, so a
setting cannot exist without being documented.
"""

from __future__ import annotations

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
        default="92", description="Code of the province this installation serves (Thành phố Cần Thơ = 92)."
    )
    debug: bool = Field(default=False, description="Show tracebacks for unexpected errors in the CLI.")
    log_level: str = Field(default="INFO", description="Log level of the hopnhat loggers.")
    public_rate_limit_per_minute: int = Field(
        default=120, description="Requests per minute one client may make to the public dossier lookup."
    )
    sync_config: str | None = Field(
        default=None,
        description="Path of the sources.toml the web pages use to replay quarantined records "
        "(hopnhat demo sets it to its --out folder's sources.toml when unset).",
    )
    secret_key: str = Field(
        default="change-me-in-production",
        description="Key that signs web session cookies; set a long random value in production.",
    )


def get_settings(**overrides: object) -> Settings:
    """Read the environment, then apply explicit overrides (the CLI's ``--db`` and friends)."""
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)  # type: ignore[arg-type]
