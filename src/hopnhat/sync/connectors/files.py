"""Connector for a folder of nightly export files, CSV or XLSX (Hậu Giang): one file per day of change."""

from __future__ import annotations

import base64
import codecs
import csv
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

from hopnhat.registry.text import fold
from hopnhat.sync.connectors.base import RawRecord, Scan, TerminalError, as_text, digest_of, require, row_digest

COLUMNS = {
    "code": "Mã hồ sơ",
    "procedure_code": "Mã thủ tục",
    "procedure_name": "Thủ tục",
    "field_code": "Lĩnh vực",
    "applicant_name": "Người nộp",
    "applicant_id_number": "Số CCCD",
    "applicant_phone": "Số điện thoại",
    "applicant_address": "Địa chỉ",
    "received_at": "Ngày tiếp nhận",
    "due_at": "Ngày hẹn trả",
    "returned_at": "Ngày trả",
    "unit": "Đơn vị",
}
UPDATED = "Cập nhật lúc"

STATUS_WORDS = {
    fold(w): n
    for w, n in (
        ("Mới đăng ký", 1),
        ("Đã tiếp nhận", 2),
        ("Từ chối tiếp nhận", 3),
        ("Đang xử lý", 4),
        ("Yêu cầu bổ sung", 5),
        ("Chờ nộp phí", 6),
        ("Công dân rút hồ sơ", 7),
        ("Dừng xử lý", 8),
        ("Đã xử lý xong", 9),
        ("Đã trả kết quả", 10),
    )
}
CHANNEL_WORDS = {fold("Trực tiếp"): 1, fold("Trực tuyến"): 2, fold("Bưu chính công ích"): 3}
APPLICANT_WORDS = {fold("Công dân"): 1, fold("Doanh nghiệp"): 2, fold("Cơ quan nhà nước"): 3, fold("Tổ chức khác"): 4}
_DAY = re.compile(r"(\d{8})")


def _updated(value: Any) -> datetime | None:
    """``dd/mm/yyyy HH:MM:SS`` by position (strptime costs more than the rest of reading a row)."""
    text = str(value or "").strip()
    if len(text) != 19 or text[2] != "/" or text[5] != "/" or text[10] != " " or text[13] != ":" or text[16] != ":":
        return None
    try:
        return datetime(
            int(text[6:10]), int(text[3:5]), int(text[:2]), int(text[11:13]), int(text[14:16]), int(text[17:19])
        )
    except ValueError:
        return None


def _word(table: dict[str, int], value: Any, cache: dict[str, Any]) -> Any:
    """The number of a status / channel / applicant word; unknown words pass through for the engine to reject.
    ``cache`` spares folding the same few words on every row."""
    if value is None:
        return None
    text = str(value)
    if text not in cache:
        cache[text] = None if text.strip() == "" else table.get(fold(text), value)
    return cache[text]


