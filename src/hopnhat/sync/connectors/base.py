"""The connector interface, its error tree and the registry of connectors.

Error tree::

    SourceError            a source could not be read
    ├── TransientError     worth retrying (HTTP 5xx, timeouts, dropped connections)
    └── TerminalError      retrying will not help (bad configuration, 4xx, source stays down): stops that source
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, NamedTuple, Protocol

import orjson
import xxhash

GROUP = "hopnhat.connectors"

CANONICAL_FIELDS = (
    "code",
    "procedure_code",
    "procedure_name",
    "field_code",
    "applicant_name",
    "applicant_id_number",
    "applicant_phone",
    "applicant_address",
    "applicant_type",
    "channel",
    "status",
    "received_at",
    "due_at",
    "returned_at",
    "unit",
    "agency_code",
)
"""Keys of :attr:`RawRecord.fields`; values are still source values (dates as text or datetime, unit as code or
name), the engine normalises them. ``unit_is_name`` (bool) says the unit is a name, not a code."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    source_id: str
    updated: datetime | None
    """Source update time, naive Vietnam local time (the cursor); ``None`` when unreadable."""
    payload: dict[str, Any]
    """The record exactly as read (kept in quarantine)."""
    fields: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    """What the connector already found wrong (bytes not UTF-8, ...)."""
    digest: bytes = b""
    """A digest of the record exactly as the source holds it (its line's bytes, its row, its item), the same as
    :meth:`Connector.scan` gives for it; empty when the connector has none (the engine then digests ``fields`` and
    ``problems``). Stored with the record's copy, it lets reconciliation skip every record the source still holds
    as it was loaded."""


class Scan(NamedTuple):
    """A chunk of source records as :meth:`Connector.scan` gives them: per record (same index in each list) its
    source id, its update stamp as text that sorts in update order within the source, and its
    :attr:`RawRecord.digest`; ``build(i)`` makes the whole :class:`RawRecord` of record ``i`` (called only for the
    records reconciliation must normalise again). Lists per chunk, not a tuple per record: reconciliation checks a
    chunk with comprehensions and set operations, and most records of a source need nothing else."""

    ids: list[str]
    stamps: list[str]
    digests: list[bytes]
    build: Callable[[int], RawRecord]


class SourceError(Exception):
    pass


class TransientError(SourceError):
    pass


class TerminalError(SourceError):
    pass


class Connector(Protocol):
    """Reads one source. ``extract`` yields every record updated at or after ``since`` (all when ``None``) in
    update-time order, streaming (never the whole source in memory).

    A connector may also have ``scan(since) -> Iterator[Scan]``: every record, in any order, in chunks of
    :class:`Scan`, at a fraction of ``extract``'s cost (reconciliation reads whole sources with it and builds a
    record only when its digest is not the stored one). Without it reconciliation uses ``extract``."""

    def extract(self, since: datetime | None) -> Iterator[RawRecord]: ...


def digest_of(data: bytes) -> bytes:
    """The digest connectors give :attr:`RawRecord.digest`: XXH3-128 of the bytes. It tells whether a record is
    still the one loaded, against accidents, not against forgers (anyone who can rewrite a source row can rewrite
    the store too); a tenth of SHA-256's cost here, paid once per record by every sync and every reconciliation."""
    return xxhash.xxh3_128_digest(data)


def row_digest(values: tuple[Any, ...] | dict[str, Any]) -> bytes:
    """Digest of a row or an item as read, serialised with orjson (C; the same values always give the same bytes;
    several times cheaper than ``marshal``, which re-encodes every non-ASCII text to UTF-8), ``repr`` for what it
    refuses (bytes, keys that are not text). A later version that changes the serialisation only makes digests
    miss, never match wrongly."""
    try:
        data = orjson.dumps(values)
    except TypeError:
        data = repr(values).encode()
    return digest_of(data)


def row_digests(rows: Sequence[Any]) -> list[bytes]:
    """:func:`row_digest` of each row, in one comprehension (a chunk of a scan); the same digests, row by row
    through :func:`row_digest` as soon as one row is something orjson refuses."""
    dumps = orjson.dumps
    try:
        return [digest_of(dumps(row)) for row in rows]
    except TypeError:
        return [row_digest(row) for row in rows]


def as_text(value: Any) -> str:
    """A scanned id or stamp as text: text as it is, anything else through ``str``, nothing (``None``, empty) as
    ``""``."""
    return value if type(value) is str else str(value or "")


ConnectorFactory = Callable[[Mapping[str, Any]], Connector]


def available() -> dict[str, ConnectorFactory]:
    """Every connector installed packages declare in the entry-point group, hopnhat's own included (its
    ``pyproject.toml`` declares them like any plug-in: importing them here too made an import cycle)."""
    return {ep.name: ep.load() for ep in entry_points(group=GROUP)}


def get_connector(name: str, options: Mapping[str, Any]) -> Connector:
    factories = available()
    if name not in factories:
        raise TerminalError(f"unknown connector {name!r} (known: {', '.join(sorted(factories))})")
    return factories[name](options)


def require(options: Mapping[str, Any], key: str) -> Any:
    if key not in options:
        raise TerminalError(f"option {key!r} is missing")
    return options[key]
