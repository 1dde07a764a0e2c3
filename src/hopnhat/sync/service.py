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
from hopnhat.sync import parallel, steward_repo
from hopnhat.sync import repository as repo
from hopnhat.sync.connectors.base import RawRecord, SourceError, available, get_connector
from hopnhat.sync.jobs import sync_source
from hopnhat.sync.models import SourceIdentity, SyncRun, SyncRunSource
from hopnhat.sync.normalise import SourceContext
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


def run(
    engine: Engine,
    config: dict[str, dict[str, Any]],
    *,
    dry_run: bool = False,
    full: bool = False,
    progress: Callable[[str, int], None] | None = None,
    today: date | None = None,
    jobs: int = 1,
    rebind: bool = False,
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Sync every source; a failing source is recorded with its message and the others go on.

    ``jobs`` > 1 syncs up to that many sources at once, each in a forked process of its own (see
    :func:`_run_parallel`): a sync is CPU-bound Python, so one process per source is what puts a second core to
    work. Their batches meet at the store's write gate (:func:`repository.write_gate`). Where fork is unsafe (no
    ``fork`` start method, or other threads running in this process, e.g. inside a web server) the sources are
    synced one after the other here.

    ``rebind`` lets a source name that stood for another system (see :func:`check_identity`) stand for the one the
    config now points at; the CLI asks first. A run that fails for any reason ends ``failed`` with its reason."""
    run_id = _start_run(engine, dry_run)
    try:
        remapper = _remapper(engine, config, today)
        tag = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
        results: dict[str, dict[str, Any]]
        if jobs > 1 and len(config) > 1 and parallel.can_fork():
            # The connectors' modules (HTTP client, drivers, plug-ins) imported once here, not once per forked source.
            available()
            results = _run_parallel(engine, config, remapper, run_id, tag, dry_run, full, rebind, progress, jobs)
        else:
            results = {}
            for name, options in config.items():
                on_batch: Callable[[int], None] | None = None
                if progress is not None:

                    def on_batch(n: int, source: str = name, report: Callable[[str, int], None] = progress) -> None:
                        report(source, n)

                results[name] = sync_one(
                    engine, name, options, remapper, run_id, tag, dry_run, full, on_batch, rebind=rebind
                )
    except BaseException as exc:
        # Whatever stops the run (a failed precondition, the store gone, Ctrl-C) ends it failed with its reason;
        # a process killed outright is closed so by the next start (_start_run).
        _finish(engine, run_id, "failed", f"{type(exc).__name__}: {str(exc)[:900]}")
        raise
    failed = [r["error"] for r in results.values() if r["state"] == "failed"]
    warned = [w for r in results.values() for w in r.get("warnings", [])]
    _finish(engine, run_id, "failed" if failed else "done", "; ".join([*failed, *warned])[:1000] or None)
    if not dry_run:
        refresh_statistics(engine, sum(r.get("inserted", 0) + r.get("updated", 0) for r in results.values()))
    return run_id, results


def _finish(engine: Engine, run_id: int, state: str, reason: str | None) -> None:
    with Session(engine) as session:
        row = session.get(SyncRun, run_id)
        if row is not None:
            row.finished_at = utcnow()
            row.state = state
            row.reason = reason
        session.commit()


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
    """Record the run, after closing the runs whose process died on this host (killed, the machine restarted)."""
    host = socket.gethostname()
    with Session(engine) as session:
        for stale in repo.running_runs(session):
            if stale.owner and _dead_here(stale.owner):
                stale.state, stale.finished_at = "failed", utcnow()
                stale.reason = f"its process ({stale.owner}) died before the run ended"
        sync_run = SyncRun(dry_run=dry_run, owner=f"{host}:{os.getpid()}")
        session.add(sync_run)
        session.commit()
        return sync_run.id


def remapper_for(engine: Engine, config: dict[str, dict[str, Any]], today: date | None = None) -> Remapper:
    """The remapper a run of these sources uses (a dry run normalises through it too)."""
    return _remapper(engine, config, today)


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
    *,
    rebind: bool = False,
) -> dict[str, Any]:
    """One source of a run: its lock, its sync, its accounting row. A source error is the result, not raised.

    The lock's owner names the run's process (``tag`` carries its pid), also when a forked child syncs the source:
    a run killed with SIGKILL is dead at once, its children a moment later (see :func:`parallel.fork_each`), and a
    restarted run must not find the locks held by children that are still on their way out."""
    owner = f"{socket.gethostname()}:{tag}"
    with Session(engine) as session:
        done = steward_repo.cutover_of(session, name)
    if done is not None:
        # ARCHITECTURE "The cut-over of a source": from then the source is read-only for the sync.
        when = done.committed_at.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")
        result: dict[str, Any] = {"state": "skipped", "error": f"source {name}: cut over on {when}, no longer synced"}
        _record(engine, run_id, name, result)
        return result
    with Session(engine) as session:
        now = utcnow()
        got = repo.try_lock(session, name, owner, now, now + timedelta(seconds=LOCK_SECONDS))
        holder = None if got else repo.lock_owner(session, name)
        if holder is not None and _dead_here(holder):
            got = repo.steal_lock(session, name, holder, owner, now + timedelta(seconds=LOCK_SECONDS))
        session.commit()
    if not got:
        result = {"state": "skipped", "error": f"source {name}: another process is syncing it"}
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
        connector = get_connector(str(options["connector"]), options)
        sample = check_identity(engine, name, options, connector, rebind=rebind, full=full, dry_run=dry_run)
        counts = sync_source(
            engine,
            ctx,
            _sampling(connector.extract, sample),
            batch_size=int(options.get("batch_size", 5000)),
            lookback_minutes=float(options.get("lookback_minutes", 60)),
            dry_run=dry_run,
            full=full,
            on_batch=on_batch,
            renew_lock=renew,
        )
        result = {"state": "done", "error": None, **counts.as_dict()}
        problems = dict(getattr(connector, "file_problems", {}))
        if problems:
            # Reported once per file, naming it; its lines are quarantined with the reason (replay loads them).
            result["warnings"] = list(problems.values())
            result["error"] = "; ".join(problems.values())[:1000]
        if not dry_run:
            _settle(engine, name, sample, getattr(connector, "clean_files", set()))
    except SourceError as exc:
        result = {"state": "failed", "error": f"source {name}: {exc}"}
    except Exception as exc:  # any other failure of this source is its result too: the run must not stay open
        log.exception("source %s failed", name)
        result = {"state": "failed", "error": f"source {name}: {type(exc).__name__}: {str(exc)[:500]}"}
    finally:
        with Session(engine) as session:
            repo.unlock(session, name, owner)
            session.commit()
    _record(engine, run_id, name, result)
    return result


SAMPLE_IDS = 20
"""Record ids kept per source identity, and read again to tell whether a source still is the system it was."""
PROBE_RECORDS = 50


def location_of(options: dict[str, Any], connector: Any) -> tuple[str, str]:
    """(kind, location) of a source: host, database and table; folder and pattern; base URL and endpoint. Never a
    secret (passwords are references, see :mod:`hopnhat.sync.secrets`, and URLs are shown without one)."""
    kind = str(options["connector"])
    kind = "http_api" if kind == "http" else kind
    where = getattr(connector, "location", None)
    return kind, str(where() if callable(where) else options.get("path") or options.get("base_url") or "?")[:1000]


class IdentityConflict(SourceError):
    """The config gives a source's name to another system."""


