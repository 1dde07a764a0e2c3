"""Systems described as data (``legacy/data/catalogue.toml``): each renders a :class:`Dossier` through its column
vocabulary into its interface (an HTTP API's store, export files, a database table), and gets the mapping the sync
reads it with, written next to its data. No Python per system: a new system is a catalogue entry.

The three one-stop systems of Cần Thơ keep their own renderers (:mod:`hopnhat.legacy.systems`, vocabulary
``builtin``): the parallel run's ``tick`` advances them; the systems described here are static exports of 2023-06.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
import sqlite3
import tomllib
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import create_engine, text

from hopnhat.errors import InvalidInput, ServiceUnavailable
from hopnhat.legacy.record import FAULT_TYPES, Dossier, garbled_field, impossible_day, mojibake
from hopnhat.legacy.systems import _XLSX_PARTS, _XML_BAD, MARIADB_SERVER, _cp1258, misspell, misspelling, unit_name
from hopnhat.sync.connectors.base import CANONICAL_FIELDS as FIELDS  # the mappings it writes name these

POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
INTERFACES = ("http_api", "files", "sql")
PAGINATIONS = ("page", "offset", "cursor", "link_header")
AUTHS = ("api_key", "oauth2")
BACKENDS = ("sqlite", "mariadb", "postgresql")
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1258")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Vocabulary:
    """How a system names and writes the canonical fields (a ``[vocabularies.NAME]`` table)."""

    name: str
    dates: str
    unit: str
    columns: dict[str, str]
    values: dict[str, dict[int, str]]
    groups: dict[str, list[str]] = field(default_factory=dict)

    def column(self, key: str) -> str | None:
        return self.columns.get(key)


@dataclass(frozen=True)
class System:
    """One simulated system of a former province (a ``[[systems]]`` entry)."""

    name: str
    province: str
    kind: str
    title: str
    interface: str
    vocabulary: str
    share: float
    faults: tuple[str, ...]
    options: dict[str, Any]

    @property
    def builtin(self) -> bool:
        return self.vocabulary == "builtin"


@dataclass(frozen=True)
class Catalogue:
    systems: tuple[System, ...]
    vocabularies: dict[str, Vocabulary]

    def system(self, name: str) -> System:
        for s in self.systems:
            if s.name == name:
                return s
        raise InvalidInput(f"no system {name!r} in the catalogue")

    def select(self, which: str) -> tuple[System, ...]:
        """``all``, ``provincial`` (the one-stop systems) or a comma-separated list of names."""
        if which == "all":
            return self.systems
        if which == "provincial":
            return tuple(s for s in self.systems if s.kind == "one-stop")
        names = [n.strip() for n in which.split(",") if n.strip()]
        return tuple(self.system(n) for n in names)


def _vocabulary(name: str, table: dict[str, Any]) -> Vocabulary:
    columns = {str(k): str(v) for k, v in dict(table.get("columns", {})).items()}
    bad = set(columns) - {*FIELDS, "updated"}
    if bad or "code" not in columns or "updated" not in columns:
        raise InvalidInput(f"vocabulary {name}: unknown fields {sorted(bad)} or no code/updated column")
    values: dict[str, dict[int, str]] = {
        key: {int(k): str(v) for k, v in dict(table[key]).items()}
        for key in ("status", "channel", "applicant_type")
        if key in table
    }
    unit = str(table.get("unit", "code"))
    if unit not in ("code", "name"):
        raise InvalidInput(f"vocabulary {name}: unit is code or name, not {unit!r}")
    groups = {str(k): [str(c) for c in v] for k, v in dict(table.get("groups", {})).items()}
    return Vocabulary(name, str(table.get("dates", "iso")), unit, columns, values, groups)


def _system(entry: dict[str, Any], vocabularies: dict[str, Vocabulary]) -> System:
    name = str(entry.get("name", ""))
    if not _PLAIN.match(name):
        raise InvalidInput(f"system {name!r}: a name is lower-case letters, digits and _")
    interface = str(entry.get("interface", ""))
    vocabulary = str(entry.get("vocabulary", ""))
    if interface not in INTERFACES:
        raise InvalidInput(f"system {name}: interface is one of {', '.join(INTERFACES)}")
    if vocabulary != "builtin" and vocabulary not in vocabularies:
        raise InvalidInput(f"system {name}: unknown vocabulary {vocabulary!r}")
    faults = tuple(str(f) for f in entry.get("faults", ()))
    if set(faults) - set(FAULT_TYPES):
        raise InvalidInput(f"system {name}: unknown faults {sorted(set(faults) - set(FAULT_TYPES))}")
    known = {"name", "province", "kind", "title", "interface", "vocabulary", "share", "faults"}
    options = {k: v for k, v in entry.items() if k not in known}
    checks = {"pagination": PAGINATIONS, "auth": AUTHS, "backend": BACKENDS, "encoding": ENCODINGS}
    for key, allowed in checks.items():
        if key in options and options[key] not in allowed:
            raise InvalidInput(f"system {name}: {key} is one of {', '.join(allowed)}")
    if "misspelled_unit" in faults and vocabulary != "builtin" and vocabularies[vocabulary].unit != "name":
        raise InvalidInput(f"system {name}: misspelled_unit needs a vocabulary that writes units as names")
    return System(
        name,
        str(entry["province"]),
        str(entry.get("kind", "sector")),
        str(entry.get("title", name)),
        interface,
        vocabulary,
        float(entry.get("share", 0.0)),
        faults,
        options,
    )


def load_catalogue(text_: str) -> Catalogue:
    """A catalogue from its TOML text (the bundled one, or another province's)."""
    try:
        data = tomllib.loads(text_)
        vocabularies = {str(k): _vocabulary(str(k), dict(v)) for k, v in dict(data.get("vocabularies", {})).items()}
        systems = tuple(_system(dict(e), vocabularies) for e in data.get("systems", []))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"catalogue: not valid TOML ({exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"catalogue: a system or vocabulary lacks or misstates {exc}") from None
    names = [s.name for s in systems]
    if len(set(names)) != len(names):
        raise InvalidInput("catalogue: two systems share a name")
    if not systems or sum(s.share for s in systems) <= 0:
        raise InvalidInput("a catalogue needs [[systems]] with a positive share")
    return Catalogue(systems, vocabularies)


def province_catalogue(province: str) -> Catalogue:
    """The generic systems of a merged province (``data/province_template.toml`` once per former province, each
    former province's share its share of the old communes), with the bundled vocabularies."""
    from hopnhat.registry.bundled import national

    data = national()
    if province not in data.new_provinces:
        raise InvalidInput(f"no province {province!r} on 2025-07-01 (codes: {', '.join(data.new_provinces)})")
    formers = data.former_provinces(province)
    weight = {p: sum(1 for c in data.old_communes.values() if c.province_code == p) for p in formers}
    template = resources.files("hopnhat.legacy").joinpath("data", "province_template.toml").read_text("utf-8")
    entries: list[dict[str, Any]] = []
    for former in formers:
        filled = template.replace("{p}", former).replace("{name}", data.old_provinces[former].name)
        for entry in tomllib.loads(filled)["systems"]:
            entry["share"] = float(entry["share"]) * weight[former] / sum(weight.values())
            entries.append(entry)
    base = bundled()
    systems = tuple(_system(e, base.vocabularies) for e in entries)
    return Catalogue(systems, base.vocabularies)


def described(province: str) -> bool:
    """Whether the bundled catalogue describes every former system of ``province`` (Cần Thơ's 17 today); another
    province gets the generic set of :func:`province_catalogue`."""
    from hopnhat.registry.bundled import national

    formers = set(national().former_provinces(province))
    return bool(formers) and formers <= {s.province for s in bundled().systems}


def bundled() -> Catalogue:
    """The catalogue of the three former provinces of Cần Thơ: 17 systems."""
    return load_catalogue(resources.files("hopnhat.legacy").joinpath("data", "catalogue.toml").read_text("utf-8"))


# ---------------------------------------------------------------- rendering one dossier


def excel_serial(moment: datetime) -> float:
    return (moment - _EXCEL_EPOCH).total_seconds() / 86_400


def write_date(fmt: str, moment: datetime | None) -> Any:
    if moment is None:
        return None
    if fmt == "iso":
        return moment.isoformat(timespec="seconds") + "+07:00"
    if fmt == "excel":
        return excel_serial(moment)
    return moment.strftime(fmt)


def write_bad_date(fmt: str, moment: datetime, rng: random.Random) -> str:
    """A date no calendar has, in the system's own layout (as text: an Excel serial cannot hold one)."""
    y, m, day = impossible_day(moment, rng)
    if fmt == "iso":
        return f"{y:04d}-{m:02d}-{day:02d}T{moment:%H:%M:%S}+07:00"
    if fmt == "excel":
        return f"{day:02d}/{m:02d}/{y:04d}"
    return moment.strftime(fmt.replace("%Y", f"{y:04d}").replace("%m", f"{m:02d}").replace("%d", f"{day:02d}"))


def _value(vocab: Vocabulary, key: str, code: int) -> Any:
    table = vocab.values.get(key)
    return table[code] if table else code


def render(
    system: System, vocab: Vocabulary, d: Dossier, rng: random.Random
) -> tuple[dict[str, Any], str | None, bool]:
    """(the record by column, the column its fault is in, whether its bytes must be Windows-1258 in a UTF-8
    export)."""
    proc = d.proc
    canonical: dict[str, Any] = {
        "code": d.code,
        "procedure_code": d.procedure,
        "procedure_name": proc.name,
        "field_code": proc.field_code,
        "applicant_name": d.applicant,
        "applicant_id_number": d.citizen_id,
        "applicant_phone": d.phone,
        "applicant_address": d.address,
        "applicant_type": _value(vocab, "applicant_type", d.applicant_type),
        "channel": _value(vocab, "channel", d.channel),
        "status": _value(vocab, "status", d.status),
        "received_at": write_date(vocab.dates, d.received),
        "due_at": write_date(vocab.dates, d.due),
        "returned_at": write_date(vocab.dates, d.returned),
        "unit": unit_name(d.place, rng, home=system.province) if vocab.unit == "name" else d.unit,
        "agency_code": d.agency,
        "updated": write_date(vocab.dates, d.updated),
    }
    key: str | None = None
    cp1258 = False
    if d.fault == "invalid_date":
        key = rng.choice(("received_at", "due_at"))
        canonical[key] = write_bad_date(vocab.dates, d.received if key == "received_at" else d.due, rng)
    elif d.fault == "unknown_unit":
        key = "unit"
        canonical[key] = (
            rng.choice(("Xã Không Tên", "Phường Ba Mươi")) if vocab.unit == "name" else f"99{rng.randrange(1000):03d}"
        )
    elif d.fault == "misspelled_unit":
        key = "unit"
        canonical[key] = misspell(str(canonical[key]), misspelling(d), rng)
    elif d.fault == "missing_field":
        key = rng.choice(("procedure_code", "received_at", "unit"))
        canonical[key] = None
    elif d.fault == "wrong_encoding":
        key = garbled_field(d.applicant, "applicant_name", "applicant_address")
        if system.interface == "files" and system.options.get("encoding", "utf-8") in ("utf-8", "utf-8-sig"):
            cp1258 = True  # the whole row in the old code page, as a desktop export writes it
        else:
            canonical[key] = mojibake(str(canonical[key]))
    row = {vocab.columns[k]: v for k, v in canonical.items() if k in vocab.columns}
    return row, (vocab.columns.get(key) if key else None), cp1258


# ---------------------------------------------------------------- writers, one per interface


def _month_end(moment: datetime) -> str:
    first_next = (moment.replace(day=1) + timedelta(days=32)).replace(day=1)
    return (first_next - timedelta(days=1)).strftime("%Y%m%d")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


class Writer:
    """Takes rendered rows (``add``), writes them out in batches (``flush``), finishes (``close``)."""

    def __init__(self, system: System, vocab: Vocabulary, folder: Path) -> None:
        self.system = system
        self.vocab = vocab
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.pending: list[tuple[Dossier, dict[str, Any], bool]] = []

    def add(self, d: Dossier, row: dict[str, Any], cp1258: bool, copies: int) -> None:
        self.pending.extend([(d, row, cp1258)] * copies)

    def flush(self) -> None:
        self.pending.clear()

    def close(self) -> None:
        self.flush()

    def location(self) -> dict[str, Any]:
        """The keys of ``[sources.NAME]`` that say where the system is (the rest is in its mapping file)."""
        return {"path": str(self.folder.resolve())}


class CsvWriter(Writer):
    """``DIR/NAME/NAME_<last day of month>.csv``: the changes of a month, appended in the system's encoding."""

    def flush(self) -> None:
        by_file: dict[str, list[tuple[dict[str, Any], bool]]] = defaultdict(list)
        for d, row, cp1258 in self.pending:
            by_file[_month_end(d.updated)].append((row, cp1258))
        self.pending.clear()
        encoding = str(self.system.options.get("encoding", "utf-8"))
        delimiter = str(self.system.options.get("delimiter", ","))
        header = [self.vocab.columns[k] for k in (*FIELDS, "updated") if k in self.vocab.columns]
        for day, rows in by_file.items():
            path = self.folder / f"{self.system.name}_{day}.csv"
            fresh = not path.exists()
            with path.open("ab") as out:
                if fresh:
                    out.write(self._encode(self._line(header, delimiter), encoding, first=True))
                for row, cp1258 in rows:
                    line = self._line([_text(row.get(c)) for c in header], delimiter)
                    out.write(_cp1258(line) if cp1258 else self._encode(line, encoding, first=False))

    @staticmethod
    def _line(cells: Sequence[str], delimiter: str) -> str:
        buf = io.StringIO()
        csv.writer(buf, delimiter=delimiter).writerow(cells)
        return buf.getvalue()

    @staticmethod
    def _encode(line: str, encoding: str, first: bool) -> bytes:
        if encoding == "utf-16":
            return ("\ufeff" + line if first else line).encode("utf-16-le")
        if encoding == "utf-8-sig":
            return ("\ufeff" + line if first else line).encode("utf-8")
        if encoding == "cp1258":
            return _cp1258(line)
        return line.encode("utf-8")


def _col(n: int) -> str:
    letters = ""
    n += 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def write_sheet(path: Path, sheet: str, rows: Sequence[Sequence[Any]], merges: Sequence[str] = ()) -> None:
    """An XLSX of one sheet: text as inline strings, numbers as numbers (Excel date serials), merged ranges."""
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{escape(sheet)}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    body = io.StringIO()
    body.write(
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    )
    for r, cells in enumerate(rows, start=1):
        body.write(f'<row r="{r}">')
        for c, value in enumerate(cells):
            ref = f"{_col(c)}{r}"
            if value is None or value == "":
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                body.write(f'<c r="{ref}"><v>{value!r}</v></c>')
            else:
                text_ = escape(_XML_BAD.sub("", str(value)))
                body.write(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text_}</t></is></c>')
        body.write("</row>")
    body.write("</sheetData>")
    if merges:
        body.write(f'<mergeCells count="{len(merges)}">')
        body.write("".join(f'<mergeCell ref="{m}"/>' for m in merges))
        body.write("</mergeCells>")
    body.write("</worksheet>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, content in _XLSX_PARTS.items():
            z.writestr(name, content)
        z.writestr("xl/workbook.xml", workbook)
        z.writestr("xl/worksheets/sheet1.xml", body.getvalue())


class XlsxWriter(Writer):
    """``DIR/NAME/NAME_<last day of month>.xlsx``, written whole at the end (a workbook cannot be appended to). With
    ``banner``: a merged title and period above a two-row header whose groups are merged across."""

    def __init__(self, system: System, vocab: Vocabulary, folder: Path) -> None:
        super().__init__(system, vocab, folder)
        self.months: dict[str, list[list[Any]]] = defaultdict(list)
        self.header = [k for k in (*FIELDS, "updated") if k in vocab.columns]

    def flush(self) -> None:
        for d, row, cp1258 in self.pending:
            cells = [row.get(self.vocab.columns[k]) for k in self.header]
            if cp1258:  # a workbook is Unicode: the wrong encoding shows as mojibake in its field
                at = self.header.index(garbled_field(d.applicant, "applicant_name", "applicant_address"))
                cells[at] = mojibake(str(cells[at]))
            self.months[_month_end(d.updated)].append(cells)
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        for day, rows in self.months.items():
            head, merges = self._head(day)
            write_sheet(self.folder / f"{self.system.name}_{day}.xlsx", "HoSo", [*head, *rows], merges)

    def _head(self, day: str) -> tuple[list[list[Any]], list[str]]:
        names = [self.vocab.columns[k] for k in self.header]
        if not self.system.options.get("banner"):
            return [names], []
        width = len(names)
        last = _col(width - 1)
        title = f"BÁO CÁO TÌNH HÌNH GIẢI QUYẾT HỒ SƠ - {self.system.title.upper()}"
        period = f"Tháng {day[4:6]}/{day[:4]}"
        top: list[Any] = [None] * width
        bottom: list[Any] = [None] * width
        merges = [f"A1:{last}1", f"A2:{last}2"]
        grouped: dict[str, str] = {k: g for g, keys in self.vocab.groups.items() for k in keys}
        at = 0
        while at < width:
            key = self.header[at]
            group = grouped.get(key)
            if group is None:
                top[at] = names[at]
                merges.append(f"{_col(at)}4:{_col(at)}5")
                at += 1
                continue
            span = at
            while span < width and grouped.get(self.header[span]) == group:
                bottom[span] = names[span]
                span += 1
            top[at] = group
            merges.append(f"{_col(at)}4:{_col(span - 1)}4")
            at = span
        return [[title], [period], [], top, bottom], merges


class SqlWriter(Writer):
    """A table ``tb_NAME`` in the system's database: SQLite (``DIR/NAME/NAME.db``), MariaDB or PostgreSQL (a
    database of its own on the local server)."""

    def __init__(self, system: System, vocab: Vocabulary, folder: Path, url: str) -> None:
        super().__init__(system, vocab, folder)
        self.url = url
        self.table = f"tb_{system.name}"
        self.header = [vocab.columns[k] for k in (*FIELDS, "updated") if k in vocab.columns]
        bad = [c for c in self.header if not _PLAIN.match(c)]
        if bad:
            raise InvalidInput(f"system {system.name}: SQL columns must be plain names, not {bad}")
        self.updated = vocab.columns["updated"]
        self.engine = create_engine(url)
        dialect = self.engine.dialect.name
        key = {
            "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
            "mysql": "INTEGER PRIMARY KEY AUTO_INCREMENT",
            "postgresql": "SERIAL PRIMARY KEY",
        }[dialect]
        stamp = "TIMESTAMP" if dialect == "postgresql" else "DATETIME"
        columns = ", ".join(f"{c} {stamp} NOT NULL" if c == self.updated else f"{c} VARCHAR(300)" for c in self.header)
        suffix = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" if dialect == "mysql" else ""
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")
            conn.exec_driver_sql(f"CREATE TABLE {self.table} (rid {key}, {columns}){suffix}")
            conn.exec_driver_sql(f"CREATE INDEX ix_{self.table}_upd ON {self.table} ({self.updated}, rid)")
        placeholders = ", ".join(f":{c}" for c in self.header)
        self.insert = text(f"INSERT INTO {self.table} ({', '.join(self.header)}) VALUES ({placeholders})")

    def flush(self) -> None:
        if not self.pending:
            return
        rows = []
        for d, row, _ in self.pending:
            values = {c: (None if row.get(c) is None else _text(row.get(c))) for c in self.header}
            values[self.updated] = d.updated.strftime("%Y-%m-%d %H:%M:%S")
            rows.append(values)
        with self.engine.begin() as conn:
            conn.execute(self.insert, rows)
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        self.engine.dispose()

    def location(self) -> dict[str, Any]:
        return {"url": self.url}


class ApiWriter(Writer):
    """``DIR/NAME/api.db``: the items the system's HTTP API serves (``hopnhat.legacy.server``), and ``api.json``
    (its pagination and auth, read by the server) with the client secret beside it."""

    def __init__(self, system: System, vocab: Vocabulary, folder: Path, seed: int) -> None:
        super().__init__(system, vocab, folder)
        path = folder / "api.db"
        for extra in ("", "-wal", "-shm"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
        self.conn = sqlite3.connect(path)
        self.conn.execute("CREATE TABLE items (rid INTEGER PRIMARY KEY, upd TEXT NOT NULL, item TEXT NOT NULL)")
        self.conn.execute("CREATE INDEX ix_items_upd ON items (upd, rid)")
        # Not a real secret: a simulator's, derived from the seed so that a regenerated folder keeps its config.
        self.secret = hashlib.sha256(f"{system.name}:{seed}".encode()).hexdigest()[:32]
        (folder / "client_secret").write_text(self.secret + "\n", encoding="utf-8")
        (folder / "client_secret").chmod(0o600)
        api = {"pagination": system.options.get("pagination", "page"), "auth": system.options.get("auth", "api_key")}
        (folder / "api.json").write_text(json.dumps(api) + "\n", encoding="utf-8")

    def flush(self) -> None:
        rows = [
            (d.updated.strftime("%Y-%m-%d %H:%M:%S"), json.dumps(_nested(row), ensure_ascii=False))
            for d, row, _ in self.pending
        ]
        self.conn.executemany("INSERT INTO items (upd, item) VALUES (?, ?)", rows)
        self.conn.commit()
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        self.conn.close()

    def location(self) -> dict[str, Any]:
        base = "http://127.0.0.1:8765"  # pointed at the running simulator by serve_in_thread / legacy serve
        secret_ref = {"file": str((self.folder / "client_secret").resolve())}
        auth: dict[str, Any] = {"key": secret_ref}
        if self.system.options.get("auth") == "oauth2":
            auth = {
                "token_url": f"{base}/{self.system.name}/oauth/token",
                "client_id": f"hopnhat-{self.system.name}",
                "client_secret": secret_ref,
            }
        return {"base_url": base, "auth": auth}


def _nested(row: dict[str, Any]) -> dict[str, Any]:
    """``thuTuc.ma`` columns as nested objects (JSON APIs group fields)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if "." in key:
            head, _, tail = key.partition(".")
            out.setdefault(head, {})[tail] = value
        else:
            out[key] = value
    return out


def database_name(out_dir: Path, seed: int, system: str) -> str:
    digest = hashlib.sha1(str(out_dir.resolve()).encode()).hexdigest()[:12]
    return f"hopnhat_legacy_{digest}_s{seed}_{system}"


def _reachable(server: str) -> bool:
    try:
        engine = create_engine(server, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def sql_url(system: System, out_dir: Path, seed: int, sql: str) -> str:
    """The database of a SQL system: its catalogue backend (``sql`` auto: when its server answers, else SQLite;
    ``sqlite``: always SQLite). A server database of the same folder and seed is dropped and made again."""
    backend = str(system.options.get("backend", "sqlite"))
    if sql == "sqlite" or backend == "sqlite":
        path = (out_dir / system.name / f"{system.name}.db").resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        for extra in ("", "-wal", "-shm"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    server = MARIADB_SERVER if backend == "mariadb" else POSTGRES_SERVER
    if sql == "auto" and not _reachable(f"{server}/{'mysql' if backend == 'mariadb' else 'postgres'}"):
        return sql_url(system, out_dir, seed, "sqlite")
    name = database_name(out_dir, seed, system.name)
    admin_db = "" if backend == "mariadb" else "/postgres"
    admin = create_engine(f"{server}{admin_db}", isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            if backend == "mariadb":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
                conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            else:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        raise ServiceUnavailable(f"{backend} for system {system.name} cannot be used: {exc}") from None
    finally:
        admin.dispose()
    return f"{server}/{name}?charset=utf8mb4" if backend == "mariadb" else f"{server}/{name}"


def drop_database(url: str) -> None:
    """Drop a simulated server database (MariaDB or PostgreSQL) named ``hopnhat_legacy_*``."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database
    if not name or not name.startswith("hopnhat_legacy_"):
        return
    if parsed.get_backend_name() == "postgresql":
        admin = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        statement = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    else:
        admin = create_engine(MARIADB_SERVER, isolation_level="AUTOCOMMIT")
        statement = f"DROP DATABASE IF EXISTS {name}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        admin.dispose()


def writer(system: System, vocab: Vocabulary, out_dir: Path, seed: int, sql: str) -> Writer:
    folder = out_dir / system.name
    if folder.exists():
        for old in folder.glob(f"{system.name}_*"):
            old.unlink()
    if system.interface == "http_api":
        return ApiWriter(system, vocab, folder, seed)
    if system.interface == "sql":
        return SqlWriter(system, vocab, folder, sql_url(system, out_dir, seed, sql))
    if system.options.get("format") == "xlsx":
        return XlsxWriter(system, vocab, folder)
    return CsvWriter(system, vocab, folder)


# ---------------------------------------------------------------- the mapping of a system, as configuration

_HTTP: dict[str, dict[str, Any]] = {
    "page": {"items": "data", "page_param": "page", "size_param": "size", "first_page": 1},
    "offset": {"items": "$.result.items", "offset_param": "offset", "limit_param": "limit"},
    "cursor": {"items": "records", "cursor_field": "next_cursor", "cursor_param": "cursor", "size_param": "limit"},
    "link_header": {"items": "", "size_param": "per_page"},
}
"""Where each pagination style of the simulator puts its items and which parameters it reads (FORMATS.md)."""


def mapping_of(system: System, vocab: Vocabulary) -> dict[str, Any]:
    """The connector options and ``[mapping]`` that read ``system``: a profile file of the sync
    (``profile_file``), derived from the vocabulary, with nothing of the system's own code."""
    json_paths = system.interface == "http_api"

    def where(column: str) -> str:
        return f"$.{column}" if json_paths and "." in column else column

    fields = {k: where(vocab.columns[k]) for k in FIELDS if k in vocab.columns}
    mapping: dict[str, Any] = {
        "id": where(vocab.columns["code"]),
        "updated": where(vocab.columns["updated"]),
        "fields": fields,
    }
    values = {key: {own: code for code, own in table.items()} for key, table in vocab.values.items()}
    if values:
        mapping["values"] = values
    formats = {"iso": ["iso"], "excel": ["excel"]}.get(vocab.dates, [vocab.dates])
    mapping["dates"] = {"formats": formats, "timezone": "Asia/Ho_Chi_Minh"}
    mapping["unit"] = {"by": vocab.unit}
    options: dict[str, Any] = {"connector": system.interface, "province_code": system.province}
    if system.interface == "http_api":
        pagination = str(system.options.get("pagination", "page"))
        options |= {
            "endpoint": f"/{system.name}/api/records",
            "pagination": pagination,
            **_HTTP[pagination],
            "page_size": 500,
            "since_param": "since",
            "since_format": "iso",
        }
        auth = str(system.options.get("auth", "api_key"))
        options["auth"] = {"kind": auth, **({"header": "X-Api-Key"} if auth == "api_key" else {})}
    elif system.interface == "files":
        ext = "xlsx" if system.options.get("format") == "xlsx" else "csv"
        options |= {"pattern": f"{system.name}_*.{ext}", "encoding": system.options.get("encoding", "utf-8")}
        if ext == "csv":
            options["delimiter"] = str(system.options.get("delimiter", ","))
        else:
            options["sheet"] = "HoSo"
        if system.options.get("banner"):
            options["header_rows"] = 2
    else:
        options |= {
            "table": f"tb_{system.name}",
            "id_column": vocab.columns["code"],
            "cursor_column": vocab.columns["updated"],
            "order_by": [vocab.columns["updated"], "rid"],
        }
    options["mapping"] = mapping
    return options


def toml_text(tables: dict[str, Any], comment: str = "") -> str:
    """TOML of nested tables of text, numbers, booleans and lists (what mappings and sources hold)."""
    lines = [f"# {line}" for line in comment.splitlines()]

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(str(v), ensure_ascii=False)

    def key(k: Any) -> str:
        k = str(k)
        return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)

    def table(path: list[str], data: dict[str, Any]) -> None:
        plain = {k: v for k, v in data.items() if not isinstance(v, dict) or _inline(k)}
        nested = {k: v for k, v in data.items() if k not in plain}
        if path and (plain or not nested):
            lines.append("")
            lines.append("[" + ".".join(key(p) for p in path) + "]")
        for k, v in plain.items():
            lines.append(f"{key(k)} = {value(v)}")
        for k, v in nested.items():
            table([*path, str(k)], v)

    table([], tables)
    return "\n".join(lines).strip("\n") + "\n"


def _inline(name: str) -> bool:
    """Secrets and small option tables stay inline (``key = { file = "..." }``)."""
    return name in ("key", "client_secret", "password", "token")


def inventory(systems: Sequence[System], sources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The continuity inventory of the generated systems (its YAML format; JSON is YAML), each with a probe: the
    API answers (401 without credentials is an answer), the database server accepts connections, or an export job
    reports a heartbeat."""
    from sqlalchemy.engine import make_url

    from hopnhat.registry.bundled import national

    records = []
    for system in systems:
        options = sources.get(system.name, {})
        probe: dict[str, Any]
        if system.interface == "http_api":
            builtin = system.builtin
            endpoint = "/api/health" if builtin else f"/{system.name}/api/records"
            probe = {
                "name": f"{system.name} API",
                "kind": "http",
                "target": f"{options.get('base_url', 'http://127.0.0.1:8765')}{endpoint}",
                "expect_status": 200 if builtin else 401,
            }
        elif system.interface == "sql" and str(options.get("url", "")).startswith(("mysql", "postgresql")):
            url = make_url(str(options["url"]))
            probe = {"name": f"{system.name} database", "kind": "tcp", "target": f"{url.host}:{url.port}"}
        else:
            probe = {"name": f"{system.name} export job", "kind": "heartbeat", "period_s": 86_400}
        records.append(
            {
                "code": system.name.replace("_", "-"),
                "name": system.title,
                "former_province": f"{national().old_provinces[system.province].name} (cũ)",
                "criticality": "high" if system.kind == "one-stop" else "medium",
                "decision": "migrate",
                "target_system": "hopnhat",
                "status": "operating",
                "probes": [probe],
            }
        )
    return {"example": True, "systems": records}


def write_mapping(system: System, vocab: Vocabulary, out_dir: Path) -> Path:
    path = out_dir / system.name / "mapping.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    what = f"How the sync reads {system.name} ({system.title}); written by `hopnhat legacy generate`."
    path.write_text(toml_text(mapping_of(system, vocab), what), encoding="utf-8")
    return path


__all__ = ["Catalogue", "System", "Vocabulary", "bundled", "load_catalogue", "mapping_of", "render", "writer"]


# ---------------------------------------------------------------- the parallel run of a described system

TOUCH_START = datetime(2025, 7, 1, 8, 0)


def _set(item: dict[str, Any], column: str, value: Any) -> None:
    head, dot, tail = column.partition(".")
    if dot:
        item.setdefault(head, {})[tail] = value
    else:
        item[column] = value


def touch(out_dir: Path, system: System, vocab: Vocabulary, share: float, seed: int) -> int:
    """Change ``share`` of a described system's records the way the system stores a change (in place in an API's
    store or a table; as new rows in the next month's export): finished and returned on 2025-07-01, stamped then.
    Returns how many records changed. The benchmark's "1 % changed" for the systems ``tick`` does not advance."""
    rng = random.Random(seed)
    folder = out_dir / system.name
    changes = {"status": _value(vocab, "status", 10)}

    def stamped(n: int) -> dict[str, Any]:
        moment = TOUCH_START + timedelta(seconds=n)
        return {**changes, "returned_at": write_date(vocab.dates, moment), "updated": write_date(vocab.dates, moment)}

    columns = {k: vocab.columns[k] for k in ("status", "returned_at", "updated") if k in vocab.columns}
    if system.interface == "http_api":
        conn = sqlite3.connect(folder / "api.db")
        rids = [r for (r,) in conn.execute("SELECT rid FROM items ORDER BY rid")]
        chosen = rng.sample(rids, max(1, round(len(rids) * share))) if rids else []
        for n, rid in enumerate(chosen):
            item = json.loads(conn.execute("SELECT item FROM items WHERE rid = ?", (rid,)).fetchone()[0])
            values = stamped(n)
            for key, column in columns.items():
                _set(item, column, values[key])
            upd = (TOUCH_START + timedelta(seconds=n)).strftime("%Y-%m-%d %H:%M:%S")
            conn.execute(
                "UPDATE items SET upd = ?, item = ? WHERE rid = ?", (upd, json.dumps(item, ensure_ascii=False), rid)
            )
        conn.commit()
        conn.close()
        return len(chosen)
    if system.interface == "sql":
        url = str(tomllib.loads((out_dir / "sources.toml").read_text("utf-8"))["sources"][system.name]["url"])
        engine = create_engine(url)
        table = f"tb_{system.name}"
        try:
            with engine.begin() as db:
                rids = [r for (r,) in db.execute(text(f"SELECT rid FROM {table} ORDER BY rid"))]
                chosen = rng.sample(rids, max(1, round(len(rids) * share))) if rids else []
                rows = []
                for n, rid in enumerate(chosen):
                    values = stamped(n)
                    row = {f"v_{k}": str(values[k]) for k in columns}
                    row["v_updated"] = (TOUCH_START + timedelta(seconds=n)).strftime("%Y-%m-%d %H:%M:%S")
                    rows.append({**row, "rid": rid})
                sets = ", ".join(f"{c} = :v_{k}" for k, c in columns.items())
                if rows:
                    db.execute(text(f"UPDATE {table} SET {sets} WHERE rid = :rid"), rows)
        finally:
            engine.dispose()
        return len(chosen)
    return _touch_files(folder, system, vocab, share, rng, stamped)


def _touch_files(
    folder: Path, system: System, vocab: Vocabulary, share: float, rng: random.Random, stamped: Any
) -> int:
    """Copies of a sample of a month-file system's rows, changed, in the export of July 2025."""
    header_keys = [k for k in (*FIELDS, "updated") if k in vocab.columns]
    names = [vocab.columns[k] for k in header_keys]
    rows: list[list[Any]] = []
    if system.options.get("format") == "xlsx":
        import openpyxl

        for file in sorted(folder.glob(f"{system.name}_*.xlsx")):
            book = openpyxl.load_workbook(file, read_only=True)
            found = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
            book.close()
            at = next(i for i, r in enumerate(found) if r and r[0] == names[0])
            rows += found[at + (2 if system.options.get("banner") else 1) :]
    else:
        encoding = str(system.options.get("encoding", "utf-8"))
        delimiter = str(system.options.get("delimiter", ","))
        for file in sorted(folder.glob(f"{system.name}_*.csv")):
            raw = file.read_bytes()
            if encoding == "utf-16":
                lines = raw.decode("utf-16").lstrip("\ufeff").splitlines()
            else:
                lines = []
                for chunk in raw.splitlines():
                    try:  # a row in another code page (a wrong-encoding fault) is left out of the sample
                        lines.append(chunk.decode("utf-8-sig" if encoding != "cp1258" else "cp1258"))
                    except UnicodeDecodeError:
                        continue
            parsed = list(csv.reader(lines[1:], delimiter=delimiter))
            rows += [r for r in parsed if len(r) == len(names)]
    if not rows:
        return 0
    chosen = rng.sample(rows, max(1, round(len(rows) * share)))
    out = (
        XlsxWriter(system, vocab, folder)
        if system.options.get("format") == "xlsx"
        else CsvWriter(system, vocab, folder)
    )
    for n, cells in enumerate(chosen):
        values = stamped(n)
        row = dict(zip(names, cells, strict=True))
        for key in ("status", "returned_at", "updated"):
            if key in vocab.columns:
                row[vocab.columns[key]] = values[key]
        moment = TOUCH_START + timedelta(seconds=n)
        d = Dossier("", "", "", "", "", "", 1, 1, 10, moment, moment, moment, moment, "", "")
        out.add(d, row, False, 1)
    out.close()
    return len(chosen)
