"""The one bounded reader of every file an operator imports, and the one safe writer of every CSV and XLSX hopnhat
writes.

Reading (CSV, XLSX, TOML, YAML): the file's size is checked with ``stat`` before a byte is read, rows are counted
as they come, and an XLSX's zip directory is checked before openpyxl opens it, so a zip bomb is refused in
milliseconds. Every refusal is an :class:`~hopnhat.errors.InvalidInput` naming the file and, where there is one,
the line: a wrong encoding says the line and the byte offset of the first bad byte. The limits come from the
settings (:meth:`FileLimits.from_settings`); the sync streams exports of any size with its own limits.

Writing: a CSV cell that a spreadsheet would run as a formula (one beginning with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return) is written with a leading apostrophe, the mark spreadsheets read as "this is text"; a plain
number ("-12.5") or a phone number ("+84 912 345 678") is left as it is, since no spreadsheet runs it. The readers
take the apostrophe off again, so what hopnhat writes it reads back unchanged. XLSX cells are written as typed
string cells, which no spreadsheet evaluates, and numbers as numbers.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import IO, Any

import yaml

from hopnhat.config import Settings
from hopnhat.errors import InvalidInput

#: A row read from a CSV, in :class:`csv.DictReader`'s shape: fields beyond the header are a list under the key
#: ``None``, a short row's missing fields are ``None``.
Row = dict[str | Any, Any]

# A member that expands more than this many times, and to more than _BIG_MEMBER bytes, is a zip bomb: the sheets of
# real workbooks compress 5 to 20 times.
_MAX_RATIO = 100
_BIG_MEMBER = 10 * 1024 * 1024
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What a spreadsheet reads as a number, and a phone number written with its country code: left as they are.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")
_PHONE = re.compile(r"\+\d[\d ]{5,18}\d")
# The control characters XML 1.0 cannot hold (openpyxl refuses a cell with one).
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _default(name: str) -> int:
    value = Settings.model_fields[name].default
    assert isinstance(value, int)
    return value


@dataclass(frozen=True)
class FileLimits:
    """How much of an imported file hopnhat reads (the settings ``import_max_bytes``, ``import_max_rows`` and
    ``xlsx_max_uncompressed_bytes``); the defaults are the settings' defaults."""

    max_bytes: int = _default("import_max_bytes")
    max_rows: int = _default("import_max_rows")
    xlsx_max_uncompressed_bytes: int = _default("xlsx_max_uncompressed_bytes")

    @classmethod
    def from_settings(cls, settings: Settings) -> FileLimits:
        return cls(settings.import_max_bytes, settings.import_max_rows, settings.xlsx_max_uncompressed_bytes)


# --- reading ---------------------------------------------------------------------------------------------------------


def check_size(path: Path, limits: FileLimits) -> int:
    """The file's size, or :class:`InvalidInput` when it is missing, not a file, or over ``limits.max_bytes``;
    nothing is read."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None
    if path.is_dir():
        raise InvalidInput(f"{path}: is a directory, not a file")
    if info.st_size > limits.max_bytes:
        raise InvalidInput(
            f"{path}: {info.st_size:,} bytes is more than the {limits.max_bytes:,} an import may have "
            "(setting import_max_bytes)"
        )
    return info.st_size


@contextmanager
def _open(path: Path) -> Iterator[IO[bytes]]:
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None
    with raw:
        yield raw


def read_bytes(path: Path, limits: FileLimits) -> bytes:
    """The file's bytes, refused by size before it is read (:func:`check_size`)."""
    check_size(path, limits)
    with _open(path) as raw:
        # A file that grows after the stat is still cut at the limit.
        data = raw.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise InvalidInput(f"{path}: more than the {limits.max_bytes:,} bytes an import may have")
    return data


def _encoding_name(encoding: str) -> str:
    return "UTF-8" if encoding.lower().replace("_", "-") in ("utf-8", "utf-8-sig", "utf8") else encoding


def _not_text(name: object, encoding: str, line: int, offset: int, reason: str) -> InvalidInput:
    return InvalidInput(f"{name}: line {line}: not {_encoding_name(encoding)} text ({reason} at byte {offset})")


