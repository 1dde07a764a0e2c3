"""A source's mapping: how its records become canonical dossier fields, written as configuration (TOML), never as
Python. Connectors only read (files, HTTP, SQL) and hand each record as a dict; :class:`Mapping` turns it into a
:class:`~hopnhat.sync.connectors.base.RawRecord`.

A mapping (``[sources.NAME.mapping]``, or the ``[mapping]`` of a bundled profile in ``sync/profiles/``)::

    id = "MaHoSo"                      # column, key, or JSON path ("$.hoSo.ma"); the source id of a record
    updated = "NgayCapNhat"            # the update stamp (the cursor)

    [mapping.fields]                   # canonical field -> where it is
    code = "MaHoSo"
    applicant_name = ["ChuHoSo", "TenCongDan"]       # the first that is not empty
    applicant_email = "$.nguoiNop.thuDienTu"         # nested objects; "$.giayTo[0].so", "$.giayTo[*].ten"
    digitised_documents = { count = "$.giayTo" }     # how many items a list holds
    channel = { column = "Kenh", default = 1 }
    procedure_name = { const = "Đăng ký khai sinh" }

    [mapping.values.status]            # by code or by word (compared after case and diacritic folding)
    "Đã tiếp nhận" = 2
    "7" = 3
    # unknown = "quarantine" (default) or a code every unknown value takes

    [mapping.dates]
    formats = ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "excel", "iso"]   # tried in order
    timezone = "Asia/Ho_Chi_Minh"

    [mapping.unit]
    columns = ["ma_xa", "ma_huyen"]    # the first that is not empty
    by = "code"                        # code | name | auto (a name when it is not digits)
    province_when = "ma_co_quan"       # neither given but this one: the province is the unit

    [[mapping.require]]                # a source's own consistency rules; the first that holds is the reason
    when = "ma_xa"                     # this column is not empty (and matches ``matches`` when given)
    missing = "ma_huyen"               # ... and this one is empty
    reason = "missing unit: ma_huyen empty beside ma_xa"

Values a mapping cannot read are handed on as they are, so normalisation quarantines the record with the value and
the reason (``unknown status 'Đã hủy'``, ``invalid date in received_at: '31/02/2025'``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hopnhat.config import VN_TZ
from hopnhat.registry.text import fold
from hopnhat.sync.connectors.base import CANONICAL_FIELDS, RawRecord, TerminalError

Getter = Callable[[MappingType[str, Any]], Any]

VALUE_FIELDS = ("status", "channel", "applicant_type", "applicant_id_type")
DATE_FIELDS = ("received_at", "due_at", "returned_at", "submitted_at")
_PATH_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+|\*)\]")
_EXCEL_EPOCH = datetime(1899, 12, 30)
# Excel serials of 1954..2100: a bare number outside is no date of these systems.
_EXCEL_RANGE = (20_000.0, 73_000.0)


class MappingError(TerminalError):
    """The mapping itself is wrong (an unknown field, a bad path): the source cannot be read as configured."""


def _path(spec: str) -> Getter:
    """A getter for ``$.a.b[0].c`` (``[*]`` collects a list); a missing step gives None."""
    steps: list[str | int | None] = []
    for m in _PATH_STEP.finditer(spec[1:]):
        key, index = m.group(1), m.group(2)
        steps.append(key if key is not None else (None if index == "*" else int(index)))
    if not steps:
        raise MappingError(f"JSON path {spec!r} names nothing")

    def walk(value: Any, at: int) -> Any:
        for n in range(at, len(steps)):
            step = steps[n]
            if value is None:
                return None
            if step is None:
                if not isinstance(value, list):
                    return None
                return [walk(v, n + 1) for v in value]
            if isinstance(step, int):
                value = value[step] if isinstance(value, list) and -len(value) <= step < len(value) else None
            else:
                value = value.get(step) if isinstance(value, dict) else None
        return value

    return lambda payload: walk(payload, 0)


def _one(spec: str) -> Getter:
    if spec.startswith("$"):
        return _path(spec)
    return lambda payload: payload.get(spec)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def getter(spec: Any, where: str) -> Getter:
    """Compile a field's spec: a column/path, a list (the first not empty), or a table with ``column``/``path``/
    ``columns``, ``count``, ``const`` and ``default``."""
    if isinstance(spec, str):
        return _one(spec)
    if isinstance(spec, list):
        if not spec or not all(isinstance(s, str) for s in spec):
            raise MappingError(f"{where}: a list of columns must name at least one, all as text")
        parts = [_one(s) for s in spec]

        def first(payload: MappingType[str, Any]) -> Any:
            for part in parts:
                value = part(payload)
                if not _empty(value):
                    return value
            return None

        return first
    if isinstance(spec, dict):
        unknown = set(spec) - {"column", "path", "columns", "count", "const", "default"}
        if unknown:
            raise MappingError(f"{where}: unknown keys {sorted(unknown)}")
        if "const" in spec:
            const = spec["const"]
            return lambda payload: const
        if "count" in spec:
            inner = getter(spec["count"], where)

            def count(payload: MappingType[str, Any]) -> Any:
                value = inner(payload)
                return len(value) if isinstance(value, list) else (0 if _empty(value) else value)

            return count
        source = spec.get("path") or spec.get("column") or spec.get("columns")
        if source is None:
            raise MappingError(f"{where}: give column, columns, path, count or const")
        inner = getter(source, where)
        if "default" not in spec:
            return inner
        default = spec["default"]

        def with_default(payload: MappingType[str, Any]) -> Any:
            value = inner(payload)
            return default if _empty(value) else value

        return with_default
    raise MappingError(f"{where}: expected a column name, a list or a table, got {type(spec).__name__}")


@dataclass(slots=True)
class ValueMap:
    """Source codes and words -> canonical codes. Looked up as written, then folded (case, diacritics, punctuation);
    a value found neither way is handed on as it is (quarantined by normalisation) unless ``unknown`` names a code."""

    exact: dict[str, Any]
    folded: dict[str, Any]
    unknown: Any = None
    cache: dict[Any, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, table: MappingType[str, Any], where: str) -> ValueMap:
        if not isinstance(table, dict):
            raise MappingError(f"{where}: a value map is a table of value = code")
        pairs = {str(k).strip(): v for k, v in table.items() if k != "unknown"}
        unknown = table.get("unknown", "quarantine")
        return cls(pairs, {fold(k): v for k, v in pairs.items()}, None if unknown == "quarantine" else unknown)

    def __call__(self, value: Any) -> Any:
        if _empty(value):
            return None
        key = value if isinstance(value, str | int | float) else str(value)
        try:
            return self.cache[key]
        except KeyError:
            pass
        text = str(value).strip()
        if isinstance(value, float) and value.is_integer():
            text = str(int(value))
        found = self.exact.get(text)
        if found is None:
            found = self.folded.get(fold(text))
        if found is None:
            found = self.unknown if self.unknown is not None else value
        if len(self.cache) < 10_000:
            self.cache[key] = found
        return found


def positional(text: str) -> datetime | None:
    """The layouts the bundled profiles use, read by position (strptime is the slowest step of a sync
    otherwise): ``yyyyMMddHHmmss``, ``dd/mm/yyyy[ HH:MM:SS]``, ``yyyy-mm-dd[ HH:MM:SS]``; naive."""
    n = len(text)
    try:
        if n == 14 and text.isdigit():
            return datetime(
                int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:])
            )
        if n in (10, 19) and text[2] == "/" and text[5] == "/":
            hms = (int(text[11:13]), int(text[14:16]), int(text[17:19])) if n == 19 else (0, 0, 0)
            return datetime(int(text[6:10]), int(text[3:5]), int(text[:2]), *hms)
        if n in (10, 19) and text[4] == "-" and text[7] == "-":
            hms = (int(text[11:13]), int(text[14:16]), int(text[17:19])) if n == 19 else (0, 0, 0)
            return datetime(int(text[:4]), int(text[5:7]), int(text[8:10]), *hms)
    except ValueError:
        return None
    return None


def excel_serial(value: Any) -> datetime | None:
    """An Excel date serial (days since 1899-12-30, the fraction the time of day), as a number or its text."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not _EXCEL_RANGE[0] <= number <= _EXCEL_RANGE[1]:
        return None
    return _EXCEL_EPOCH + timedelta(seconds=round(number * 86_400))


