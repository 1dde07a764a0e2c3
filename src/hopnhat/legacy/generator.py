"""``hopnhat legacy generate``: the three old systems filled with 2023-2025 dossiers, deterministic by seed.

Dossiers are produced in receipt order and streamed into the three stores in batches, so memory stays flat for a
million dossiers: only Hậu Giang's not-yet-written export days (at most ``MAX_SPAN_DAYS`` back) are held.
"""

from __future__ import annotations

import json
import random
import sqlite3
import tomllib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any, TextIO

from hopnhat.errors import InvalidInput
from hopnhat.legacy import catalog, sector
from hopnhat.legacy.record import ROW_FAULTS, Dossier, add_working_days
from hopnhat.legacy.systems import (
    CanthoStore,
    HaugiangExport,
    SoctrangDB,
    cantho_item,
    haugiang_row,
    misspelling,
    soctrang_row,
)

FIRST_DAY = date(2023, 1, 1)
LAST_DAY = date(2025, 6, 30)
CUTOFF = datetime(2025, 6, 30, 17, 0)
"""The old systems' last change before the simulated clock starts."""
CLOCK_START = datetime(2025, 7, 1, 7, 0)
MAX_SPAN_DAYS = 100
BATCH = 5000
DEFAULT_PORT = 8765
SOURCE_FAULTS = {
    "cantho": ("transfer", "duplicate_row", "invalid_date", "unknown_unit", "missing_field", "wrong_encoding"),
    "haugiang": (
        "transfer",
        "duplicate_row",
        "invalid_date",
        "unknown_unit",
        "misspelled_unit",
        "missing_field",
        "wrong_encoding",
    ),
    "soctrang": ("transfer", "duplicate_row", "invalid_date", "unknown_unit", "missing_field", "wrong_encoding"),
}
CLOSED_MIX = ((10, 88.0), (9, 3.0), (3, 3.0), (7, 3.0), (8, 3.0))
OPEN_MIX = ((2, 2.0), (4, 6.0), (5, 2.0), (6, 1.0))
_CLOSED = ([s for s, _ in CLOSED_MIX], list(accumulate(w for _, w in CLOSED_MIX)))
_OPEN = ([s for s, _ in OPEN_MIX], list(accumulate(w for _, w in OPEN_MIX)))
_PROCEDURE_CUM = list(accumulate(p.weight for p in catalog.PROCEDURES))
_SOURCE_CUM = list(accumulate(catalog.SOURCE_WEIGHTS))
_CHANNEL_CUM = list(accumulate((60, 35, 5)))
SAMPLE_SIZE = 200
"""Closed dossiers kept per source in the simulator's state, candidates for corrections during ticks."""


# ---------------------------------------------------------------- people and dossiers


def fake_person(rng: random.Random, province: str) -> tuple[str, str, str]:
    """(name, 12-digit citizen ID, phone): fake, but handled as personal data everywhere."""
    female = rng.random() < 0.52
    middle = catalog.MIDDLE_F if female else catalog.MIDDLE_M
    given = catalog.GIVEN_F if female else catalog.GIVEN_M
    name = f"{rng.choice(catalog.FAMILY)} {rng.choice(middle)} {rng.choice(given)}"
    born = rng.randint(1945, 2007)
    century = (0 if born < 2000 else 2) + (1 if female else 0)
    citizen_id = f"0{province}{century}{born % 100:02d}{rng.randrange(1_000_000):06d}"
    phone = "0" + rng.choice("9387") + f"{rng.randrange(100_000_000):08d}"
    return name, citizen_id, phone


def fake_address(rng: random.Random, province: str) -> str:
    place = rng.choice(catalog.geography_of(province).communes[province])
    head = rng.choice((f"Số {rng.randint(1, 399)}, {rng.choice(catalog.STREETS)}", rng.choice(catalog.HAMLETS)))
    commune = f"{place.type_} {place.name}, {place.district_type} {place.district_name}"
    return f"{head}, {commune}, {catalog.province_name(province)}"


