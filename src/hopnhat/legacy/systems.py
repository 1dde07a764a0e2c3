"""The three simulated systems' stores: each renders a :class:`Dossier` in its own format (see FORMATS.md).

Writers take batches and stream them out (executemany / appended files), so generating a million dossiers never
holds a source in memory. A record's fault is applied here, where the format decides what a fault looks like.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import random
import re
import sqlite3
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from hopnhat.errors import ServiceUnavailable
from hopnhat.legacy import catalog
from hopnhat.legacy.record import Dossier, garbled_field, impossible_day, mojibake

PORTAL_FORMAT = "%Y%m%d%H%M%S"
MARIADB_SERVER = "mysql+pymysql://root@127.0.0.1:3306"


# ---------------------------------------------------------------- Cần Thơ: the store behind the HTTP API


def cantho_item(d: Dossier, rng: random.Random) -> tuple[dict[str, Any], str | None]:
    """The API item of a dossier and, for a faulty record, the field the fault is in."""
    proc = d.proc
    item: dict[str, Any] = {
        "MaHoSo": d.code,
        "MaTTHC": d.procedure,
        "TenTTHC": proc.name,
        "MaLinhVuc": proc.field_code,
        "TenLinhVuc": proc.field_name,
        "ChuHoSo": d.applicant,
        "SoCCCD": d.citizen_id,
        "SoDienThoai": d.phone,
        "DiaChi": d.address,
        "LoaiDoiTuong": d.applicant_type,
        "KenhThucHien": d.channel,
        "TrangThaiHoSo": d.status,
        "NgayTiepNhan": d.received.strftime(PORTAL_FORMAT),
        "NgayHenTra": d.due.strftime(PORTAL_FORMAT),
        "NgayTra": d.returned.strftime(PORTAL_FORMAT) if d.returned else None,
        "NgayCapNhat": d.updated.strftime(PORTAL_FORMAT),
        "MaDonVi": d.unit,
        "MaCoQuan": d.agency,
    }
    field: str | None = None
    if d.fault == "invalid_date":
        field = d.fault_field or rng.choice(("NgayTiepNhan", "NgayHenTra"))
        moment = d.received if field == "NgayTiepNhan" else d.due
        y, m, day = impossible_day(moment, rng)
        item[field] = f"{y:04d}{m:02d}{day:02d}{moment:%H%M%S}"
    elif d.fault == "unknown_unit":
        field = "MaDonVi"
        item[field] = f"99{rng.randrange(1000):03d}"
    elif d.fault == "missing_field":
        field = d.fault_field or rng.choice(("MaTTHC", "NgayTiepNhan", "MaDonVi"))
        if rng.random() < 0.5:
            del item[field]
        else:
            item[field] = None
    elif d.fault == "wrong_encoding":
        field = garbled_field(d.applicant, "ChuHoSo", "DiaChi")
        item[field] = mojibake(item[field])
    return item, field


class CanthoStore:
    """``DIR/cantho.db``: one row per API item, the item kept as the JSON text the API serves."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS hoso"
            " (rid INTEGER PRIMARY KEY, ma TEXT NOT NULL, upd TEXT NOT NULL, item TEXT NOT NULL)"
        )
        self.conn.execute("CREATE INDEX IF NOT EXISTS ix_hoso_upd ON hoso (upd, ma, rid)")
        self.conn.execute("CREATE INDEX IF NOT EXISTS ix_hoso_ma ON hoso (ma)")

    def insert(self, items: Sequence[dict[str, Any]]) -> None:
        self.conn.executemany(
            "INSERT INTO hoso (ma, upd, item) VALUES (?, ?, ?)",
            [(i["MaHoSo"], i["NgayCapNhat"], json.dumps(i, ensure_ascii=False)) for i in items],
        )

    def update(self, item: dict[str, Any]) -> None:
        self.conn.execute(
            "UPDATE hoso SET upd = ?, item = ? WHERE ma = ?",
            (item["NgayCapNhat"], json.dumps(item, ensure_ascii=False), item["MaHoSo"]),
        )

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        self.conn.commit()
        self.conn.close()


# ---------------------------------------------------------------- Hậu Giang: nightly CSV + XLSX exports

