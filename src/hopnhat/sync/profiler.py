"""The profiler and the dry run of a source's mapping.

``profile`` reads a sample of a file, an API answer or a table and drafts a mapping: headers matched to canonical
fields by their meaning (Vietnamese or English words, compared folded: case, diacritics, camelCase and underscores
do not matter), value maps from the distinct values, date formats guessed from the values; what it could not map
is listed. ``check`` runs a sample of a configured source through the whole normalisation without writing: per
field the filled and parsed shares, the unknown values with counts, and how many records would be quarantined, why.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hopnhat.registry.text import fold, nfc
from hopnhat.sync.connectors.base import RawRecord, get_connector
from hopnhat.sync.mapping import CANONICAL, DATE_FIELDS, excel_serial
from hopnhat.sync.normalise import SourceContext, normalise
from hopnhat.sync.remap import Remapper

SAMPLE = 500
"""Records a profile reads."""

VOCABULARY: dict[str, tuple[str, ...]] = {
    "code": ("ma ho so", "so ho so", "mahoso", "ma hs", "so hs", "dossier no", "dossier number", "dossier code"),
    "procedure_code": ("ma thu tuc", "ma tthc", "service code", "procedure code"),
    "procedure_name": ("ten thu tuc", "thu tuc", "ten tthc", "service name", "procedure name"),
    "field_code": ("ma linh vuc", "linh vuc", "domain code", "field code", "sector code"),
    "applicant_name": ("nguoi nop", "chu ho so", "ho ten", "ho va ten", "ten nguoi nop", "applicant name"),
    "applicant_id_number": ("so cccd", "cccd", "so giay to", "so dinh danh", "so cmnd", "id no", "id number"),
    "applicant_id_type": ("loai giay to", "loai dinh danh", "id type"),
    "applicant_phone": ("so dien thoai", "dien thoai", "sdt", "tel no", "telephone", "phone"),
    "applicant_address": ("dia chi", "address"),
    "applicant_email": ("email", "thu dien tu"),
    "applicant_type": ("doi tuong", "loai doi tuong", "applicant type"),
    "channel": ("hinh thuc nop", "kenh thuc hien", "kenh nop", "kenh", "hinh thuc", "channel"),
    "status": ("trang thai", "tinh trang", "dossier status", "status"),
    "received_at": ("ngay tiep nhan", "ngay nhan", "receive date", "received date", "received at"),
    "due_at": ("ngay hen tra", "han tra", "han xu ly", "due date"),
    "returned_at": ("ngay tra", "ngay tra ket qua", "release date", "returned date"),
    "submitted_at": ("ngay nop", "submit date", "submitted date"),
    "unit": ("don vi", "ma don vi", "dia ban", "ma xa", "ward code", "commune code", "unit code"),
    "agency_code": ("ma co quan", "co quan", "agency code"),
    "updated": ("cap nhat", "ngay cap nhat", "cap nhat luc", "modified date", "last modified", "updated at"),
}
"""Words that name each canonical field (and ``updated``, the update stamp), folded."""

WORDS: dict[str, dict[str, int]] = {
    "status": {
        "moi dang ky": 1,
        "da tiep nhan": 2,
        "tiep nhan": 2,
        "tu choi": 3,
        "tu choi tiep nhan": 3,
        "dang xu ly": 4,
        "dang giai quyet": 4,
        "yeu cau bo sung": 5,
        "bo sung": 5,
        "cho nop phi": 6,
        "cong dan rut ho so": 7,
        "rut ho so": 7,
        "dung xu ly": 8,
        "da xu ly xong": 9,
        "da giai quyet": 9,
        "da tra ket qua": 10,
        "tra ket qua": 10,
    },
    "channel": {"truc tiep": 1, "truc tuyen": 2, "online": 2, "buu chinh": 3, "buu chinh cong ich": 3},
    "applicant_type": {"cong dan": 1, "ca nhan": 1, "doanh nghiep": 2, "co quan nha nuoc": 3, "to chuc khac": 4},
    "applicant_id_type": {"cccd": 1, "can cuoc": 1, "cmnd": 2, "ho chieu": 3, "passport": 3},
}
_ID_TYPES = {1: "cccd", 2: "cmnd", 3: "passport"}
DATE_FORMATS = (
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
    "%Y%m%d%H%M%S",
    "%d-%m-%Y",
    "excel",
    "iso",
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|[_.\-\[\]$/]+")


def tokens(header: str) -> list[str]:
    """Folded words of a header: ``applicantIdNo`` -> applicant id no, ``Ngày tiếp nhận`` -> ngay tiep nhan."""
    return fold(_CAMEL.sub(" ", header)).split()


def _score(header: str, phrase: str) -> float:
    words, wanted = tokens(header), phrase.split()
    if not words:
        return 0.0
    joined = "".join(words)
    if joined == phrase.replace(" ", ""):
        return 1.0 + len(wanted) / 10
    n = len(wanted)
    for i in range(len(words) - n + 1):
        if words[i : i + n] == wanted:
            return n / len(words) + n / 10
    return 0.0


def match_headers(headers: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """canonical field (or ``updated``) -> header, greedy by score; and the headers left unmapped."""
    scored = sorted(
        ((max(_score(h, p) for p in phrases), field, h) for h in headers for field, phrases in VOCABULARY.items()),
        key=lambda t: -t[0],
    )
    mapped: dict[str, str] = {}
    used: set[str] = set()
    for score, field, header in scored:
        if score <= 0 or field in mapped or header in used:
            continue
        mapped[field] = header
        used.add(header)
    return mapped, [h for h in headers if h not in used]


def guess_formats(values: Iterable[Any]) -> list[str]:
    """Date formats that read the sample's values, the most useful first."""
    found: Counter[str] = Counter()
    for value in values:
        text = str(value).strip()
        if not text:
            continue
        for fmt in DATE_FORMATS:
            ok = False
            if fmt == "excel":
                ok = excel_serial(text) is not None
            elif fmt == "iso":
                try:
                    datetime.fromisoformat(text.replace("Z", "+00:00"))
                    ok = "T" in text or "+" in text
                except ValueError:
                    ok = False
            else:
                try:
                    datetime.strptime(text, fmt)
                    ok = True
                except ValueError:
                    ok = False
            if ok:
                found[fmt] += 1
                break
    return [fmt for fmt, _ in found.most_common()]