class FilesConnector:
    def __init__(self, options: Mapping[str, Any]) -> None:
        self.path = Path(str(require(options, "path")))
        self.pattern = str(options.get("pattern", "hoso_*.csv"))
        self.encoding = str(options.get("encoding", "utf-8-sig"))
        self._words: tuple[dict[str, Any], dict[str, Any], dict[str, Any]] = ({}, {}, {})

    def _csv_lines(self, file: Path) -> Iterator[tuple[list[str], list[str], dict[str, Any] | None, list[str], bytes]]:
        """(header, cells, payload of a malformed line or None, problems, raw bytes) per data line of a CSV, read
        line by line so one bad line costs that row only: bytes that are not the encoding and CSV syntax errors
        (strict parsing: an unterminated or stray quote, a bare CR or LF inside a field, a cell count that differs
        from the header's) come back as the row's problems, the raw bytes as its payload (see ``_malformed``). An
        unreadable header makes the whole file unreadable: a terminal error."""
        lines = file.read_bytes().split(b"\r\n")
        header: list[str] | None = None
        # One reader for the whole file, fed a line at a time (see _Feed): a reader per line cost as much as the
        # parsing. UTF-8 with BOM decoded as UTF-8, the BOM stripped here: the codec's own BOM handling runs in
        # Python, once per line.
        feed = _Feed()
        reader = csv.reader(feed, strict=True)
        with_bom = codecs.lookup(self.encoding).name == "utf-8-sig"
        encoding = "utf-8" if with_bom else self.encoding
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            problems: list[str] = []
            try:
                line = raw.decode(encoding)
                if with_bom and line.startswith("\ufeff"):
                    line = line[1:]
            except UnicodeDecodeError:
                # One bad row must not sink the file: decode it as the legacy Windows code page and flag it.
                line = raw.decode("cp1258", errors="replace")
                problems.append(f"wrong encoding: row bytes are not {self.encoding}")
            if line.startswith("\ufeff"):
                line = line[1:]
            if '"' not in line and "\r" not in line and "\n" not in line:
                # Nothing the CSV syntax could mean but commas: what the parser would give, several times cheaper.
                cells = line.split(",")
            else:
                feed.line = line
                try:
                    # Lenient parsing would silently shift or truncate cells of a malformed line into wrong fields.
                    cells = next(reader)
                except csv.Error as exc:
                    if header is None:
                        raise TerminalError(f"file {file.name} line {number}: unreadable CSV header: {exc}") from exc
                    problems.append(f"malformed CSV in {file.name} line {number}: {exc}")
                    yield header, [], _malformed(file, number, raw), problems, raw
                    continue
            if header is None:
                header = cells
                continue
            if len(cells) != len(header):
                problems.append(
                    f"malformed CSV in {file.name} line {number}: {len(cells)} cells, the header has {len(header)}"
                )
            yield header, cells, None, problems, raw

    def _xlsx_rows(self, file: Path) -> Iterator[tuple[dict[str, Any], list[str], bytes]]:
        import openpyxl

        book = openpyxl.load_workbook(file, read_only=True)
        try:
            sheet = book["HoSo"] if "HoSo" in book.sheetnames else book.worksheets[0]
            rows = sheet.iter_rows(values_only=True)
            header = [str(c) for c in next(rows, ())]
            for row in rows:
                cells = {h: ("" if c is None else str(c)) for h, c in zip(header, row, strict=False)}
                yield cells, [], row_digest(cells)
        finally:
            book.close()

    def _rows(self, file: Path) -> Iterator[tuple[dict[str, Any], list[str], bytes]]:
        """(row by header, problems, digest) per data row of a CSV or XLSX file."""
        if file.suffix.lower() == ".xlsx":
            yield from self._xlsx_rows(file)
            return
        for header, cells, payload, problems, raw in self._csv_lines(file):
            row = dict(zip(header, cells, strict=False)) if payload is None else payload
            yield row, problems, digest_of(raw)

    def _record(self, row: dict[str, Any], problems: list[str], digest: bytes) -> RawRecord:
        fields: dict[str, Any] = {key: row.get(col) for key, col in COLUMNS.items()}
        fields["status"] = _word(STATUS_WORDS, row.get("Trạng thái"), self._words[0])
        fields["channel"] = _word(CHANNEL_WORDS, row.get("Hình thức nộp"), self._words[1])
        fields["applicant_type"] = _word(APPLICANT_WORDS, row.get("Đối tượng"), self._words[2])
        fields["unit_is_name"] = True
        return RawRecord(str(row.get("Mã hồ sơ") or ""), _updated(row.get(UPDATED)), row, fields, problems, digest)

    def _files(self, since: datetime | None) -> list[Path]:
        if not self.path.is_dir():
            raise TerminalError(f"folder {self.path} does not exist")
        found = []
        for file in sorted(self.path.glob(self.pattern)):
            match = _DAY.search(file.name)
            if since is not None and match is not None:
                try:
                    if datetime.strptime(match.group(1), "%Y%m%d").date() < since.date():
                        continue
                except ValueError:
                    pass
            found.append(file)
        return found

    def extract(self, since: datetime | None) -> Iterator[RawRecord]:
        for file in self._files(since):
            records = []
            for row, problems, digest in self._rows(file):
                record = self._record(row, problems, digest)
                if since is not None and record.updated is not None and record.updated < since:
                    continue
                records.append(record)
            # A day's file is small; ordering it by update time keeps the cursor exact when a run stops mid-file.
            records.sort(key=lambda r: r.updated or datetime.min)
            yield from records

    def scan(self, since: datetime | None) -> Iterator[Scan]:
        """One chunk per file: its lines' codes, stamps and digests (the raw line bytes), and how to build a line's
        record from what was kept of it."""
        for file in self._files(since):
            if file.suffix.lower() == ".xlsx":
                rows = list(self._xlsx_rows(file))
                yield Scan(
                    [as_text(row.get(COLUMNS["code"])) for row, _, _ in rows],
                    [_sortable(row.get(UPDATED)) for row, _, _ in rows],
                    [digest for _, _, digest in rows],
                    partial(self._row_record, rows),
                )
                continue
            ids: list[str] = []
            stamps: list[str] = []
            raws: list[bytes] = []
            kept: list[tuple[list[str], list[str], dict[str, Any] | None, list[str]]] = []
            code_at = updated_at = -1
            for header, cells, payload, problems, raw in self._csv_lines(file):
                if code_at < 0:
                    code_at = header.index(COLUMNS["code"]) if COLUMNS["code"] in header else len(header)
                    updated_at = header.index(UPDATED) if UPDATED in header else len(header)
                if payload is not None:
                    ids.append("")
                    stamps.append("")
                else:
                    ids.append(cells[code_at] if code_at < len(cells) else "")
                    stamps.append(_sortable(cells[updated_at]) if updated_at < len(cells) else "")
                raws.append(raw)
                kept.append((header, cells, payload, problems))
            digests = list(map(digest_of, raws))
            yield Scan(ids, stamps, digests, partial(self._kept_record, kept, digests))

    def _row_record(self, rows: list[tuple[dict[str, Any], list[str], bytes]], i: int) -> RawRecord:
        return self._record(*rows[i])

    def _kept_record(
        self,
        kept: list[tuple[list[str], list[str], dict[str, Any] | None, list[str]]],
        digests: list[bytes],
        i: int,
    ) -> RawRecord:
        header, cells, payload, problems = kept[i]
        row = dict(zip(header, cells, strict=False)) if payload is None else payload
        return self._record(row, problems, digests[i])


