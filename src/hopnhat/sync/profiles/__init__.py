"""Bundled mapping profiles: the formats of the three former systems as configuration (``<name>.toml``). A source
names one with ``profile = "NAME"``, or a profile of its own with ``profile_file = "/path/mapping.toml"`` (the same
format: connector options and a ``[mapping]``; what ``hopnhat legacy generate`` writes next to each system's
data); its own keys and ``[mapping]`` tables win over the profile's, key by key."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

from hopnhat.sync.mapping import MappingError

DEFAULT = {"http_api": "cantho_api", "http": "cantho_api", "files": "haugiang_export", "sql": "soctrang_tb_hoso"}
"""The profile a source of a built-in kind reads with when it names none and writes no mapping (the configs the
simulators wrote before profiles existed)."""


def names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__package__).iterdir() if p.name.endswith(".toml"))


def load(name: str) -> dict[str, Any]:
    path = resources.files(__package__) / f"{name}.toml"
    if not name.replace("_", "").isalnum() or not path.is_file():
        raise MappingError(f"unknown profile {name!r} (bundled: {', '.join(names())})")
    return tomllib.loads(path.read_text(encoding="utf-8"))


MAX_PROFILE_BYTES = 1024 * 1024


def load_file(path: str) -> dict[str, Any]:
    """A profile from a file (``profile_file``); a missing or broken file is a mapping error naming it."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_PROFILE_BYTES + 1)
    except OSError as exc:
        raise MappingError(f"profile_file {path}: cannot read it ({type(exc).__name__})") from exc
    if len(raw) > MAX_PROFILE_BYTES:
        raise MappingError(f"profile_file {path}: larger than {MAX_PROFILE_BYTES} bytes")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"profile_file {path}: not UTF-8 TOML ({exc})") from exc


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and key != "values":
            out[key] = _merge(out[key], value)
        elif key == "values" and isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            # A value map given by the source replaces the profile's map of that field whole.
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def resolve(options: Mapping[str, Any]) -> dict[str, Any]:
    """A source's options with its profile (named, or the default of its kind when it writes no mapping) under
    them."""
    if options.get("profile_file"):
        return _merge(load_file(str(options["profile_file"])), options)
    name = options.get("profile")
    if name is None and "mapping" not in options:
        name = DEFAULT.get(str(options.get("connector", "")))
    if not name:
        return dict(options)
    return _merge(load(str(name)), options)
