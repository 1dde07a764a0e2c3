"""Decision 766 as the portal computes it: on time, supplement requests, shares from the flags, per center and city."""

from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy.orm import Session

from hopnhat.db import session_scope
from hopnhat.portal import indicators
from hopnhat.store.models import Dossier, OutboxEvent, ProcessingStep, Status
from tests.portal.factories import RECEIVED, make_dossier

START, END = RECEIVED - timedelta(days=1), RECEIVED + timedelta(days=30)
DUE = RECEIVED + timedelta(days=3)


def supplement(session: Session, dossier: Dossier, times: int) -> None:
    for n in range(times):
        dossier.steps.append(
            ProcessingStep(dossier_id=dossier.id, seq=len(dossier.steps) + 1, at=RECEIVED + timedelta(hours=n + 1),
                           actor="canbo", from_status=4, to_status=Status.SUPPLEMENT_REQUESTED)
        )  # fmt: skip
    session.flush()


def test_on_time_rule() -> None:
    assert indicators.on_time(DUE, DUE, 0) is True  # finished on its due date: on time
    assert indicators.on_time(DUE, DUE, 1) is True  # one supplement request is allowed
    assert indicators.on_time(DUE - timedelta(days=1), DUE, 2) is False  # two: late, whatever the dates
    assert indicators.on_time(DUE + timedelta(seconds=1), DUE, 0) is False
    assert indicators.on_time(None, DUE, 0) is None  # not finished: not counted


def test_indicators_per_center_and_city(db: Session) -> None:
    session = db
    a, b = "000.00.31.H13", "000.00.32.H13"
    make_dossier(session, "H13-1", center_code=a, finished_at=DUE, due_at=DUE, status=9, channel=2,
                          vneid_signin=True, digitised_documents=2, paid_online=True)  # fmt: skip
    twice = make_dossier(session, "H13-2", center_code=a, finished_at=DUE - timedelta(days=1), due_at=DUE,
                         status=9, channel=2, extra={"fees": [{"MaPhiLePhi": "LP01"}]})  # fmt: skip
    supplement(session, twice, 2)
    make_dossier(session, "H13-3", center_code=b, channel=1)  # open
    # an inherited dossier its former system still owns: pushed by it, not counted in hopnhat's synced share
    make_dossier(session, "H13-4", center_code=b, origin="migrated", channel=1)
    make_dossier(session, "H13-5", center_code=b, received_at=END)  # outside the period
    for event in session.query(OutboxEvent).filter(OutboxEvent.dossier_code.in_(["H13-1", "H13-3"])):
        event.state = "delivered"
    session.flush()

    result = {r.center: r for r in indicators.compute(session, START, END)}
    assert set(result) == {a, b, indicators.CITY}
    ca, city = result[a], result[indicators.CITY]
    assert (ca.received, ca.finished, ca.late_by_supplements) == (2, 1 + 1, 1)
    assert (ca.shares["on_time"].numerator, ca.shares["on_time"].denominator) == (1, 2)
    assert ca.shares["vneid"].percent == 50.0 and ca.shares["digitised"].percent == 50.0
    assert (ca.shares["paid_online"].numerator, ca.shares["paid_online"].denominator) == (1, 2)
    assert city.received == 4 and city.shares["online"].percent == 50.0
    assert (city.shares["synced"].numerator, city.shares["synced"].denominator) == (2, 3)
    assert not indicators.CONFIRMED["synced"] and "cannot be reached" in indicators.NOTES["synced"]

    csv = indicators.export(list(result.values()), "csv").decode("utf-8-sig").splitlines()
    assert csv[0].startswith("center,received,finished,late_by_supplements,on_time_count")
    assert any(line.startswith(f"{a},2,2,1,1,2,50.0") for line in csv)
    book = load_workbook(io.BytesIO(indicators.export(list(result.values()), "xlsx")))
    notes = list(book["notes"].values)
    assert notes[-1][:2] == ("synced", False)


def test_a_dossier_with_two_supplement_requests_counts_late(store_url: str) -> None:
    from hopnhat.db import make_engine

    engine = make_engine(store_url)
    with session_scope(engine) as session:
        dossier = make_dossier(session, "H13-9", finished_at=DUE - timedelta(days=2), due_at=DUE, status=10)
        supplement(session, dossier, 2)
        make_dossier(session, "H13-10", finished_at=DUE, due_at=DUE, status=10)
    with Session(engine) as session:
        city = indicators.compute(session, START, END)[-1]
    engine.dispose()
    assert (city.shares["on_time"].numerator, city.shares["on_time"].denominator) == (1, 2)
    assert city.late_by_supplements == 1
