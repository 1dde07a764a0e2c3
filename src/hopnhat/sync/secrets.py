"""Secrets of a source (passwords, client secrets, API keys) as references, never as text in the config:
``{env = "NAME"}`` reads an environment variable, ``{file = "/path"}`` a file (its first line). A secret written
inline is refused, so it never lands in a config file, a log line or an error message."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hopnhat.sync.connectors.base import TerminalError

MAX_SECRET_BYTES = 16_384


def secret(options: Mapping[str, Any], key: str) -> str:
    """The value of secret ``key`` of ``options``; a terminal error naming the key (never the value) otherwise."""
    ref = options.get(key)
    if ref is None:
        raise TerminalError(f'secret {key!r} is missing (give {key} = {{ env = "NAME" }} or {{ file = "/path" }})')
    if not isinstance(ref, Mapping):
        raise TerminalError(
            f'secret {key!r} is written inline: give {key} = {{ env = "NAME" }} or {{ file = "/path" }}'
        )
    if "env" in ref:
        value = os.environ.get(str(ref["env"]))
        if not value:
            raise TerminalError(f"secret {key!r}: environment variable {ref['env']} is not set")
        return value
    if "file" in ref:
        path = Path(str(ref["file"]))
        try:
            data = path.read_bytes()[:MAX_SECRET_BYTES]
        except OSError as exc:
            raise TerminalError(f"secret {key!r}: cannot read {path} ({type(exc).__name__})") from exc
        lines = data.decode("utf-8", errors="replace").splitlines()
        return lines[0].strip() if lines else ""
    raise TerminalError(f"secret {key!r}: give env or file")