def identity_conflicts(engine: Engine, config: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Sources whose name the store knows for another location (the question the CLI asks before ``--full``)."""
    found: dict[str, str] = {}
    with Session(engine) as session:
        for name, options in config.items():
            stored = repo.identity(session, name)
            if stored is None:
                continue
            kind, where = location_of(options, get_connector(str(options["connector"]), options))
            if (stored.kind, stored.location) != (kind, where):
                found[name] = f"{stored.kind} {stored.location} -> {kind} {where}"
    return found


def check_identity(
    engine: Engine,
    name: str,
    options: dict[str, Any],
    connector: Any,
    *,
    rebind: bool,
    full: bool,
    dry_run: bool,
) -> list[str] | None:
    """Refuse to sync a source the name of which the store knows for another system.

    Another system is (1) another kind or location, or (2) the same location serving records none of which the
    store knows, though it loaded records under this name: the first records of the source (oldest first) are
    exactly the ones an earlier run must have seen. Either way an incremental run would load the few records past
    the old cursor and report success. ``rebind`` (``--full`` after confirming) binds the name to the new system.
    Returns the list the run's first record ids go into when the sample must be (re)taken, else None."""
    kind, where = location_of(options, connector)
    with Session(engine) as session:
        stored = repo.identity(session, name)
        if stored is None or rebind:
            if not dry_run:
                if stored is None:
                    session.add(SourceIdentity(source=name, kind=kind, location=where, sample_ids=[]))
                else:
                    stored.kind, stored.location, stored.sample_ids, stored.bound_at = kind, where, [], utcnow()
                session.commit()
            return []
        if (stored.kind, stored.location) != (kind, where):
            raise IdentityConflict(
                f"the store knows this name for {stored.kind} {stored.location}, the config points it at {kind} "
                f"{where}: give the other system a new name, or run with --full to bind the name to it (after "
                "confirming it is the same system)"
            )
        if full or not repo.has_copies(session, name):
            return [] if not stored.sample_ids else None
        probe = get_connector(str(options["connector"]), options).extract(None)
        try:
            first = [r.source_id for _, r in zip(range(PROBE_RECORDS), probe, strict=False) if r.source_id]
        finally:
            close = getattr(probe, "close", None)
            if close is not None:
                close()
        if len(first) >= 5 and not repo.known_ids(session, name, first) and not set(first) & set(stored.sample_ids):
            raise IdentityConflict(
                f"none of the first {len(first)} records of {kind} {where} is one the store loaded under this name "
                "(sample: " + ", ".join(stored.sample_ids[:3]) + "): it looks like another system; give it a new "
                "name, or run with --full to bind the name to it (after confirming)"
            )
        stored.checked_at = utcnow()
        session.commit()
    return None


def _sampling(
    extract: Callable[[datetime | None], Iterator[RawRecord]], sample: list[str] | None
) -> Callable[[datetime | None], Iterator[RawRecord]]:
    """``extract`` that also keeps the first record ids of the run in ``sample`` (when one is to be taken)."""
    if sample is None:
        return extract

    def records(since: datetime | None) -> Iterator[RawRecord]:
        for record in extract(since):
            if len(sample) < SAMPLE_IDS and record.source_id and record.source_id not in sample:
                sample.append(record.source_id)
            yield record

    return records


def _settle(engine: Engine, name: str, sample: list[str] | None, clean_files: set[str]) -> None:
    """After a source's run: its identity's sample, and the quarantine entries of whole-file problems of files
    now read as tables (their lines loaded under their own ids)."""
    with Session(engine) as session:
        if sample:
            stored = repo.identity(session, name)
            if stored is not None:
                stored.sample_ids = sample
        if clean_files:
            held = [
                sid
                for sid in repo.open_quarantine_ids(session, name)
                if "#" in sid and sid.rsplit("#", 1)[0] in clean_files
            ]
            if held:
                repo.resolve_quarantine(session, name, held, utcnow())
        session.commit()


def _run_parallel(
    engine: Engine,
    config: dict[str, dict[str, Any]],
    remapper: Remapper,
    run_id: int,
    tag: str,
    dry_run: bool,
    full: bool,
    rebind: bool,
    progress: Callable[[str, int], None] | None,
    jobs: int,
) -> dict[str, dict[str, Any]]:
    """Each source in a forked process of its own (:func:`parallel.fork_each`), with the remapper already loaded.
    A child that dies without a result leaves its source failed with its exit code; its lock names the run's
    process, and a later run takes it over once that process is gone."""

    def task(name: str, options: dict[str, Any]) -> Callable[[Report], dict[str, Any]]:
        def body(report: Report) -> dict[str, Any]:
            try:
                return sync_one(engine, name, options, remapper, run_id, tag, dry_run, full, report, rebind=rebind)
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
                **{k: v for k, v in result.items() if k not in ("state", "error", "warnings")},
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
            "reason": r.reason,
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
