"""What every part's CLI shares: the store from the root ``--db`` option, the consoles, JSON output, dates, and
output for people (tables in the language of ``HOPNHAT_LANG``, Vietnam time, plurals).

Results go to stdout; logs and progress to stderr. A command that prints data prints a table for people and, with
``--json``, JSON for machines (codes, numbers, UTC times in ISO 8601), the same in every language.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from hopnhat.errors import InvalidInput

if TYPE_CHECKING:
    from rich.table import Table

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


# --- output for people ----------------------------------------------------------------------------------------


def lang(ctx: typer.Context | None = None) -> str:
    """The language of this command's output for people (``HOPNHAT_LANG``: vi or en)."""
    if ctx is not None:
        return state(ctx).settings.lang
    from hopnhat.config import get_settings

    return get_settings().lang


def tr(key: str, language: str) -> str:
    """A text of :mod:`hopnhat.i18n` in ``language``."""
    from hopnhat.i18n import translate

    return translate(key, language)


def count(n: int, key: str, language: str) -> str:
    """``n`` and the noun of ``key``: "1 record", "2 records"; Vietnamese has no plural ("1 bản ghi", "2 bản ghi").

    The English text of a counted noun is ``"singular|plural"``."""
    from hopnhat.i18n import TEXTS

    vi, en = TEXTS.get(key, (key, key))
    if language != "en":
        return f"{n:,} {vi}".replace(",", ".")  # Vietnamese groups thousands with a dot
    one, _, many = en.partition("|")
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def local_time(value: datetime | None, language: str) -> str:
    """A stored instant in Vietnam time, as people there write it (dd/mm/yyyy in Vietnamese); "-" when absent."""
    if value is None:
        return "-"
    from datetime import UTC

    from hopnhat.config import VN_TZ

    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # the store keeps UTC; SQLite hands it back naive
    local = value.astimezone(VN_TZ)
    return f"{local:%d/%m/%Y %H:%M}" if language != "en" else f"{local:%Y-%m-%d %H:%M}"


def status_name(status: int, language: str) -> str:
    """A dossier status by its name (the portal's numbers are what ``--json`` gives)."""
    return tr(f"status_{status}", language)


def value(raw: object, language: str) -> str:
    """An enumerated value (a state, a level, a decision) by its name: ``cli_v_<value>`` or ``v_<value>`` of
    :mod:`hopnhat.i18n`, else the value as it is; "-" for none."""
    from hopnhat.i18n import TEXTS

    if raw is None or raw == "":
        return "-"
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    for key in (f"cli_v_{text}", f"v_{text}"):
        if key in TEXTS:
            return tr(key, language)
    return text


_CENTER_PREFIX = "trung tâm phục vụ hành chính công "


def short_center(name: str | None) -> str:
    """A center's name without the words every center's name starts with, for a narrow column."""
    if not name:
        return "-"
    if name.lower().startswith(_CENTER_PREFIX) and len(name) > len(_CENTER_PREFIX):
        rest = name[len(_CENTER_PREFIX) :]
        return rest[0].upper() + rest[1:]  # "thành phố Cần Thơ" begins the cell
    return name


def reason(text: str, language: str) -> str:
    """A reason a service gave, in ``language`` (:func:`hopnhat.i18n.translate_reason`)."""
    from hopnhat.i18n import translate_reason

    return translate_reason(text, language)


def table(language: str, *header_keys: str) -> Table:
    """A table whose headers are the texts of ``header_keys``; at 80 columns a header wraps rather than being cut."""
    from rich import box
    from rich.table import Column, Table

    # A header wraps between words when its column is narrow (rich cuts it with "…" by default). The first column
    # names the row (a dossier code, a center) and stays on one line, so a code is never split.
    columns = [Column(tr(key, language), overflow="fold", no_wrap=i == 0) for i, key in enumerate(header_keys)]
    # Rules under the header only: no vertical borders, so many columns still fit in 80, and rows copy cleanly.
    return Table(*columns, header_style="bold", box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True)


def print_table(t: Table, rows: Iterable[Iterable[str]]) -> None:
    for row in rows:
        t.add_row(*row)
    console.print(t, highlight=False)


def as_service(ctx: typer.Context) -> None:
    """Log at ``HOPNHAT_LOG_LEVEL`` (INFO by default): a command that keeps running, whose logs journald keeps. A
    one-shot command logs warnings only unless the level is set, so its result is not mixed with log lines."""
    logging.getLogger().setLevel(state(ctx).settings.log_level.upper())
