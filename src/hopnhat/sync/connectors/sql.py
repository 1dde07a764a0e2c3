"""Connector for a database read through any SQLAlchemy URL (Sóc Trăng's ``tb_hoso`` through its bundled profile):
``url`` (a password as ``password = { env = "NAME" }``, put into the URL at connect time, never written in it),
``table`` or ``query`` (a SELECT, read as a subquery), ``id_column``, ``cursor_column`` and ``order_by``."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError

from hopnhat.sync.connectors.base import RawRecord, Scan, TerminalError, TransientError, require, row_digests
from hopnhat.sync.mapping import Mapping as SourceMapping
from hopnhat.sync.profiles import resolve
from hopnhat.sync.secrets import secret

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def _plain(value: Any) -> Any:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else value


def _name(value: Any, what: str) -> str:
    name = str(value)
    if not _NAME.match(name):
        raise TerminalError(f"{what} {name!r} is not a plain table or column name")
    return name


class SqlConnector:
    kind = "sql"

    def __init__(self, options: Mapping[str, Any]) -> None:
        opts = resolve({"connector": self.kind, **options})
        try:
            self.url: URL = make_url(str(require(opts, "url")))
        except ArgumentError as exc:
            raise TerminalError(f"url is no SQLAlchemy URL: {str(exc)[:100]}") from exc
        if self.url.password is not None:
            raise TerminalError('the url holds a password: give it as password = { env = "NAME" } instead')
        self.password_ref = opts if "password" in opts else None
        self.query = opts.get("query")
        self.table = None if self.query else _name(opts.get("table", ""), "table")
        self.cursor_column = _name(require(opts, "cursor_column"), "cursor column")
        self.id_column = _name(opts.get("id_column", "id"), "id column")
        order = opts.get("order_by", [self.cursor_column])
        self.order_by = [_name(c, "order_by column") for c in ([order] if isinstance(order, str) else order)]
        self.batch = int(opts.get("batch_size", 5000))
        # The id column is the source id of a row (a table keyed by its own row id may change a row's dossier code).
        mapping = {**dict(opts.get("mapping") or {}), "id": self.id_column}
        self.mapping = SourceMapping(mapping, province_code=str(opts.get("province_code", "")))

    def location(self) -> str:
        where = f"query {str(self.query)[:200]}" if self.query else f"table {self.table}"
        return f"{self.url.render_as_string(hide_password=True)} {where}"

    def _rows(self, since: datetime | None) -> Iterator[tuple[list[str], Sequence[Any]]]:
        """The column names and the rows in chunks (``partitions``: one driver call per chunk, streamed), in update
        order. A scan needs that order too: of two rows with one id and one update time, the later row wins, as in
        the sync (without ``ORDER BY`` the winner would be whichever the storage gave last)."""
        url = self.url
        if self.password_ref is not None:
            url = url.set(password=secret(self.password_ref, "password"))
        engine = create_engine(url)
        source = f"({self.query}) AS q" if self.query else self.table
        where = f"WHERE {self.cursor_column} >= :since " if since is not None else ""
        query = text(f"SELECT * FROM {source} {where}ORDER BY {', '.join(self.order_by)}")
        params = {"since": since.strftime("%Y-%m-%d %H:%M:%S")} if since is not None else {}
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=self.batch).execute(query, params)
                keys = list(result.keys())
                # The size given again: without it ``partitions`` yielded one row at a time here (one driver
                # ``fetchmany`` per row: most of reading the table).
                for rows in result.partitions(self.batch):
                    yield keys, rows
        except OperationalError as exc:
            raise TransientError(f"database error: {str(exc.orig)[:200]}") from exc
        except (DBAPIError, SQLAlchemyError) as exc:
            raise TerminalError(f"database error: {str(exc)[:200]}") from exc
        finally:
            engine.dispose()

    def _record(self, keys: list[str], row: tuple[Any, ...], digest: bytes) -> RawRecord:
        payload = dict(zip(keys, row, strict=True))
        if any(type(v) is datetime for v in row):
            payload = {k: _plain(v) for k, v in payload.items()}
        return self.mapping.record(payload, digest)

    def extract(self, since: datetime | None) -> Iterator[RawRecord]:
        record = self._record
        for keys, rows in self._rows(since):
            values = [tuple(row) for row in rows]
            for row, digest in zip(values, row_digests(values), strict=True):
                yield record(keys, row, digest)

    def scan(self, since: datetime | None) -> Iterator[Scan]:
        for keys, rows in self._rows(since):
            cursor_at = keys.index(self.cursor_column) if self.cursor_column in keys else -1
            id_at = keys.index(self.id_column) if self.id_column in keys else -1
            values = [tuple(row) for row in rows]
            ids = [str(v[id_at] or "") for v in values] if id_at >= 0 else [""] * len(values)
            stamps = [str(_plain(v[cursor_at]) or "") for v in values] if cursor_at >= 0 else [""] * len(values)
            digests = row_digests(values)
            yield Scan(ids, stamps, digests, partial(self._built, keys, values, digests))

    def _built(self, keys: list[str], values: list[tuple[Any, ...]], digests: list[bytes], i: int) -> RawRecord:
        return self._record(keys, values[i], digests[i])
