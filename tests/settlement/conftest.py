from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy.orm import Session

from hopnhat.registry.codes import CodeRule
from hopnhat.registry.service import issue_codes
from hopnhat.settlement.catalog import load_sample


@pytest.fixture
def sdb(rdb: Session) -> Iterator[Session]:
    """Registry with issued agency codes and the sample catalogue (rolled back after the test)."""
    issue_codes(rdb, CodeRule(), issued_on=date(2025, 7, 1))
    load_sample(rdb)
    rdb.flush()
    yield rdb