HAUGIANG_COLUMNS = (
    "STT",
    "Mã hồ sơ",
    "Mã thủ tục",
    "Thủ tục",
    "Lĩnh vực",
    "Người nộp",
    "Số CCCD",
    "Số điện thoại",
    "Địa chỉ",
    "Đối tượng",
    "Hình thức nộp",
    "Trạng thái",
    "Ngày tiếp nhận",
    "Ngày hẹn trả",
    "Ngày trả",
    "Đơn vị",
    "Cập nhật lúc",
)


def _type_word(word: str, rng: random.Random) -> str:
    return catalog.ABBREVIATIONS.get(word, word) if rng.random() < 0.5 else word


def unit_name(place: catalog.Place, rng: random.Random, home: str | None = None) -> str:
    """How a Hậu Giang officer writes a unit: names, types in full or abbreviated, the district when needed, and
    the province when the unit is not in the officer's own province ``home`` (a transferred dossier)."""
    name = f"{_type_word(place.type_, rng)} {place.name}"
    if place.level == "commune" and (place.ambiguous or rng.random() < 0.6):
        name = f"{name}, {_type_word(place.district_type, rng)} {place.district_name}"
    home = home or catalog.PROVINCE_OF["haugiang"]
    if place.province_code != home and place.level != "province":
        name = f"{name}, {catalog.province_name(place.province_code)}"
    return name


MISSPELLINGS = ("no diacritics", "letter dropped")
"""Kinds of ``misspelled_unit`` (the manifest's ``detail``): the first can still be matched loosely (and must be
confirmed by an officer), the second names no unit at all."""
_FULL_TYPE = {abbr: word for word, abbr in catalog.ABBREVIATIONS.items()}


def misspelling(d: Dossier) -> str:
    """The kind of misspelling of ``d``'s unit, stable per dossier so that a tick re-rendering the faulty row makes
    the same kind of mistake and the manifest stays true."""
    if d.place.name.isascii():  # "Phường 1": no diacritics to lose
        return MISSPELLINGS[1]
    return MISSPELLINGS[zlib.crc32(d.code.encode()) % 2]


def _folded_unit(part: str) -> str:
    from hopnhat.registry.text import fold

    head, _, rest = part.partition(" ")
    return fold(f"{_FULL_TYPE.get(head, head)} {rest}")


@functools.lru_cache(maxsize=1)
def _unit_names() -> frozenset[str]:
    """Every old unit of the three provinces as ``<type> <name>``, folded (a dropped letter must not land on one)."""
    geo = catalog.geography()
    places = [p for ps in geo.communes.values() for p in ps] + [p for ps in geo.districts.values() for p in ps]
    return frozenset(_folded_unit(f"{p.type_} {p.name}") for p in [*places, *geo.provinces.values()])


def misspell(name: str, kind: str, rng: random.Random) -> str:
    """A unit name as a hurried typist leaves it. Only the unit's own part (before the first comma) is misspelt:
    a mistake in the district or province part would leave the unit itself recognisable, so no fault at all."""
    head, sep, tail = name.partition(", ")
    if kind == MISSPELLINGS[0]:
        decomposed = unicodedata.normalize("NFD", head.replace("đ", "d").replace("Đ", "D"))
        return "".join(ch for ch in decomposed if not unicodedata.combining(ch)) + sep + tail
    type_word, _, rest = head.partition(" ")
    letters = [i for i, ch in enumerate(head) if ch.isalpha() and i > len(type_word)]
    rng.shuffle(letters)
    # "P. 1" has no letter in its name, and "Phường IV" none whose loss leaves no real unit ("Phường V"): then a
    # letter of the type word goes, written in full to have some.
    full = f"{_FULL_TYPE.get(type_word, type_word)} {rest}"
    in_type = [i for i, ch in enumerate(full) if ch.isalpha() and 0 < i < len(full) - len(rest) - 1]
    rng.shuffle(in_type)
    for text_, i in [(head, i) for i in letters] + [(full, i) for i in in_type]:
        wrong = text_[:i] + text_[i + 1 :]
        if _folded_unit(wrong) not in _unit_names():
            return wrong + sep + tail
    raise ValueError(f"no letter of {head!r} can be dropped without naming another unit")


def _day(moment: datetime | None) -> str:
    return moment.strftime("%d/%m/%Y") if moment else ""


