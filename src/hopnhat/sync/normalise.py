"""Stage 1 of the sync, normalise: a source record (as a mapping made it) -> the store's values, or every reason it
cannot be loaded. Pure: no store, no commit. Also the hashes that let reconciliation trust a record unchanged."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
import xxhash

from hopnhat.config import VN_TZ
from hopnhat.store.models import Dossier, IdType
from hopnhat.sync.connectors.base import RawRecord, row_digest
from hopnhat.sync.remap import Remapper

REQUIRED = {"code": "dossier code", "procedure_code": "procedure code", "received_at": "receipt date"}
TEXT_FIELDS = (
    "code",
    "procedure_code",
    "procedure_name",
    "field_code",
    "applicant_name",
    "applicant_id_number",
    "applicant_phone",
    "applicant_address",
    "agency_code",
)
# UTF-8 Vietnamese read as cp1252 or latin-1: every precomposed letter is C3..C6 + one continuation byte
# (Ã Ä Å Æ + x) or E1 BA/BB + one (áº x, á» x); x is a byte 80..BF as either code page shows it, or U+FFFD for the
# bytes cp1252 leaves undefined (Á Í Ý Đ). Ä Å Æ are no Vietnamese letters, so a space after them (a NBSP of Ơ
# squeezed) or the end (a NBSP stripped) counts too; Ã is one (NGÃ BA), so only continuations count after it, and
# no letter is followed by º or ». tests/sync/test_normalise.py checks both directions over the whole alphabet.
_CONTINUATION = re.escape(
    "".join(sorted({chr(b) for b in range(0x80, 0xC0)} | set(bytes(range(0x80, 0xC0)).decode("cp1252", "replace"))))
)
# One literal lead per branch: the regex engine then skips ahead to those characters (a leading class instead
# makes clean text, the common case, about twice as slow to scan).
_MOJIBAKE = re.compile(
    f"Ã[{_CONTINUATION}]|Ä(?:[{_CONTINUATION} ]|$)|Å(?:[{_CONTINUATION} ]|$)|Æ(?:[{_CONTINUATION} ]|$)"
    f"|áº[{_CONTINUATION}]|á»[{_CONTINUATION}]"
)
_nfc = unicodedata.normalize


def _fields(text: str) -> tuple[int, int, int, int, int, int] | None:
    """Year, month, day, hour, minute, second of the layouts the sources use, by position (strptime is the
    slowest step of a sync otherwise)."""
    n = len(text)
    if n == 14 and text.isdigit():  # yyyyMMddHHmmss
        return (int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:]))
    if n in (10, 19) and text[2] == "/" and text[5] == "/":  # dd/mm/yyyy[ HH:MM:SS]
        time = (int(text[11:13]), int(text[14:16]), int(text[17:19])) if n == 19 else (0, 0, 0)
        return (int(text[6:10]), int(text[3:5]), int(text[:2]), *time)
    if n in (10, 19) and text[4] == "-" and text[7] == "-":  # yyyy-mm-dd[ HH:MM:SS]
        time = (int(text[11:13]), int(text[14:16]), int(text[17:19])) if n == 19 else (0, 0, 0)
        return (int(text[:4]), int(text[5:7]), int(text[8:10]), *time)
    return None


def parse_when(value: Any) -> tuple[datetime | None, bool]:
    """Source local time -> aware Asia/Ho_Chi_Minh; second value False when a value is present but impossible."""
    if value is None:
        return None, True
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=VN_TZ)), True
    text = (value if isinstance(value, str) else str(value)).strip()
    if not text:
        return None, True
    try:
        parts = _fields(text)
        if parts is None:
            return None, False
        return datetime(*parts, tzinfo=VN_TZ), True
    except ValueError:
        return None, False


def _instant(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


def row_hash(values: Mapping[str, Any]) -> str:
    """Hash of the mapped fields (reconciliation compares source and store with it).

    The values (texts, numbers, ``None``) are serialised with orjson (C, unambiguous, see
    :func:`~hopnhat.sync.connectors.base.row_digest`), the aware datetimes as their POSIX instants: ``repr`` of a
    tuple holding aware datetimes spelt out the zone on every call and cost a quarter of the normalisation. XXH3-128
    (32 hex digits), like the digests: it detects change, and it is cheap enough to compute for every record."""
    get = values.get
    key = (
        *map(get, TEXT_FIELDS),
        get("applicant_type"),
        get("channel"),
        get("status"),
        _instant(get("received_at")),
        _instant(get("due_at")),
        _instant(get("returned_at")),
        get("unit"),
    )
    extra = get("newer_fields")
    if extra is not None:
        # Only mappings that fill the newer fields hash them: the copies of every other source keep their hashes.
        email, id_type, documents, submitted = extra
        key = (*key, email, id_type, documents, _instant(submitted))
    return xxhash.xxh3_128_hexdigest(orjson.dumps(key))


RAW_CHECK_VERSION = 5
"""Part of every :func:`raw_check`. Bump it when :func:`normalise` or a connector maps the same source record to
different values (a new rule, a changed hash): every stored check then misses, so reconciliation normalises every
record again instead of trusting values an older mapping computed."""

_CHECK_PREFIX = f"hopnhat-raw-check-{RAW_CHECK_VERSION}:".encode()


def record_digest(record: RawRecord) -> bytes:
    """The connector's digest of the record as the source holds it, or, from a connector that gives none, one of
    everything :func:`normalise` reads of it (``fields`` and ``problems``)."""
    return record.digest or row_digest((record.fields, record.problems))


def raw_check(digest: bytes, row_hash: str, status: int | None, unit_code: str | None, month: str | None) -> str:
    """What a copy stores of its source record (``raw_hash``): the record's digest (:func:`record_digest`) sealed
    with :data:`RAW_CHECK_VERSION` and with what the load stored from it in the copy row.

    Reconciliation computes it from the record the source holds now and the copy row as stored: equal means the
    source still holds the record as it was loaded AND the copy's mapped hash and reconciled columns are still the
    ones computed from it (an edited copy misses), so normalising it again is skipped; a change on either side
    misses and falls back to the full comparison."""
    # As text: a hex hash, a number, unit digits, ``yyyy-mm`` (or None), none of which holds a "|"; None and the text
    # "None" read the same, and no unit code or month is that text.
    sealed = f"{row_hash}|{status}|{unit_code}|{month}".encode()
    return xxhash.xxh3_128_hexdigest(_CHECK_PREFIX + digest + sealed)


@dataclass(slots=True)
class Prepared:
    record: RawRecord
    values: dict[str, Any] | None
    reasons: list[str]
    hash: str = ""


@dataclass(slots=True)
class SourceContext:
    name: str
    province_code: str
    remapper: Remapper
    run_id: int | None
    seen: dict[str, int] = field(default_factory=dict)
    """source id -> Python hash of the outcome key of the copy already handled in this run (a repeated identical
    copy is a duplicate); an int, not the hex digest, keeps a million-record source in a few hundred MB."""
    open_quarantine: set[str] | None = None
    """Source ids with an open quarantine entry, read once per run (None until the first batch): only those need
    resolving when a clean copy loads, instead of an UPDATE over every loaded id of every batch."""
    corrections: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    """source id -> (raw payload as quarantined, canonical fields that replace the mapped ones): the data stewards'
    active corrections of this source (:mod:`hopnhat.sync.stewardship`), read once per run."""
    superseded: set[str] = field(default_factory=set)
    """Source ids whose correction met a changed record in this run: the record won, the correction is retired."""
    unit_choices: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    """dossier code -> (original unit it was made for, unit a data steward picked), read once per run."""
    months: dict[tuple[int, int], str] = field(default_factory=dict)
    """(year, month) -> "yyyy-mm" of the copies' receipt months."""
    when_cache: dict[str, tuple[datetime | None, bool]] = field(default_factory=dict)
    """Date text -> :func:`parse_when` of it. Due dates repeat (a thousand distinct ones in 200k dossiers), and
    building an aware datetime is a good part of normalising a record. Cleared when it reaches
    ``_WHEN_CACHE_MAX``, so sources of unique stamps cost a dict insert per value, not unbounded memory."""
    serving: str = ""
    """Cache of :meth:`serving_province`."""

    def serving_province(self) -> str:
        """The province that serves this source's dossiers now (the new province that absorbed the source's former
        province); the former one stays in ``former_province_code``. The source's own code when the registry does
        not know it."""
        if not self.serving:
            found = self.remapper.remap(self.province_code, self.remapper.today) if self.province_code else None
            self.serving = found.unit_code if found is not None and found.unit_code else self.province_code
        return self.serving


