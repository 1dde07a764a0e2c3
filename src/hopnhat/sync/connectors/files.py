"""Connector for a folder of export files, CSV or XLSX (Hậu Giang's nightly exports through its bundled profile).

What a file looks like is configuration: ``encoding`` (``auto`` tells UTF-8 with or without BOM, UTF-16 and
Windows-1258 apart), ``delimiter`` (``auto`` sniffs ``,`` ``;`` and tab), ``header_row`` (its line number) or
``header_contains`` (the row holding these headers, for exports with a title banner above; by default the row that
holds the mapping's id column), ``header_rows`` (a header over several rows, XLSX: a group merged across its
columns above them, the other columns merged down; each column is named by its lowest non-empty cell),
``skip_rows`` (lines to pass over first) and ``sheet`` (XLSX). A problem of the
whole file (an encoding it cannot tell, no header row) is reported once in :attr:`FilesConnector.file_problems`,
naming the file, and each of its lines comes back with that reason, to be quarantined as ``<file>#<line>`` and
loaded by a replay once the configuration is fixed."""

from __future__ import annotations

import base64
import codecs
import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

from hopnhat.registry.text import fold, nfc
from hopnhat.sync.connectors.base import RawRecord, Scan, TerminalError, digest_of, require, row_digest
from hopnhat.sync.mapping import Mapping as SourceMapping
from hopnhat.sync.profiles import resolve

_DAY = re.compile(r"(\d{8})")
DELIMITERS = (",", ";", "\t")
HEADER_SEARCH = 50
"""Lines searched for the header row (a title banner is a few lines, never fifty)."""
MAX_FILE_BYTES = 512 * 1024 * 1024
"""A bigger file is refused whole: one export file is a day of changes, a few MB."""


def detect_encoding(raw: bytes) -> str | None:
    """``utf-8-sig``, ``utf-16``, ``utf-8`` or ``cp1258`` from the bytes; None when it cannot tell. A UTF-8 file
    with a few rows in another code page stays UTF-8 (those rows are flagged one by one)."""
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(raw) >= 4 and raw[1] == 0 and raw[3] == 0 and raw[0] != 0:
        return "utf-16-le"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    lines = [line for line in raw.split(b"\n") if not line.isascii()]
    utf8 = 0
    for line in lines:
        try:
            line.decode("utf-8")
            utf8 += 1
        except UnicodeDecodeError:
            pass
    if utf8 * 2 >= len(lines):
        return "utf-8"
    try:
        text = raw.decode("cp1258")
    except UnicodeDecodeError:
        return None
    # C1 controls and the few code points cp1258 maps them to are no text of an export.
    if any("\x80" <= ch <= "\x9f" for ch in text):
        return None
    return "cp1258"


def sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter most lines share a same non-zero count of (``,`` on a tie); None when none appears."""
    best: tuple[int, int, str] | None = None
    for rank, candidate in enumerate(DELIMITERS):
        counts: dict[int, int] = {}
        for line in lines:
            n = line.count(candidate)
            if n:
                counts[n] = counts.get(n, 0) + 1
        if not counts:
            continue
        _mode, often = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        score = (often, -rank, candidate)
        if best is None or score[:2] > best[:2]:
            best = score
    return best[2] if best else None


@dataclass(slots=True)
class FileRead:
    """One file as read: its header and rows, or the problem that stops reading it as a table."""

    header: list[str] = field(default_factory=list)
    rows: list[tuple[dict[str, Any], list[str], bytes]] = field(default_factory=list)
    """(row by header, or a malformed line's payload; problems; digest of the line's bytes)."""
    problem: str | None = None
    lines: list[tuple[int, bytes]] = field(default_factory=list)
    """With a problem: every non-empty line (number, bytes), each quarantined with it."""
    encoding: str = ""
    delimiter: str = ""


class FilesConnector:
    kind = "files"

    def __init__(self, options: Mapping[str, Any]) -> None:
        opts = resolve({"connector": self.kind, **options})
        self.path = Path(str(require(opts, "path")))
        self.pattern = str(opts.get("pattern", "*.csv"))
        self.encoding = str(opts.get("encoding", "auto"))
        self.delimiter = str(opts.get("delimiter", "auto"))
        self.sheet = opts.get("sheet")
        self.header_row = int(opts["header_row"]) if opts.get("header_row") else None
        self.skip_rows = int(opts.get("skip_rows", 0))
        self.header_rows = int(opts.get("header_rows", 1))
        if not 1 <= self.header_rows <= 5:
            raise TerminalError(f"header_rows must be 1..5, not {self.header_rows}")
        self.mapping = SourceMapping(opts.get("mapping"), province_code=str(opts.get("province_code", "")))
        wanted = opts.get("header_contains") or [c for c in (self.mapping.column("id"),) if c]
        self.header_names = [str(c) for c in wanted]
        self.header_contains = [fold(c) for c in self.header_names]
        self.file_problems: dict[str, str] = {}
        """File name -> the problem of the whole file, once per file (the sync reports them)."""
        self.clean_files: set[str] = set()
        """Files read as tables: quarantine entries of their earlier whole-file problems can be resolved."""

    def location(self) -> str:
        return f"{self.path.resolve()}/{self.pattern}"

    # ------------------------------------------------------------------ reading one file

    def _header_at(self, rows: list[list[str]]) -> int | None:
        """Index of the header among the first rows (after ``skip_rows``)."""
        if self.header_row is not None:
            at = self.header_row - 1
            return at if 0 <= at < len(rows) else None
        for i, cells in enumerate(rows[self.skip_rows : self.skip_rows + HEADER_SEARCH], start=self.skip_rows):
            folded = {fold(c) for c in cells}
            if all(w in folded for w in self.header_contains):
                return i
        return None

    def _csv(self, file: Path) -> FileRead:
        raw = file.read_bytes()
        if len(raw) > MAX_FILE_BYTES:
            raise TerminalError(f"file {file.name} is {len(raw)} bytes, more than {MAX_FILE_BYTES}")
        encoding = self.encoding if self.encoding != "auto" else detect_encoding(raw)
        if encoding is None:
            return _broken(
                file, raw, f"file {file.name}: cannot tell its encoding (not UTF-8, UTF-16 nor Windows-1258)"
            )
        try:
            codec = codecs.lookup(encoding).name
        except LookupError as exc:
            raise TerminalError(f"unknown encoding {encoding!r}") from exc
        pieces: list[tuple[bytes, str, list[str]]] = []
        if codec.startswith("utf-16"):
            text = raw.decode(encoding, errors="replace").lstrip("\ufeff")
            sep = "\r\n" if "\r\n" in text else "\n"
            pieces = [(line.encode("utf-8"), line, list[str]()) for line in text.split(sep)]
        else:
            sep_b = b"\r\n" if b"\r\n" in raw else b"\n"
            # Decoded line by line: one row in another code page costs that row only.
            base = "utf-8" if codec == "utf-8-sig" else encoding
            for chunk in raw.split(sep_b):
                try:
                    line, problems = chunk.decode(base), []
                except UnicodeDecodeError:
                    line = chunk.decode("cp1258", errors="replace")
                    problems = [f"wrong encoding: row bytes are not {encoding}"]
                pieces.append((chunk, line.lstrip("\ufeff"), problems))
        numbered = [(n, chunk, line, problems) for n, (chunk, line, problems) in enumerate(pieces, 1) if line.strip()]
        delimiter = self.delimiter if self.delimiter != "auto" else None
        if delimiter is None:
            delimiter = sniff_delimiter([line for _, _, line, _ in numbered[: HEADER_SEARCH + 20]])
            if delimiter is None:
                return _broken(file, raw, f"file {file.name}: cannot tell its delimiter (none of , ; tab)")
        delimiter = delimiter.replace("\\t", "\t")
        feed = _Feed()
        reader = csv.reader(feed, delimiter=delimiter, strict=True)
        parsed: list[tuple[int, bytes, list[str] | None, list[str], str]] = []
        for number, chunk, line, problems in numbered:
            if '"' not in line and "\r" not in line and "\n" not in line:
                # Nothing the CSV syntax could mean but delimiters: what the parser would give, several times cheaper.
                parsed.append((number, chunk, line.split(delimiter), problems, ""))
                continue
            feed.line = line
            try:
                # Lenient parsing would silently shift or truncate cells of a malformed line into wrong fields.
                parsed.append((number, chunk, next(reader), problems, ""))
            except csv.Error as exc:
                parsed.append((number, chunk, None, problems, str(exc)))
        at = self._header_at([cells or [] for _, _, cells, _, _ in parsed])
        if at is None:
            wanted = ", ".join(self.header_names) or "?"
            return _broken(
                file,
                raw,
                f"file {file.name}: no header row holding {wanted} in its first {HEADER_SEARCH} lines "
                f"(encoding {encoding}, delimiter {delimiter!r})",
            )
        cells = parsed[at][2]
        if cells is None:
            raise TerminalError(f"file {file.name} line {parsed[at][0]}: unreadable CSV header: {parsed[at][4]}")
        # NFC and trimmed: Windows-1258 exports write the tone marks combining, and the mapping names columns in NFC.
        header = [nfc(c).strip() for c in cells]
        read = FileRead(header=header, encoding=encoding, delimiter=delimiter)
        for number, chunk, cells, problems, error in parsed[at + 1 :]:
            if cells is None:
                payload = _malformed(file, number, chunk)
                read.rows.append(
                    (payload, [*problems, f"malformed CSV in {file.name} line {number}: {error}"], digest_of(chunk))
                )
                continue
            if len(cells) != len(header):
                problems = [
                    *problems,
                    f"malformed CSV in {file.name} line {number}: {len(cells)} cells, the header has {len(header)}",
                ]
            read.rows.append((dict(zip(header, cells, strict=False)), problems, digest_of(chunk)))
        return read

    def _xlsx(self, file: Path) -> FileRead:
        import openpyxl

        try:
            book = openpyxl.load_workbook(file, read_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is no workbook
            return _broken(file, file.read_bytes(), f"file {file.name}: not a readable workbook ({type(exc).__name__})")
        try:
            if isinstance(self.sheet, int):
                sheet = book.worksheets[self.sheet]
            elif self.sheet and str(self.sheet) in book.sheetnames:
                sheet = book[str(self.sheet)]
            else:
                sheet = book.worksheets[0]
            rows = [["" if c is None else str(c) for c in row] for row in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
        at = self._header_at(rows)
        if at is None:
            return _broken(
                file, file.read_bytes(), f"file {file.name}: no header row holding {', '.join(self.header_names)}"
            )
        block = rows[at : at + self.header_rows]
        width = max(len(r) for r in block)
        # Merged cells are empty but for their first: a column is named by its lowest non-empty header cell.
        header = [
            nfc(next((r[i] for r in reversed(block) if i < len(r) and r[i].strip()), "")).strip() for i in range(width)
        ]
        read = FileRead(header=header, encoding="xlsx", delimiter="")
        for row in rows[at + self.header_rows :]:
            if not any(row):
                continue
            cells = dict(zip(header, row, strict=False))
            read.rows.append((cells, [], row_digest(cells)))
        return read

    def read_file(self, file: Path) -> FileRead:
        read = self._xlsx(file) if file.suffix.lower() == ".xlsx" else self._csv(file)
        if read.problem is not None:
            self.file_problems[file.name] = read.problem
        else:
            self.clean_files.add(file.name)
        return read

    def _file_records(self, file: Path, read: FileRead) -> list[RawRecord]:
        if read.problem is not None:
            return [
                RawRecord(
                    f"{file.name}#{number}", None, _malformed(file, number, chunk), {}, [read.problem], digest_of(chunk)
                )
                for number, chunk in read.lines
            ]
        record = self.mapping.record
        return [record(row, digest, problems) for row, problems, digest in read.rows]

    # ------------------------------------------------------------------ the connector

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
            records = [
                r
                for r in self._file_records(file, self.read_file(file))
                if since is None or r.updated is None or r.updated >= since
            ]
            # A day's file is small; ordering it by update time keeps the cursor exact when a run stops mid-file.
            records.sort(key=lambda r: r.updated or datetime.min)
            yield from records

    def scan(self, since: datetime | None) -> Iterator[Scan]:
        """One chunk per file: its records' ids, stamps and digests (the raw line bytes), and how to build a
        record from what was kept of it."""
        id_column = self.mapping.column("id")
        for file in self._files(since):
            read = self.read_file(file)
            if read.problem is not None:
                records = self._file_records(file, read)
                yield Scan(
                    [r.source_id for r in records],
                    ["" for _ in records],
                    [r.digest for r in records],
                    records.__getitem__,
                )
                continue
            rows = read.rows
            if id_column is not None:
                ids = [str(row.get(id_column) or "") if "raw_base64" not in row else "" for row, _, _ in rows]
            else:
                ids = [str(self.mapping.source_id(row) or "") for row, _, _ in rows]
            stamps = [self.mapping.stamp(row) if "raw_base64" not in row else "" for row, _, _ in rows]
            yield Scan(ids, stamps, [digest for _, _, digest in rows], partial(_row_record, self.mapping, rows))


def _row_record(mapping: SourceMapping, rows: list[tuple[dict[str, Any], list[str], bytes]], i: int) -> RawRecord:
    row, problems, digest = rows[i]
    return mapping.record(row, digest, problems)


def _broken(file: Path, raw: bytes, problem: str) -> FileRead:
    """A file that cannot be read as a table: each non-empty line is kept with the problem."""
    sep = b"\r\n" if b"\r\n" in raw else b"\n"
    lines = [(n, chunk) for n, chunk in enumerate(raw.split(sep), 1) if chunk.strip(b"\x00\r\n\t \xff\xfe")]
    return FileRead(problem=problem, lines=lines)


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


def _malformed(file: Path, number: int, raw: bytes) -> dict[str, Any]:
    """Payload of a line that cannot be read as cells: where it is and its exact bytes (base64; ``text`` is for
    reading, undecodable bytes shown as escapes)."""
    return {
        "file": file.name,
        "line": number,
        "text": raw.decode("utf-8", errors="backslashreplace"),
        "raw_base64": base64.b64encode(raw).decode("ascii"),
    }


def file_day(name: str) -> date | None:
    match = _DAY.search(name)
    return datetime.strptime(match.group(1), "%Y%m%d").date() if match else None
