"""The simulator's account, in a module of its own so the CLI can show it as a default without importing FastAPI."""

from __future__ import annotations

DEFAULT_USERNAME = "hopnhat"
DEFAULT_PASSWORD = "hopnhat"  # a simulator account, not a secret

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_USERNAME"]
