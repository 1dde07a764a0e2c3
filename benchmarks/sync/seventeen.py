"""Sync benchmark over the seventeen systems of the catalogue (issue 19): full sync, incremental after 1 % changed,
reconcile, and dlt's full load of the sources it can read, in one run, into SQLite stores.

    python benchmarks/sync/seventeen.py --dossiers 1000000 --seed 42 --out benchmarks/sync/results-seventeen.json

Each step is a child process measured by ``bench.measure`` (wall from spawn to exit, CPU and peak RSS from
``wait4``, the process tree's PSS sampled): ``hopnhat --db URL sync run --config DIR/sources.toml --json``,
``hopnhat --db URL reconcile --config ... --json`` and ``dlt_seventeen.py``. The systems are generated once by
``hopnhat legacy generate --systems all`` into ``benchmarks/sync/data/seventeen-nN-sS/`` (gitignored; the MariaDB and
PostgreSQL systems live on the local servers) and served by ``hopnhat legacy serve`` on a free port (its CPU is
recorded). The 1 %: ``legacy tick`` moves the three one-stop systems on (their share of the 1 %) and
``hopnhat.legacy.sector.touch`` changes 1 % of each described system the way it stores a change.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (the measuring harness of the three-system benchmark)

from hopnhat.legacy.sector import bundled, touch  # noqa: E402


def hopnhat(*args: str) -> list[str]:
    return bench.hopnhat(*args)


def generate(data: Path, dossiers: int, seed: int) -> tuple[Path, float]:
    gen = data / f"seventeen-n{dossiers}-s{seed}"
    shutil.rmtree(gen, ignore_errors=True)
    start = time.perf_counter()
    args = ["--dossiers", str(dossiers), "--seed", str(seed), "--out", str(gen), "--fault-rate", "0.01"]
    bench.run_quiet(hopnhat("legacy", "generate", *args, "--systems", "all", "--no-xlsx", "--json"), "generate")
    return gen, time.perf_counter() - start


def counts(stdout: str) -> dict[str, dict[str, Any]]:
    try:
        data: dict[str, dict[str, Any]] = json.loads(stdout)
        return data
    except ValueError:
        return {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dossiers", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--share", type=float, default=0.01, help="Share of the dossiers changed before the incremental.")
    ap.add_argument("--out", type=Path, default=HERE / "results-seventeen.json")
    ap.add_argument("--no-dlt", action="store_true")
    args = ap.parse_args()
    data = HERE / "data"
    work = data / "work-seventeen"
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    gen, gen_s = generate(data, args.dossiers, args.seed)
    toml = gen / "sources.toml"
    expected = json.loads((gen / "expected.json").read_text(encoding="utf-8"))
    port = bench.free_port()
    server = subprocess.Popen(
        hopnhat("legacy", "serve", str(gen), "--port", str(port)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    steps: dict[str, Any] = {}
    try:
        time.sleep(3)  # the server rewrites sources.toml with its port, then listens
        store = f"sqlite:///{work / 'store.db'}"
        bench.run_quiet(hopnhat("--db", store, "registry", "load"), "registry load")

        def step(name: str, cmd: list[str]) -> bench.Measure:
            bench.console.print(f"{name} ...")
            m = bench.measure(cmd, server_pid=server.pid, log=work / "logs" / name)
            if m.returncode != 0:
                raise SystemExit(f"{name} failed: {m.stderr_tail}")
            return m

        full = step("full", hopnhat("--db", store, "sync", "run", "--config", str(toml), "--json"))
        steps["full"] = {**full.public(), "counts": counts(full.stdout)}
        if not args.no_dlt:
            dlt_cmd = [sys.executable, str(HERE / "dlt_seventeen.py"), "--config", str(toml)]
            dlt_cmd += ["--dest", f"sqlite:///{work / 'dlt.db'}", "--work", str(work / "dlt")]
            m = step("dlt", dlt_cmd)
            steps["dlt"] = {**m.public(), "result": json.loads(m.stdout.strip().splitlines()[-1])}
        # The 1 %: the one-stop systems through their tick (their share of it), the others through touch.
        builtin_rows = sum(v["rows"] for k, v in expected["sources"].items() if k in ("cantho", "haugiang", "soctrang"))
        rates = bench.tick_rates(gen, args.share * builtin_rows / max(1, int(expected["dossiers"])))
        tick_cmd = ["legacy", "tick", str(gen), "--minutes", str(rates["minutes"])]
        tick_cmd += ["--new-per-hour", str(rates["new_per_hour"])]
        tick_cmd += ["--corrections-per-hour", str(rates["corrections_per_hour"]), "--json"]
        ticked = json.loads(bench.run_quiet(hopnhat(*tick_cmd), "tick"))
        catalogue = bundled()
        touched = {
            s.name: touch(gen, s, catalogue.vocabularies[s.vocabulary], args.share, args.seed)
            for s in catalogue.systems
            if not s.builtin
        }
        steps["change"] = {"tick": {k: ticked[k] for k in ("new", "changed", "corrected")}, "touched": touched}
        incremental = step("incremental", hopnhat("--db", store, "sync", "run", "--config", str(toml), "--json"))
        steps["incremental"] = {**incremental.public(), "counts": counts(incremental.stdout)}
        recon = step("reconcile", hopnhat("--db", store, "reconcile", "--config", str(toml), "--json"))
        report = counts(recon.stdout)
        steps["reconcile"] = {
            **recon.public(),
            "per_source": {
                k: {x: v.get(x) for x in ("source_rows", "store_rows", "missing", "extra", "changed")}
                for k, v in report.items()
            },
        }
    finally:
        server.terminate()
        server.wait()
        # The MariaDB and PostgreSQL systems live on the shared local servers: dropped, the files stay.
        bench.run_quiet(hopnhat("legacy", "clean", str(gen)), "legacy clean")
    result = {
        "command": " ".join(["python", "benchmarks/sync/seventeen.py", *sys.argv[1:]]),
        "utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "dossiers": args.dossiers,
        "seed": args.seed,
        "generate_s": round(gen_s, 1),
        "records": sum(v["rows"] for v in expected["sources"].values()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "core_10m_loop_s": bench.core_speed()},
        "git_head": bench.run_quiet(["git", "rev-parse", "--short", "HEAD"], "git").strip(),
        "steps": steps,
    }
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    bench.console.print(json.dumps({k: v.get("wall_s") for k, v in steps.items() if isinstance(v, dict)}))


if __name__ == "__main__":
    main()
