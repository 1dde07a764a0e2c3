"""Simulators of the three former provinces' one-stop systems; their formats are in ``FORMATS.md`` next to this file.

Python API (what the sync tests reuse): :func:`generate` fills a folder with the three systems and ``sources.toml``,
:func:`serve_in_thread` runs the Cần Thơ HTTP API on a free port for a ``with`` block, :func:`tick` advances the
parallel run, :func:`cleanup` drops a MariaDB database a generation created.
"""

from hopnhat.legacy.generator import Summary, cleanup, generate
from hopnhat.legacy.server import RunningServer, serve_in_thread
from hopnhat.legacy.tick import TickReport, tick

__all__ = ["RunningServer", "Summary", "TickReport", "cleanup", "generate", "serve_in_thread", "tick"]
