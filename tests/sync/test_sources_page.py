"""The administrators' page of the sources: the system each name stands for, and the dry run on demand, whose
counts are the CLI's; closed to roles without the quarantine's permission."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.identity.roles import Role
from hopnhat.legacy import generate
from hopnhat.sync import profiler, service
from tests.identity_support import PASSWORD, add_account, signin
from tests.sync.helpers import config, store


def test_the_sources_page_shows_identities_and_the_dry_run(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=120, seed=31, fault_rate=0.1, sql="sqlite", xlsx=False)
    toml = tmp_path / "sources.toml"
    text = (out / "sources.toml").read_text()
    toml.write_text(text.split("[sources.cantho]")[0] + text[text.index("[sources.haugiang]") :])
    engine = store(store_url)
    service.run(engine, {"haugiang": config(out)["haugiang"]})
    with Session(engine) as session:
        admin = add_account(session, Role.ADMINISTRATOR)
        operator = add_account(session, Role.DEPARTMENT_OPERATOR)
        session.commit()
    settings = Settings(database_url=store_url, secret_key="test-secret-key-0123456789", sync_config=str(toml))
    app = create_app(settings, engine)

    client = TestClient(app, follow_redirects=False)
    assert signin(client, admin, PASSWORD).status_code == 303  # type: ignore[attr-defined]
    page = client.get("/sync/sources")
    assert page.status_code == 200
    assert "Nguồn dữ liệu" in page.text and str((out / "haugiang").resolve()) in page.text
    checked = client.get("/sync/sources", params={"check": "haugiang"})
    assert checked.status_code == 200 and "Chạy thử: haugiang" in checked.text
    remapper = service.remapper_for(engine, {"haugiang": config(out)["haugiang"]})
    report = profiler.check("haugiang", config(out)["haugiang"], remapper)
    assert report["would_quarantine"] > 0
    shown = re.search(r'data-col="would_quarantine"[^>]*>(\d+)<', checked.text)
    assert shown is not None and int(shown.group(1)) == report["would_quarantine"]

    other = TestClient(app, follow_redirects=False)
    assert signin(other, operator, PASSWORD).status_code == 303  # type: ignore[attr-defined]
    assert other.get("/sync/sources").status_code == 403
    assert TestClient(app, follow_redirects=False).get("/sync/sources").status_code == 303
    engine.dispose()