_INT_RULES = (("status", 1, 10, None), ("channel", 1, 3, 1), ("applicant_type", 1, 4, 1))
_WHEN_CACHE_MAX = 65_536


_LENGTHS = {
    key: Dossier.__table__.columns["original_agency_code" if key == "agency_code" else key].type.length  # type: ignore[attr-defined]
    for key in TEXT_FIELDS
}
_ID_LENGTH = 200  # SourceCopy.source_id


SUPERSEDED_REASON = "changed in the former system after a data steward's correction; the source's record applies"


def plain_payload(payload: dict[str, Any]) -> Any:
    """A record's payload as the quarantine stores it (JSON types only), to compare with a stored one."""
    return json.loads(json.dumps(payload, ensure_ascii=False, default=str))


def corrected(ctx: SourceContext, record: RawRecord) -> tuple[RawRecord, str | None]:
    """The record with a steward's correction applied while the source sends it unchanged (its connector's own
    problems then go too: the steward read the record whole); a changed record as it is, with the flag to raise
    (ARCHITECTURE "Who owns a migrated dossier": the former system's change applies over a correction, flagged)."""
    raw, fields = ctx.corrections[record.source_id]
    if plain_payload(record.payload) != raw:
        ctx.superseded.add(record.source_id)
        return record, SUPERSEDED_REASON
    # The digest stays the source record's: reconciliation's raw check then still recognises the unchanged record.
    digest = record_digest(record)
    return RawRecord(record.source_id, record.updated, record.payload, {**record.fields, **fields}, [], digest), None