class Counters:
    """Per-agency daily counters of dossier codes (``<agency>-<YYMMDD>-<NNNN>``)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def next_code(self, agency: str, day: date) -> str:
        key = (agency, day.strftime("%y%m%d"))
        n = self.counts.get(key, 0) + 1
        self.counts[key] = n
        return f"{agency}-{key[1]}-{n:04d}"


def new_dossier(
    rng: random.Random, counters: Counters, source: str, received: datetime, province: str | None = None
) -> Dossier:
    """A just-received dossier (status 1 online or 2 at the counter) of ``source`` (of former ``province``: by
    default the one-stop system's own)."""
    province = province or catalog.PROVINCE_OF[source]
    geo = catalog.geography_of(province)
    proc = rng.choices(catalog.PROCEDURES, cum_weights=_PROCEDURE_CUM)[0]
    if proc.level == "commune":
        place = rng.choice(geo.communes[province])
        agency = place.agency
    elif proc.level == "district":
        place = rng.choice(geo.districts[province])
        agency = place.agency
    else:
        place = geo.provinces[province]
        agency = catalog.department_agency(province, proc)
    name, citizen_id, phone = fake_person(rng, province)
    applicant_type = 1
    if proc.business:
        applicant_type = 2
        name = f"{rng.choice(catalog.BUSINESS)} {rng.choice(catalog.BUSINESS_NAMES)}"
    elif rng.random() < 0.02:
        applicant_type = rng.choice((3, 4))
    channel = rng.choices((1, 2, 3), cum_weights=_CHANNEL_CUM)[0]
    return Dossier(
        code=counters.next_code(agency, received.date()),
        procedure=proc.code,
        applicant=name,
        citizen_id=citizen_id,
        phone=phone,
        address=fake_address(rng, province),
        applicant_type=applicant_type,
        channel=channel,
        status=1 if channel == 2 else 2,
        received=received,
        due=add_working_days(received, proc.days),
        returned=None,
        updated=received,
        unit=place.code,
        agency=agency,
    )


def _history(rng: random.Random, d: Dossier) -> None:
    """Settle a historic dossier: finished and returned, or still open at the cut-off."""
    days = d.proc.days
    late = rng.random() < 0.08
    worked = days * (rng.uniform(1.0, 2.5) if late else rng.uniform(0.3, 1.0))
    span = min(timedelta(days=worked * 1.4 + rng.uniform(0.05, 0.4)), timedelta(days=MAX_SPAN_DAYS - 5))
    finished = d.received + span
    stalled = rng.random() < 0.015
    if finished > CUTOFF or stalled:
        d.status = rng.choices(_OPEN[0], cum_weights=_OPEN[1])[0]
        if stalled:
            d.status = 5
        end = min(CUTOFF, finished, d.received + timedelta(days=5))
        d.updated = d.received + (end - d.received) * rng.random()
        return
    d.status = rng.choices(_CLOSED[0], cum_weights=_CLOSED[1])[0]
    d.updated = finished
    if d.status == 10:
        d.returned = min(CUTOFF, finished + timedelta(hours=rng.uniform(0.5, 48)))
        d.updated = d.returned


# ---------------------------------------------------------------- the simulator's own bookkeeping


def state_path(out_dir: Path) -> Path:
    return out_dir / ".sim" / "state.db"


def open_state(out_dir: Path, fresh: bool = False) -> sqlite3.Connection:
    path = state_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fresh:
        path.unlink(missing_ok=True)
    elif not path.exists():
        raise InvalidInput(f"{out_dir}: not a generated legacy folder (run `hopnhat legacy generate --out DIR` first)")
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE IF NOT EXISTS open_dossier (source TEXT, code TEXT, data TEXT, PRIMARY KEY (source, code));
        CREATE TABLE IF NOT EXISTS sample (source TEXT, code TEXT, data TEXT, PRIMARY KEY (source, code));
        CREATE TABLE IF NOT EXISTS faulty (source TEXT, code TEXT, data TEXT, PRIMARY KEY (source, code));
        CREATE TABLE IF NOT EXISTS counter (agency TEXT, day TEXT, n INTEGER, PRIMARY KEY (agency, day));
        """
    )
    return conn


class Manifest:
    """``faults_manifest.json`` written as a stream (a 1M run has ~10k entries; they never sit in memory)."""

    def __init__(self, path: Path, seed: int) -> None:
        self.out: TextIO = path.open("w", encoding="utf-8")
        self.out.write(f'{{"seed": {seed}, "faults": [\n')
        self.first = True

    def add(self, source: str, source_id: str, fault: str, field: str | None, detail: str = "") -> None:
        entry = {"source": source, "source_id": source_id, "fault": fault, "field": field, "detail": detail}
        self.out.write(("" if self.first else ",\n") + json.dumps(entry, ensure_ascii=False))
        self.first = False

    def close(self) -> None:
        self.out.write("\n]}\n")
        self.out.close()


@dataclass
class SourceCounts:
    rows: int = 0
    distinct_ids: int = 0
    open: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: {str(s): 0 for s in range(1, 11)})
    faults: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "distinct_ids": self.distinct_ids,
            "open": self.open,
            "by_status": self.by_status,
            "faults": self.faults,
        }


@dataclass
class Summary:
    out_dir: Path
    seed: int
    dossiers: int
    sql_url: str
    sources: dict[str, SourceCounts]

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "dossiers": self.dossiers,
            "clock": CLOCK_START.isoformat() + "+07:00",
            "sources": {k: v.to_json() for k, v in self.sources.items()},
        }


# ---------------------------------------------------------------- sources.toml


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def sources_toml(
    out_dir: Path,
    seed: int,
    dossiers: int,
    sql_url: str,
    port: int,
    chosen: tuple[str, ...] = catalog.SOURCES,
    described: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The sync's config of the generated systems: the one-stop systems in ``chosen`` through their bundled
    profiles, and each system ``described`` (name -> where it is) through the mapping written next to its data."""
    root = out_dir.resolve()
    backend = "mariadb" if sql_url.startswith("mysql") else "sqlite"
    tables: list[tuple[str, dict[str, Any]]] = [
        ("legacy", {"seed": seed, "dossiers": dossiers, "port": port, "sql_backend": backend}),
        ("sync", {"lookback_minutes": 60, "batch_size": 5000}),
        (
            "sources.cantho",
            {
                "connector": "http_api",
                "profile": "cantho_api",
                "province_code": catalog.PROVINCE_OF["cantho"],
                "base_url": f"http://127.0.0.1:{port}",
                "endpoint": "/api/hoso",
                # The server's MAX_PAGE_SIZE (legacy.server, not imported: it pulls in uvicorn): fewest round trips.
                "page_size": 1000,
                "timeout_seconds": 10,
            },
        ),
        (
            "sources.haugiang",
            {
                "connector": "files",
                "profile": "haugiang_export",
                "province_code": catalog.PROVINCE_OF["haugiang"],
                "path": str(root / "haugiang"),
                "pattern": "hoso_*.csv",
                "encoding": "utf-8-sig",
            },
        ),
        (
            "sources.soctrang",
            {
                "connector": "sql",
                "profile": "soctrang_tb_hoso",
                "province_code": catalog.PROVINCE_OF["soctrang"],
                "url": sql_url,
                "table": "tb_hoso",
                "id_column": "ma_hs",
                "cursor_column": "ngay_cap_nhat",
            },
        ),
    ]
    tables = [(n, v) for n, v in tables if not n.startswith("sources.") or n[len("sources.") :] in chosen]
    lines = ["# Written by `hopnhat legacy generate`; the format is described in hopnhat/legacy/FORMATS.md."]
    for name, values in tables:
        lines.append(f"\n[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    text = "\n".join(lines) + "\n"
    if described:
        text += "\n" + sector.toml_text({"sources": described})
    return text


# ---------------------------------------------------------------- generate


def _working_days() -> list[date]:
    days = []
    day = FIRST_DAY
    while day <= LAST_DAY:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def generate(
    out_dir: Path,
    dossiers: int,
    seed: int,
    *,
    fault_rate: float = 0.01,
    sql: str = "auto",
    xlsx: bool = True,
    port: int = DEFAULT_PORT,
    progress: Callable[[int], None] | None = None,
    systems: str = "provincial",
    catalogue: sector.Catalogue | None = None,
    groups: dict[str, str] | None = None,
) -> Summary:
    """Create the systems in ``out_dir`` (replacing a previous generation there) and return the counts.

    ``systems``: ``provincial`` (the three one-stop systems, the default), ``all`` (every system of the catalogue:
    17 for Cần Thơ) or names separated by commas. The same ``dossiers``, ``seed``, ``fault_rate`` and ``systems``
    give the same records in every store (the SQL backend only changes how an invalid date is stored).
    ``progress`` is called with the number of dossiers done so far. ``groups`` gives the level-1 group of the old
    agency codes of each former province of ``catalogue`` other than Cần Thơ's three (required: never invented).
    """
    if dossiers < 1:
        raise InvalidInput(f"--dossiers must be at least 1, not {dossiers}")
    if not 0 <= fault_rate <= 1:
        raise InvalidInput(f"--fault-rate must be between 0 and 1, not {fault_rate}")
    if sql not in ("auto", "sqlite", "mariadb"):
        raise InvalidInput(f"--sql must be auto, sqlite or mariadb, not {sql!r}")
    cat = catalogue or sector.bundled()
    chosen = cat.select(systems)
    unknown_builtin = [s.name for s in chosen if s.builtin and s.name not in catalog.SOURCES]
    if unknown_builtin:
        raise InvalidInput(f"systems {unknown_builtin} say vocabulary builtin but are none of {catalog.SOURCES}")
    others = sorted({s.province for s in chosen} - set(catalog.GROUP_OF))
    if others:
        given = {p: (groups or {}).get(p, "") for p in others}
        missing = [p for p, g in given.items() if not g]
        if missing:
            raise InvalidInput(f"former provinces {missing} need the group of their old agency codes (not invented)")
        catalog.geography_for(tuple(sorted(given.items())))
    out_dir.mkdir(parents=True, exist_ok=True)
    cleanup(out_dir)  # a previous generation's MariaDB database would otherwise outlive its sources.toml
    for stale in ("cantho.db", "cantho.db-wal", "cantho.db-shm", "faults.json"):
        (out_dir / stale).unlink(missing_ok=True)
    hg_dir = out_dir / "haugiang"
    if hg_dir.exists():
        for old in hg_dir.glob("hoso_*"):
            old.unlink()

    rng = random.Random(seed)
    sample_rng = random.Random(seed + 1)
    counters = Counters()
    cantho = CanthoStore(out_dir / "cantho.db")
    haugiang = HaugiangExport(hg_dir, xlsx=xlsx)
    # Not chosen, Sóc Trăng stays an empty SQLite file: a server database no sources.toml names would outlive
    # `legacy clean`.
    soctrang = SoctrangDB.create(out_dir, seed, sql if "soctrang" in {s.name for s in chosen} else "sqlite")
    state = open_state(out_dir, fresh=True)
    manifest = Manifest(out_dir / "faults_manifest.json", seed)
    names = tuple(s.name for s in chosen)
    described = {s.name: s for s in chosen if not s.builtin}
    # A described system's SQL server follows --sql: sqlite forces SQLite, auto and mariadb use its own server.
    writers = {
        n: sector.writer(s, cat.vocabularies[s.vocabulary], out_dir, seed, "sqlite" if sql == "sqlite" else "auto")
        for n, s in described.items()
    }
    counts = {s: SourceCounts() for s in names}
    seen: dict[str, int] = dict.fromkeys(catalog.SOURCES, 0)

    ct_batch: list[dict[str, Any]] = []
    st_batch: list[dict[str, Any]] = []
    hg_days: dict[str, list[tuple[list[str], bool]]] = defaultdict(list)
    open_rows: list[tuple[str, str, str]] = []
    faulty_rows: list[tuple[str, str, str]] = []
    samples: dict[str, list[tuple[str, str]]] = {s: [] for s in catalog.SOURCES}

    def emit(source: str, d: Dossier, copies: int) -> None:
        """Write ``d`` into ``source`` ``copies`` times (2 = a duplicate row) and count it."""
        c = counts[source]
        if source in writers:
            system = described[source]
            row, fld, cp1258_row = sector.render(system, cat.vocabularies[system.vocabulary], d, rng)
            writers[source].add(d, row, cp1258_row, copies)
        elif source == "cantho":
            item, fld = cantho_item(d, rng)
            ct_batch.extend([item] * copies)
        elif source == "haugiang":
            cells, fld, cp1258 = haugiang_row(d, rng)
            for _ in range(copies):
                hg_days[d.updated.strftime("%Y%m%d")].append((list(cells), cp1258))
        else:
            row, fld = soctrang_row(d, rng, soctrang.mariadb)
            st_batch.extend([row] * copies)
        if d.fault is not None:
            d.fault_field = fld  # kept, so a tick re-renders the same fault
            manifest.add(source, d.code, d.fault, fld, misspelling(d) if d.fault == "misspelled_unit" else "")
            c.faults[d.fault] = c.faults.get(d.fault, 0) + 1
        c.rows += copies
        c.distinct_ids += 1
        c.by_status[str(d.status)] += 1
        if source in writers:
            return  # static exports: the parallel run's ticks advance the one-stop systems only
        if d.status in catalog.OPEN_STATUSES:
            c.open += 1
            open_rows.append((source, d.code, json.dumps(d.to_json(), ensure_ascii=False)))
        else:
            if d.fault is not None:  # closed faulty records are what a tick's corrections repair first
                faulty_rows.append((source, d.code, json.dumps(d.to_json(), ensure_ascii=False)))
            seen[source] += 1  # reservoir sampling keeps a uniform sample of closed dossiers
            slot = seen[source] - 1 if seen[source] <= SAMPLE_SIZE else sample_rng.randrange(seen[source])
            if slot < SAMPLE_SIZE:
                entry = (d.code, json.dumps(d.to_json(), ensure_ascii=False))
                if slot < len(samples[source]):
                    samples[source][slot] = entry
                else:
                    samples[source].append(entry)

    def flush(final: bool, today: date) -> None:
        for w in writers.values():
            w.flush()
        if ct_batch:
            cantho.insert(ct_batch)
            cantho.commit()
            ct_batch.clear()
        if st_batch:
            soctrang.insert(st_batch)
            st_batch.clear()
        limit = (today - timedelta(days=MAX_SPAN_DAYS + 1)).strftime("%Y%m%d")
        for day in sorted(hg_days):
            if final or day < limit:
                haugiang.append(day, hg_days.pop(day))
        if open_rows:
            state.executemany("INSERT OR REPLACE INTO open_dossier VALUES (?, ?, ?)", open_rows)
            open_rows.clear()
        if faulty_rows:
            state.executemany("INSERT OR REPLACE INTO faulty VALUES (?, ?, ?)", faulty_rows)
            faulty_rows.clear()

    days = _working_days()
    sources = names
    # The three one-stop systems alone draw as they always did (the same seed gives the same dossiers).
    source_cum = _SOURCE_CUM if names == catalog.SOURCES else list(accumulate(s.share for s in chosen))
    province_of = {s.name: s.province for s in chosen}
    faults_of = {s.name: SOURCE_FAULTS.get(s.name, s.faults) if s.builtin else s.faults for s in chosen}
    current_day = days[0]
    for i in range(dossiers):
        day = days[i * len(days) // dossiers]
        if day != current_day:
            counters.counts.clear()  # codes restart every day: yesterday's counters are never needed again
            current_day = day
        received = datetime.combine(day, time(7, 30)) + timedelta(minutes=rng.randrange(540), seconds=rng.randrange(60))
        source = rng.choices(sources, cum_weights=source_cum)[0]
        d = new_dossier(rng, counters, source, received, province_of[source])
        _history(rng, d)
        fault = rng.choice(faults_of[source]) if rng.random() < fault_rate else None
        if fault in ROW_FAULTS:
            d.fault = fault
        emit(source, d, 2 if fault == "duplicate_row" else 1)
        if fault == "duplicate_row":
            manifest.add(source, d.code, "duplicate_row", None)
            counts[source].faults["duplicate_row"] = counts[source].faults.get("duplicate_row", 0) + 1
        elif fault == "transfer":
            other = rng.choice([s for s in sources if s != source])
            emit(other, d, 1)
            manifest.add(other, d.code, "transfer", None, source)
            counts[other].faults["transfer"] = counts[other].faults.get("transfer", 0) + 1
        if len(ct_batch) + len(st_batch) + sum(len(w.pending) for w in writers.values()) >= BATCH:
            flush(False, day)
            if progress is not None:
                progress(i + 1)
    flush(True, LAST_DAY)
    for w in writers.values():
        w.close()
    cantho.close()
    soctrang.close()
    manifest.close()
    for source, entries in samples.items():
        state.executemany("INSERT OR REPLACE INTO sample VALUES (?, ?, ?)", [(source, c, j) for c, j in entries])
    state.commit()
    state.close()

    summary = Summary(out_dir, seed, dossiers, soctrang.url, counts)
    (out_dir / "expected.json").write_text(json.dumps(summary.to_json(), ensure_ascii=False, indent=2) + "\n")
    (out_dir / "clock.json").write_text(json.dumps({"now": CLOCK_START.isoformat() + "+07:00", "ticks": 0}) + "\n")
    where: dict[str, dict[str, Any]] = {}
    for n, system in described.items():
        mapping = sector.write_mapping(system, cat.vocabularies[system.vocabulary], out_dir)
        where[n] = {
            "connector": system.interface,
            "profile_file": str(mapping.resolve()),
            "province_code": system.province,
            **writers[n].location(),
        }
    toml = sources_toml(out_dir, seed, dossiers, soctrang.url, port, names, where)
    (out_dir / "sources.toml").write_text(toml, encoding="utf-8")
    listed = sector.inventory(chosen, tomllib.loads(toml)["sources"])
    (out_dir / "inventory.yaml").write_text(json.dumps(listed, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return summary


def cleanup(out_dir: Path) -> bool:
    """Drop the server databases (MariaDB, PostgreSQL) a generation in ``out_dir`` made (files stay); False when
    there was none."""

    from hopnhat.legacy.systems import drop_mariadb

    try:
        config = tomllib.loads((out_dir / "sources.toml").read_text(encoding="utf-8"))
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        return False
    dropped = False
    for name, options in dict(config.get("sources", {})).items():
        url = str(dict(options).get("url", ""))
        if name == "soctrang" and url.startswith("mysql"):
            drop_mariadb(url)
            dropped = True
        elif url.startswith(("mysql", "postgresql")):
            sector.drop_database(url)
            dropped = True
    return dropped
