"""dlt (PyPI) loading the three simulated legacy systems as they are: no remapping, no validation, no dedupe.

Run by ``bench.py`` in its own process so its wall time and peak RSS are measured the same way as ``hopnhat sync
run``'s::

    python benchmarks/sync/dlt_load.py --config DIR/sources.toml --dest sqlite:////tmp/dlt.db --work /tmp/dltwork

The three sources are read the way dlt documents them:
- Cần Thơ: ``RESTClient.paginate`` with a ``JSONResponseCursorPaginator`` (``next_page_token`` -> ``page_token``),
  the same page size as hopnhat's connector;
- Hậu Giang: the CSV export folder, one resource reading every ``hoso_*.csv`` with the ``csv`` module (dlt's
  ``filesystem`` readers need pandas/pyarrow, which are not installed); rows whose bytes are not UTF-8 are decoded with
  replacement characters instead of being flagged: no validation;
- Sóc Trăng: ``sql_table`` with the ``sqlalchemy`` backend; its DATETIME columns are read as text
  (``table_adapter_callback``) because the source holds impossible dates that SQLAlchemy's SQLite DATETIME parser
  rejects: the same "read dates defensively" the formats ask of any reader.
The destination is dlt's ``sqlalchemy`` destination (SQLite and PostgreSQL through the same SQLAlchemy URL as
hopnhat; dlt's native ``postgres`` destination needs psycopg2, not installed), write disposition ``append`` into a
fresh database. Prints one JSON line: rows per table and dlt's own step timings.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# dlt phones home (telemetry) unless told not to; the machine is offline and a benchmark must not touch the network.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

import dlt
import sqlalchemy as sa
from dlt.sources.helpers.rest_client.client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from dlt.sources.sql_database import sql_table

CHUNK = 5000


def cantho(options: dict[str, Any]) -> Any:
    client = RESTClient(
        base_url=str(options["base_url"]),
        paginator=JSONResponseCursorPaginator(cursor_path="next_page_token", cursor_param="page_token"),
        data_selector="items",
    )

    @dlt.resource(name="cantho_hoso", write_disposition="append")
    def pages() -> Iterator[list[dict[str, Any]]]:
        yield from client.paginate(
            str(options.get("endpoint", "/api/hoso")), params={"page_size": int(options.get("page_size", 500))}
        )

    return pages


def haugiang(options: dict[str, Any]) -> Any:
    folder = Path(str(options["path"]))
    pattern = str(options.get("pattern", "hoso_*.csv"))

    @dlt.resource(name="haugiang_hoso", write_disposition="append")
    def rows() -> Iterator[list[dict[str, Any]]]:
        for file in sorted(folder.glob(pattern)):
            text = file.read_bytes().decode("utf-8-sig", errors="replace")
            reader = csv.DictReader(io.StringIO(text, newline=""))
            yield list(reader)

    return rows


def soctrang(options: dict[str, Any]) -> Any:
    def dates_as_text(table: sa.Table) -> sa.Table:
        for column in table.columns:
            if isinstance(column.type, sa.DateTime | sa.Date):
                column.type = sa.String()
        return table

    return sql_table(
        credentials=str(options["url"]),
        table=str(options.get("table", "tb_hoso")),
        backend="sqlalchemy",
        chunk_size=CHUNK,
        reflection_level="minimal",
        table_adapter_callback=dates_as_text,
        write_disposition="append",
    ).with_name("soctrang_hoso")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, required=True, help="sources.toml of `hopnhat legacy generate`")
    ap.add_argument("--dest", required=True, help="SQLAlchemy URL of the destination database")
    ap.add_argument("--work", type=Path, required=True, help="dlt's pipelines folder (its extract/normalize files)")
    args = ap.parse_args()
    sources = tomllib.loads(args.config.read_text(encoding="utf-8"))["sources"]
    engine_kwargs: dict[str, Any] = {}
    if args.dest.startswith("sqlite"):
        # SQLite has one writer: dlt's default 20 parallel load jobs fail with "database is locked" once a job waits
        # past sqlite3's 5 s timeout (it happened at 1M on the loaded machine). One load worker, like hopnhat's sync.
        os.environ.setdefault("LOAD__WORKERS", "1")
        engine_kwargs["connect_args"] = {"timeout": 300}
    pipeline = dlt.pipeline(
        pipeline_name="hopnhat_bench",
        pipelines_dir=str(args.work),
        destination=dlt.destinations.sqlalchemy(credentials=args.dest, engine_kwargs=engine_kwargs),
        dataset_name="legacy",
    )
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    pipeline.extract([cantho(sources["cantho"]), haugiang(sources["haugiang"]), soctrang(sources["soctrang"])])
    timings["extract_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    pipeline.normalize()
    timings["normalize_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    info = pipeline.load()
    timings["load_s"] = time.perf_counter() - t2
    info.raise_on_failed_jobs()
    counts: dict[str, int] = {}
    with pipeline.sql_client() as client:
        for table in ("cantho_hoso", "haugiang_hoso", "soctrang_hoso"):
            rows = client.execute_sql(f"SELECT COUNT(*) FROM {client.make_qualified_table_name(table)}")
            counts[table] = int(rows[0][0]) if rows else 0
    print(json.dumps({"rows": counts, "timings": {k: round(v, 2) for k, v in timings.items()}}))


if __name__ == "__main__":
    main()