class _Feed:
    """The input of a CSV reader that parses one line per record: it gives the line it holds, then reports the end
    of input. A quoted field left open therefore ends its line with csv's "unexpected end of data", exactly as when
    each line is parsed alone, instead of swallowing the next line; the reader starts afresh on every record."""

    __slots__ = ("line",)

    def __init__(self) -> None:
        self.line: str | None = None

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        line = self.line
        if line is None:
            raise StopIteration
        self.line = None
        return line


def _sortable(stamp: Any) -> str:
    """A stamp ``dd/mm/yyyy HH:MM:SS`` as text that sorts in time order (``yyyy-mm-dd HH:MM:SS``); other text as it
    is, stripped."""
    text = str(stamp or "").strip()
    if len(text) == 19 and text[2] == "/" and text[5] == "/":
        return f"{text[6:10]}-{text[3:5]}-{text[:2]}{text[10:]}"
    return text


def _malformed(file: Path, number: int, raw: bytes) -> dict[str, Any]:
    """Payload of a line the CSV module cannot parse: no cells to name, so where it is and its exact bytes (base64;
    ``text`` is for reading, undecodable bytes shown as escapes)."""
    return {
        "file": file.name,
        "line": number,
        "text": raw.decode("utf-8", errors="backslashreplace"),
        "raw_base64": base64.b64encode(raw).decode("ascii"),
    }


def file_day(name: str) -> date | None:
    match = _DAY.search(name)
    return datetime.strptime(match.group(1), "%Y%m%d").date() if match else None
