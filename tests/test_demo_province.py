"""``hopnhat demo --province CODE``: any merged province end to end, for one formed of three former provinces (Vĩnh
Long: Bến Tre, Trà Vinh, Vĩnh Long) and one of two (Cà Mau: Bạc Liêu, Cà Mau). The group numbers are the test's
own (given, as a deployment must give them): nothing here says they are the provinces' real H-numbers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.continuity.models import Center, System
from hopnhat.db import make_engine
from hopnhat.legacy import cleanup
from hopnhat.registry.bundled import national
from hopnhat.registry.models import Agency
from hopnhat.store.models import Dossier
from hopnhat.sync import service
from hopnhat.sync.reconcile import reconcile

CASES = {
    "86": ["86=H31", "83=H32", "84=H33"],  # three former provinces
    "96": ["96=H34", "95=H35"],  # two
}


@pytest.mark.parametrize("province", sorted(CASES))
def test_demo_builds_another_province_end_to_end(tmp_path: Path, province: str) -> None:
    out = tmp_path / "legacy"
    url = f"sqlite:///{tmp_path / 'store.db'}"
    groups = [arg for g in CASES[province] for arg in ("--group", g)]
    args = ["--db", url, "demo", "--no-serve", "--dossiers", "300", "--out", str(out), "--province", province]
    try:
        result = CliRunner().invoke(app, [*args, *groups], env={"HOPNHAT_LANG": "en"})  # checks read English
    finally:
        cleanup(out)
    assert result.exit_code == 0, result.output
    data = national()
    formers = data.former_provinces(province)
    assert len(formers) == len(CASES[province])
    config = service.load_config(out / "sources.toml")
    # A generic set of systems for each former province, described as data (the template of the catalogue format).
    assert {options["province_code"] for options in config.values()} == set(formers)
    assert all("profile_file" in options for options in config.values())
    assert (out / "soctrang.db").exists()  # Cần Thơ's unused store stays a file: no server database is left behind
    engine = make_engine(url)
    with Session(engine) as session:
        new_communes = sum(1 for c in data.new_communes.values() if c.province_code == province)
        assert session.scalar(select(func.count()).select_from(Center)) == new_communes + 1
        group = CASES[province][0].split("=")[1]
        assert session.scalar(select(func.count()).select_from(Agency).where(Agency.code.like(f"%.{group}"))), group
        assert session.scalar(select(func.count()).select_from(System)) == len(config)
        # Every dossier now answers to a unit of the merged province (a new commune, or the province itself).
        units = set(session.scalars(select(Dossier.unit_code).distinct())) - {None}
        ours = {c.code for c in data.new_communes.values() if c.province_code == province} | {province}
        assert units and units <= ours, units - ours
        # ... or, where its old commune was split among several, waits for an officer to pick one.
        unplaced = session.scalars(select(Dossier.needs_review).where(Dossier.unit_code.is_(None))).all()
        assert all(unplaced)
        # The province that serves a dossier now is the merged one; the one whose system it came from is kept beside.
        assert set(session.scalars(select(Dossier.province_code).distinct())) == {province}
        assert set(session.scalars(select(Dossier.former_province_code).distinct())) == set(formers)
        # Reconciliation is clean (HTTP systems are read again: served here for the check).
        from hopnhat.legacy import serve_in_thread

        with serve_in_thread(out):
            config = service.load_config(out / "sources.toml")
            report = reconcile(session, config, date(2025, 7, 1))
    for name, r in report.items():
        assert (r["missing"], r["extra"], r["changed"]) == (0, 0, 0), (name, r)
        assert r["source_rows"] == r["store_rows"] > 0
    assert "Cut-over gate" in result.output
    engine.dispose()


def test_another_province_without_its_group_numbers_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "legacy"
    args = ["--db", f"sqlite:///{tmp_path / 'store.db'}", "demo", "--no-serve", "--out", str(out), "--province", "96"]
    result = CliRunner().invoke(app, [*args, "--group", "96=H34"])
    assert result.exit_code != 0
    assert "old_province_groups[95]" in result.output and "not invent" in result.output
    assert not (out / "sources.toml").exists()
