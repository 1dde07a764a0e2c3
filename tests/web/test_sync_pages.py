"""The sync pages over the real sync part: runs with their accounting, the quarantine list, replay's clear error."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from hopnhat.db import session_scope
from tests.web.conftest import Site

sync_models = pytest.importorskip("hopnhat.sync.models")


def test_runs_accounting_and_quarantine_without_payload(site: Site) -> None:
    with session_scope(site.engine) as s:
        run = sync_models.SyncRun(state="done", finished_at=datetime.now(UTC))
        s.add(run)
        s.flush()
        s.add(
            sync_models.SyncRunSource(
                run_id=run.id,
                source="hau_giang",
                state="done",
                extracted=10,
                inserted=7,
                updated=0,
                unchanged=1,
                quarantined=2,
                duplicates=0,
            )
        )
        s.add(
            sync_models.QuarantinedRecord(
                source="hau_giang",
                source_id="HG-000123",
                run_id=run.id,
                payload={"applicant_name": "Trần Văn Riêng Tư"},
                reasons=["unknown unit 99999"],
            )
        )
    client = site.client("operator")
    page = client.get("/sync")
    assert page.status_code == 200
    assert re.search(r'data-col="source"[^>]*>hau_giang</td><td class="tone-good" data-col="state"', page.text)
    assert "<title>Tiến độ hợp nhất</title>" in page.text  # 8 of 10 records reached the store
    assert 'width="152.0"' in page.text
    # The quarantine is the data steward's: the operator, who sees no personal data, is refused.
    assert client.get("/sync/quarantine").status_code == 403
    client = site.client("steward")
    assert client.get("/sync").status_code == 200
    quarantine = client.get("/sync/quarantine")
    assert "HG-000123" in quarantine.text
    assert "giá trị 99999 của trường đơn vị không có trong danh mục" in quarantine.text  # the reason, in Vietnamese
    assert "Riêng Tư" not in quarantine.text
    token = re.search(r'/replay"><input type="hidden" name="csrf" value="([^"]+)"', quarantine.text)
    assert token is not None
    # Without a sources config the replay cannot re-read the source: a clear message, nothing changes.
    replay = client.post(
        re.search(r'action="(/sync/quarantine/\d+/replay)"', quarantine.text).group(1),  # type: ignore[union-attr]
        data={"csrf": token.group(1)},
    )
    assert replay.status_code == 303
    after = client.get(replay.headers["location"])
    assert "HOPNHAT_SYNC_CONFIG" in after.text and "HG-000123" in after.text
