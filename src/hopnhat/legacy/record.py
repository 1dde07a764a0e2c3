"""One simulated dossier in national terms, and the faults a system can carry; each system renders it its own way."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hopnhat.legacy import catalog

FAULT_TYPES = (
    "transfer",
    "duplicate_row",
    "invalid_date",
    "unknown_unit",
    "misspelled_unit",
    "missing_field",
    "wrong_encoding",
)
ROW_FAULTS = ("invalid_date", "unknown_unit", "misspelled_unit", "missing_field", "wrong_encoding")
"""Faults that change the content of one record (at most one per record)."""


@dataclass
class Dossier:
    """Times are naive Vietnam local time, as all three old systems store them."""

    code: str
    procedure: str
    applicant: str
    citizen_id: str
    phone: str
    address: str
    applicant_type: int
    channel: int
    status: int
    received: datetime
    due: datetime
    returned: datetime | None
    updated: datetime
    unit: str
    """Old unit code: commune (5 digits), district (3) or province (2)."""
    agency: str
    fault: str | None = None
    """One of ROW_FAULTS, applied when the record is rendered."""
    fault_field: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = dict(vars(self))  # flat fields: asdict's deep copy is the slow path
        for key in ("received", "due", "returned", "updated"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dossier:
        data = dict(data)
        for key in ("received", "due", "returned", "updated"):
            if data[key] is not None:
                data[key] = datetime.fromisoformat(data[key])
        return cls(**data)

    @property
    def place(self) -> catalog.Place:
        return catalog.place_of(self.unit)

    @property
    def proc(self) -> catalog.Procedure:
        return catalog.PROCEDURE_BY_CODE[self.procedure]


def mojibake(text: str) -> str:
    """UTF-8 bytes read as cp1252: what a wrong client encoding makes of Vietnamese ("Nguyễn" -> "Nguyá»…n").

    Composed first: the UTF-8 of a combining mark read as cp1252 is no telltale pair a reader can recognise."""
    return unicodedata.normalize("NFC", text).encode("utf-8").decode("cp1252", errors="replace")


def garbled_field(applicant: str, name_field: str, address_field: str) -> str:
    """Where a ``wrong_encoding`` fault goes: the applicant's name, unless it is plain ASCII ("Phan Minh Long"),
    whose mojibake is the name itself, so no fault; then the address, which always has Vietnamese letters (it
    ends with the province name)."""
    return address_field if applicant.isascii() else name_field


def impossible_day(moment: datetime, rng: random.Random) -> tuple[int, int, int]:
    """(year, month, day) that no calendar has: 31 February, 30 February or month 13."""
    return rng.choice(((moment.year, 2, 31), (moment.year, 2, 30), (moment.year, 13, min(moment.day, 28))))


def add_working_days(start: datetime, days: int) -> datetime:
    """Due date: ``days`` Monday-to-Friday days after ``start`` (holidays ignored: a simulator)."""
    moment = start
    left = days
    while left > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    return moment.replace(hour=16, minute=30, second=0)
