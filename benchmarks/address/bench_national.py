"""National address benchmark: hopnhat against PyPI ``vietnamadminunits`` on one set, in one run, in one process.

The set is ``tests/registry/address_set.py``'s generator (seeded): old communes of all 63 former provinces and every
one of the 440 split communes, each written in 13 styles, with the expected answer computed from the bundled tables
(a set of new communes: one = definite, several = "ambiguous, every one of these").

    pip install -e ".[bench]"      # vietnamadminunits, for this benchmark only
    python benchmarks/address/bench_national.py --per-province 20 --repeat 3 \
        --out benchmarks/address/results-national.json

Counted for each tool on the same old-form addresses:

- **wrong**: a definite answer not among the expected communes, when one is expected;
- **silent guesses**: a definite answer where the expected answer is several communes (a split commune, or words
  that fit several old communes);
- **answered**: share with an answer (definite or listing candidates);
- **streets kept**: share of the addresses with a street or hamlet whose answer keeps it as written;
- addresses/s (wall and CPU);
- memory, each tool in a fresh process of its own that reads the addresses from a file and loads only that tool
  (``memory_child.py``; ``none``: the interpreter and the addresses alone): resident memory before the import,
  after it, with the tables loaded, at the peak after converting the set, and the peak of Python allocations
  (tracemalloc, in another process).

``vietnamadminunits`` geocodes split wards online (geopy/Nominatim); that call is replaced by one that finds
nothing (the machine is offline and a benchmark must not use the network), so it falls back to its default ward.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the generator lives with the tests, which check it

from tests.registry.address_set import Case, generate  # noqa: E402

from hopnhat.registry.convert import AddressConverter, Status  # noqa: E402

ON = date(2025, 7, 1)


@dataclass
class Score:
    addresses: int = 0
    definite_right: int = 0
    ambiguous_listed: int = 0
    ambiguous_missing: int = 0
    not_found: int = 0
    wrong: int = 0
    silent_guesses: int = 0
    with_street: int = 0
    streets_kept: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    wrong_examples: list[str] = field(default_factory=list)

    def add(self, case: Case, definite: str | None, candidates: set[str], street: str | None) -> None:
        self.addresses += 1
        if case.street:
            self.with_street += 1
            self.streets_kept += street == case.street
        if definite is not None:
            if len(case.expected) > 1:
                self.silent_guesses += 1
            elif definite in case.expected:
                self.definite_right += 1
            else:
                self.wrong += 1
                if len(self.wrong_examples) < 10:
                    self.wrong_examples.append(f"{case.address!r} -> {definite}; expected {sorted(case.expected)}")
        elif candidates:
            if candidates >= case.expected:
                self.ambiguous_listed += 1
            else:
                self.ambiguous_missing += 1
        else:
            self.not_found += 1

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["answered_share"] = round(1 - self.not_found / self.addresses, 4)
        out["streets_kept_share"] = round(self.streets_kept / max(self.with_street, 1), 4)
        out["addresses_per_second"] = round(self.addresses / self.seconds)
        out["addresses_per_second_cpu"] = round(self.addresses / self.cpu_seconds)
        return out


def run_hopnhat(cases: list[Case], *, warmed: bool) -> Score:
    """On a fresh index, settled as the cached converters are. ``warmed``: as ``convert-file`` uses it (the usual
    forms of every name read once, every commune answered in its commonest shapes); else its memos start empty, as
    for the API and the pages."""
    conv = AddressConverter.bundled(ON)
    if warmed:
        conv.warm()
    conv.settle()
    start, cpu = time.perf_counter(), time.process_time()
    results = [conv.convert(c.address) for c in cases]
    score = Score(seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu)
    for case, r in zip(cases, results, strict=True):
        definite = r.new_commune_code if r.status in (Status.EXACT, Status.FUZZY, Status.ALREADY_NEW) else None
        cands = {c.code for c in r.candidates} if r.status is Status.AMBIGUOUS else set()
        score.add(case, definite, cands, r.street if r.status is not Status.NOT_FOUND else None)
    return score


def _vau() -> Callable[[str], Any]:
    import vietnamadminunits.converter.converter_2025 as vau_conv
    from vietnamadminunits import convert_address

    vau_conv.get_geo_location = lambda _address: None  # type: ignore[attr-defined]
    return convert_address


def run_vau(cases: list[Case]) -> Score:
    convert = _vau()
    answers: list[tuple[str | None, str | None]] = []
    start, cpu = time.perf_counter(), time.process_time()
    for case in cases:
        try:
            r = convert(case.address)
            answers.append((r.ward_code, r.street))
        except Exception:  # an unparsable address counts as no answer
            answers.append((None, None))
    score = Score(seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu)
    for case, (code, street) in zip(cases, answers, strict=True):
        score.add(case, code or None, set(), street if code else None)
    return score


def memory(tool: str, addresses: Path) -> dict[str, Any]:
    """Memory of ``tool`` converting the set, each figure from a fresh process of its own that holds only the
    interpreter, the addresses (read from a file) and that one tool (``memory_child.py``): resident memory before
    the import, after it, with the tables loaded and at the peak; and, in a second process, the peak of Python
    allocations (tracemalloc)."""
    child = [sys.executable, str(Path(__file__).with_name("memory_child.py")), tool, str(addresses)]
    rss = json.loads(subprocess.run(child, capture_output=True, text=True, check=True).stdout)
    traced = json.loads(subprocess.run([*child, "--tracemalloc"], capture_output=True, text=True, check=True).stdout)
    rss["loaded_python_mib"] = traced["loaded_python_mib"]
    rss["peak_python_mib"] = traced["peak_python_mib"]
    return rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-province", type=int, default=20, help="old communes drawn from each old province")
    ap.add_argument("--seed", type=int, default=24)
    ap.add_argument(
        "--repeat", type=int, default=3, help="hopnhat runs of each kind, each on a fresh index; the fastest counts"
    )
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    every = generate(args.per_province, seed=args.seed)
    cases = [c for c in every if c.old_code]  # old-form addresses: what both tools are asked to convert
    with tempfile.TemporaryDirectory() as tmp:
        addresses = Path(tmp) / "addresses.json"
        addresses.write_text(json.dumps([c.address for c in cases], ensure_ascii=False), encoding="utf-8")
        mem = {tool: memory(tool, addresses) for tool in ("none", "hopnhat", "vietnamadminunits")}
    start = time.perf_counter()
    built = AddressConverter.bundled(ON)
    build = time.perf_counter() - start
    start = time.perf_counter()
    built.learn_forms()
    forms = time.perf_counter() - start
    start = time.perf_counter()
    built.learn_answers()
    answers = time.perf_counter() - start
    start = time.perf_counter()
    built.warm()  # what is left of it: the deployment's province in more shapes
    warm = time.perf_counter() - start
    del built
    # Alternated, so that a slow spell of a shared machine does not fall on one of them only.
    runs: dict[bool, list[Score]] = {True: [], False: []}
    for _ in range(args.repeat):
        for warmed in (True, False):
            runs[warmed].append(run_hopnhat(cases, warmed=warmed))
    hop = min(runs[True], key=lambda s: s.seconds)
    cold = min(runs[False], key=lambda s: s.seconds)
    vau = run_vau(cases)
    conv = AddressConverter.bundled(ON)
    new_form = [c for c in every if c.new_form]
    nonsense = [c for c in every if c.style == "nonsense"]
    result = {
        "recorded": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "per_province": args.per_province,
        "seed": args.seed,
        "old_communes": len({c.old_code for c in cases}),
        "addresses": len(cases),
        "expected_ambiguous": sum(1 for c in cases if len(c.expected) > 1),
        "hopnhat_index_build_seconds": round(build, 2),
        "hopnhat_forms_seconds": round(forms, 2),
        "hopnhat_answers_seconds": round(answers, 2),
        "hopnhat_warm_seconds": round(forms + answers + warm, 2),
        "hopnhat": hop.summary(),
        "hopnhat_cold": cold.summary(),
        "vietnamadminunits": vau.summary(),
        "speedup": round(vau.seconds / hop.seconds, 1),
        "speedup_cpu": round(vau.cpu_seconds / hop.cpu_seconds, 1),
        "speedup_cold": round(vau.seconds / cold.seconds, 1),
        "speedup_cold_cpu": round(vau.cpu_seconds / cold.cpu_seconds, 1),
        "speedup_counting_build_and_warm": round(vau.seconds / (hop.seconds + build + forms + answers + warm), 1),
        "memory_mib": mem,
        "hopnhat_new_form_already_new": sum(conv.convert(c.address).status is Status.ALREADY_NEW for c in new_form),
        "new_form_addresses": len(new_form),
        "hopnhat_nonsense_not_found": sum(conv.convert(c.address).status is Status.NOT_FOUND for c in nonsense),
        "nonsense_addresses": len(nonsense),
    }
    text = json.dumps(result, ensure_ascii=False, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