def decode(data: bytes, name: object, encodings: Sequence[str] = ("utf-8-sig",)) -> str:
    """``data`` decoded with the first of ``encodings`` that fits; when none does, :class:`InvalidInput` names
    ``name``, the line and the byte offset where the first encoding failed."""
    first: UnicodeDecodeError | None = None
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            first = first or exc
    assert first is not None, "no encoding given"
    offset = _offset(data, first)
    raise _not_text(name, encodings[0], data.count(b"\n", 0, offset) + 1, offset, first.reason)


def _offset(data: bytes, exc: UnicodeDecodeError) -> int:
    # utf-8-sig reports offsets in the bytes after the BOM.
    return exc.start + len(data) - len(exc.object)


def read_text(path: Path, limits: FileLimits, encodings: Sequence[str] = ("utf-8-sig",)) -> str:
    """The file's text (:func:`read_bytes`, then :func:`decode`)."""
    return decode(read_bytes(path, limits), path, encodings)


def decoded_lines(raw: Iterable[bytes], name: object, encoding: str = "utf-8-sig") -> Iterator[str]:
    """The lines of a binary stream as text, decoded one by one so that a bad byte is reported with its line and
    offset without reading the rest (UTF-8 never puts a newline byte inside a character, so splitting first is
    safe)."""
    offset = 0
    for number, line in enumerate(raw, start=1):
        try:
            yield line.decode(encoding if number == 1 else encoding.removesuffix("-sig"))
        except UnicodeDecodeError as exc:
            raise _not_text(name, encoding, number, offset + _offset(line, exc), exc.reason) from None
        offset += len(line)


def restore_cell(value: str) -> str:
    """The text :func:`safe_cell` was given for ``value`` (the inverse of the apostrophe it adds)."""
    return value[1:] if _escaped(value) else value


class CsvReader:
    """The rows of a CSV as dicts, as :class:`csv.DictReader` gives them, with the header read at once, the rows
    counted against ``limits.max_rows`` and the apostrophe of :func:`safe_cell` taken off. A csv error (a field
    over csv's size limit, a stray quote) is an :class:`InvalidInput` naming the file and the line."""

    def __init__(self, lines: Iterable[str], name: object, limits: FileLimits, raw: IO[bytes] | None = None) -> None:
        self.name = name
        self.limits = limits
        self._raw = raw
        self._reader = csv.reader(lines)
        header = next(self._guarded(), None)
        self.fieldnames: list[str] = [restore_cell(h) for h in header or []]

    @property
    def line_num(self) -> int:
        """Lines read so far (a quoted field may span several)."""
        return self._reader.line_num

    @property
    def bytes_read(self) -> int:
        """How far into the file the reader is, for a progress bar (0 when it reads text)."""
        return self._raw.tell() if self._raw is not None else 0

    def _guarded(self) -> Iterator[list[str]]:
        try:
            yield from self._reader
        except csv.Error as exc:
            message = str(exc)
            if "field larger than field limit" in message:
                message = f"a field is longer than {csv.field_size_limit():,} characters"
            raise InvalidInput(f"{self.name}: line {self._reader.line_num}: {message}") from None

    def __iter__(self) -> Iterator[Row]:
        names = self.fieldnames
        width = len(names)
        count = 0
        for record in self._guarded():
            if not record:
                continue
            count += 1
            if count > self.limits.max_rows:
                raise InvalidInput(
                    f"{self.name}: more than {self.limits.max_rows:,} rows (setting import_max_rows); "
                    f"stopped at line {self.line_num}"
                )
            values = [restore_cell(v) for v in record]
            row: Row = dict(zip(names, values, strict=False))
            if len(values) > width:
                row[None] = values[width:]
            elif len(values) < width:
                row.update(dict.fromkeys(names[len(values) :]))
            yield row


@contextmanager
def open_csv(path: Path, limits: FileLimits, encoding: str = "utf-8-sig") -> Iterator[CsvReader]:
    """A streamed :class:`CsvReader` over the file, refused by size before it is opened."""
    check_size(path, limits)
    with _open(path) as raw:
        yield CsvReader(decoded_lines(raw, path, encoding), path, limits, raw)


