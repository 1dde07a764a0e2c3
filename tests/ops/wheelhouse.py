"""Wheels of hopnhat's dependencies, repacked from the virtualenv the tests run in, so a fresh virtualenv can be
built with ``pip install --no-index`` (the machine that runs the tests, like the data center, has no package index).

An installed distribution is its RECORD's files under site-packages plus its ``.dist-info``; zipped with a new
RECORD, that is a wheel for this interpreter and platform (the tags come from the ``WHEEL`` file it was installed
from). Console scripts are rebuilt by pip from ``entry_points.txt``; files installed outside site-packages are left
out (none of hopnhat's dependencies needs one to import).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

_SKIP = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}


def closure(root: str = "hopnhat") -> dict[str, metadata.Distribution]:
    """Every distribution ``root`` needs at run time (its extras' requirements only when asked for), by name."""
    found: dict[str, metadata.Distribution] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        if (_norm(name), extras) in visited:
            continue
        visited.add((_norm(name), extras))
        dist = metadata.distribution(name)
        found[_norm(dist.metadata["Name"])] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in (*extras, "")):
                todo.append((req.name, frozenset(req.extras)))
    found.pop(_norm(root))
    return found


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def repack(dist: metadata.Distribution, out: Path) -> Path:
    """Write ``dist`` as a wheel into ``out``; returns its path."""
    info = next(f for f in dist.files or [] if f.parts[0].endswith(".dist-info"))
    info_dir = info.parts[0]
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")]
    pythons, abis, platforms = (sorted({t.split("-")[i] for t in tags}) for i in range(3))
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    target = out / f"{name}-{dist.version}-{'.'.join(pythons)}-{'.'.join(abis)}-{'.'.join(platforms)}.whl"
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
        for file in dist.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue
            if file.parts[0] == info_dir and file.name in _SKIP:
                continue
            data = Path(str(dist.locate_file(file))).read_bytes()
            zf.writestr(file.as_posix(), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            writer.writerow([file.as_posix(), f"sha256={digest}", len(data)])
        writer.writerow([f"{info_dir}/RECORD", "", ""])
        zf.writestr(f"{info_dir}/RECORD", record.getvalue())
    return target


def build(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [repack(dist, out) for dist in closure().values()]


__all__ = ["build", "closure", "repack"]
