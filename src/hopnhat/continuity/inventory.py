"""Loading the systems inventory from YAML or CSV (the bundled example, or an operator's own file).

YAML: ``{systems: [{code, name, owner_unit, former_province, criticality, hosting, decision, target_system,
target_date, status, probes: [{name, kind, target, ...}]}]}``. CSV: one system per row with the same columns
(no probes). Loading is an upsert by ``code``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from hopnhat.continuity import service
from hopnhat.continuity.netguard import AllowList
from hopnhat.continuity.schemas import ProbeIn, SystemIn
from hopnhat.errors import InvalidInput
from hopnhat.files import FileLimits, read_csv_rows, read_text
from hopnhat.files import parse_yaml as parse_yaml_text
from hopnhat.registry.text import nfc

EXAMPLE = "inventory_example.yaml"


def data_text(name: str) -> str:
    """A bundled data file of the continuity part."""
    return resources.files("hopnhat.continuity").joinpath("data", name).read_text(encoding="utf-8-sig")


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg', '')}"


def load_records(
    session: Session, records: list[dict[str, Any]], source: str, allow: AllowList | None = None
) -> tuple[int, int]:
    """Upsert systems (and their probes, whose targets must pass ``allow``: by default the setting's allow-list);
    returns (systems, probes)."""
    systems = probes = 0
    for index, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise InvalidInput(f"{source}: system #{index} is not a mapping")
        label = record.get("code") or f"#{index}"
        fields = {k: (nfc(v.strip()) if isinstance(v, str) else v) for k, v in record.items() if k != "probes"}
        fields = {k: v for k, v in fields.items() if v not in ("", None) or k in ("code", "name")}
        try:
            data = SystemIn(**fields)
        except ValidationError as exc:
            raise InvalidInput(f"{source}: system {label}: {_problem(exc)}") from None
        service.upsert_system(session, data)
        systems += 1
        for probe in record.get("probes") or []:
            try:
                service.add_probe(session, data.code, ProbeIn(**probe), allow)
            except ValidationError as exc:
                raise InvalidInput(f"{source}: system {label}: probe: {_problem(exc)}") from None
            probes += 1
    return systems, probes


def parse_yaml(text: str, source: str) -> list[dict[str, Any]]:
    """The systems of an inventory; a YAML error names ``source`` and the line."""
    doc = parse_yaml_text(text, source)
    systems = doc.get("systems") if isinstance(doc, dict) else doc
    if not isinstance(systems, list):
        raise InvalidInput(f"{source}: expected a list under 'systems'")
    return systems


def load_file(
    session: Session, path: Path, limits: FileLimits | None = None, allow: AllowList | None = None
) -> tuple[int, int]:
    """Load an operator's inventory file, read within ``limits`` (:mod:`hopnhat.files`)."""
    limits = limits or FileLimits()
    if path.suffix.lower() in (".yaml", ".yml"):
        return load_records(session, parse_yaml(read_text(path, limits), path.name), path.name, allow)
    if path.suffix.lower() == ".csv":
        return load_records(session, list(read_csv_rows(path, limits)), path.name, allow)
    raise InvalidInput(f"{path.name}: expected a .yaml, .yml or .csv file")


def load_example(session: Session) -> tuple[int, int]:
    """Load the bundled EXAMPLE inventory (not the city's real list)."""
    return load_records(session, parse_yaml(data_text(EXAMPLE), EXAMPLE), EXAMPLE)
