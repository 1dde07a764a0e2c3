"""One center everywhere: dossiers routed by settlement, the officer's account and the continuity center share the
center's agency code, whichever code (agency or commune) the account was created with."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hopnhat.app import create_app
from hopnhat.cli import app
from hopnhat.config import Settings, province_code
from hopnhat.continuity import centers
from hopnhat.db import make_engine, session_scope
from hopnhat.identity.service import add_user, create_token
from hopnhat.registry import service as registry
from hopnhat.registry.codes import CodeRule
from hopnhat.registry.loader import load_bundled
from hopnhat.settlement import routing
from tests.identity_support import signin
from tests.web.conftest import PASSWORD, dossier

DAY = date(2025, 8, 1)


def _dossier_codes(html: str) -> set[str]:
    table = html.split('<table id="dossiers"', 1)[1].split("</table>", 1)[0] if 'id="dossiers"' in html else ""
    return set(re.findall(r"<tr[^>]*><td[^>]*>([^<]+)</td>", table))


def test_officer_added_with_a_commune_code_sees_exactly_their_centers_dossiers(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        with session_scope(engine) as s:
            load_bundled(s, [province_code()])
            centers.seed(s)  # before the codes: `centers seed` fills them in when run again
            registry.issue_codes(s, CodeRule(), issued_on=date(2025, 7, 1))
            assert centers.seed(s).without_agency_code == 0
            mine = routing.route(s, "commune", commune_code="31120", address=None, day=DAY)
            other = routing.route(s, "commune", commune_code="31135", address=None, day=DAY)
            city = routing.route(s, "province", commune_code=None, address=None, day=DAY)
            name = centers.get_center(s, "31120").name
            assert len({mine.center_code, other.center_code, city.center_code}) == 3
            for code, center in (("A-1", mine), ("A-2", mine), ("B-1", other), ("C-1", city)):
                s.add(dossier(code, center.center_code))
            add_user(s, "admin", PASSWORD, "administrator")
            admin_token = create_token(s, "admin", "cli", "admin").token
        # Once an account exists, only an administrator adds more; on PostgreSQL the CLI proves it with a token.
        added = CliRunner(env={"HOPNHAT_TOKEN": admin_token}).invoke(
            app,
            [
                "--db",
                store_url,
                "users",
                "add",
                "officer",
                "--role",
                "center_officer",
                "--center",
                "31120",
                "--password",
                PASSWORD,
            ],
        )
        assert added.exit_code == 0, added.output
        assert mine.center_code in added.output  # stored as the agency code the dossiers carry

        site = create_app(Settings(database_url=store_url, secret_key="test-secret-key-0123456789"), engine)
        officer = TestClient(site, follow_redirects=False)
        assert signin(officer, "officer", PASSWORD).status_code == 303  # type: ignore[attr-defined]
        page = officer.get("/dossiers")
        assert page.status_code == 200
        assert _dossier_codes(page.text) == {"A-1", "A-2"}
        assert f"{name}</strong> ({mine.center_code})" in page.text  # the officer's view names the center
        assert officer.get("/dossiers?center=31120").status_code == 200  # their own center, by commune code
        assert officer.get(f"/dossiers?center={other.center_code}").status_code == 403

        admin = TestClient(site, follow_redirects=False)
        assert signin(admin, "admin", PASSWORD).status_code == 303  # type: ignore[attr-defined]
        link = f'<a href="/dossiers?center={mine.center_code}">{name}</a>'
        assert link in admin.get("/centers").text
        assert _dossier_codes(admin.get(f"/dossiers?center={mine.center_code}").text) == {"A-1", "A-2"}
        assert _dossier_codes(admin.get("/dossiers?center=31135").text) == {"B-1"}
        assert _dossier_codes(admin.get("/dossiers").text) == {"A-1", "A-2", "B-1", "C-1"}
    finally:
        engine.dispose()
