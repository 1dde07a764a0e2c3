"""Source connectors: one small interface (:class:`~hopnhat.sync.connectors.base.Connector`), found by name in the
``hopnhat.connectors`` entry-point group; the built-ins are registered the same way."""

from hopnhat.sync.connectors.base import Connector, RawRecord, TerminalError, TransientError, get_connector

__all__ = ["Connector", "RawRecord", "TerminalError", "TransientError", "get_connector"]
