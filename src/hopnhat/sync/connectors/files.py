"""Connector for a folder of nightly export files, CSV or XLSX (Hậu Giang): one file per day of change."""

from __future__ import annotations

import base64
import csv
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from hopnhat.registry.text import fold
from hopnhat.sync.connectors.base import RawRecord, TerminalError, require

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

    def _csv_rows(self, file: Path) -> Iterator[tuple[dict[str, Any], list[str]]]:
        """Rows of a CSV, read line by line so one bad line costs that row only: bytes that are not the encoding and
        CSV syntax errors (strict parsing: an unterminated or stray quote, a bare CR or LF inside a field, a cell
        count that differs from the header's) come back as the row's problems, the raw bytes as its payload (see
        ``_malformed``). An unreadable header makes the whole file unreadable: a terminal error."""
        lines = file.read_bytes().split(b"\r\n")
        header: list[str] | None = None
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            problems: list[str] = []
            try:
                line = raw.decode(self.encoding)
            except UnicodeDecodeError:
                # One bad row must not sink the file: decode it as the legacy Windows code page and flag it.
                line = raw.decode("cp1258", errors="replace")
                problems.append(f"wrong encoding: row bytes are not {self.encoding}")
            if line.startswith("\ufeff"):
                line = line[1:]
            try:
                # Lenient parsing would silently shift or truncate cells of a malformed line into wrong fields.
                cells = next(csv.reader((line,), strict=True))
            except csv.Error as exc:
                if header is None:
                    raise TerminalError(f"file {file.name} line {number}: unreadable CSV header: {exc}") from exc
                yield _malformed(file, number, raw), [*problems, f"malformed CSV in {file.name} line {number}: {exc}"]
                continue
            if header is None:
                header = cells
                continue
            if len(cells) != len(header):
                problems.append(
                    f"malformed CSV in {file.name} line {number}: {len(cells)} cells, the header has {len(header)}"
                )
            yield dict(zip(header, cells, strict=False)), problems

    def _xlsx_rows(self, file: Path) -> Iterator[tuple[dict[str, Any], list[str]]]:
        import openpyxl

        book = openpyxl.load_workbook(file, read_only=True)
        try:
            sheet = book["HoSo"] if "HoSo" in book.sheetnames else book.worksheets[0]
            rows = sheet.iter_rows(values_only=True)
            header = [str(c) for c in next(rows, ())]
            for row in rows:
                yield {h: ("" if c is None else str(c)) for h, c in zip(header, row, strict=False)}, []
        finally:
            book.close()

    def extract(self, since: datetime | None) -> Iterator[RawRecord]:
        if not self.path.is_dir():
            raise TerminalError(f"folder {self.path} does not exist")
        for file in sorted(self.path.glob(self.pattern)):
            match = _DAY.search(file.name)
            if since is not None and match is not None:
                try:
                    if datetime.strptime(match.group(1), "%Y%m%d").date() < since.date():
                        continue
                except ValueError:
                    pass
            reader = self._xlsx_rows(file) if file.suffix.lower() == ".xlsx" else self._csv_rows(file)
            records = []
            for row, problems in reader:
                updated = _updated(row.get(UPDATED))
                if since is not None and updated is not None and updated < since:
                    continue
                fields: dict[str, Any] = {key: row.get(col) for key, col in COLUMNS.items()}
                fields["status"] = _word(STATUS_WORDS, row.get("Trạng thái"), self._words[0])
                fields["channel"] = _word(CHANNEL_WORDS, row.get("Hình thức nộp"), self._words[1])
                fields["applicant_type"] = _word(APPLICANT_WORDS, row.get("Đối tượng"), self._words[2])
                fields["unit_is_name"] = True
                records.append(RawRecord(str(row.get("Mã hồ sơ") or ""), updated, row, fields, problems))
            # A day's file is small; ordering it by update time keeps the cursor exact when a run stops mid-file.
            records.sort(key=lambda r: r.updated or datetime.min)
            yield from records


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