def read_csv_rows(source: Path | str, limits: FileLimits, name: object = None) -> Iterator[Row]:
    """The rows of a CSV file (streamed) or text, bounded as :class:`CsvReader` says; ``name`` names the source in
    errors (default: the path, or "CSV")."""
    if isinstance(source, Path):
        check_size(source, limits)
        return _file_rows(source, limits)
    return iter(CsvReader(io.StringIO(source.removeprefix("\ufeff")), name or "CSV", limits))


def _file_rows(path: Path, limits: FileLimits) -> Iterator[Row]:
    with open_csv(path, limits) as reader:
        yield from reader


def _check_zip(path: Path, limits: FileLimits) -> None:
    """Refuse a zip whose members would expand past the limit, or absurdly, reading only its central directory.
    zipfile stops a member at its declared size, so a member cannot expand further than its entry says."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise InvalidInput(f"{path}: not an XLSX workbook (not a readable zip archive)") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None
    total = 0
    for member in members:
        total += member.file_size
        if member.file_size > _BIG_MEMBER and member.file_size > _MAX_RATIO * max(member.compress_size, 1):
            raise InvalidInput(
                f"{path}: refused: {member.filename} would expand {member.file_size // max(member.compress_size, 1):,}"
                f" times, to {member.file_size:,} bytes (a zip bomb?)"
            )
        if total > limits.xlsx_max_uncompressed_bytes:
            raise InvalidInput(
                f"{path}: refused: it would expand to more than {limits.xlsx_max_uncompressed_bytes:,} bytes "
                "(setting xlsx_max_uncompressed_bytes)"
            )


def read_xlsx(path: Path, limits: FileLimits) -> dict[str, list[dict[str, Any]]]:
    """Every sheet of a workbook, by title: its first non-empty row is the header, the later non-empty rows are
    dicts keyed by it (cached values, not formulas). Refused before parsing when the file or its decompressed size
    is over the limits; at most ``limits.max_rows`` rows in all."""
    check_size(path, limits)
    _check_zip(path, limits)
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise InvalidInput(f"{path}: not a readable XLSX workbook ({type(exc).__name__})") from None
    sheets: dict[str, list[dict[str, Any]]] = {}
    count = 0
    try:
        for sheet in book.worksheets:
            header: list[str] | None = None
            rows: list[dict[str, Any]] = []
            for values in sheet.iter_rows(values_only=True):
                if all(v in (None, "") for v in values):
                    continue
                if header is None:
                    header = [str(h).strip() if h is not None else "" for h in values]
                    continue
                count += 1
                if count > limits.max_rows:
                    raise InvalidInput(f"{path}: more than {limits.max_rows:,} rows (setting import_max_rows)")
                rows.append(dict(zip(header, values, strict=False)))
            if header is not None:
                sheets[sheet.title] = rows
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(f"{path}: not a readable XLSX workbook ({type(exc).__name__})") from None
    finally:
        book.close()
    return sheets


def read_xlsx_rows(path: Path, limits: FileLimits) -> list[dict[str, Any]]:
    """The rows of the workbook's first sheet that has any (see :func:`read_xlsx`)."""
    return next(iter(read_xlsx(path, limits).values()), [])


def read_toml(path: Path, limits: FileLimits) -> dict[str, Any]:
    """A TOML document; a syntax error names the file and its line."""
    try:
        return tomllib.loads(read_text(path, limits, ("utf-8",)))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: not valid TOML: {exc}") from None


