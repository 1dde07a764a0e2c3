"""Connector for a legacy database read through any SQLAlchemy URL (Sóc Trăng's ``tb_hoso``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from hopnhat.sync.connectors.base import (
    RawRecord,
    Scan,
    TerminalError,
    TransientError,
    as_text,
    require,
    row_digest,
    row_digests,
)

OWN_STATUS = {0: 1, 1: 2, 2: 4, 3: 5, 4: 6, 5: 9, 6: 10, 7: 3, 8: 7, 9: 8}
"""Sóc Trăng's own ``trang_thai`` codes to the national ones (its table ``dm_trang_thai``)."""

COLUMNS = {
    "code": "ma_hs",
    "procedure_code": "ma_tthc",
    "procedure_name": "ten_tthc",
    "field_code": "ma_linh_vuc",
    "applicant_name": "ho_ten",
    "applicant_id_number": "so_giay_to",
    "applicant_phone": "dien_thoai",
    "applicant_address": "dia_chi",
    "applicant_type": "loai_doi_tuong",
    "received_at": "ngay_nhan",
    "due_at": "ngay_hen_tra",
    "returned_at": "ngay_tra",
    "agency_code": "ma_co_quan",
}


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _plain(value: Any) -> Any:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else value


def _unit_problems(row: Mapping[str, Any]) -> list[str]:
    """The table keeps the district beside the commune; either missing where the agency implies it is a gap."""
    agency = str(row.get("ma_co_quan") or "").split(".")
    commune_agency = len(agency) == 4 and agency[1] != "00"
    # 000.00.<31+i>.Hxx is a district committee (lower numbers are provincial departments).
    district_agency = len(agency) == 4 and agency[1] == "00" and agency[2].isdigit() and int(agency[2]) >= 31
    if district_agency and not row.get("ma_huyen"):
        return ["missing unit: ma_huyen empty for a district agency"]
    if row.get("ma_xa") and not row.get("ma_huyen"):
        return ["missing unit: ma_huyen empty beside ma_xa"]
    if commune_agency and not row.get("ma_xa"):
        return ["missing unit: ma_xa empty for a commune agency"]
    return []


class SqlConnector:
    def __init__(self, options: Mapping[str, Any]) -> None:
        self.url = str(require(options, "url"))
        self.table = str(options.get("table", "tb_hoso"))
        self.id_column = str(options.get("id_column", "ma_hs"))
        self.cursor_column = str(options.get("cursor_column", "ngay_cap_nhat"))
        for name in (self.table, self.id_column, self.cursor_column):
            if not name.replace("_", "").isalnum():
                raise TerminalError(f"{name!r} is not a plain table or column name")
        self.batch = int(options.get("batch_size", 5000))
        self.province = str(options.get("province_code", "")) or None

    def _rows(self, since: datetime | None) -> Iterator[tuple[list[str], Sequence[Any]]]:
        """The column names and the rows in chunks (``partitions``: one driver call per chunk, streamed), in update
        order. A scan needs that order too: of two rows with one id and one update time, the later row wins, as in
        the sync (without ``ORDER BY`` the winner would be whichever the table's storage gave last)."""
        engine = create_engine(self.url)
        where = f"WHERE {self.cursor_column} >= :since " if since is not None else ""
        query = text(f"SELECT * FROM {self.table} {where}ORDER BY {self.cursor_column}, id")
        params = {"since": since.strftime("%Y-%m-%d %H:%M:%S")} if since is not None else {}
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=self.batch).execute(query, params)
                keys = list(result.keys())
                # The size given again: without it ``partitions`` yielded one row at a time here (one driver
                # ``fetchmany`` per row: most of reading the table).
                for rows in result.partitions(self.batch):
                    yield keys, rows
        except OperationalError as exc:
            raise TransientError(f"database error: {str(exc.orig)[:200]}") from exc
        except (DBAPIError, SQLAlchemyError) as exc:
            raise TerminalError(f"database error: {str(exc)[:200]}") from exc
        finally:
            engine.dispose()

    def _record(self, keys: list[str], row: tuple[Any, ...], cursor_at: int) -> RawRecord:
        payload = dict(zip(keys, row, strict=True))
        if any(type(v) is datetime for v in row):
            payload = {k: _plain(v) for k, v in payload.items()}
        fields = {key: payload.get(col) for key, col in COLUMNS.items()}
        own = payload.get("trang_thai")
        fields["status"] = OWN_STATUS.get(own, own) if isinstance(own, int) else own
        channel = payload.get("hinh_thuc")
        fields["channel"] = channel + 1 if isinstance(channel, int) else channel
        fields["unit"] = payload.get("ma_xa") or payload.get("ma_huyen") or None
        if fields["unit"] is None and payload.get("ma_co_quan"):
            # Province-level procedures carry neither commune nor district: the province is the unit.
            fields["unit"] = self.province
        return RawRecord(
            str(payload.get(self.id_column) or ""),
            _when(row[cursor_at]) if cursor_at >= 0 else None,
            payload,
            fields,
            _unit_problems(payload),
            row_digest(row),
        )

    def extract(self, since: datetime | None) -> Iterator[RawRecord]:
        for keys, rows in self._rows(since):
            cursor_at = keys.index(self.cursor_column) if self.cursor_column in keys else -1
            record = self._record
            for row in rows:
                yield record(keys, tuple(row), cursor_at)

    def scan(self, since: datetime | None) -> Iterator[Scan]:
        for keys, rows in self._rows(since):
            cursor_at = keys.index(self.cursor_column) if self.cursor_column in keys else -1
            id_at = keys.index(self.id_column) if self.id_column in keys else -1
            values = [tuple(row) for row in rows]
            ids = [as_text(v[id_at]) for v in values] if id_at >= 0 else [""] * len(values)
            stamps = [as_text(_plain(v[cursor_at])) for v in values] if cursor_at >= 0 else [""] * len(values)
            yield Scan(ids, stamps, row_digests(values), partial(self._built, keys, values, cursor_at))

    def _built(self, keys: list[str], values: list[tuple[Any, ...]], cursor_at: int, i: int) -> RawRecord:
        return self._record(keys, values[i], cursor_at)
