"""The overview and the plan show the recorded cut-over verdicts, and a task whose source is not ready at risk."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hopnhat.continuity import plan
from hopnhat.db import session_scope
from hopnhat.sync.models import CutoverVerdict
from tests.web.conftest import Site

PLAN = """code,title,responsible_unit,deadline,status,depends_on,cutover_source
K1,Chuyển hồ sơ Sóc Trăng,Sở KH&CN,2099-12-31,in_progress,,soctrang
K2,Chuyển hồ sơ Hậu Giang,Sở KH&CN,2099-12-31,in_progress,,haugiang
"""


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_pages_show_verdicts_with_their_time_and_the_tasks_they_hold_back(site: Site) -> None:
    client = site.client("admin")
    with session_scope(site.engine) as s:
        plan.import_csv(s, PLAN)
    assert "Chưa có kết luận chuyển đổi nào" in _text(client.get("/").text)

    with session_scope(site.engine) as s:
        s.add(
            CutoverVerdict(
                source="soctrang",
                ready=False,
                reasons=["4 quarantined records not resolved"],
                checked_at=datetime(2025, 7, 1, 1, 5, tzinfo=UTC),
            )
        )
        s.add(CutoverVerdict(source="haugiang", ready=True, reasons=[], checked_at=datetime(2025, 7, 1, tzinfo=UTC)))
    overview = _text(client.get("/").text)
    # Vietnam time (UTC+7), so an operator sees how old the verdict is.
    assert "soctrang ✖ Chưa sẵn sàng 4 bản ghi cách ly chưa được xử lý 01/07/2025 08:05" in overview
    assert "haugiang ✔ Sẵn sàng" in overview
    # The tasks at risk are on the plan's page (the overview lists only the overdue ones, and links there).
    page = client.get("/plan")
    at_risk = _text(page.text).split("Nhiệm vụ có nguy cơ trễ", 1)[1].split("Kế hoạch", 1)[0]
    assert "K1" in at_risk
    held = "chuyển đổi nguồn soctrang chưa sẵn sàng (kết luận lúc 01/07/2025 08:05): 4 bản ghi cách ly"
    assert held in at_risk
    assert "K2" not in at_risk  # its source is ready, its deadline far
    at_risk_cell = r'<td class="tone-bad" data-col="at_risk"[^>]*><span aria-hidden="true">✖ </span>Có</td>'
    assert re.search(at_risk_cell, page.text)
    # "not overdue" is no failure: no red, no cross
    assert re.search(r'<td data-col="overdue"[^>]*>Không</td>', page.text)
    english = _text(client.get("/plan?lang=en").text)
    assert "Cut-over verdicts" in english and "soctrang ✖ Not ready" in english
    assert "cut-over of soctrang not ready (checked 01/07/2025 08:05): 4 quarantined records not resolved" in english
