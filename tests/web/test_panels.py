"""Panels over other parts' services: a missing part shows a notice; a present one is rendered with status colours,
charts and the replay button. Stand-in service modules make these tests independent of the other parts' progress."""

from __future__ import annotations

import re
import sys
import types
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.continuity.servers import LOOPBACK
from tests.web.conftest import CENTER_A, CENTER_A_NAME, Site


def _install(monkeypatch: pytest.MonkeyPatch, name: str, **functions: Any) -> None:
    module = types.ModuleType(name)
    for key, fn in functions.items():
        setattr(module, key, fn)
    monkeypatch.setitem(sys.modules, name, module)


def test_sources_page_without_a_config_says_so_in_the_pages_language(site: Site) -> None:
    # A setting not set is a message in the page's language, not a crash nor an English exception text.
    page = site.client("steward").get("/sync/sources")
    assert page.status_code == 200
    assert "Chưa cấu hình nguồn dữ liệu (HOPNHAT_SYNC_CONFIG)." in page.text
    english = site.client("steward").get("/sync/sources?lang=en")
    assert "The sources config is not set (HOPNHAT_SYNC_CONFIG)." in english.text


def test_down_system_is_red_with_a_symbol_counted_on_the_overview_with_incident_and_uptime(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hopnhat.continuity import service
    from hopnhat.continuity.schemas import ProbeIn, SystemIn
    from hopnhat.db import session_scope
    from tests.web.test_browser import Target

    target = Target()
    with session_scope(site.engine) as s:
        service.create_system(s, SystemIn(code="LGSP-HG", name="Nền tảng LGSP Hậu Giang", criticality="critical"))
        # The target listens on loopback, which probes may reach only when allowed to.
        probe = ProbeIn(name="health", kind="http", target=target.url, fail_threshold=1)
        service.add_probe(s, "LGSP-HG", probe, allow=LOOPBACK)
        service.run_probe(s, _probe(s), allow=LOOPBACK)
    client = site.client("operator")
    page = client.get("/systems")
    assert re.search(
        r'<td class="tone-good" data-col="state"[^>]*><span aria-hidden="true">✔ </span>Hoạt động</td>', page.text
    )
    target.stop()
    with session_scope(site.engine) as s:
        service.run_probe(s, _probe(s), allow=LOOPBACK)
    page = client.get("/systems")
    assert re.search(
        r'<td class="tone-bad" data-col="state"[^>]*><span aria-hidden="true">✖ </span>Ngừng</td>', page.text
    )
    assert re.search(
        r'<td class="tone-bad" data-col="state"[^>]*><span aria-hidden="true">✖ </span>Đang mở</td>', page.text
    )
    assert "<polyline" in page.text  # the uptime line chart (one check up, one down today)
    overview = client.get("/")
    assert re.search(r'<span class="figure tone-bad">1</span>\s*<a href="/systems">Hệ thống ngừng</a>', overview.text)


def _probe(session: Session) -> Any:
    from sqlalchemy import select

    from hopnhat.continuity.models import Probe

    return session.scalars(select(Probe)).one()


def test_replay_button_answers_with_a_message_in_the_pages_language(site: Site) -> None:
    from hopnhat.db import session_scope
    from hopnhat.sync.models import QuarantinedRecord

    with session_scope(site.engine) as s:
        record = QuarantinedRecord(
            source="hau_giang", source_id="HG-1", payload={"applicant_name": "x"}, reasons=["unknown unit 99999"]
        )
        s.add(record)
        s.flush()
        rid = record.id
    # The quarantined records carry personal data: the data steward's page, not the department operator's.
    operator = site.client("operator")
    assert operator.get("/sync/quarantine").status_code == 403
    client = site.client("steward")
    page = client.get("/sync/quarantine")
    assert "giá trị 99999 của trường đơn vị không có trong danh mục" in page.text
    token = re.search(
        rf'action="/sync/quarantine/{rid}/replay"><input type="hidden" name="csrf" value="([^"]+)"', page.text
    )
    assert token is not None
    done = client.post(f"/sync/quarantine/{rid}/replay", data={"csrf": token.group(1)})
    # This site has no sources config: the replay cannot re-read the source, and says so after the redirect.
    assert done.status_code == 303
    assert done.headers["location"] == f"/sync/quarantine?failed=no_config&record={rid}"
    flash = client.get(done.headers["location"]).text
    assert f"Không xử lý lại được bản ghi #{rid}: chưa cấu hình nguồn dữ liệu" in flash
    # The form token is bound to the session: another user's token does not work, not even an administrator's.
    other = site.client("admin")
    assert other.post(f"/sync/quarantine/{rid}/replay", data={"csrf": token.group(1)}).status_code == 403
    assert operator.post(f"/sync/quarantine/{rid}/replay", data={"csrf": token.group(1)}).status_code == 403


def test_centers_readiness_on_the_overview_and_the_centers_page(site: Site) -> None:
    from hopnhat.config import province_code
    from hopnhat.continuity import centers
    from hopnhat.db import session_scope
    from hopnhat.registry.loader import load_bundled

    with session_scope(site.engine) as s:
        load_bundled(s, [province_code()])
        # The city's center and one per commune; the site has two of them already (with their agency codes).
        assert centers.seed_centers(s) == 102
        centers.seed_requirements(s)
    client = site.client("admin")
    overview = client.get("/")
    assert "<title>Mức sẵn sàng của trung tâm</title>" in overview.text
    assert "Có danh sách nhân sự: 0%" in overview.text  # no staff list recorded anywhere yet
    section = overview.text.split('<h2 id="p-not_ready">')[1].split("</section>")[0]
    assert section.count("<tr>") == 6  # header + the first 5 centers that are not ready, and a link to the rest
    assert '<a href="/centers">Xem đầy đủ (104 dòng) →</a>' in section
    page = client.get("/centers")
    assert page.text.count('data-col="ready"') == 10  # one page of 10; the pager says how many there are
    assert "Trang 1/11 · 104 dòng" in page.text
    # Reasons read in the page's language; a center's name links to its dossiers by agency code.
    assert "chưa có danh sách nhân sự (hạn 30/06/2025)" in page.text and "no staff list" not in page.text
    assert "no staff list (due 2025-06-30)" in client.get("/centers?lang=en").text
    link = f'<a href="/dossiers?center={CENTER_A}">{CENTER_A_NAME}</a>'
    assert link in page.text
    assert page.text.count('<a href="/dossiers?center=') == 4  # the two centers with codes, in both panels
    dossiers = client.get(f"/dossiers?center={CENTER_A}").text
    assert f"{CENTER_A_NAME}</strong> ({CENTER_A})" in dossiers and "H92.32-250801-0001" not in dossiers
