"""The ranges a caller's numbers and dates must fall in, so that a value the store or date arithmetic cannot hold is a
422 naming the field, never a 500.

Pure Pydantic (no FastAPI): the schemas, the CLI's imports and the endpoints share these. An id of a row is at most
:data:`INT_MAX` (PostgreSQL's INTEGER; a larger one overflowed the driver); a day lies between :data:`FIRST_DAY` and
:data:`LAST_DAY`, far enough from ``date.min`` and ``date.max`` that a day added for an end bound, a shift to UTC or a
week subtracted for a default range never leaves Python's calendar (``9999-12-31`` plus a day was a 500).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

INT_MAX = 2**31 - 1
"""Largest value of an INTEGER column on PostgreSQL (SQLite's hold 64 bits): ids and counts stay below it."""

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2199, 12, 31)

Day = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY)]
"""A calendar day from 1900-01-01 to 2199-12-31."""


def _in_range(value: datetime) -> datetime:
    if not FIRST_DAY <= value.date() <= LAST_DAY:
        raise ValueError(f"must fall between {FIRST_DAY} and {LAST_DAY}")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]
"""A moment with its time zone (the store keeps aware instants only: a naive one was a 500), in the range of
:data:`Day`."""


__all__ = ["FIRST_DAY", "INT_MAX", "LAST_DAY", "Day", "Instant"]
