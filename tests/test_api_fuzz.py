"""Schemathesis against the whole API, in process, signed in: no answer may be a server error or stray from the
OpenAPI description (status code, content type, body schema).

A fixed seed, a named set of checks and a bounded number of examples per operation (valid and invalid data; the
examples, coverage and fuzzing phases), so a run is repeatable and takes well under a minute and a half.
``FUZZ_SEED`` and ``FUZZ_EXAMPLES`` widen a run by hand. SQLite only: what PostgreSQL refuses and SQLite keeps (NUL
characters, over-long strings) is tested on both backends in ``tests/test_api_input.py``.

The run goes through schemathesis' engine (what ``schemathesis run`` drives) rather than its pytest plugin: the plugin's
lazy schema, needed for a schema built from a fixture, fails on pytest 9.2 (``Function._nodeid`` is gone), and the
engine reports every failing operation at once instead of stopping at the first.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import schemathesis
import schemathesis.engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from sqlalchemy import Engine

from hopnhat.app import create_app
from hopnhat.config import Settings, province_code
from hopnhat.continuity import service as continuity
from hopnhat.continuity.schemas import SystemIn
from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.identity.roles import Role
from hopnhat.registry.codes import CodeRule
from hopnhat.registry.loader import load_bundled
from hopnhat.registry.service import issue_codes
from hopnhat.settlement.catalog import load_sample
from tests.identity_support import token_for

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("FUZZ_SEED", "20261215"))
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
"""Named checks; the rest of schemathesis' checks (negative data rejection and friends) judge rules this API does
not claim, such as rejecting unknown JSON fields."""

TAN_AN = "001.03.60.H13"
"""Service center of Phường Tân An: the center the officer token belongs to."""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite store with the bundled registry, agency codes, the sample catalogue and one system."""
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    ensure_schema(engine)
    with session_scope(engine) as session:
        load_bundled(session, [province_code()])  # the home province: what the API's routes act on
        issue_codes(session, CodeRule(), issued_on=date(2025, 7, 1))
        load_sample(session)
        continuity.create_system(session, SystemIn(code="ct-portal", name="Cổng thông tin"))
    yield engine
    engine.dispose()


def _config(admin: str, officer: str) -> SchemathesisConfig:
    """The run: fixed seed, bounded examples, the named checks; the administrator's token everywhere but on dossier
    changes, which are a center leader's to make."""
    checks = "\n".join(f"{name}.enabled = true" for name in CHECKS)
    return SchemathesisConfig.from_str(
        f"""
seed = {SEED}
suppress-health-check = ["all"]
headers = {{ Authorization = "Bearer {admin}" }}

[generation]
max-examples = {MAX_EXAMPLES}
mode = "all"
no-shrink = true

[phases]
stateful.enabled = false

[checks]
enabled = false
{checks}

[[operations]]
include-name = ["POST /api/v1/dossiers", "POST /api/v1/dossiers/{{code}}/transitions"]
headers = {{ Authorization = "Bearer {officer}" }}
"""
    )


def test_api_answers_by_its_description(store: Engine) -> None:
    settings = Settings(
        database_url=str(store.url), officer_rate_limit_per_minute=10**9, public_rate_limit_per_minute=10**9
    )
    app = create_app(settings, engine=store)
    admin = token_for(store, Role.ADMINISTRATOR, scopes="admin")
    officer = token_for(store, Role.CENTER_LEADER, scopes="write", centers=[TAN_AN])
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(admin, officer))
    problems: list[str] = []
    statuses: Counter[int] = Counter()
    operations: set[str] = set()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.NonFatalError):
            problems.append(f"{event.label}: {type(event.value).__name__}: {event.value}")
        elif isinstance(event, events.ScenarioFinished):
            operations.add(event.recorder.label)
            statuses.update(i.response.status_code for i in event.recorder.interactions.values() if i.response)
        if isinstance(event, events.ScenarioFinished) and event.status in (Status.FAILURE, Status.ERROR):
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    if node.failure_info is not None:
                        failure = node.failure_info.failure
                        problems.append(
                            f"{event.label} [{node.name}] {failure.title}: {failure.message[:300]}\n"
                            f"    {node.failure_info.code_sample[:400]}"
                        )
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    # The run reached the routes themselves: every operation, signed in, with answers beyond validation errors.
    assert len(operations) == len(schema) and statuses[401] == 0, (len(operations), statuses)
    assert statuses[200] + statuses[201] > 300, statuses
