"""Scanned documents of a dossier: checked by their content, stored in the file store under their digest, counted
in the dossier's digitised documents; every download audited. Nothing here commits."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from hopnhat.config import Settings
from hopnhat.errors import InvalidInput, NotFound
from hopnhat.identity import audit
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission
from hopnhat.settlement import repository as repo
from hopnhat.settlement.models import Scan
from hopnhat.settlement.service import get_dossier
from hopnhat.store.models import Dossier


@dataclass(frozen=True)
class Kind:
    name: str
    media_type: str
    magic: tuple[bytes, ...]
    extensions: tuple[str, ...]


KINDS: dict[str, Kind] = {
    "pdf": Kind("pdf", "application/pdf", (b"%PDF-",), (".pdf",)),
    "jpeg": Kind("jpeg", "image/jpeg", (b"\xff\xd8\xff",), (".jpg", ".jpeg")),
    "png": Kind("png", "image/png", (b"\x89PNG\r\n\x1a\n",), (".png",)),
}
"""What a scan may be, and the first bytes that prove it (a declared type is never taken on trust)."""


def scan_dir(settings: Settings) -> Path:
    """The file store: ``HOPNHAT_SCAN_DIR``, else ``scans/`` beside the SQLite store."""
    if settings.scan_dir:
        return Path(settings.scan_dir)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "scans"
    raise InvalidInput("set HOPNHAT_SCAN_DIR: the scans need a directory (a shared volume) with this store")


def allowed_kinds(settings: Settings) -> list[Kind]:
    names = [n.strip().lower() for n in settings.scan_types.split(",") if n.strip()]
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        raise InvalidInput(f"HOPNHAT_SCAN_TYPES: {', '.join(unknown)} not among {', '.join(KINDS)}")
    return [KINDS[n] for n in names]


def declared_kind(filename: str, media_type: str | None) -> Kind | None:
    """The kind the upload says it is: its media type, else its file name's extension."""
    for kind in KINDS.values():
        if media_type and media_type.split(";")[0].strip().lower() == kind.media_type:
            return kind
    lower = filename.lower()
    return next((k for k in KINDS.values() if lower.endswith(k.extensions)), None)


def _safe_name(filename: str) -> str:
    base = os.path.basename(filename.replace("\\", "/")).strip() or "scan"
    return re.sub(r"[^\w.\- ]", "_", base)[:200]


def add_scan(
    session: Session,
    settings: Settings,
    principal: Principal,
    code: str,
    document_code: str,
    filename: str,
    media_type: str | None,
    content: bytes,
    *,
    digitised: bool = False,
) -> Scan:
    """Keep one scan of a required document; refused with a clear message when too large, of a kind not
    accepted, or when its content is not what it declares."""
    principal.require(Permission.DOSSIER_WRITE)
    dossier = get_dossier(session, code, principal)
    name = _safe_name(filename)
    limit = int(settings.scan_max_mb * 1024 * 1024)
    if len(content) > limit:
        raise InvalidInput(
            f"scan {name}: {len(content) / 1048576:.1f} MB is over the limit of {settings.scan_max_mb:g} MB"
        )
    if not content:
        raise InvalidInput(f"scan {name}: the file is empty")
    kinds = allowed_kinds(settings)
    declared = declared_kind(name, media_type)
    if declared is None or declared not in kinds:
        raise InvalidInput(f"scan {name}: only {', '.join(k.name.upper() for k in kinds)} files are accepted")
    if not content.startswith(declared.magic):
        actual = next((k.name.upper() for k in KINDS.values() if content.startswith(k.magic)), "something else")
        raise InvalidInput(f"scan {name}: declared {declared.name.upper()} but its content is {actual}")
    documents = {d.get("code") for d in _procedure_documents(session, dossier)}
    if documents and document_code not in documents:
        raise InvalidInput(f"scan {name}: {document_code!r} is not a required document of {dossier.procedure_code}")
    digest = hashlib.sha256(content).hexdigest()
    path = scan_dir(settings) / digest[:2] / digest
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(content)
        tmp.replace(path)  # a crash leaves a .part, never a truncated file under the digest
    scan = Scan(
        dossier_code=dossier.code,
        document_code=document_code[:32],
        filename=name,
        media_type=declared.media_type,
        size=len(content),
        sha256=digest,
        digitised=digitised,
        uploaded_by=principal.username or "",
        uploaded_at=datetime.now(UTC),
    )
    session.add(scan)
    session.flush()
    _count_digitised(session, dossier)
    audit.record(
        session,
        principal,
        "dossier.scan.add",
        object_type="dossier",
        object_id=dossier.code,
        changes={"document": [None, document_code], "sha256": [None, digest], "digitised": [None, digitised]},
    )
    return scan


def _procedure_documents(session: Session, dossier: Dossier) -> list[dict[str, object]]:
    proc = repo.procedure(session, dossier.procedure_code)
    return list(proc.required_documents or []) if proc is not None else []


def _count_digitised(session: Session, dossier: Dossier) -> None:
    """``digitised_documents``: the dossier's documents with at least one scan marked digitised."""
    stmt = select(func.count(func.distinct(Scan.document_code))).where(
        Scan.dossier_code == dossier.code, Scan.digitised.is_(True)
    )
    dossier.digitised_documents = int(session.scalar(stmt) or 0)


def scans_of(session: Session, code: str) -> list[Scan]:
    return list(session.scalars(select(Scan).where(Scan.dossier_code == code).order_by(Scan.id)))


def open_scan(session: Session, settings: Settings, principal: Principal, scan_id: int) -> tuple[Scan, bytes]:
    """A scan's bytes for a principal who sees its dossier; the download is audited."""
    scan = session.get(Scan, scan_id)
    if scan is None:
        raise NotFound(f"no scan {scan_id}")
    dossier = get_dossier(session, scan.dossier_code, principal)  # NotFound for a dossier not theirs
    path = scan_dir(settings) / scan.sha256[:2] / scan.sha256
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"scan {scan_id}: its file is missing from the file store") from None
    if hashlib.sha256(content).hexdigest() != scan.sha256:
        raise InvalidInput(f"scan {scan_id}: the stored file no longer matches its digest")
    audit.record(
        session,
        principal,
        "dossier.scan.download",
        object_type="dossier",
        object_id=dossier.code,
        changes={"scan": [None, scan.id]},
        citizen_id=dossier.applicant_id_number,
    )
    return scan, content


__all__ = ["KINDS", "add_scan", "allowed_kinds", "declared_kind", "open_scan", "scan_dir", "scans_of"]