@dataclass(slots=True)
class DateReader:
    """Dates in the source's formats, tried in order, as aware times of the source's zone. Special formats:
    ``excel`` (serials), ``iso`` (ISO 8601, an offset in the text wins over the zone), ``epoch``/``epoch_ms``."""

    formats: list[str]
    zone: Any
    cache: dict[str, Any] = field(default_factory=dict)

    def naive(self, value: Any) -> datetime | None:
        """The value as a naive time of the source's zone (None when no format reads it)."""
        if isinstance(value, datetime):
            return value if value.tzinfo is None else value.astimezone(self.zone).replace(tzinfo=None)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        text = str(value).strip()
        for fmt in self.formats:
            found: datetime | None = None
            if fmt == "excel":
                found = excel_serial(value) if is_number or text.replace(".", "", 1).isdigit() else None
            elif fmt == "iso":
                try:
                    found = datetime.fromisoformat(text.replace("Z", "+00:00"))
                except ValueError:
                    found = None
                if found is not None and found.tzinfo is not None:
                    found = found.astimezone(self.zone).replace(tzinfo=None)
            elif fmt in ("epoch", "epoch_ms"):
                try:
                    seconds = float(value) / (1000 if fmt == "epoch_ms" else 1)
                    found = datetime.fromtimestamp(seconds, UTC).astimezone(self.zone).replace(tzinfo=None)
                except (TypeError, ValueError, OverflowError, OSError):
                    found = None
            elif fmt == "auto":
                found = positional(text)
            elif not is_number:
                try:
                    found = datetime.strptime(text, fmt)
                except ValueError:
                    found = None
            if found is not None:
                return found
        return None

    def aware(self, value: Any) -> Any:
        """The value as an aware time, or the value itself when no format reads it (normalisation then reports it
        as an invalid date); empty stays None."""
        if _empty(value):
            return None
        key = value if isinstance(value, str) else None
        if key is not None and key in self.cache:
            return self.cache[key]
        naive = self.naive(value)
        result = value if naive is None else naive.replace(tzinfo=self.zone)
        if key is not None and len(self.cache) < 65_536:
            self.cache[key] = result
        return result


