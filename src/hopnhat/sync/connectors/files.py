"""Connector for a folder of nightly export files, CSV or XLSX (Hậu Giang): one file per day of change."""

from __future__ import annotations

import csv
import io
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
    try:
        return datetime.strptime(str(value or "").strip(), "%d/%m/%Y %H:%M:%S")
    except ValueError:
        return None


def _word(table: dict[str, int], value: Any) -> Any:
    if value is None or str(value).strip() == "":
        return None
    return table.get(fold(str(value)), value)


class FilesConnector:
    def __init__(self, options: Mapping[str, Any]) -> None:
        self.path = Path(str(require(options, "path")))
        self.pattern = str(options.get("pattern", "hoso_*.csv"))
        self.encoding = str(options.get("encoding", "utf-8-sig"))

    def _csv_rows(self, file: Path) -> Iterator[tuple[dict[str, Any], list[str]]]:
        lines = file.read_bytes().split(b"\r\n")
        header: list[str] | None = None
        for raw in lines:
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
            cells = next(csv.reader(io.StringIO(line)))
            if header is None:
                header = cells
                continue
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
                fields["status"] = _word(STATUS_WORDS, row.get("Trạng thái"))
                fields["channel"] = _word(CHANNEL_WORDS, row.get("Hình thức nộp"))
                fields["applicant_type"] = _word(APPLICANT_WORDS, row.get("Đối tượng"))
                fields["unit_is_name"] = True
                records.append(RawRecord(str(row.get("Mã hồ sơ") or ""), updated, row, fields, problems))
            # A day's file is small; ordering it by update time keeps the cursor exact when a run stops mid-file.
            records.sort(key=lambda r: r.updated or datetime.min)
            yield from records


def file_day(name: str) -> date | None:
    match = _DAY.search(name)
    return datetime.strptime(match.group(1), "%Y%m%d").date() if match else None