def parse_yaml(text: str, name: object) -> Any:
    """``yaml.safe_load`` of ``text``; a syntax error names ``name`` and the line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise InvalidInput(f"{name}: {where}not valid YAML ({exc.problem or exc.context})") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{name}: not valid YAML ({str(exc).splitlines()[0]})") from None


def read_yaml(path: Path, limits: FileLimits) -> Any:
    """A YAML document (safe types only), read within the limits."""
    return parse_yaml(read_text(path, limits), path)


# --- writing ---------------------------------------------------------------------------------------------------------


def _dangerous(value: str) -> bool:
    return value.startswith(_FORMULA_START) and not (_NUMBER.fullmatch(value) or _PHONE.fullmatch(value))


def _escaped(value: str) -> bool:
    # An apostrophe before text that would be neutralised, or before such an apostrophe: the second case lets
    # "'=x" itself survive a round trip (it is written "''=x").
    return value.startswith("'") and (_dangerous(value[1:]) or _escaped(value[1:]))


def safe_cell(value: object) -> object:
    """``value`` as a CSV cell no spreadsheet runs: text that would start a formula gets a leading apostrophe,
    plain numbers and phone numbers stay as they are; other values are returned unchanged."""
    if isinstance(value, str) and (_dangerous(value) or _escaped(value)):
        return "'" + value
    return value


class SafeCsvWriter:
    """:class:`csv.DictWriter`'s ``writeheader`` / ``writerow`` / ``writerows`` with :func:`safe_cell` on every
    cell, header included; a missing key is an empty cell and keys outside ``columns`` are ignored."""

    def __init__(self, stream: IO[str], columns: Sequence[str], lineterminator: str = "\r\n") -> None:
        self.columns = list(columns)
        self._writer = csv.writer(stream, lineterminator=lineterminator)

    def writeheader(self) -> None:
        self._writer.writerow([safe_cell(c) for c in self.columns])

    def writerow(self, row: Mapping[str, object]) -> None:
        self._writer.writerow([safe_cell(_text_of(row.get(c))) for c in self.columns])

    def writerows(self, rows: Iterable[Mapping[str, object]]) -> None:
        for row in rows:
            self.writerow(row)


def _text_of(value: object) -> object:
    return value.isoformat() if isinstance(value, date | time) else value


def csv_writer(stream: IO[str], columns: Sequence[str], lineterminator: str = "\r\n") -> SafeCsvWriter:
    return SafeCsvWriter(stream, columns, lineterminator)


def write_csv(rows: Iterable[Mapping[str, object]], columns: Sequence[str], lineterminator: str = "\r\n") -> str:
    """A CSV with a header row, every cell through :func:`safe_cell`; dates as ISO 8601."""
    buf = io.StringIO()
    writer = SafeCsvWriter(buf, columns, lineterminator)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _xlsx_cell(new_cell: Callable[[], Any], value: object) -> object:
    if isinstance(value, datetime | time) and value.tzinfo is not None:
        value = value.isoformat()  # Excel has no time zones
    elif value is None or isinstance(value, bool | int | float | Decimal | date | time):
        return value
    text = _NOT_IN_XML.sub("\ufffd", str(value))
    cell = new_cell()
    cell.value = text
    cell.data_type = "s"  # after the value: openpyxl reads a leading "=" as a formula
    if _dangerous(text):
        cell.quotePrefix = True
    return cell


def write_xlsx(sheets: Mapping[str, tuple[Sequence[str], Iterable[Mapping[str, object]]]]) -> bytes:
    """A workbook with one sheet per entry (title -> (columns, rows)). Text is written as typed string cells, so
    "=1+1" stays text (with the quote-prefix style a spreadsheet gives typed-in text, so editing the cell keeps it
    text); numbers, booleans and dates keep their types; characters XML cannot hold become U+FFFD."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    for title, (columns, rows) in sheets.items():
        sheet = book.create_sheet(title)
        new_cell = partial(WriteOnlyCell, sheet)
        sheet.append([_xlsx_cell(new_cell, c) for c in columns])
        for row in rows:
            sheet.append([_xlsx_cell(new_cell, row.get(c)) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


__all__ = [
    "CsvReader",
    "FileLimits",
    "Row",
    "SafeCsvWriter",
    "check_size",
    "csv_writer",
    "decode",
    "decoded_lines",
    "open_csv",
    "parse_yaml",
    "read_bytes",
    "read_csv_rows",
    "read_text",
    "read_toml",
    "read_xlsx",
    "read_xlsx_rows",
    "read_yaml",
    "restore_cell",
    "safe_cell",
    "write_csv",
    "write_xlsx",
]