def haugiang_row(d: Dossier, rng: random.Random) -> tuple[list[str], str | None, bool]:
    """(cells, fault field, whether the row's bytes must be cp1258). STT is filled by the file writer."""
    proc = d.proc
    row = [
        "",
        d.code,
        d.procedure,
        proc.name,
        proc.field_name,
        d.applicant,
        d.citizen_id,
        d.phone,
        d.address,
        catalog.APPLICANT_WORDS[d.applicant_type],
        catalog.CHANNEL_WORDS[d.channel],
        catalog.STATUS_WORDS[d.status],
        _day(d.received),
        _day(d.due),
        _day(d.returned),
        unit_name(d.place, rng),
        d.updated.strftime("%d/%m/%Y %H:%M:%S"),
    ]
    field: str | None = None
    cp1258 = False
    if d.fault == "invalid_date":
        field = d.fault_field or rng.choice(("Ngày tiếp nhận", "Ngày hẹn trả"))
        y, m, day = impossible_day(d.received if field == "Ngày tiếp nhận" else d.due, rng)
        row[HAUGIANG_COLUMNS.index(field)] = f"{day:02d}/{m:02d}/{y:04d}"
    elif d.fault == "unknown_unit":
        field = "Đơn vị"
        row[15] = rng.choice(("Xã Không Tên", "Phường Ba Mươi", "Xã Tân Lập Mới, Huyện Cù Lao Xanh"))
    elif d.fault == "misspelled_unit":
        field = "Đơn vị"
        row[15] = misspell(row[15], misspelling(d), rng)
    elif d.fault == "missing_field":
        field = d.fault_field or rng.choice(("Mã thủ tục", "Ngày tiếp nhận", "Đơn vị"))
        row[HAUGIANG_COLUMNS.index(field)] = ""
    elif d.fault == "wrong_encoding":
        # The CSV row is cp1258 as a whole; the field is where the XLSX twin shows the damage (see write_xlsx).
        field = garbled_field(d.applicant, "Người nộp", "Địa chỉ")
        cp1258 = True
    if rng.random() < 0.2:  # some desktops export decomposed Unicode
        row = [unicodedata.normalize("NFD", cell) for cell in row]
    return row, field, cp1258


def _csv_line(row: Sequence[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerow(row)
    return buf.getvalue()


_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")


def _cp1258(line: str) -> bytes:
    """Windows-1258 bytes as old Windows exports wrote them: the letters â ê ô ơ ư ă đ precomposed, the five tone
    marks combining. Lossless: decoding as cp1258 and normalising to NFC gives ``line`` back (a plain NFD encode
    would turn the breve, circumflex and horn, which cp1258 lacks as combining marks, into "?")."""
    out = bytearray()
    for ch in unicodedata.normalize("NFC", line):
        try:
            out += ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        parts = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONES))
        out += (base + "".join(c for c in parts if c in _TONES)).encode("cp1258", errors="replace")
    return bytes(out)


class HaugiangExport:
    """``DIR/haugiang/hoso_YYYYMMDD.csv`` (+ ``.xlsx``): rows are appended to the file of their change day."""

    def __init__(self, folder: Path, xlsx: bool = True) -> None:
        self.folder = folder
        self.xlsx = xlsx
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, day: str, ext: str = "csv") -> Path:
        return self.folder / f"hoso_{day}.{ext}"

    def append(self, day: str, rows: Iterable[tuple[list[str], bool]]) -> None:
        """Append rows ((cells, cp1258)) to the CSV of ``day`` (YYYYMMDD), numbering STT on from what is there."""
        path = self.path(day)
        start = 0
        if path.exists():
            start = path.read_bytes().count(b"\n") - 1
        with path.open("ab") as out:
            if start <= 0:
                out.write(("\ufeff" + _csv_line(HAUGIANG_COLUMNS)).encode("utf-8"))
                start = 0
            for n, (cells, cp1258) in enumerate(rows, start=start + 1):
                cells[0] = str(n)
                line = _csv_line(cells)
                out.write(_cp1258(line) if cp1258 else line.encode("utf-8"))
        if self.xlsx:
            self.write_xlsx(day)

    def write_xlsx(self, day: str) -> None:
        """The XLSX twin of a day's CSV. XLSX text is Unicode, so a cp1258 row cannot be wrong bytes there: it is
        carried over as the other systems show a wrong encoding, mojibake (UTF-8 read as cp1252) in the field the
        manifest names."""
        raw = self.path(day).read_bytes()
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        rows: list[list[str]] = []
        for line in raw.split(b"\r\n"):
            if not line:
                continue
            try:
                rows.extend(csv.reader([line.decode("utf-8")]))
            except UnicodeDecodeError:
                cells = next(csv.reader([unicodedata.normalize("NFC", line.decode("cp1258"))]))
                name = cells[HAUGIANG_COLUMNS.index("Người nộp")]
                column = HAUGIANG_COLUMNS.index(garbled_field(name, "Người nộp", "Địa chỉ"))
                cells[column] = mojibake(cells[column])
                rows.append(cells)
        write_xlsx(self.path(day, "xlsx"), "HoSo", rows)


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}