def normalise(ctx: SourceContext, record: RawRecord) -> Prepared:
    """One source record -> store values, or the reasons it cannot be loaded (all of them, not just the first)."""
    flag = None
    if ctx.corrections and record.source_id in ctx.corrections:
        record, flag = corrected(ctx, record)
    reasons = list(record.problems)
    if len(record.source_id) > _ID_LENGTH:
        reasons.append(f"source id longer than {_ID_LENGTH} characters (the store refuses it)")
    raw = record.fields
    values: dict[str, Any] = {}
    for key in TEXT_FIELDS:
        value = raw.get(key)
        if value is None:
            values[key] = None
            continue
        text = (value if isinstance(value, str) else str(value)).strip()
        # ASCII is NFC and cannot hold mojibake: most codes and numbers skip both checks.
        if "\x00" in text:
            # PostgreSQL refuses NUL in text: the record is quarantined with the reason, the source goes on.
            reasons.append(f"NUL byte in {key} (the store refuses it)")
            text = text.replace("\x00", "")
        if text and not text.isascii():
            text = _nfc("NFC", text)
            if _MOJIBAKE.search(text):
                reasons.append(f"wrong encoding in {key}")
        if len(text) > _LENGTHS[key]:
            # The store's column would refuse it (PostgreSQL) or keep it whole against its width (SQLite).
            reasons.append(f"{key} longer than {_LENGTHS[key]} characters (the store refuses it)")
        values[key] = text or None
    for key, label in REQUIRED.items():
        if key in values and values[key] is None:
            reasons.append(f"missing {label}")
    when_cache = ctx.when_cache
    for key in ("received_at", "due_at", "returned_at"):
        raw_when = raw.get(key)
        if type(raw_when) is str:
            parsed = when_cache.get(raw_when)
            if parsed is None:
                if len(when_cache) >= _WHEN_CACHE_MAX:
                    when_cache.clear()
                parsed = when_cache[raw_when] = parse_when(raw_when)
            when, ok = parsed
        else:
            when, ok = parse_when(raw_when)
        values[key] = when
        if not ok:
            reasons.append(f"invalid date in {key}: {str(raw_when)[:40]!r}")
        elif key == "received_at" and when is None:
            reasons.append("missing receipt date")
    received_at, returned_at = values["received_at"], values["returned_at"]
    if received_at and returned_at and returned_at < received_at:
        reasons.append("returned before received")
    for key, low, high, default in _INT_RULES:
        value = raw.get(key)
        if value is None or value == "":
            if default is None:
                reasons.append(f"missing {key}")
            values[key] = default
            continue
        if type(value) is int:
            number = value
        else:
            try:
                number = int(value)
            except (TypeError, ValueError):
                number = -1
        if not low <= number <= high:
            reasons.append(f"unknown {key} {_nfc('NFC', str(value))[:40]!r}")
        values[key] = number
    unit_value = raw.get("unit")
    unit_raw = str(unit_value).strip() if unit_value else ""
    if unit_raw and not unit_raw.isascii():
        unit_raw = _nfc("NFC", unit_raw)
    values["unit"] = unit_raw or None
    review: list[str] = []
    if not unit_raw:
        reasons.append("missing unit")
    elif received_at is not None:
        code: str | None = unit_raw
        if raw.get("unit_is_name"):
            code, loose = ctx.remapper.code_for_name(unit_raw, ctx.province_code)
            if loose and code is not None:
                review.append(f"unit name {unit_raw!r} matched {code} only without diacritics")
        local = received_at if received_at.tzinfo is VN_TZ else received_at.astimezone(VN_TZ)
        received: date = local.date()
        mapped = ctx.remapper.remap(code, received) if code else None
        if mapped is None:
            reasons.append(f"unknown unit {unit_raw[:60]!r} on {received}")
        else:
            values["original_unit_code"] = mapped.original_code
            values["unit_code"] = mapped.unit_code
            values["center_code"] = ctx.remapper.centers.get(mapped.unit_code or "")
            if mapped.review:
                review.append(mapped.review)
    if _EXTRA_FIELDS & raw.keys():
        _extra_fields(raw, values, reasons, when_cache)
    if flag is not None:
        (reasons or review).append(flag)
    if reasons:
        return Prepared(record, None, reasons)
    prepared_hash = row_hash(values)
    values["needs_review"] = bool(review)
    values["review_reason"] = "; ".join(review)[:500] or None
    return Prepared(record, values, [], prepared_hash)


