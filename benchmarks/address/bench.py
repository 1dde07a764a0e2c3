"""Address conversion benchmark: hopnhat against PyPI ``vietnamadminunits``, in one run, on one process.

Generates old-style addresses (seeded) over all 263 former communes of Cần Thơ, Hậu Giang and Sóc Trăng in the
styles people write, each with its expected successor(s), then measures addresses/s and accuracy of both tools.

    python benchmarks/address/bench.py [--count 100000] [--seed 7] [--vau-count 10000] [--out results.json]

A *wrong* answer is a definite answer (one new commune) that is not an expected successor. An ambiguous answer
listing the right candidate is not wrong. ``vietnamadminunits`` geocodes split wards online (geopy/Nominatim): the
call is replaced by one that finds nothing, so it falls back to its default ward (the machine is offline anyway).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import random
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from hopnhat.registry.convert import AddressConverter, Status
from hopnhat.registry.loader import data_text

STREETS = [
    "Đường 30/4", "Đường 3/2", "Nguyễn Trãi", "Trần Hưng Đạo", "Hùng Vương", "Lê Lợi", "Mậu Thân",
    "Nguyễn Văn Cừ", "Quốc lộ 1A", "Quốc lộ 91", "Hẻm 51 Trần Phú", "Lý Tự Trọng", "Võ Văn Kiệt",
    "Đường Hoà Bình", "Tỉnh lộ 932", "Hai Bà Trưng",
]  # fmt: skip
COMMUNE_ABBR = {"Phường": ["P.", "P. ", "p.", "F."], "Xã": ["X.", "X. ", "x."], "Thị trấn": ["TT.", "TT. ", "tt."]}
DISTRICT_ABBR = {
    "Quận": ["Q.", "Q. "],
    "Huyện": ["H.", "H. "],
    "Thị xã": ["TX.", "TX. ", "Tx."],
    "Thành phố": ["TP.", "TP ", "Tp.", "TP. "],
}
PROVINCE_FORMS = {
    "92": ["Thành phố Cần Thơ", "TP Cần Thơ", "TP. Cần Thơ", "Tp. Cần Thơ", "Cần Thơ"],
    "93": ["Tỉnh Hậu Giang", "Hậu Giang", "T. Hậu Giang"],
    "94": ["Tỉnh Sóc Trăng", "Sóc Trăng", "T. Sóc Trăng"],
}
OLD_TONES = {"òa": "oà", "óa": "oá", "ỏa": "oả", "ủy": "uỷ", "ùy": "uỳ", "úy": "uý", "ọa": "oạ", "õa": "oã"}


def _strip(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _modern_tones(text: str) -> str:
    """The tables write some old names with the old placement ("Xã Vị Thuỷ"), the new ones with the modern one."""
    for new, old in OLD_TONES.items():
        text = text.replace(old, new)
    return text


def _old_tones(text: str) -> str:
    for new, old in OLD_TONES.items():
        text = text.replace(new + " ", old + " ")
        if text.endswith(new):
            text = text[: -len(new)] + old
    return text


def _typo(name: str, rng: random.Random) -> str:
    """One deleted or doubled letter inside the longest syllable: a typical misspelling."""
    words = name.split(" ")
    i = max(range(len(words)), key=lambda k: len(words[k]))
    w = words[i]
    if len(w) < 4:
        return name
    j = rng.randrange(1, len(w) - 1)
    words[i] = w[:j] + w[j + 1 :] if rng.random() < 0.5 else w[:j] + w[j] + w[j:]
    return " ".join(words)


@dataclass(frozen=True)
class Case:
    address: str
    expected: frozenset[str]
    style: str
    old_code: str


def _split(full: str, types: list[str]) -> tuple[str, str]:
    for t in sorted(types, key=len, reverse=True):
        if full.startswith(t + " "):
            return t, full[len(t) + 1 :]
    return "", full


def generate(count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    # The bundled table is the whole country's now: this benchmark stays on the three former provinces.
    before = [
        r
        for r in csv.DictReader(io.StringIO(data_text("units_before_2025-07-01.csv")))
        if r["province_code"] in PROVINCE_FORMS
    ]
    expected: dict[str, set[str]] = defaultdict(set)
    for r in csv.DictReader(io.StringIO(data_text("lineage_2025-07-01.csv"))):
        expected[r["old_commune_code"]].add(r["new_commune_code"])
    # The new city's communes by (type, folded name): "Xã Thạnh An, TP Cần Thơ" with no district is written in the
    # new form, and issue 24 wants it read so ("already new": Xã Thạnh An 31231), whatever old commune bore the name.
    new_units: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in csv.DictReader(io.StringIO(data_text("units_from_2025-07-01.csv"))):
        if r["province_code"] == "92":
            new_units[(r["commune_type"], r["commune_name"].split(" ", 1)[1].lower())].add(r["commune_code"])
    cases: list[Case] = []
    for n in range(count):
        r = before[n % len(before)]  # every commune, evenly
        ctype, cname = _split(r["commune_name"], list(COMMUNE_ABBR))
        dtype, dname = _split(r["district_name"], list(DISTRICT_ABBR))
        style: list[str] = []
        roll = rng.random()
        if roll < 0.03:
            cname = _typo(cname, rng)
            style.append("typo")
        c_form = rng.choice(["full", "abbr", "bare"])
        commune = {"full": f"{ctype} {cname}", "abbr": rng.choice(COMMUNE_ABBR[ctype]) + cname, "bare": cname}[c_form]
        style.append(f"c:{c_form}")
        d_form = rng.choice(["full", "abbr", "bare", "full", "abbr", "none"])
        district = {
            "full": f"{dtype} {dname}",
            "abbr": rng.choice(DISTRICT_ABBR[dtype]) + dname,
            "bare": dname,
            "none": "",
        }[d_form]
        style.append(f"d:{d_form}")
        p_form = rng.random()
        province = rng.choice(PROVINCE_FORMS[r["province_code"]]) if p_form < 0.8 else ""
        if r["province_code"] != "92" and p_form > 0.9:
            province = rng.choice(PROVINCE_FORMS["92"])  # old district, new city name: common since July 2025
        style.append("p:" + ("none" if not province else "yes"))
        street_roll = rng.random()
        if street_roll < 0.45:
            street = f"{rng.randint(1, 399)}{rng.choice(['', '', 'A', '/12'])} {rng.choice(STREETS)}"
        elif street_roll < 0.65:
            street = f"Ấp {rng.choice(['1', '2', '3', 'Mỹ Lợi', 'Tân Phú', 'Hòa Long'])}"
        else:
            street = ""
        parts = [p for p in (street, commune, district, province) if p]
        if rng.random() < 0.05:
            text = " ".join(parts)  # no commas at all
            style.append("no-commas")
        else:
            text = ", ".join(parts)
        case_roll = rng.random()
        if case_roll < 0.15:
            text, s = _strip(text), "ascii"
        elif case_roll < 0.25:
            text, s = _strip(text).upper(), "ASCII"
        elif case_roll < 0.35:
            text, s = text.upper(), "UPPER"
        elif case_roll < 0.45:
            text, s = unicodedata.normalize("NFD", text), "nfd"
        elif case_roll < 0.6:
            text, s = _old_tones(text), "old-tones"
        else:
            s = "plain"
        style.append(s)
        answers = set(expected[r["commune_code"]])
        if d_form == "none" and province in PROVINCE_FORMS["92"] and "typo" not in style:
            folded = s in ("ascii", "ASCII")  # written without diacritics: the names compare folded
            bare = _strip(cname).lower() if folded else _modern_tones(cname.lower())
            for (type_, name), codes in new_units.items():
                if (_strip(name) if folded else name) == bare and (c_form == "bare" or type_ == ctype):
                    answers |= codes
        cases.append(Case(text, frozenset(answers), " ".join(style), r["commune_code"]))
    return cases


@dataclass
class Score:
    n: int = 0
    seconds: float = 0.0  # wall clock
    cpu_seconds: float = 0.0  # this process's CPU time: fairer on a shared machine
    right: int = 0
    ambiguous_right: int = 0
    undecided: int = 0  # not_found, or ambiguous without the right candidate
    wrong: int = 0

    def add(self, definite: str | None, candidates: set[str], expected: frozenset[str]) -> bool:
        self.n += 1
        if definite is not None:
            if definite in expected:
                self.right += 1
                return True
            self.wrong += 1
            return False
        if expected & candidates:
            self.ambiguous_right += 1
        else:
            self.undecided += 1
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "addresses": self.n,
            "seconds": round(self.seconds, 3),
            "addresses_per_s": round(self.n / self.seconds) if self.seconds else None,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "addresses_per_cpu_s": round(self.n / self.cpu_seconds) if self.cpu_seconds else None,
            "definite_right": self.right,
            "ambiguous_with_right_candidate": self.ambiguous_right,
            "not_found_or_other": self.undecided,
            "wrong": self.wrong,
        }


def _secs(score: Score) -> float:
    return score.seconds


def run_hopnhat(conv: AddressConverter, cases: list[Case]) -> tuple[Score, list[str]]:
    score = Score()
    texts = [c.address for c in cases]
    start, cpu = time.perf_counter(), time.process_time()
    results = [conv.convert(t) for t in texts]
    score.seconds, score.cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    wrong: list[str] = []
    for case, res in zip(cases, results, strict=True):
        definite = res.new_commune_code if res.status != Status.AMBIGUOUS else None
        if not score.add(definite, {c.code for c in res.candidates}, case.expected):
            wrong.append(f"{case.address!r} -> {res.status} {definite} expected {sorted(case.expected)}")
    return score, wrong


def run_vau(cases: list[Case]) -> tuple[Score, list[str]]:
    import vietnamadminunits.converter.converter_2025 as vau_conv
    from vietnamadminunits import convert_address

    # Its split-ward path geocodes the street online (geopy -> Nominatim): never on this offline machine.
    vau_conv.get_geo_location = lambda _address: None  # type: ignore[attr-defined]
    score = Score()
    answers: list[str | None] = []
    start, cpu = time.perf_counter(), time.process_time()
    for case in cases:
        try:
            answers.append(convert_address(case.address).ward_code)
        except Exception:  # an unparsable address counts as no answer
            answers.append(None)
    score.seconds, score.cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    wrong: list[str] = []
    for case, code in zip(cases, answers, strict=True):
        if not score.add(code, set(), case.expected):
            wrong.append(f"{case.address!r} -> {code} expected {sorted(case.expected)}")
    return score, wrong


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--vau-count", type=int, default=10_000, help="addresses for vietnamadminunits (it is slow)")
    ap.add_argument("--repeat", type=int, default=3, help="hopnhat runs per figure; the fastest is kept")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()

    cases = generate(args.count, args.seed)
    styles = Counter(w for c in cases for w in c.style.split())
    # Each hopnhat figure is the fastest of --repeat runs on a fresh converter (as timeit does): on a shared machine
    # the other runs measure the neighbours. Accuracy is the same in every run (the tests check it).
    best: tuple[Score, list[str], float, float, Score] | None = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        conv = AddressConverter.bundled()
        build = time.perf_counter() - t0
        conv.warm()  # what convert-file and the API do before a batch
        warm_s = time.perf_counter() - t0 - build
        run, wrong = run_hopnhat(conv, cases)  # first pass over these addresses
        again, _ = run_hopnhat(conv, cases)  # the same again: every tail answered from the memo
        if best is None or run.seconds < best[0].seconds:
            best = (run, wrong, build, warm_s, again)
    assert best is not None
    first, wrong, build, warm_s, second = best
    unwarmed = min((run_hopnhat(AddressConverter.bundled(), cases)[0] for _ in range(args.repeat)), key=_secs)
    sub = cases[: args.vau_count]
    hop_sub = min((run_hopnhat(AddressConverter.bundled().warm(), sub)[0] for _ in range(args.repeat)), key=_secs)
    vau, vau_wrong = run_vau(sub)
    result = {
        "machine": f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}",
        "count": args.count,
        "seed": args.seed,
        "repeat": args.repeat,
        "old_communes_covered": len({c.old_code for c in cases}),
        "build_seconds": round(build, 4),
        "warm_seconds": round(warm_s, 4),
        "hopnhat": first.as_dict(),
        "hopnhat_without_warm": unwarmed.as_dict(),
        "hopnhat_second_pass": second.as_dict(),
        "hopnhat_on_vau_subset": hop_sub.as_dict(),
        "vietnamadminunits_on_subset": vau.as_dict(),
        "speedup_vs_vietnamadminunits": round(vau.seconds / hop_sub.seconds, 1),
        "speedup_vs_vietnamadminunits_cpu": round(vau.cpu_seconds / hop_sub.cpu_seconds, 1),
        "styles": dict(sorted(styles.items())),
        "hopnhat_wrong_examples": wrong[:20],
        "vietnamadminunits_wrong_examples": vau_wrong[:10],
    }
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
