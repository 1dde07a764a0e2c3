"""A commune center's store for the officer's pages: the registry with issued codes, the sample catalogue, the
center's contacts, officers of two centers, a processing unit and one inherited overdue dossier."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from hopnhat.config import province_code
from hopnhat.db import session_scope
from hopnhat.identity.service import add_user
from hopnhat.registry.codes import CodeRule
from hopnhat.registry.loader import load_bundled
from hopnhat.registry.service import issue_codes, set_agency_contact
from hopnhat.settlement.catalog import load_sample
from hopnhat.settlement.service import clear_center_cache
from hopnhat.store.models import Dossier, Status

PASSWORD = "mat-khau-rat-dai-123"
NINH_KIEU = "001.02.60.H13"
NINH_KIEU_NAME = "Trung tâm Phục vụ hành chính công phường Ninh Kiều"
NINH_KIEU_PHONE = "0292 3820 123"
NINH_KIEU_ADDRESS = "2 Hòa Bình, phường Ninh Kiều, thành phố Cần Thơ"
CAI_KHE = "001.01.60.H13"
UNIT = "000.00.03.H13"
"""Sở Tư pháp: a processing unit (a department) the hand-off sends dossiers to."""
INHERITED = "H93.31-250620-0007"
INHERITED_NAME = "Trần Văn Kế Thừa"
OLD_ADDRESS = "12 Mậu Thân, Phường Xuân Khánh, Quận Ninh Kiều, Thành phố Cần Thơ"


def seed_center(engine: Engine) -> None:
    clear_center_cache()
    with session_scope(engine) as s:
        load_bundled(s, [province_code()])  # the home province: the whole country costs 2-4 s per test
        issue_codes(s, CodeRule(), issued_on=date(2025, 7, 1))
        load_sample(s)
        set_agency_contact(s, NINH_KIEU, address=NINH_KIEU_ADDRESS, phone=NINH_KIEU_PHONE)
        add_user(s, "cb_nk", PASSWORD, "center_officer", centers=[NINH_KIEU])
        add_user(s, "cb_nk2", PASSWORD, "center_officer", centers=[NINH_KIEU])
        add_user(s, "ld_nk", PASSWORD, "center_leader", centers=[NINH_KIEU])
        add_user(s, "cb_ck", PASSWORD, "center_officer", centers=[CAI_KHE])
        add_user(s, "xl_so", PASSWORD, "processing_officer", units=[UNIT])
        now = datetime.now(UTC)
        s.add(
            Dossier(
                code=INHERITED,
                province_code="92",
                former_province_code="93",
                procedure_code="MAU-002",
                procedure_name="Cấp giấy phép xây dựng nhà ở riêng lẻ (mẫu)",
                applicant_name=INHERITED_NAME,
                applicant_id_number="093080001111",
                status=int(Status.IN_PROCESS),
                received_at=now - timedelta(days=60),
                due_at=now - timedelta(days=20),
                unit_code="31135",
                center_code=NINH_KIEU,
                origin="migrated",
                source_name="haugiang",
            )
        )
