"""dlt (PyPI) loading the seventeen simulated systems where dlt can read them, as they are: no remapping, no
validation, no dedupe. Run by ``seventeen.py`` in its own process (wall time and peak RSS measured like hopnhat's)::

    python benchmarks/sync/dlt_seventeen.py --config DIR/sources.toml --dest sqlite:////tmp/dlt.db --work /tmp/dltwork

How each is read, the way dlt documents it, configured from the same ``sources.toml`` and mapping files:
- JSON APIs: ``RESTClient.paginate`` with the paginator of the system's style (``PageNumberPaginator``,
  ``OffsetPaginator``, ``JSONResponseCursorPaginator``, ``HeaderLinkPaginator``) and its auth (``APIKeyAuth``,
  ``OAuth2ClientCredentials``);
- CSV exports: a resource reading each file with the ``csv`` module in the file's encoding and delimiter (dlt's
  ``filesystem`` readers need pandas/pyarrow/duckdb, not installed); bytes in another code page are replaced;
- tables: ``sql_table`` (``sqlalchemy`` backend), DATETIME columns read as text (impossible dates in the sources);
- XLSX exports are **not read**: dlt has no XLSX reader without pandas, and a banner with a merged two-row header
  would need custom parsing code per file layout (the thing hopnhat's mapping replaces). Printed as skipped.
Prints one JSON line: rows per table, skipped sources and dlt's own step timings.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

import dlt
from dlt.sources.helpers.rest_client import auth as dlt_auth
from dlt.sources.helpers.rest_client import paginators
from dlt.sources.helpers.rest_client.client import RESTClient

sys.path.insert(0, str(Path(__file__).parent))
from dlt_load import cantho, haugiang, soctrang  # the three one-stop systems, as bench.py reads them


def _options(options: dict[str, Any]) -> dict[str, Any]:
    if options.get("profile_file"):
        profile = tomllib.loads(Path(str(options["profile_file"])).read_text(encoding="utf-8"))
        return {**profile, **options, "auth": {**profile.get("auth", {}), **options.get("auth", {})}}
    return options


def _secret(ref: Any) -> str:
    return Path(str(ref["file"])).read_text(encoding="utf-8").splitlines()[0].strip()


def api(name: str, o: dict[str, Any]) -> Any:
    size = int(o.get("page_size", 500))
    style = str(o["pagination"])
    paginator: Any = {
        "page": lambda: paginators.PageNumberPaginator(base_page=1, page_param="page", total_path=None),
        "offset": lambda: paginators.OffsetPaginator(
            limit=size, offset_param="offset", limit_param="limit", total_path=None
        ),
        "cursor": lambda: paginators.JSONResponseCursorPaginator(cursor_path="next_cursor", cursor_param="cursor"),
        "link_header": lambda: paginators.HeaderLinkPaginator(),
    }[style]()
    a = o["auth"]
    auth: Any = (
        dlt_auth.APIKeyAuth(name=str(a.get("header", "X-Api-Key")), api_key=_secret(a["key"]), location="header")
        if a["kind"] == "api_key"
        else dlt_auth.OAuth2ClientCredentials(
            access_token_url=str(a["token_url"]),
            client_id=str(a["client_id"]),
            client_secret=_secret(a["client_secret"]),
        )
    )
    items = str(o.get("items", ""))
    client = RESTClient(
        base_url=str(o["base_url"]),
        paginator=paginator,
        auth=auth,
        data_selector=items.removeprefix("$.") if items else "$",
    )
    params = {str(o.get("size_param", "limit")): size} if style != "offset" else {}

    @dlt.resource(name=name, write_disposition="append")
    def pages() -> Iterator[list[dict[str, Any]]]:
        yield from client.paginate(str(o["endpoint"]), params=params)

    return pages


def csv_files(name: str, o: dict[str, Any]) -> Any:
    folder, pattern = Path(str(o["path"])), str(o["pattern"])
    encoding = str(o.get("encoding", "utf-8"))
    delimiter = str(o.get("delimiter", ",")).replace("\\t", "\t")

    @dlt.resource(name=name, write_disposition="append")
    def rows() -> Iterator[list[dict[str, Any]]]:
        for file in sorted(folder.glob(pattern)):
            text = file.read_bytes().decode("utf-8-sig" if encoding == "utf-8" else encoding, errors="replace")
            yield list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter))

    return rows


def table(name: str, o: dict[str, Any]) -> Any:
    resource = soctrang({**o, "table": o["table"]})
    return resource.with_name(name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--dest", required=True)
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args()
    sources = tomllib.loads(args.config.read_text(encoding="utf-8"))["sources"]
    resources: list[Any] = []
    skipped: list[str] = []
    for name, raw in sources.items():
        o = _options(raw)
        if name == "cantho":
            resources.append(cantho(o).with_name(name))
        elif name == "haugiang":
            resources.append(haugiang(o).with_name(name))
        elif name == "soctrang":
            resources.append(soctrang(o).with_name(name))
        elif o["connector"] == "http_api":
            resources.append(api(name, o))
        elif o["connector"] == "sql":
            resources.append(table(name, o))
        elif str(o.get("pattern", "")).endswith(".csv"):
            resources.append(csv_files(name, o))
        else:
            skipped.append(name)
    engine_kwargs: dict[str, Any] = {}
    if args.dest.startswith("sqlite"):
        os.environ.setdefault("LOAD__WORKERS", "1")  # one writer (see dlt_load.py)
        engine_kwargs["connect_args"] = {"timeout": 300}
    pipeline = dlt.pipeline(
        pipeline_name="hopnhat_seventeen",
        pipelines_dir=str(args.work),
        destination=dlt.destinations.sqlalchemy(credentials=args.dest, engine_kwargs=engine_kwargs),
        dataset_name="legacy",
    )
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    pipeline.extract(resources)
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
        for r in resources:
            found = client.execute_sql(f"SELECT COUNT(*) FROM {client.make_qualified_table_name(r.name)}")
            counts[r.name] = int(found[0][0]) if found else 0
    print(json.dumps({"rows": counts, "skipped": skipped, "timings": {k: round(v, 2) for k, v in timings.items()}}))


if __name__ == "__main__":
    main()