def _zone(name: str) -> Any:
    if name in ("Asia/Ho_Chi_Minh", "Asia/Saigon", "+07:00"):
        return VN_TZ
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MappingError(f"unknown time zone {name!r}") from exc


@dataclass(slots=True)
class Rule:
    when: Getter
    matches: re.Pattern[str] | None
    missing: Getter
    reason: str

    def holds(self, payload: MappingType[str, Any]) -> bool:
        value = self.when(payload)
        if _empty(value):
            return False
        if self.matches is not None and not self.matches.search(str(value)):
            return False
        return _empty(self.missing(payload))


CANONICAL = (
    *CANONICAL_FIELDS,
    "applicant_email",
    "applicant_id_type",
    "digitised_documents",
    "submitted_at",
)
"""Every field a mapping may fill (``unit`` through ``[mapping.unit]`` or as a field)."""


class Mapping:
    """A compiled mapping (see the module's text). ``record(payload, digest, problems)`` is the whole per-record
    work, a getter per field."""

    def __init__(self, spec: MappingType[str, Any] | None, *, province_code: str = "", where: str = "mapping") -> None:
        spec = dict(spec or {})
        if not spec.get("fields"):
            raise MappingError(f"{where}: no [mapping.fields] (give a profile or write the mapping)")
        unknown = set(spec) - {"id", "updated", "fields", "values", "dates", "unit", "require"}
        if unknown:
            raise MappingError(f"{where}: unknown keys {sorted(unknown)}")
        fields = dict(spec["fields"])
        bad = set(fields) - set(CANONICAL)
        if bad:
            raise MappingError(f"{where}: {sorted(bad)} are no canonical fields (known: {', '.join(CANONICAL)})")
        self.spec = spec
        self.id_spec: Any = spec.get("id", fields.get("code"))
        if self.id_spec is None:
            raise MappingError(f"{where}: no id (nor a code field) to tell records apart")
        self.updated_spec: Any = spec.get("updated")
        self.source_id = getter(self.id_spec, f"{where}.id")
        self.updated_value: Getter | None = getter(self.updated_spec, f"{where}.updated") if self.updated_spec else None
        # Plain columns are read with one dict comprehension (most of a record's work); the rest through getters.
        self.flat = [(key, s) for key, s in fields.items() if isinstance(s, str) and not s.startswith("$")]
        self.getters = [
            (key, getter(s, f"{where}.fields.{key}"))
            for key, s in fields.items()
            if not (isinstance(s, str) and not s.startswith("$"))
        ]
        self.listy = [
            key for key, s in fields.items() if key != "digitised_documents" and "$" in str(s) and "count" not in str(s)
        ]
        self.values = {
            key: ValueMap.build(table, f"{where}.values.{key}") for key, table in dict(spec.get("values", {})).items()
        }
        if set(self.values) - set(VALUE_FIELDS):
            raise MappingError(f"{where}.values: value maps are for {', '.join(VALUE_FIELDS)}")
        dates = dict(spec.get("dates", {}))
        formats = [str(f) for f in dates.get("formats", [])]
        self.dates = DateReader(formats, _zone(str(dates.get("timezone", "Asia/Ho_Chi_Minh"))))
        self.stamps = DateReader([*formats, "auto", "iso"] if formats else ["auto", "iso"], self.dates.zone)
        unit = dict(spec.get("unit", {}))
        self.unit_value: Getter | None = getter(unit["columns"], f"{where}.unit") if "columns" in unit else None
        self.unit_by = str(unit.get("by", "code"))
        if self.unit_by not in ("code", "name", "auto"):
            raise MappingError(f"{where}.unit.by: code, name or auto, not {self.unit_by!r}")
        self.province_when = getter(unit["province_when"], f"{where}.unit") if "province_when" in unit else None
        self.province_code = province_code or None
        self.rules = [
            Rule(
                getter(r["when"], f"{where}.require"),
                re.compile(str(r["matches"])) if r.get("matches") else None,
                getter(r["missing"], f"{where}.require"),
                str(r.get("reason") or f"{r['missing']} is empty"),
            )
            for r in spec.get("require", [])
        ]

    def column(self, spec_of: str) -> str | None:
        """The plain column of ``id`` or ``updated`` (for connectors that read ids and stamps without mapping)."""
        spec = self.id_spec if spec_of == "id" else self.updated_spec
        return spec if isinstance(spec, str) and not spec.startswith("$") else None

    def updated(self, payload: MappingType[str, Any]) -> datetime | None:
        if self.updated_value is None:
            return None
        value = self.updated_value(payload)
        return None if _empty(value) else self.stamps.naive(value)

    def stamp(self, payload: MappingType[str, Any]) -> str:
        """The update stamp as text that sorts in time order (reconciliation's scans)."""
        when = self.updated(payload)
        return when.isoformat(sep=" ") if when is not None else ""

    def fields(self, payload: MappingType[str, Any]) -> dict[str, Any]:
        get = payload.get
        out = {key: get(column) for key, column in self.flat}
        for key, read in self.getters:
            out[key] = read(payload)
        for key, vmap in self.values.items():
            out[key] = vmap(out.get(key))
        if self.dates.formats:
            for key in DATE_FIELDS:
                if key in out:
                    out[key] = self.dates.aware(out[key])
        for key in self.listy:
            value = out.get(key)
            if isinstance(value, list):
                # A JSON path may reach a list (``[*]`` collects one): a text field keeps it joined.
                out[key] = "; ".join(str(v) for v in value if not _empty(v)) or None
        unit = self.unit_value(payload) if self.unit_value is not None else out.get("unit")
        if _empty(unit) and self.province_when is not None and not _empty(self.province_when(payload)):
            # Province-level procedures carry no commune nor district: the province is the unit.
            unit = self.province_code
        out["unit"] = None if _empty(unit) else unit
        if self.unit_by == "name":
            out["unit_is_name"] = True
        elif self.unit_by == "auto" and unit is not None:
            out["unit_is_name"] = not str(unit).strip().isdigit()
        return out

    def problems(self, payload: MappingType[str, Any]) -> list[str]:
        for rule in self.rules:
            if rule.holds(payload):
                return [rule.reason]
        return []

    def record(self, payload: dict[str, Any], digest: bytes = b"", problems: list[str] | None = None) -> RawRecord:
        sid = self.source_id(payload)
        found = list(problems or ())
        found.extend(self.problems(payload))
        return RawRecord(
            "" if _empty(sid) else str(sid), self.updated(payload), payload, self.fields(payload), found, digest
        )


__all__ = ["CANONICAL", "DateReader", "Mapping", "MappingError", "ValueMap", "excel_serial", "getter", "positional"]
