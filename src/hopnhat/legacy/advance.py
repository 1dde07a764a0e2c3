"""``hopnhat legacy tick DIR --minutes M``: the parallel run goes on in the old systems.

Simulated time moves from ``clock.json``'s ``now`` by M minutes; during that window new dossiers arrive, open ones
move on in their lifecycle, and some finished ones are corrected (a phone number fixed, a bad row repaired), every
change with an update time inside the window, written to all three systems. Deterministic by seed and tick number.
"""

from __future__ import annotations

import json
import math
import random
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hopnhat.errors import InvalidInput
from hopnhat.legacy import catalog
from hopnhat.legacy.generator import Counters, fake_person, new_dossier, open_state
from hopnhat.legacy.record import Dossier
from hopnhat.legacy.systems import CanthoStore, HaugiangExport, SoctrangDB, cantho_item, haugiang_row, soctrang_row

NEXT_STATUS: dict[int, tuple[tuple[int, float], ...]] = {
    1: ((2, 90.0), (3, 10.0)),
    2: ((4, 100.0),),
    4: ((9, 70.0), (5, 15.0), (6, 10.0), (8, 5.0)),
    5: ((4, 85.0), (7, 15.0)),
    6: ((4, 100.0),),
    9: ((10, 100.0),),
}
"""Lifecycle steps of an open dossier with their odds (national codes)."""
MEAN_STEP_MINUTES = 480.0
"""An open dossier moves on about once per working day."""


@dataclass
class TickReport:
    now: str
    new: dict[str, int] = field(default_factory=lambda: dict.fromkeys(catalog.SOURCES, 0))
    changed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(catalog.SOURCES, 0))
    corrected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(catalog.SOURCES, 0))
    codes: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in catalog.SOURCES})
    """Dossier codes touched in each source (new, changed or corrected)."""
    repaired: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in catalog.SOURCES})
    """Codes whose injected fault (faults_manifest.json) this tick corrected: the source row is now clean."""

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "new": self.new,
            "changed": self.changed,
            "corrected": self.corrected,
            "repaired": self.repaired,
        }


def read_config(out_dir: Path) -> dict[str, Any]:
    path = out_dir / "sources.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{out_dir}: no sources.toml (run `hopnhat legacy generate --out DIR` first)") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: not valid TOML: {exc}") from None


def _count(rng: random.Random, mean: float) -> int:
    """A whole number with the given mean (floor plus a Bernoulli for the fraction)."""
    whole = math.floor(mean)
    return whole + (1 if rng.random() < mean - whole else 0)


