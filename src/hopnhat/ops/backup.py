"""``hopnhat db backup`` / ``db restore``: the store (its audit chain included), the scans' files, a manifest.

A backup is a directory::

    manifest.json     what was saved: hopnhat version, backend, revision, the dossiers' digest, the audit chain's
                      length and last hash, the SHA-256 of every file
    store.sqlite      SQLite's online backup of the store (a consistent copy while others write), or
    store.pgdump      pg_dump's custom format (pg_restore reads it), taken in the snapshot the digest was computed in
    files/            the scans' file store (HOPNHAT_SCAN_DIR, as the officer's day stores them)

A restore goes into an empty store only, then proves itself: the restored dossiers must have the manifest's digest
and the audit chain must verify (:func:`hopnhat.identity.audit.verify`). The audit key is not in the backup: it is
kept outside the store on purpose, and the operator keeps it with the server's other secrets.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, select, text
from sqlalchemy.orm import Session

from hopnhat import __version__
from hopnhat.errors import Conflict, HopnhatError, InvalidInput

MANIFEST = "manifest.json"
SQLITE_FILE = "store.sqlite"
PG_FILE = "store.pgdump"
FILES = "files"
DIGESTED = ("store_dossier", "store_processing_step")
"""The tables whose content the digest covers: the dossiers and their steps, every column, in primary-key order."""


@dataclass
class Manifest:
    hopnhat: str
    backend: str
    revision: list[str]
    created_at: str
    dossiers: int
    digest: str
    audit_entries: int
    audit_last_hash: str | None
    store_file: str
    store_sha256: str
    files: dict[str, str] = field(default_factory=dict)
    """Relative path in ``files/`` -> SHA-256."""


@dataclass(frozen=True)
class RestoreReport:
    manifest: Manifest
    digest: str
    audit_ok: bool
    audit_entries: int
    audit_signed: bool
    files: int


# --- digests ----------------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """The same text for the same value whichever driver read it (times in UTC, JSON as is)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value if isinstance(value, dict | list | int | float | bool | str | None) else str(value)


def dossier_digest(conn: Connection | Session) -> tuple[int, str]:
    """(number of dossiers, SHA-256 of every row of the dossiers and their steps): two stores with the same digest
    hold the same dossiers, ids included."""
    from sqlalchemy import MetaData, Table

    bind = conn.connection() if isinstance(conn, Session) else conn
    digest = hashlib.sha256()
    count = 0
    for name in DIGESTED:
        # Reflected, not the models: a store behind this hopnhat's schema is backed up before it is upgraded.
        table = Table(name, MetaData(), autoload_with=bind)
        digest.update(name.encode())
        rows = conn.execute(select(*table.columns).order_by(*table.primary_key.columns))
        for row in rows:
            count += name == "store_dossier"
            digest.update(json.dumps([_plain(v) for v in row], ensure_ascii=False, sort_keys=True).encode())
            digest.update(b"\n")
    return count, digest.hexdigest()


def _audit_tail(conn: Connection | Session) -> tuple[int, str | None]:
    last = conn.execute(
        text("SELECT seq, hash FROM identity_audit WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1")
    ).first()
    return (int(last[0]), str(last[1])) if last else (0, None)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- backup -----------------------------------------------------------------------------------------------------------


def backup(engine: Engine, files_dir: Path | None, dest: Path) -> Manifest:
    """Save the store and the scans into the new directory ``dest``; returns the manifest written there."""
    from hopnhat.db import stored_revisions

    if dest.exists() and any(dest.iterdir()):
        raise Conflict(f"{dest}: the backup directory is not empty (a backup never overwrites another)")
    dest.mkdir(parents=True, exist_ok=True)
    revision = sorted(stored_revisions(engine))
    if engine.dialect.name == "sqlite":
        store_file = dest / SQLITE_FILE
        _sqlite_copy(_sqlite_path(engine), store_file)
        # The digest is read from the copy itself (read-only): it describes exactly what was saved.
        saved = create_engine(f"sqlite:///file:{store_file}?mode=ro&uri=true")
        try:
            with saved.connect() as conn:
                count, digest = dossier_digest(conn)
                audit_entries, last_hash = _audit_tail(conn)
        finally:
            saved.dispose()
    elif engine.dialect.name == "postgresql":
        store_file = dest / PG_FILE
        count, digest, audit_entries, last_hash = _pg_dump(engine, store_file)
    else:
        raise InvalidInput(f"backup of a {engine.dialect.name} store is not supported (SQLite or PostgreSQL)")
    files = _copy_files(files_dir, dest / FILES)
    manifest = Manifest(
        hopnhat=__version__,
        backend=engine.dialect.name,
        revision=revision,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        dossiers=count,
        digest=digest,
        audit_entries=audit_entries,
        audit_last_hash=last_hash,
        store_file=store_file.name,
        store_sha256=_sha256(store_file),
        files=files,
    )
    (dest / MANIFEST).write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise InvalidInput("an in-memory SQLite store cannot be backed up or restored")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy page by page, while other processes keep writing."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst, pages=1024)
    finally:
        dst.close()
        src.close()


def pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: on the PATH, else the newest under /usr/lib/postgresql (Debian's layout)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if candidates:
        return str(candidates[-1])
    raise HopnhatError(f"{name} is not installed: install the PostgreSQL client (apt install postgresql-client)")


def _libpq(engine: Engine) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password (it goes in PGPASSWORD, never on a command line that ``ps``
    shows), and the environment to run the tool in."""
    url = engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(password=None).render_as_string(hide_password=False), env


def _pg_dump(engine: Engine, target: Path) -> tuple[int, str, int, str | None]:
    """pg_dump in the snapshot the digest is computed in, so the manifest describes exactly what was dumped."""
    dsn, env = _libpq(engine)
    with engine.connect() as conn:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        count, digest = dossier_digest(conn)
        audit_entries, last_hash = _audit_tail(conn)
        done = subprocess.run(
            [pg_tool("pg_dump"), "--format=custom", f"--snapshot={snapshot}", f"--file={target}", "--dbname", dsn],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        conn.rollback()
    if done.returncode != 0:
        raise HopnhatError(f"pg_dump failed: {done.stderr.strip().splitlines()[-1] if done.stderr else 'no output'}")
    return count, digest, audit_entries, last_hash


def _copy_files(source: Path | None, target: Path) -> dict[str, str]:
    target.mkdir()
    sums: dict[str, str] = {}
    if source is None or not source.is_dir():
        return sums
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(source)
        copy = target / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
        sums[relative.as_posix()] = _sha256(copy)
    return sums


# --- restore ----------------------------------------------------------------------------------------------------------


def read_manifest(source: Path) -> Manifest:
    path = source / MANIFEST
    if not path.is_file():
        raise InvalidInput(f"{source}: not a hopnhat backup (no {MANIFEST})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Manifest(**data)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{path}: unreadable manifest ({type(exc).__name__})") from None


def restore(engine: Engine, files_dir: Path | None, source: Path, audit_key: str | None) -> RestoreReport:
    """Restore the backup at ``source`` into the empty store of ``engine`` and the empty ``files_dir``, then check
    it: the dossiers' digest must equal the manifest's and the audit chain must verify."""
    from hopnhat.db import stored_revisions

    manifest = read_manifest(source)
    store_file = source / manifest.store_file
    if manifest.backend != engine.dialect.name:
        raise InvalidInput(
            f"the backup is of a {manifest.backend} store; restore it into a {manifest.backend} store "
            f"(this one is {engine.dialect.name})"
        )
    if not store_file.is_file() or _sha256(store_file) != manifest.store_sha256:
        raise InvalidInput(f"{store_file}: missing, or not the file the manifest describes (SHA-256 differs)")
    for relative, expected in manifest.files.items():
        path = source / FILES / relative
        if not path.is_file() or _sha256(path) != expected:
            raise InvalidInput(f"{path}: missing, or not the file the manifest describes (SHA-256 differs)")
    if stored_revisions(engine) or _has_tables(engine):
        raise Conflict("the target store is not empty: restore into a new, empty store (a restore never merges)")
    if files_dir is not None and files_dir.is_dir() and any(files_dir.iterdir()):
        raise Conflict(f"{files_dir}: the file store is not empty (a restore never merges)")
    if engine.dialect.name == "sqlite":
        engine.dispose()
        _sqlite_copy(store_file, _sqlite_path(engine))
    else:
        _pg_restore(engine, store_file)
    restored_files = 0
    if manifest.files:
        if files_dir is None:
            raise InvalidInput("the backup holds scans: set HOPNHAT_SCAN_DIR to the directory to restore them into")
        for relative in manifest.files:
            target = files_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / FILES / relative, target)
            restored_files += 1
    return check(engine, manifest, audit_key, restored_files)


def check(engine: Engine, manifest: Manifest, audit_key: str | None, files: int) -> RestoreReport:
    """Compare the store with the manifest: the same dossiers (digest) and an intact audit chain."""
    from hopnhat.identity import audit

    with Session(engine) as session:
        _count, digest = dossier_digest(session)
        verdict = audit.verify(session, audit_key)
    report = RestoreReport(manifest, digest, verdict.ok, verdict.entries, verdict.signed, files)
    if digest != manifest.digest:
        raise HopnhatError(f"restore check failed: the dossiers' digest is {digest}, the backup's {manifest.digest}")
    if not verdict.ok:
        raise HopnhatError(f"restore check failed: audit chain broken at entry {verdict.broken_seq}: {verdict.reason}")
    if verdict.entries != manifest.audit_entries:
        raise HopnhatError(
            f"restore check failed: {verdict.entries} chained audit entries, the backup had {manifest.audit_entries}"
        )
    return report


def _has_tables(engine: Engine) -> bool:
    from sqlalchemy import inspect

    with engine.connect() as conn:
        return bool(inspect(conn).get_table_names())


def _pg_restore(engine: Engine, dump: Path) -> None:
    dsn, env = _libpq(engine)
    done = subprocess.run(
        [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--dbname", dsn, str(dump)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output"
        raise HopnhatError(f"pg_restore failed: {last}")


__all__ = ["Manifest", "RestoreReport", "backup", "check", "dossier_digest", "read_manifest", "restore"]
