"""Simulators of the former provinces' settlement systems; their formats are in ``FORMATS.md`` next to this file.

The three one-stop systems of Cần Thơ have renderers of their own (``systems``); every other system is described
as data in a catalogue (``data/catalogue.toml``, read by ``sector``: 17 systems for Cần Thơ, a generic set per
former province for any other merged province).

Python API (what the sync tests reuse): :func:`generate` fills a folder with the systems and ``sources.toml``,
:func:`serve_in_thread` runs their HTTP APIs on a free port for a ``with`` block, :func:`tick` advances the
parallel run, :func:`cleanup` drops the server databases a generation created.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hopnhat.legacy.advance import TickReport, tick
    from hopnhat.legacy.generator import Summary, cleanup, generate
    from hopnhat.legacy.server import RunningServer, serve_in_thread

# The submodule of ``tick`` is ``advance``: a submodule named like a function of the package replaces that function
# as the package's attribute once anything imports it.
_HOMES = {
    "Summary": "generator",
    "cleanup": "generator",
    "generate": "generator",
    "RunningServer": "server",
    "serve_in_thread": "server",
    "TickReport": "advance",
    "tick": "advance",
}


def __getattr__(name: str) -> Any:
    """The API's names, imported on first use (PEP 562): every ``hopnhat`` command imports this package to register
    ``hopnhat legacy``, and the generator's imports (the registry, SQLAlchemy's ORM) are half a second of start-up
    that a ``sync run`` or a ``--help`` should not pay here."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = ["RunningServer", "Summary", "TickReport", "cleanup", "generate", "serve_in_thread", "tick"]
