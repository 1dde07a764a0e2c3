"""The deployment files name real commands, options and settings (a renamed option would break a unit silently)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("hopnhat-*.service"))


@pytest.mark.parametrize("unit", UNITS, ids=[u.stem for u in UNITS])
def test_each_unit_runs_a_hopnhat_command_that_exists(unit: Path) -> None:
    exec_start = next(line for line in unit.read_text().splitlines() if line.startswith("ExecStart="))
    words = shlex.split(exec_start.removeprefix("ExecStart="))
    if words[0] == "/bin/sh":  # the backup unit's dated directory
        words = shlex.split(words[2].removeprefix("exec "))
    assert words[0] == "/opt/hopnhat/venv/bin/hopnhat"
    args = [w for w in words[1:] if "$(" not in w]
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"{unit.name}: {result.output}"
    text = unit.read_text()
    assert "EnvironmentFile=/etc/hopnhat/hopnhat.env" in text


def test_the_environment_example_sets_only_real_settings_and_every_production_one() -> None:
    names = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "systemd" / "hopnhat.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    known = {f"HOPNHAT_{field.upper()}" for field in Settings.model_fields}
    known |= {"HOPNHAT_PORTAL_URL", "HOPNHAT_PORTAL_USERNAME", "HOPNHAT_PORTAL_PASSWORD"}  # the relay's options
    assert names <= known, names - known
    required = {"HOPNHAT_PRODUCTION", "HOPNHAT_DATABASE_URL", "HOPNHAT_AUDIT_KEY", "HOPNHAT_SCAN_DIR"}
    assert required | {"HOPNHAT_TRUSTED_PROXIES"} <= names
    assert "X-Request-ID $request_id" in (DEPLOY / "nginx" / "hopnhat.conf").read_text()
