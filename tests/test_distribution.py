"""How a national instance would spread the store over PostgreSQL + Citus (README, "A national instance"): every table
is either distributed by province or a reference table copied to every node. A new table fails this test until it is
classified here, so the design cannot silently fall behind the schema."""

from __future__ import annotations

import importlib
import pkgutil

import hopnhat
from hopnhat.db import Base

DISTRIBUTED_BY_PROVINCE: dict[str, str] = {
    # table -> the column that is (or, for the four below it, would become) its distribution key, and why.
    "store_dossier": "province_code: the province that serves the dossier now",
    "store_outbox_event": "province_code: the event of a dossier goes with the dossier",
    "store_processing_step": "province_code, to add to its key: steps are read with their dossier",
    "settlement_code_counter": "province_code, to add to its key: a counter per agency, and an agency is a province's",
    "sync_quarantine": "province_code, to add: the former province of the source system",
    "sync_source_copy": "province_code, to add: the former province of the source system",
    "identity_audit": "province_code, to add: one sealed chain per province",
    "identity_audit_head": "province_code, to add: the head of that province's chain",
    "settlement_scan": "province_code, to add: a scan goes with its dossier",
    "settlement_due_review": "province_code, to add: a due-date review goes with its dossier",
    "portal_mend": "province_code, to add: a mend goes with its outbox event",
}
REFERENCE: dict[str, str] = {
    "registry_unit": "the whole country, 14,162 rows; joined with everything",
    "registry_change_event": "a few thousand rows",
    "registry_lineage_link": "11,342 rows",
    "registry_agency": "agencies of every province; codes are unique nationally",
    "registry_code_issuance": "one row per issued code",
    "settlement_procedure": "the national catalogue",
    "settlement_process_version": "the catalogue's processes",
    "settlement_process_step": "the catalogue's processes",
    "settlement_calendar_day": "the civil service's calendar, one per country",
    "continuity_center": "service centers, a few thousand in the country",
    "continuity_equipment_item": "per center, small",
    "continuity_equipment_requirement": "the required equipment list",
    "continuity_regulation": "per center, small",
    "continuity_staff": "per center, small",
    "continuity_system": "the shared systems",
    "continuity_probe": "probes of those systems",
    "continuity_probe_result": "recent probe results (pruned)",
    "continuity_incident": "incidents of the shared systems",
    "continuity_maintenance": "maintenance windows",
    "continuity_heartbeat": "one row per worker",
    "continuity_plan_task": "the transition plan",
    "continuity_plan_dependency": "the transition plan",
    "identity_membership": "accounts and roles",
    "identity_session": "web sessions (could stay on the coordinator)",
    "identity_token": "machine tokens",
    "identity_rate_bucket": "rate-limit counters (could stay on the coordinator)",
    "identity_secret": "signing secrets",
    "notice_template": "one row per event and channel",
    "portal_relay_heartbeat": "one row per relay",
    "portal_relay_lease": "one row per relay lease",
    "sync_cursor": "one row per source",
    "sync_lock": "one row per source",
    "sync_run": "one row per run",
    "sync_run_source": "one row per run and source",
    "sync_cutover_verdict": "one row per source",
    "sync_correction": "one row per corrected source record, a few thousand at most",
    "sync_dismissal": "one row per proposed dismissal",
    "sync_unit_choice": "one row per dossier a steward gave a unit",
    "sync_cutover": "one row per source",
    "sync_source_identity": "one row per source",
    "web_user": "officer accounts",
}


def _tables() -> set[str]:
    for module in pkgutil.walk_packages(hopnhat.__path__, "hopnhat."):
        if module.name.endswith(".models"):
            importlib.import_module(module.name)
    return set(Base.metadata.tables)


def test_every_table_is_distributed_by_province_or_a_reference_table() -> None:
    tables = _tables()
    assert not set(DISTRIBUTED_BY_PROVINCE) & set(REFERENCE)
    assert sorted(tables - set(DISTRIBUTED_BY_PROVINCE) - set(REFERENCE)) == [], "classify the new table(s) here"
    assert sorted((set(DISTRIBUTED_BY_PROVINCE) | set(REFERENCE)) - tables) == [], "a classified table is gone"


def test_distributed_tables_name_their_key_and_those_that_have_it_carry_it() -> None:
    tables = Base.metadata.tables
    _tables()
    for name, why in DISTRIBUTED_BY_PROVINCE.items():
        assert why.startswith("province_code"), name
        if "to add" not in why:
            column = tables[name].c["province_code"]
            assert not column.nullable, name  # a row without its province could not be placed on a node