def flatten(item: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested JSON record as ``$.a.b`` paths to scalars (a list counts as one value at its path)."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def sample(target: str, table: str | None, limit: int = SAMPLE) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """(connector kind, its reading options, rows) of a file or folder, an HTTP URL or a database URL."""
    if target.startswith(("http://", "https://")):
        import httpx

        answer = httpx.get(target, timeout=30).json()
        items, where = _first_list(answer, "")
        if items is None:
            raise ValueError(f"{target}: no list of records in the answer")
        rows = [flatten(i) for i in items[:limit] if isinstance(i, dict)]
        parts = urlsplit(target)
        # The query of the sampled URL is not the source's: paging and the incremental parameter are set by the sync.
        reading = {"base_url": f"{parts.scheme}://{parts.netloc}", "endpoint": parts.path, "items": where or ""}
        return "http_api", reading, rows
    if "://" in target:
        from sqlalchemy import create_engine, text

        if not table or not table.replace("_", "").isalnum():
            raise ValueError("a database needs --table NAME (a plain table name)")
        engine = create_engine(target)
        try:
            with engine.connect() as conn:
                # A plain name, checked above: nothing of the caller reaches the SQL but letters, digits and _.
                result = conn.execute(text(f"SELECT * FROM {table}"))
                keys = list(result.keys())
                rows = [dict(zip(keys, r, strict=True)) for r in islice(result, limit)]
        finally:
            engine.dispose()
        return "sql", {"url": target, "table": table}, rows
    from hopnhat.sync.connectors.files import FilesConnector

    path = Path(target)
    folder, pattern = (path, "*.csv") if path.is_dir() else (path.parent, path.name)
    files = sorted(folder.glob(pattern))
    if not files:
        raise ValueError(f"{target}: no file")
    reader = FilesConnector({"path": str(folder), "pattern": pattern, "mapping": {"fields": {"code": "?"}}})
    reader.header_contains = []  # the first row that holds anything is the header
    found: list[dict[str, Any]] = []
    encoding = ""
    # Files one after the other until the sample is full: one day's export may hold a handful of rows.
    for file in files:
        read = reader.read_file(file)
        if read.problem is not None:
            raise ValueError(read.problem)
        encoding = encoding or read.encoding
        found.extend(row for row, _, _ in read.rows if "raw_base64" not in row)
        if len(found) >= limit:
            break
    rows = found[:limit]
    return "files", {"path": str(folder.resolve()), "pattern": pattern, "encoding": encoding}, rows


def _first_list(data: Any, where: str) -> tuple[list[Any] | None, str]:
    if isinstance(data, list):
        return data, where
    if isinstance(data, dict):
        for key, value in data.items():
            found, at = _first_list(value, f"{where}.{key}" if where else f"$.{key}")
            if found is not None:
                return found, at
    return None, where


def draft(kind: str, reading: dict[str, Any], rows: list[dict[str, Any]], name: str = "new_source") -> dict[str, Any]:
    """A draft source (options and mapping) for ``rows``, and what is left unmapped."""
    headers = list(dict.fromkeys(k for row in rows for k in row))
    mapped, unmapped = match_headers(headers)

    def spec(header: str) -> str:
        return f"$.{header}" if kind == "http_api" and "." in header else header

    fields = {f: spec(h) for f, h in mapped.items() if f in CANONICAL}
    values: dict[str, dict[str, Any]] = {}
    unknown: dict[str, list[str]] = {}
    for field, words in WORDS.items():
        if field not in mapped:
            continue
        # NFC: an export may spell one word in both forms (the mapping folds them alike anyway).
        distinct = Counter(
            nfc(str(r.get(mapped[field])).strip()) for r in rows if r.get(mapped[field]) not in (None, "")
        )
        if all(v.isdigit() for v in distinct):
            continue  # codes: kept as they are unless the operator maps them
        table: dict[str, Any] = {}
        for value in distinct:
            code = words.get(fold(value))
            if code is None:
                unknown.setdefault(field, []).append(value)
            else:
                table[value] = _ID_TYPES.get(code, code) if field == "applicant_id_type" else code
        if table:
            values[field] = table
    formats = guess_formats(
        r.get(mapped[f]) for f in (*DATE_FIELDS, "updated") if f in mapped for r in rows if mapped[f] in r
    )
    mapping: dict[str, Any] = {"fields": fields}
    if "code" in mapped:
        mapping["id"] = spec(mapped["code"])
    if "updated" in mapped:
        mapping["updated"] = spec(mapped["updated"])
    if values:
        mapping["values"] = values
    if formats:
        mapping["dates"] = {"formats": formats, "timezone": "Asia/Ho_Chi_Minh"}
    if "unit" in mapped:
        units = [str(r.get(mapped["unit"]) or "") for r in rows]
        mapping["unit"] = {"by": "code" if all(u.isdigit() for u in units if u) else "name"}
    missing = [f for f in ("code", "procedure_code", "received_at", "status", "unit") if f not in mapped]
    return {
        "name": name,
        "source": {"connector": kind, **reading, "mapping": mapping},
        "unmapped_columns": unmapped,
        "unmapped_values": unknown,
        "missing_fields": missing,
        "rows_read": len(rows),
    }


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def to_toml(result: dict[str, Any]) -> str:
    """The draft as the TOML an operator edits: tables of the source, comments for what is left to decide."""
    name = result["name"]
    source = dict(result["source"])
    mapping = source.pop("mapping")
    lines = [f"[sources.{_key(name)}]", 'province_code = "?"  # the former province of this system']
    lines += [f"{_key(k)} = {_value(v)}" for k, v in source.items()]
    plain = {k: v for k, v in mapping.items() if not isinstance(v, dict)}
    lines += ["", f"[sources.{_key(name)}.mapping]", *(f"{_key(k)} = {_value(v)}" for k, v in plain.items())]
    for table in ("fields", "dates", "unit"):
        if table in mapping:
            lines += ["", f"[sources.{_key(name)}.mapping.{table}]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in mapping[table].items()]
    for field, table in mapping.get("values", {}).items():
        lines += ["", f"[sources.{_key(name)}.mapping.values.{field}]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
        for value in result["unmapped_values"].get(field, []):
            lines.append(f"# {_key(value)} = ?")
    for field, left in result["unmapped_values"].items():
        if field not in mapping.get("values", {}):
            lines += ["", f"[sources.{_key(name)}.mapping.values.{field}]", *(f"# {_key(v)} = ?" for v in left)]
    if result["unmapped_columns"]:
        lines += ["", "# columns not mapped: " + ", ".join(result["unmapped_columns"])]
    if result["missing_fields"]:
        lines += ["# required fields not found: " + ", ".join(result["missing_fields"])]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the dry run


def _records(options: dict[str, Any], limit: int) -> tuple[Any, Iterator[RawRecord]]:
    connector = get_connector(str(options["connector"]), options)
    return connector, islice(connector.extract(None), limit)


def check(name: str, options: dict[str, Any], remapper: Remapper, limit: int = 100_000) -> dict[str, Any]:
    """A sample of the source through the whole normalisation, written nowhere (see the module's text)."""
    connector, records = _records(options, limit)
    ctx = SourceContext(name, str(options.get("province_code", "")), remapper, None)
    filled: Counter[str] = Counter()
    parsed: Counter[str] = Counter()
    unknown: dict[str, Counter[str]] = {}
    reasons: Counter[str] = Counter()
    seen: dict[str, int] = {}
    read = quarantined = duplicates = 0
    for record in records:
        read += 1
        prepared = normalise(ctx, record)
        key = hash(prepared.hash if prepared.values is not None else "bad:" + ";".join(prepared.reasons))
        sid = record.source_id
        if sid and seen.get(sid) == key:
            duplicates += 1  # the same copy again: the sync counts it a duplicate, not a second quarantine
            continue
        if sid:
            seen[sid] = key
        for field, value in record.fields.items():
            if value is not None and value != "" and field != "unit_is_name":
                filled[field] += 1
                bad = any(
                    r.startswith((f"unknown {field} ", f"invalid date in {field}", f"invalid {field}"))
                    for r in prepared.reasons
                )
                if not bad:
                    parsed[field] += 1
        for reason in prepared.reasons:
            match = re.match(r"unknown (\w+) '(.*)'", reason)
            if match and match.group(1) != "unit":
                unknown.setdefault(match.group(1), Counter())[match.group(2)] += 1
            reasons[re.sub(r" '.*'| on \d{4}-\d{2}-\d{2}|: .*$", "", reason)] += 1
        quarantined += prepared.values is None
    counted = read - duplicates
    fields = {
        f: {
            "filled": round(filled[f] / counted, 4) if counted else 0.0,
            "parsed": round(parsed[f] / filled[f], 4) if filled[f] else None,
        }
        for f in sorted(filled)
    }
    return {
        "source": name,
        "records": read,
        "duplicates": duplicates,
        "would_quarantine": quarantined,
        "reasons": dict(reasons.most_common()),
        "unknown_values": {f: dict(c.most_common(20)) for f, c in unknown.items()},
        "fields": fields,
        "file_problems": dict(getattr(connector, "file_problems", {})),
    }


__all__ = ["check", "draft", "guess_formats", "match_headers", "sample", "to_toml", "tokens"]
