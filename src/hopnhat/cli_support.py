"""What every part's CLI shares: the store from the root ``--db`` option, the consoles, JSON output, dates."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from hopnhat.errors import InvalidInput

if TYPE_CHECKING:
    # Types only: every ``hopnhat`` call imports this module, and SQLAlchemy is needed only once a command opens
    # the store.
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from hopnhat.config import Settings
    from hopnhat.identity.principal import Principal

console = Console()
err_console = Console(stderr=True)


class CliState:
    """Carried in ``ctx.obj``: settings from the root callback, the engine made on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None

    def engine(self) -> Engine:
        """The store, refused when its schema is behind on PostgreSQL (:func:`hopnhat.db.check_schema`)."""
        if self._engine is None:
            from hopnhat.db import check_schema, make_engine
            from hopnhat.ops import production

            production.check(self.settings)  # HOPNHAT_PRODUCTION: every setting a deployment needs, or no start
            engine = make_engine(self.settings.database_url)
            try:
                check_schema(engine)
            except BaseException:
                engine.dispose()
                raise
            self._engine = engine
        return self._engine

    def raw_engine(self) -> Engine:
        """The store as it is, schema unchecked: for ``hopnhat db`` commands only (upgrade, current, restore)."""
        if self._engine is None:
            from hopnhat.db import make_engine

            self._engine = make_engine(self.settings.database_url)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    obj = root.obj
    if not isinstance(obj, CliState):
        from hopnhat.config import get_settings

        obj = CliState(get_settings())
        root.obj = obj
    return obj


def engine(ctx: typer.Context) -> Engine:
    return state(ctx).engine()


def audited(
    ctx: typer.Context, session: Session, action: str, kind: str, key: str, changes: dict[str, Any] | None = None
) -> None:
    """Record an administrative command in the audit log, as the principal it acts for, in its transaction."""
    from hopnhat.identity import audit

    audit.record(session, principal(ctx, session), action, object_type=kind, object_id=key, changes=changes)


def principal(ctx: typer.Context, session: Session) -> Principal:
    """The principal this command acts as (:func:`hopnhat.identity.service.cli_principal`)."""
    from hopnhat.identity.service import cli_principal

    return cli_principal(session, state(ctx).settings)


def parse_day(value: str | None, option: str = "--on") -> date:
    """A user-typed date (YYYY-MM-DD, or dd/mm/yyyy as written in Vietnam); today when empty."""
    if value is None or value == "":
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    parts = value.split("/")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        try:
            return date(int(parts[2]), int(parts[1]), int(parts[0]))
        except ValueError:
            pass
    shown = value[:40] + "…" if len(value) > 40 else value  # one readable line, whatever was pasted
    raise InvalidInput(f"{option} {shown!r} is not a valid date (YYYY-MM-DD or dd/mm/yyyy)")


def print_json(data: Any) -> None:
    """JSON to stdout, UTF-8 (Vietnamese text stays readable), dates as ISO strings."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
