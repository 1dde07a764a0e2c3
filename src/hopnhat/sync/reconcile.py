"""Reconciliation: each source read whole, mapped like the sync does, compared with the store."""

from __future__ import annotations

import html
import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from itertools import islice
from operator import itemgetter
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hopnhat.sync import parallel, steward_repo
from hopnhat.sync import repository as repo
from hopnhat.sync.connectors.base import RawRecord, Scan, available, get_connector
from hopnhat.sync.load import receipt_month
from hopnhat.sync.normalise import SourceContext, normalise, raw_check, record_digest
from hopnhat.sync.remap import Remapper

log = logging.getLogger(__name__)

LIST_LIMIT = 100


Entry = tuple[str, str, str, str]
"""What reconciliation keeps of a source record: mapped hash, then status, unit and month as the store's counts show
them (text)."""

_QUARANTINED: Entry = ("", "", "", "")
"""Stands for a record the sync would quarantine."""


_CHUNK = 5000
"""Records per chunk when reconciliation reads a source through ``extract`` (no ``scan``, or ``deep``)."""


def _scans(connector: Any, deep: bool) -> Iterator[Scan]:
    """The source's records in chunks: the connector's cheap ``scan`` where it has one (and ``deep`` is off, which
    normalises everything anyway), else its ``extract``, each record already built."""
    scan = getattr(connector, "scan", None)
    if scan is not None and not deep:
        yield from scan(None)
        return
    records = connector.extract(None)
    while chunk := list(islice(records, _CHUNK)):
        yield Scan(
            [r.source_id for r in chunk],
            [r.updated.isoformat() if r.updated else "" for r in chunk],
            [record_digest(r) for r in chunk],
            chunk.__getitem__,
        )


def _read(
    ctx: SourceContext, scans: Iterator[Scan], stored: Mapping[str, repo.CopyCheck], deep: bool
) -> tuple[dict[str, str], dict[str, Entry], int]:
    """Every source id with the update stamp of its latest record; the entries of the latest records that did not
    match their copy; how many records were normalised.

    A record whose :func:`raw_check` against its stored copy still matches is its copy (nothing built, nothing
    normalised, nothing kept but its stamp); the others (new, changed on either side, quarantined, or loaded before
    the check existed) are built and normalised. A chunk is checked with comprehensions; only the records whose id
    is repeated (in the chunk or since an earlier one: the latest copy of an id wins) go one by one."""
    stamps: dict[str, str] = {}
    entries: dict[str, Entry] = {}
    months: dict[tuple[int, int], str] = {}
    normalised = 0
    get = stored.get

    def matches(digest: bytes, sid: str) -> bool:
        copy = get(sid)
        return (
            not deep
            and copy is not None
            and copy[1] is not None
            and copy[1] == raw_check(digest, copy[2], copy[3], copy[4], copy[5])
        )

    def enter(sid: str, record: RawRecord) -> None:
        p = normalise(ctx, record)
        if p.values is None:
            entries[sid] = _QUARANTINED
            return
        v = p.values
        status, unit = sys.intern(str(v["status"])), sys.intern(str(v.get("original_unit_code")))
        entries[sid] = (p.hash, status, unit, receipt_month(v["received_at"], months))

    for ids, chunk_stamps, digests, build in scans:
        distinct = set(ids)
        repeated = distinct & stamps.keys()
        if len(distinct) != len(ids):
            repeated |= {sid for sid, n in Counter(ids).items() if n > 1}
        one_by_one = bool(repeated) or "" in distinct
        plain: Iterable[int]
        if one_by_one:
            plain = [i for i, sid in enumerate(ids) if sid and sid not in repeated]
            stamps.update((ids[i], chunk_stamps[i]) for i in plain)
        else:
            plain = range(len(ids))
            stamps.update(zip(ids, chunk_stamps, strict=True))
        for i in [i for i in plain if not matches(digests[i], ids[i])]:
            normalised += 1
            enter(ids[i], build(i))
        if not one_by_one:
            continue
        for i, sid in enumerate(ids):
            if not sid or sid not in repeated:
                continue  # a record without an id is skipped; the others were checked above
            stamp = chunk_stamps[i]
            before = stamps.get(sid)
            if before is not None:
                if stamp < before:
                    continue  # an older copy of the id in the same source: the latest wins
                entries.pop(sid, None)
            stamps[sid] = stamp
            if matches(digests[i], sid):
                continue
            normalised += 1
            enter(sid, build(i))
    return stamps, entries, normalised


