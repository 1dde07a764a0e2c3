"""The sync engine, read as its stages (like dlt's extract / normalize / load):

- extract: the connectors (:mod:`hopnhat.sync.connectors`), each record made canonical by its source's mapping
  (:mod:`hopnhat.sync.mapping`, configuration, never Python);
- normalise (:mod:`hopnhat.sync.normalise`): values, reasons, hashes; pure;
- load (:mod:`hopnhat.sync.load`): the rules of a batch, staged without the store, applied in the caller's
  transaction; its backend (driver tuning, the write gate) is :mod:`hopnhat.sync.repository`;
- jobs (:mod:`hopnhat.sync.jobs`): the only part that commits, a batch and the cursor together.

This module keeps the names the other parts import.
"""

from __future__ import annotations

from hopnhat.sync.jobs import CURSOR_VERSION, _paced_collector, since_from_cursor, sync_source
from hopnhat.sync.load import COUNT_KEYS, Counts, Staged, apply_batch, receipt_month, stage_batch
from hopnhat.sync.normalise import (
    _LENGTHS,
    _MOJIBAKE,
    RAW_CHECK_VERSION,
    Prepared,
    SourceContext,
    normalise,
    parse_when,
    raw_check,
    record_digest,
    row_hash,
)

__all__ = [
    "COUNT_KEYS",
    "CURSOR_VERSION",
    "RAW_CHECK_VERSION",
    "_LENGTHS",
    "_MOJIBAKE",
    "Counts",
    "Prepared",
    "SourceContext",
    "Staged",
    "_paced_collector",
    "apply_batch",
    "normalise",
    "parse_when",
    "raw_check",
    "receipt_month",
    "record_digest",
    "row_hash",
    "since_from_cursor",
    "stage_batch",
    "sync_source",
]
