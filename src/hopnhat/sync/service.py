"""Rules of a sync run: the source configuration, locks, accounting and the per-source isolation of failures.
Transactions are per batch (see engine); nothing here touches HTTP."""

from __future__ import annotations

import os
import socket
import tomllib
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.db import utcnow
from hopnhat.errors import InvalidInput, NotFound
from hopnhat.sync import repository as repo
from hopnhat.sync.connectors.base import RawRecord, SourceError, get_connector
from hopnhat.sync.engine import SourceContext, sync_source
from hopnhat.sync.models import SyncRun, SyncRunSource
from hopnhat.sync.remap import Remapper

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
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Sync each source in turn; a failing source is recorded with its message and the others go on."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    today = today or datetime.now(VN_TZ).date()
    with Session(engine) as session:
        sync_run = SyncRun(dry_run=dry_run)
        session.add(sync_run)
        session.commit()
        run_id = sync_run.id
        remapper_rules: dict[str, str] = {}
        for options in config.values():
            remapper_rules.update({str(k): str(v) for k, v in options.get("split_rules", {}).items()})
        remapper = Remapper(session, today, remapper_rules)
        if not remapper.by_id:
            raise InvalidInput(
                "the registry is empty: run `hopnhat registry load` first (units are remapped through it)"
            )
    results: dict[str, dict[str, Any]] = {}
    for name, options in config.items():
        with Session(engine) as session:
            now = utcnow()
            got = repo.try_lock(session, name, owner, now, now + timedelta(seconds=LOCK_SECONDS))
            holder = None if got else repo.lock_owner(session, name)
            if holder is not None and _dead_here(holder):
                got = repo.steal_lock(session, name, holder, owner, now + timedelta(seconds=LOCK_SECONDS))
            session.commit()
        if not got:
            results[name] = {"state": "skipped", "error": f"source {name}: another process is syncing it"}
            _record(engine, run_id, name, results[name])
            continue

        def renew(source: str = name) -> None:
            with Session(engine) as s:
                n = utcnow()
                repo.try_lock(s, source, owner, n, n + timedelta(seconds=LOCK_SECONDS))
                s.commit()

        on_batch: Callable[[int], None] | None = None
        if progress is not None:

            def on_batch(n: int, source: str = name, report: Callable[[str, int], None] = progress) -> None:
                report(source, n)

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
            results[name] = {"state": "done", "error": None, **counts.as_dict()}
        except SourceError as exc:
            results[name] = {"state": "failed", "error": f"source {name}: {exc}"}
        finally:
            with Session(engine) as session:
                repo.unlock(session, name, owner)
                session.commit()
        _record(engine, run_id, name, results[name])
    with Session(engine) as session:
        row = session.get(SyncRun, run_id)
        if row is not None:
            row.finished_at = utcnow()
            row.state = "failed" if any(r["state"] == "failed" for r in results.values()) else "done"
        session.commit()
    return run_id, results


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