def reconcile_source(
    session: Session,
    name: str,
    options: dict[str, Any],
    remapper: Remapper,
    deep: bool = False,
    orphans: set[str] | None = None,
) -> dict[str, Any]:
    """The stored copies read first (one column-wise query), then the source scanned once (:func:`_read`) and kept
    as compact tuples (one per source id, the latest copy wins; a record that matched its copy keeps only its stamp).
    ``changed`` compares mapped-field hashes; a source record is normalised only when its raw check against its
    copy misses, so an unchanged source costs its scan and one digest per record. The store's per-status/unit/month
    counts come from the copies read (three GROUP BYs would read the table again). Whether a record's dossier is
    in the store is asked of the store: the copies whose dossier is gone (one anti-join), and the records that have
    no copy. ``rechecked`` counts the records normalised. ``deep`` normalises every record: after a registry
    correction or a new mapping rule, which the raw checks cannot see. ``orphans``: the source ids of the source's
    copies whose dossier is gone, when the caller found them already (for every source at once: see
    :func:`reconcile`); ``None`` asks the store here."""
    ctx = SourceContext(name, str(options.get("province_code", "")), remapper, None)
    ctx.corrections = steward_repo.active_corrections(session, name)  # a corrected record maps as the sync loaded it
    stored = repo.copy_checks(session, name)
    connector = get_connector(str(options["connector"]), options)
    latest, entries, rechecked = _read(ctx, _scans(connector, deep), stored, deep)
    held = repo.open_quarantine_ids(session, name)
    if orphans is None:
        orphans = repo.copies_without_dossier(session, [name])[name]
    uncopied = latest.keys() - stored.keys()
    stored_uncopied = {head.code for head in repo.dossier_heads(session, uncopied)}
    absent = orphans | (uncopied - stored_uncopied)  # ids the store holds no dossier of
    # Set operations on the id views do the per-record work in C; only records normalised again (a few thousand
    # after a day of changes) are looked at one by one.
    quarantined = {sid for sid, entry in entries.items() if entry is _QUARANTINED}
    fresh = {sid: entry for sid, entry in entries.items() if entry is not _QUARANTINED}
    missing = sorted(sid for sid in absent & latest.keys() if sid not in quarantined and sid not in held)
    extra = sorted((stored.keys() - latest.keys()) | (quarantined & stored.keys()))
    changed = sorted(sid for sid, e in fresh.items() if sid in stored and sid not in absent and stored[sid][2] != e[0])
    # A matched record counts as its copy: the source's counts are the store's, less the copies no record matched,
    # plus the records normalised again.
    unmatched = [stored[sid] for sid in extra] + [stored[sid] for sid in fresh.keys() & stored.keys()]
    report: dict[str, Any] = {
        "source_rows": len(latest) - len(quarantined),
        "store_rows": len(stored),
        "missing": len(missing),
        "extra": len(extra),
        "changed": len(changed),
        "quarantined_open": len(held),
        "rechecked": rechecked,
        "missing_ids": missing[:LIST_LIMIT],
        "extra_ids": extra[:LIST_LIMIT],
        "changed_ids": changed[:LIST_LIMIT],
    }
    for key, at in (("by_status", 3), ("by_unit", 4), ("by_month", 5)):
        in_store = Counter(map(itemgetter(at), stored.values()))
        in_source = in_store.copy()
        in_source.subtract(map(itemgetter(at), unmatched))
        source_text = _as_text(in_source)
        source_text.update(entry[at - 2] for entry in fresh.values())
        report[key] = _diff(+source_text, _as_text(in_store))
    return report