def write_xlsx(path: Path, sheet: str, rows: Sequence[Sequence[str]]) -> None:
    """A minimal XLSX (one sheet, inline strings): openpyxl writes ~1 ms per row, far too slow for 1M dossiers."""
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
        for value in cells:
            text_ = escape(_XML_BAD.sub("", value))
            body.write(f'<c t="inlineStr"><is><t xml:space="preserve">{text_}</t></is></c>')
        body.write("</row>")
    body.write("</sheetData></worksheet>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, content in _XLSX_PARTS.items():
            z.writestr(name, content)
        z.writestr("xl/workbook.xml", workbook)
        z.writestr("xl/worksheets/sheet1.xml", body.getvalue())


# ---------------------------------------------------------------- Sóc Trăng: its own database

SOCTRANG_DDL = (
    """CREATE TABLE dm_trang_thai (ma INTEGER PRIMARY KEY, ten VARCHAR(100) NOT NULL)""",
    """CREATE TABLE tb_hoso (
        id INTEGER PRIMARY KEY {autoinc},
        ma_hs VARCHAR(40) NOT NULL,
        ma_tthc VARCHAR(30), ten_tthc VARCHAR(255), ma_linh_vuc VARCHAR(20),
        ho_ten VARCHAR(200), so_giay_to VARCHAR(20), dien_thoai VARCHAR(20), dia_chi VARCHAR(255),
        loai_doi_tuong INTEGER, hinh_thuc INTEGER, trang_thai INTEGER NOT NULL,
        ngay_nhan DATETIME, ngay_hen_tra DATETIME, ngay_tra DATETIME, ngay_cap_nhat DATETIME NOT NULL,
        ma_xa VARCHAR(5), ma_huyen VARCHAR(3), ma_co_quan VARCHAR(35)
    ){suffix}""",
    "CREATE INDEX ix_tb_hoso_cap_nhat ON tb_hoso (ngay_cap_nhat, id)",
    "CREATE INDEX ix_tb_hoso_ma_hs ON tb_hoso (ma_hs)",
)
SOCTRANG_COLUMNS = (
    "ma_hs",
    "ma_tthc",
    "ten_tthc",
    "ma_linh_vuc",
    "ho_ten",
    "so_giay_to",
    "dien_thoai",
    "dia_chi",
    "loai_doi_tuong",
    "hinh_thuc",
    "trang_thai",
    "ngay_nhan",
    "ngay_hen_tra",
    "ngay_tra",
    "ngay_cap_nhat",
    "ma_xa",
    "ma_huyen",
    "ma_co_quan",
)
_SQL_TIME = "%Y-%m-%d %H:%M:%S"


def soctrang_row(d: Dossier, rng: random.Random, mariadb: bool) -> tuple[dict[str, Any], str | None]:
    place = d.place
    proc = d.proc
    row: dict[str, Any] = {
        "ma_hs": d.code,
        "ma_tthc": d.procedure,
        "ten_tthc": proc.name,
        "ma_linh_vuc": proc.field_code,
        "ho_ten": d.applicant,
        "so_giay_to": d.citizen_id,
        "dien_thoai": d.phone,
        "dia_chi": d.address,
        "loai_doi_tuong": d.applicant_type,
        "hinh_thuc": d.channel - 1,
        "trang_thai": catalog.SOCTRANG_OWN_STATUS[d.status],
        "ngay_nhan": d.received.strftime(_SQL_TIME),
        "ngay_hen_tra": d.due.strftime(_SQL_TIME),
        "ngay_tra": d.returned.strftime(_SQL_TIME) if d.returned else None,
        "ngay_cap_nhat": d.updated.strftime(_SQL_TIME),
        "ma_xa": place.code if place.level == "commune" else None,
        "ma_huyen": place.district_code,
        "ma_co_quan": d.agency,
    }
    field: str | None = None
    if d.fault == "invalid_date":
        field = d.fault_field or rng.choice(("ngay_nhan", "ngay_hen_tra"))
        moment = d.received if field == "ngay_nhan" else d.due
        y, m, day = impossible_day(moment, rng)
        row[field] = "0000-00-00 00:00:00" if mariadb else f"{y:04d}-{m:02d}-{day:02d} {moment:%H:%M:%S}"
    elif d.fault == "unknown_unit":
        field = "ma_xa"
        row["ma_xa"] = f"99{rng.randrange(1000):03d}"
    elif d.fault == "missing_field":
        # A province-level row has no unit columns to empty (the connector reads the province as its unit).
        choices = ("ma_tthc", "ngay_nhan", "ma_huyen") if place.district_code else ("ma_tthc", "ngay_nhan")
        field = d.fault_field or rng.choice(choices)
        row[field] = None
        if field == "ma_huyen":
            row["ma_xa"] = None
    elif d.fault == "wrong_encoding":
        field = garbled_field(d.applicant, "ho_ten", "dia_chi")
        row[field] = mojibake(row[field])
    return row, field


def mariadb_reachable() -> bool:
    try:
        engine = create_engine(MARIADB_SERVER, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def mariadb_name(out_dir: Path, seed: int) -> str:
    digest = hashlib.sha1(str(out_dir.resolve()).encode()).hexdigest()[:12]
    return f"hopnhat_legacy_{digest}_s{seed}"


class SoctrangDB:
    """Sóc Trăng's database: MariaDB when asked (or reachable with ``auto``), else ``DIR/soctrang.db``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.mariadb = url.startswith("mysql")
        self.engine: Engine = create_engine(url)
        placeholders = ", ".join(f":{c}" for c in SOCTRANG_COLUMNS)
        self._insert = text(f"INSERT INTO tb_hoso ({', '.join(SOCTRANG_COLUMNS)}) VALUES ({placeholders})")

    @classmethod
    def create(cls, out_dir: Path, seed: int, backend: str) -> SoctrangDB:
        """A fresh database (an existing one of the same DIR and seed is dropped first)."""
        if backend == "auto":
            backend = "mariadb" if mariadb_reachable() else "sqlite"
        if backend == "mariadb":
            name = mariadb_name(out_dir, seed)
            server = create_engine(MARIADB_SERVER, connect_args={"connect_timeout": 5})
            try:
                with server.begin() as conn:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
                    conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            except Exception as exc:
                raise ServiceUnavailable(f"MariaDB at 127.0.0.1:3306 cannot be used: {exc}") from None
            finally:
                server.dispose()
            url = f"{MARIADB_SERVER}/{name}?charset=utf8mb4"
            db = cls(url)
            suffix, autoinc = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4", "AUTO_INCREMENT"
        elif backend == "sqlite":
            path = (out_dir / "soctrang.db").resolve()
            for extra in ("", "-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)
            db = cls(f"sqlite:///{path}")
            suffix, autoinc = "", "AUTOINCREMENT"
        else:
            raise ValueError(backend)
        with db.engine.begin() as conn:
            for ddl in SOCTRANG_DDL:
                conn.exec_driver_sql(ddl.format(autoinc=autoinc, suffix=suffix))
            conn.execute(
                text("INSERT INTO dm_trang_thai (ma, ten) VALUES (:ma, :ten)"),
                [{"ma": k, "ten": v} for k, v in catalog.SOCTRANG_STATUS_NAMES.items()],
            )
        return db

    @contextmanager
    def begin(self) -> Iterator[Any]:
        with self.engine.begin() as conn:
            if self.mariadb:
                conn.exec_driver_sql("SET SESSION sql_mode = ''")  # the legacy server accepts zero dates
            yield conn

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            with self.begin() as conn:
                conn.execute(self._insert, list(rows))

    def update(self, rows: Sequence[dict[str, Any]]) -> None:
        sets = ", ".join(f"{c} = :{c}" for c in SOCTRANG_COLUMNS if c != "ma_hs")
        if rows:
            with self.begin() as conn:
                conn.execute(text(f"UPDATE tb_hoso SET {sets} WHERE ma_hs = :ma_hs"), list(rows))

    def close(self) -> None:
        self.engine.dispose()


def drop_mariadb(url: str) -> None:
    """Drop a simulated MariaDB database (tests clean up after themselves)."""
    name = make_url(url).database
    if not name or not name.startswith("hopnhat_legacy_"):
        return
    server = create_engine(MARIADB_SERVER, connect_args={"connect_timeout": 5})
    try:
        with server.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    finally:
        server.dispose()
