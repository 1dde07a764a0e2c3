"""One converter's memory, in a process of its own (run by ``bench_national.py``; stdlib only at the top, so the
process holds nothing but the interpreter, the addresses and the one tool it is asked to measure).

    python benchmarks/address/memory_child.py TOOL ADDRESSES.json [--tracemalloc]

TOOL is ``hopnhat``, ``vietnamadminunits`` or ``none`` (the interpreter and the addresses alone). Prints one JSON
object: resident memory (MiB, VmRSS and VmHWM of ``/proc/self/status``) before the tool is imported, once it is
imported, once its tables are loaded, and at its peak once every address is converted; with ``--tracemalloc``, the
peak of the Python allocations made from the import on (tracemalloc slows the run and takes memory of its own, so it
runs in a separate process).
"""

from __future__ import annotations

import contextlib
import json
import sys
import tracemalloc
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)  # kB
    return -1.0


def _rss_now_mib() -> float:
    return _status_mib("VmRSS")


def _peak_mib() -> float:
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a child started by a large
    # parent reports the parent's size (why the three figures of an earlier run were all 142 MiB).
    return _status_mib("VmHWM")


def _import(tool: str) -> Callable[[], Callable[[str], Any]]:
    """Import the tool; return what loads its tables (so that the import and the tables are measured apart)."""
    if tool == "hopnhat":
        from hopnhat.registry.convert import AddressConverter

        # As convert-file and the API load it: the index, the forms of every name read (warm), settled.
        return lambda: AddressConverter.bundled(date(2025, 7, 1)).warm().settle().convert
    if tool == "vietnamadminunits":
        import vietnamadminunits.converter.converter_2025 as vau_conv
        from vietnamadminunits import convert_address

        vau_conv.get_geo_location = lambda _address: None  # offline, as in the benchmark
        return lambda: convert_address  # its tables load on import
    return lambda: lambda address: None


def main() -> None:
    tool, path = sys.argv[1], Path(sys.argv[2])
    traced = "--tracemalloc" in sys.argv[3:]
    addresses: list[str] = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Any] = {"tool": tool, "addresses": len(addresses)}
    out["baseline_rss_mib"] = _rss_now_mib()
    if traced:
        tracemalloc.start()
    load = _import(tool)
    out["imported_rss_mib"] = _rss_now_mib()
    convert = load()
    out["loaded_rss_mib"] = _rss_now_mib()
    if traced:
        out["loaded_python_mib"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
    for address in addresses:
        with contextlib.suppress(Exception):  # an address a tool refuses: no answer in the benchmark, no cost here
            convert(address)
    out["peak_rss_mib"] = _peak_mib()
    if traced:
        out["peak_python_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
