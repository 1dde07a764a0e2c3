"""Rules of a sync run: the source configuration, locks, accounting and the per-source isolation of failures.
Transactions are per batch (see engine); nothing here touches HTTP."""

from __future__ import annotations

import logging
import os
import socket
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.db import utcnow
from hopnhat.errors import InvalidInput, NotFound
from hopnhat.sync import parallel
from hopnhat.sync import repository as repo
from hopnhat.sync.connectors.base import RawRecord, SourceError, available, get_connector
from hopnhat.sync.engine import SourceContext, sync_source
from hopnhat.sync.models import SyncRun, SyncRunSource
from hopnhat.sync.parallel import Report
from hopnhat.sync.remap import Remapper

log = logging.getLogger(__name__)

LOCK_SECONDS = 300


def load_config(path: Path) -> dict[str, dict[str, Any]]:
    """Sources of a ``sources.toml``, each with the ``[sync]`` defaults merged in (unknown keys are ignored)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInput(f"config {path} does not exist") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"config {path} is not valid TOML: {exc}") from exc
    defaults = data.get("sync", {})
    sources = data.get("sources", {})
    if not sources:
        raise InvalidInput(f"config {path} has no [sources.*] table")
    out = {}
    for name, options in sources.items():
        if "connector" not in options:
            raise InvalidInput(f"source {name!r} in {path} has no connector")
        out[name] = {**{k: v for k, v in defaults.items() if not isinstance(v, dict)}, **options}
        out[name]["split_rules"] = {**defaults.get("split_rules", {}), **options.get("split_rules", {})}
    return out


def pick(config: dict[str, dict[str, Any]], source: str | None) -> dict[str, dict[str, Any]]:
    if source is None:
        return config
    if source not in config:
        raise NotFound(f"source {source!r} is not in the config (known: {', '.join(config)})")
    return {source: config[source]}


def records(options: dict[str, Any]) -> Callable[[datetime | None], Iterator[RawRecord]]:
    connector = get_connector(str(options["connector"]), options)
    return connector.extract


def run(
    engine: Engine,
    config: dict[str, dict[str, Any]],
    *,
    dry_run: bool = False,
    full: bool = False,
    progress: Callable[[str, int], None] | None = None,
    today: date | None = None,
    jobs: int = 1,
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Sync every source; a failing source is recorded with its message and the others go on.

    ``jobs`` > 1 syncs up to that many sources at once, each in a forked process of its own (see
    :func:`_run_parallel`): a sync is CPU-bound Python, so one process per source is what puts a second core to
    work. Their batches meet at the store's write gate (:func:`repository.write_gate`). Where fork is unsafe (no
    ``fork`` start method, or other threads running in this process, e.g. inside a web server) the sources are
    synced one after the other here."""
    run_id = _start_run(engine, dry_run)
    remapper = _remapper(engine, config, today)
    tag = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
    results: dict[str, dict[str, Any]]
    if jobs > 1 and len(config) > 1 and parallel.can_fork():
        # The connectors' modules (HTTP client, drivers, plug-ins) imported once here, not once per forked source.
        available()
        results = _run_parallel(engine, config, remapper, run_id, tag, dry_run, full, progress, jobs)
    else:
        results = {}
        for name, options in config.items():
            on_batch: Callable[[int], None] | None = None
            if progress is not None:

                def on_batch(n: int, source: str = name, report: Callable[[str, int], None] = progress) -> None:
                    report(source, n)

            results[name] = sync_one(engine, name, options, remapper, run_id, tag, dry_run, full, on_batch)
    with Session(engine) as session:
        row = session.get(SyncRun, run_id)
        if row is not None:
            row.finished_at = utcnow()
            row.state = "failed" if any(r["state"] == "failed" for r in results.values()) else "done"
        session.commit()
    if not dry_run:
        refresh_statistics(engine, sum(r.get("inserted", 0) + r.get("updated", 0) for r in results.values()))
    return run_id, results


STATISTICS_SHARE = 0.1
"""A run that writes at least this share of the rows the dossier and copy tables held (by the planner's estimate)
refreshes their statistics."""


def refresh_statistics(engine: Engine, written: int) -> bool:
    """``ANALYZE`` the dossier and copy tables (PostgreSQL) when a run wrote at least :data:`STATISTICS_SHARE` of
    what they held, or they were never analysed; whether it did. Autovacuum gets there eventually, but right after the
    initial load the planner still takes the tables for nearly empty: the next incremental run's lookups of 1,500 ids
    took 240-330 ms each instead of 9 ms at 1M. SQLite's lookups go through unique indexes whatever the statistics.
    A failure here is only a warning: the run and its accounting are already committed."""
    if written <= 0:
        return False
    try:
        with Session(engine) as session:
            known = repo.planner_row_estimate(session)
            if known is None or (known >= 0 and written < STATISTICS_SHARE * known):
                return False
            repo.analyze_store(session)
            session.commit()
            return True
    except SQLAlchemyError as exc:
        log.warning("planner statistics not refreshed: %s", str(exc).splitlines()[0])
        return False


def _start_run(engine: Engine, dry_run: bool) -> int:
    with Session(engine) as session:
        sync_run = SyncRun(dry_run=dry_run)
        session.add(sync_run)
        session.commit()
        return sync_run.id