_EXTRA_FIELDS = frozenset({"applicant_email", "applicant_id_type", "digitised_documents", "submitted_at"})
_ID_TYPES = frozenset(t.value for t in IdType)


def _extra_fields(raw: Mapping[str, Any], values: dict[str, Any], reasons: list[str], cache: dict[str, Any]) -> None:
    """The canonical fields the officer's workspace and the portal need beyond the formats of the three former
    systems (only mappings that fill them pay for them, and only their copies hash them)."""
    email = str(raw.get("applicant_email") or "").strip()
    if email and ("@" not in email or len(email) > 254 or "\x00" in email):
        reasons.append(f"invalid applicant_email {email[:40]!r}")
    id_type = str(raw.get("applicant_id_type") or "").strip()
    if id_type and id_type not in _ID_TYPES:
        reasons.append(f"unknown applicant_id_type {id_type[:40]!r}")
    documents = raw.get("digitised_documents")
    try:
        count = int(documents) if documents not in (None, "") else 0
    except (TypeError, ValueError):
        count = -1
    if count < 0:
        reasons.append(f"invalid digitised_documents {str(documents)[:40]!r}")
    submitted, ok = parse_when(raw.get("submitted_at"))
    if not ok:
        reasons.append(f"invalid date in submitted_at: {str(raw.get('submitted_at'))[:40]!r}")
    values["newer_fields"] = (email or None, id_type or None, max(count, 0), submitted)