def _as_text(counts: Mapping[Any, int]) -> Counter[str]:
    """Counts keyed by the columns' values as text (what the report and ``GROUP BY`` give)."""
    found: Counter[str] = Counter()
    for value, n in counts.items():
        found[str(value)] += n
    return found


def _diff(source: Mapping[str, int], store: Mapping[str, int]) -> dict[str, dict[str, int]]:
    return {k: {"source": source.get(k, 0), "store": store.get(k, 0)} for k in sorted(set(source) | set(store))}


def reconcile(
    session: Session, config: dict[str, dict[str, Any]], today: date, deep: bool = False, jobs: int = 1
) -> dict[str, dict[str, Any]]:
    """The report per source. ``jobs`` > 1 reconciles up to that many sources at once, each in a forked process
    (:func:`parallel.fork_each`) that starts with the registry's remapper already built here; reading and checking
    a source is CPU-bound Python, so this is what puts a second core to work."""
    remapper = Remapper(session, today)

    def one(s: Session, name: str, options: dict[str, Any], orphans: set[str] | None) -> dict[str, Any]:
        try:
            return reconcile_source(s, name, options, remapper, deep, orphans)
        except Exception as exc:
            return {"error": f"source {name}: {exc}", "missing": None, "extra": None, "changed": None}

    # Whether a copy's dossier is gone is asked of the store once, for every source, before any source is read (why:
    # repository.copies_without_dossier); forked processes inherit the answer.
    gone = _orphans(session, config) if len(config) > 1 else {}
    if jobs > 1 and len(config) > 1 and parallel.can_fork():
        available()  # the connectors' modules imported once here, not once per forked source
        engine = session.get_bind()
        assert isinstance(engine, Engine)

        def task(name: str, options: dict[str, Any]) -> Callable[[parallel.Report], dict[str, Any]]:
            def body(_report: parallel.Report) -> dict[str, Any]:
                with Session(engine) as s:
                    return one(s, name, options, gone.get(name))

            return body

        def lost(name: str, code: int | None) -> dict[str, Any]:
            error = f"source {name}: its process exited without a result ({code})"
            return {"error": error, "missing": None, "extra": None, "changed": None}

        tasks = {name: task(name, options) for name, options in config.items()}
        return parallel.fork_each(tasks, jobs=jobs, engine=engine, on_progress=None, on_lost=lost)
    return {name: one(session, name, options, gone.get(name)) for name, options in config.items()}


def _orphans(session: Session, config: Mapping[str, Any]) -> dict[str, set[str]]:
    """:func:`repository.copies_without_dossier` of every source, in a savepoint; ``{}`` when it fails, and each
    source then asks for itself (and reports its own error), as a failure of one source's query never stops the
    others'."""
    try:
        with session.begin_nested():
            return repo.copies_without_dossier(session, config)
    except Exception:  # the raw driver cursor's errors (locked, timed out) are no SQLAlchemyError
        log.warning("copies without a dossier: the query for every source failed, each asks for itself", exc_info=True)
        return {}


def render_html(report: dict[str, dict[str, Any]]) -> str:
    parts = ["<!doctype html><meta charset=utf-8><title>Reconciliation</title><h1>Reconciliation</h1>"]
    for name, r in report.items():
        parts.append(f"<h2>{html.escape(name)}</h2><table border=1>")
        for key in ("source_rows", "store_rows", "missing", "extra", "changed", "quarantined_open", "error"):
            if key in r:
                parts.append(f"<tr><th>{key}</th><td>{html.escape(str(r[key]))}</td></tr>")
        parts.append("</table>")
        for key in ("missing_ids", "extra_ids", "changed_ids"):
            if r.get(key):
                parts.append(f"<p>{key}: {html.escape(', '.join(r[key]))}</p>")
        for key in ("by_status", "by_month"):
            rows = "".join(
                f"<tr><td>{html.escape(k)}</td><td>{v['source']}</td><td>{v['store']}</td></tr>"
                for k, v in r.get(key, {}).items()
            )
            parts.append(f"<h3>{key}</h3><table border=1><tr><th></th><th>source</th><th>store</th></tr>{rows}</table>")
    return "\n".join(parts)