def _remapper(engine: Engine, config: dict[str, dict[str, Any]], today: date | None) -> Remapper:
    rules: dict[str, str] = {}
    for options in config.values():
        rules.update({str(k): str(v) for k, v in options.get("split_rules", {}).items()})
    with Session(engine) as session:
        remapper = Remapper(session, today or datetime.now(VN_TZ).date(), rules)
    if not remapper.by_id:
        raise InvalidInput("the registry is empty: run `hopnhat registry load` first (units are remapped through it)")
    return remapper


def sync_one(
    engine: Engine,
    name: str,
    options: dict[str, Any],
    remapper: Remapper,
    run_id: int,
    tag: str,
    dry_run: bool,
    full: bool,
    on_batch: Callable[[int], None] | Report | None,
) -> dict[str, Any]:
    """One source of a run: its lock, its sync, its accounting row. A source error is the result, not raised.

    The lock's owner names the run's process (``tag`` carries its pid), also when a forked child syncs the source:
    a run killed with SIGKILL is dead at once, its children a moment later (see :func:`parallel.fork_each`), and a
    restarted run must not find the locks held by children that are still on their way out."""
    owner = f"{socket.gethostname()}:{tag}"
    with Session(engine) as session:
        now = utcnow()
        got = repo.try_lock(session, name, owner, now, now + timedelta(seconds=LOCK_SECONDS))
        holder = None if got else repo.lock_owner(session, name)
        if holder is not None and _dead_here(holder):
            got = repo.steal_lock(session, name, holder, owner, now + timedelta(seconds=LOCK_SECONDS))
        session.commit()
    if not got:
        result: dict[str, Any] = {"state": "skipped", "error": f"source {name}: another process is syncing it"}
        _record(engine, run_id, name, result)
        return result

    renewed = time.monotonic()

    def renew(session: Session) -> None:
        """Extend the lock (in the caller's transaction), a few times per lock period rather than every batch."""
        nonlocal renewed
        if time.monotonic() - renewed < LOCK_SECONDS / 10:
            return
        repo.extend_lock(session, name, owner, utcnow() + timedelta(seconds=LOCK_SECONDS))
        renewed = time.monotonic()

    ctx = SourceContext(name, str(options.get("province_code", "")), remapper, run_id)
    try:
        counts = sync_source(
            engine,
            ctx,
            records(options),
            batch_size=int(options.get("batch_size", 5000)),
            lookback_minutes=float(options.get("lookback_minutes", 60)),
            dry_run=dry_run,
            full=full,
            on_batch=on_batch,
            renew_lock=renew,
        )
        result = {"state": "done", "error": None, **counts.as_dict()}
    except SourceError as exc:
        result = {"state": "failed", "error": f"source {name}: {exc}"}
    finally:
        with Session(engine) as session:
            repo.unlock(session, name, owner)
            session.commit()
    _record(engine, run_id, name, result)
    return result


def _run_parallel(
    engine: Engine,
    config: dict[str, dict[str, Any]],
    remapper: Remapper,
    run_id: int,
    tag: str,
    dry_run: bool,
    full: bool,
    progress: Callable[[str, int], None] | None,
    jobs: int,
) -> dict[str, dict[str, Any]]:
    """Each source in a forked process of its own (:func:`parallel.fork_each`), with the remapper already loaded.
    A child that dies without a result leaves its source failed with its exit code; its lock names the run's
    process, and a later run takes it over once that process is gone."""

    def task(name: str, options: dict[str, Any]) -> Callable[[Report], dict[str, Any]]:
        def body(report: Report) -> dict[str, Any]:
            try:
                return sync_one(engine, name, options, remapper, run_id, tag, dry_run, full, report)
            except Exception as exc:  # this source's failure; the other sources go on
                result = {"state": "failed", "error": f"source {name}: {type(exc).__name__}: {str(exc)[:500]}"}
                _record(engine, run_id, name, result)
                return result

        return body

    def lost(name: str, code: int | None) -> dict[str, Any]:
        result = {"state": "failed", "error": f"source {name}: its process exited without a result ({code})"}
        _record(engine, run_id, name, result)
        return result

    def on_progress(name: str, n: Any) -> None:
        if progress is not None:
            progress(name, int(n))

    tasks = {name: task(name, options) for name, options in config.items()}
    return parallel.fork_each(tasks, jobs=jobs, engine=engine, on_progress=on_progress, on_lost=lost)


def _dead_here(owner: str) -> bool:
    """A lock held by a process of this machine that no longer exists (killed) need not wait for its expiry;
    holders on other machines are only taken over once the lock expired."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _record(engine: Engine, run_id: int, source: str, result: dict[str, Any]) -> None:
    with Session(engine) as session:
        session.add(
            SyncRunSource(
                run_id=run_id,
                source=source,
                state=result["state"],
                error=result.get("error"),
                **{k: v for k, v in result.items() if k not in ("state", "error")},
            )
        )
        session.commit()


def runs(session: Session, limit: int = 20) -> list[dict[str, Any]]:
    found = repo.runs(session, limit)
    per: dict[int, list[SyncRunSource]] = {}
    for rs in repo.run_sources(session, [r.id for r in found]):
        per.setdefault(rs.run_id, []).append(rs)
    return [
        {
            "id": r.id,
            "state": r.state,
            "dry_run": r.dry_run,
            "started_at": r.started_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "sources": {
                s.source: {
                    "state": s.state,
                    "error": s.error,
                    "extracted": s.extracted,
                    "inserted": s.inserted,
                    "updated": s.updated,
                    "unchanged": s.unchanged,
                    "quarantined": s.quarantined,
                    "duplicates": s.duplicates,
                }
                for s in per.get(r.id, [])
            },
        }
        for r in found
    ]