def tick(out_dir: Path, minutes: int, *, new_per_hour: float = 30.0, corrections_per_hour: float = 2.0) -> TickReport:
    """Advance the simulation by ``minutes`` and write every change into the three systems."""
    if minutes < 1:
        raise InvalidInput(f"--minutes must be at least 1, not {minutes}")
    if new_per_hour < 0 or corrections_per_hour < 0:
        raise InvalidInput("--new-per-hour and --corrections-per-hour cannot be negative")
    config = read_config(out_dir)
    clock_path = out_dir / "clock.json"
    clock = json.loads(clock_path.read_text(encoding="utf-8"))
    now_aware = datetime.fromisoformat(clock["now"])
    start = now_aware.replace(tzinfo=None)
    ticks = int(clock.get("ticks", 0))
    seed = int(config["legacy"]["seed"])
    rng = random.Random(f"{seed}:tick:{ticks}")
    state = open_state(out_dir)
    report = TickReport(now=(now_aware + timedelta(minutes=minutes)).isoformat())

    def moment() -> datetime:
        return start + timedelta(seconds=rng.uniform(1, minutes * 60))

    counters = Counters()
    for agency, day, n in state.execute("SELECT agency, day, n FROM counter"):
        counters.counts[(agency, day)] = n

    open_by_source: dict[str, list[Dossier]] = {s: [] for s in catalog.SOURCES}
    for source, data in state.execute("SELECT source, data FROM open_dossier ORDER BY source, code"):
        open_by_source[source].append(Dossier.from_json(json.loads(data)))
    new: dict[str, list[Dossier]] = {s: [] for s in catalog.SOURCES}
    changed: dict[str, list[Dossier]] = {s: [] for s in catalog.SOURCES}
    old_status: dict[tuple[str, str], int] = {}

    for source in catalog.SOURCES:
        for d in open_by_source[source]:
            if rng.random() >= 1 - math.exp(-minutes / MEAN_STEP_MINUTES):
                continue
            steps = NEXT_STATUS.get(d.status)
            if not steps:
                continue
            old_status[(source, d.code)] = d.status
            d.status = rng.choices([s for s, _ in steps], weights=[w for _, w in steps])[0]
            d.updated = max(moment(), d.updated + timedelta(seconds=1))
            if d.status == 10:
                d.returned = d.updated
            changed[source].append(d)

    arrivals = _count(rng, new_per_hour * minutes / 60)
    for _ in range(arrivals):
        source = rng.choices(catalog.SOURCES, weights=catalog.SOURCE_WEIGHTS)[0]
        new[source].append(new_dossier(rng, counters, source, moment()))

    corrected: dict[str, list[Dossier]] = {s: [] for s in catalog.SOURCES}
    for source in catalog.SOURCES:
        wanted = _count(
            rng, corrections_per_hour * minutes / 60 * catalog.SOURCE_WEIGHTS[catalog.SOURCES.index(source)]
        )
        # Half the corrections repair a faulty record (what a quarantine replay waits for), half fix a phone number.
        faulty = [
            Dossier.from_json(json.loads(data))
            for (data,) in state.execute("SELECT data FROM faulty WHERE source = ? ORDER BY code", (source,))
        ]
        repairs = rng.sample(faulty, min((wanted + 1) // 2, len(faulty)))
        repaired = {d.code for d in repairs}
        pool = [
            Dossier.from_json(json.loads(data))
            for (data,) in state.execute("SELECT data FROM sample WHERE source = ? ORDER BY code", (source,))
        ]
        pool = [d for d in pool if d.code not in repaired]
        picked = repairs + rng.sample(pool, min(wanted - len(repairs), len(pool)))
        report.repaired[source] = sorted(repaired)
        for d in picked:
            _, _, d.phone = fake_person(rng, catalog.PROVINCE_OF[source])  # the officer fixes the phone number
            d.fault = None  # and whatever else was wrong in the row
            d.fault_field = None
            d.updated = max(moment(), d.updated + timedelta(seconds=1))
            corrected[source].append(d)

    # Rendering randomness (abbreviations, NFD) gets its own generator so it never shifts the simulation's choices.
    _write(out_dir, config, random.Random(f"{seed}:render:{ticks}"), new, changed, corrected)

    expected_path = out_dir / "expected.json"
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    for source in catalog.SOURCES:
        counts = expected["sources"][source]
        for d in new[source]:
            counts["rows"] += 1
            counts["distinct_ids"] += 1
            counts["open"] += 1
            counts["by_status"][str(d.status)] += 1
        expected["dossiers"] += len(new[source])
        for d in changed[source]:
            before = old_status[(source, d.code)]
            counts["by_status"][str(before)] -= 1
            counts["by_status"][str(d.status)] += 1
            if d.status not in catalog.OPEN_STATUSES:
                counts["open"] -= 1
        counts["repaired"] = counts.get("repaired", 0) + len(report.repaired[source])
        if source == "haugiang":  # every change is a new row in a nightly file
            counts["rows"] += len(changed[source]) + len(corrected[source])
        report.new[source] = len(new[source])
        report.changed[source] = len(changed[source])
        report.corrected[source] = len(corrected[source])
        report.codes[source] = [d.code for d in new[source] + changed[source] + corrected[source]]
    expected["clock"] = report.now

    with state:
        for source in catalog.SOURCES:
            for d in new[source] + changed[source]:
                if d.status in catalog.OPEN_STATUSES:
                    state.execute(
                        "INSERT OR REPLACE INTO open_dossier VALUES (?, ?, ?)",
                        (source, d.code, json.dumps(d.to_json(), ensure_ascii=False)),
                    )
                else:
                    state.execute("DELETE FROM open_dossier WHERE source = ? AND code = ?", (source, d.code))
            for d in corrected[source]:
                state.execute(
                    "UPDATE sample SET data = ? WHERE source = ? AND code = ?",
                    (json.dumps(d.to_json(), ensure_ascii=False), source, d.code),
                )
                state.execute("DELETE FROM faulty WHERE source = ? AND code = ?", (source, d.code))
        state.executemany(
            "INSERT OR REPLACE INTO counter VALUES (?, ?, ?)", [(a, day, n) for (a, day), n in counters.counts.items()]
        )
    state.close()
    expected_path.write_text(json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    clock_path.write_text(json.dumps({"now": report.now, "ticks": ticks + 1}) + "\n", encoding="utf-8")
    return report


def _write(
    out_dir: Path,
    config: dict[str, Any],
    rng: random.Random,
    new: dict[str, list[Dossier]],
    changed: dict[str, list[Dossier]],
    corrected: dict[str, list[Dossier]],
) -> None:
    cantho = CanthoStore(out_dir / "cantho.db")
    try:
        cantho.insert([cantho_item(d, rng)[0] for d in new["cantho"]])
        for d in changed["cantho"] + corrected["cantho"]:
            cantho.update(cantho_item(d, rng)[0])
        cantho.commit()
    finally:
        cantho.close()

    days: dict[str, list[tuple[list[str], bool]]] = defaultdict(list)
    for d in sorted(new["haugiang"] + changed["haugiang"] + corrected["haugiang"], key=lambda x: (x.updated, x.code)):
        cells, _, cp1258 = haugiang_row(d, rng)
        days[d.updated.strftime("%Y%m%d")].append((cells, cp1258))
    export = HaugiangExport(Path(config["sources"]["haugiang"]["path"]))
    export.xlsx = any(export.folder.glob("hoso_*.xlsx"))
    for day, rows in sorted(days.items()):
        export.append(day, rows)

    soctrang = SoctrangDB(config["sources"]["soctrang"]["url"])
    try:
        soctrang.insert([soctrang_row(d, rng, soctrang.mariadb)[0] for d in new["soctrang"]])
        soctrang.update(
            [soctrang_row(d, rng, soctrang.mariadb)[0] for d in changed["soctrang"] + corrected["soctrang"]]
        )
    finally:
        soctrang.close()
