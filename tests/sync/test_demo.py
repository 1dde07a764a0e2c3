"""``hopnhat demo --no-serve`` runs the whole consolidation and prints the verdicts."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.legacy import cleanup


def test_demo_consolidates_and_prints_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "legacy"
    try:
        result = CliRunner().invoke(
            app,
            ["--db", f"sqlite:///{tmp_path / 'store.db'}", "demo", "--no-serve", "--dossiers", "80", "--out", str(out)],
            env={"HOPNHAT_LANG": "en"},
        )
    finally:
        cleanup(out)
    assert result.exit_code == 0, result.output
    assert "Cut-over gate" in result.output
    for source in ("cantho", "haugiang", "soctrang"):
        assert f"{source}: READY" in result.output or f"{source}: NOT READY" in result.output
