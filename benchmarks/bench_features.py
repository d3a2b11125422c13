"""Feature-layer figures: user features over the large synthetic world on DuckDB and on PySpark.

    .venv/bin/python benchmarks/bench_features.py --preset large --data-dir /tmp/shopsense-large

Each phase runs in its own process so its peak memory (ru_maxrss) is its own: world generation + ingest, the
user feature build on DuckDB, and the same build on PySpark (the JVM's memory is not in the Python figure; its
driver heap is capped by the engine settings). Goals: DuckDB ≤ 60 s and ≤ 4 GB for ≥ 5M order lines.
For the Feast online lookup latency run benchmarks/bench_feast_online.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def phase_world(preset: str, seed: int) -> dict:
    from features.lake import ingest
    from features.settings import get_settings
    from features.sources.synthetic import SynthConfig, generate

    started = time.perf_counter()
    batch = generate(SynthConfig.preset(preset, seed=seed), progress=False)
    generated = time.perf_counter() - started
    report = ingest(batch, get_settings().dataset("synthetic"), progress=False)
    return {
        "generate_s": generated,
        "ingest_s": time.perf_counter() - started - generated,
        "order_lines": report.tables["order_items"].accepted,
        "orders": report.tables["orders"].accepted,
        "users": report.tables["users"].accepted,
    }


def phase_build(engine_name: str) -> dict:
    from features import build, engine
    from features.settings import get_settings
    from features.users import USER_FEATURES

    settings = get_settings()
    paths = settings.dataset("synthetic")
    started = time.perf_counter()
    con = engine.connect(settings, engine_name)
    if engine_name == "pyspark":
        con.raw_sql("SELECT 1")
    startup = time.perf_counter() - started
    cutoff = build.default_cutoff(engine.connect(settings, "duckdb"), paths)
    started = time.perf_counter()
    frame = build.compute_frame(USER_FEATURES, engine.LakeTables(con, paths), cutoff)
    return {"engine": engine_name, "startup_s": startup, "build_s": time.perf_counter() - started, "rows": len(frame)}


def _child(phase: str, args: argparse.Namespace) -> dict:
    env = {**os.environ, "SHOPSENSE_DATA_DIR": str(args.data_dir)}
    cmd = [sys.executable, __file__, "--phase", phase, "--preset", args.preset, "--seed", str(args.seed)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="large")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/shopsense-large"))
    parser.add_argument("--phase", choices=["world", "duckdb", "pyspark"], help=argparse.SUPPRESS)
    parser.add_argument("--skip-spark", action="store_true")
    args = parser.parse_args()
    if args.phase:
        result = phase_world(args.preset, args.seed) if args.phase == "world" else phase_build(args.phase)
        print(json.dumps({**result, "peak_rss_gb": _peak_gb()}))
        return
    if not (args.data_dir / "synthetic" / "lake" / "order_items.parquet").exists():
        world = _child("world", args)
        print(f"world ({args.preset}): generate {world['generate_s']:.1f} s, ingest {world['ingest_s']:.1f} s, "
              f"peak RSS {world['peak_rss_gb']:.2f} GB; {world['order_lines']:,} order lines, "
              f"{world['orders']:,} orders, {world['users']:,} users")  # fmt: skip
    for engine_name in ["duckdb"] + ([] if args.skip_spark else ["pyspark"]):
        r = _child(engine_name, args)
        print(f"user features on {engine_name:8s}: {r['build_s']:6.1f} s for {r['rows']:,} users "
              f"(engine start {r['startup_s']:.1f} s), peak RSS of the Python process {r['peak_rss_gb']:.2f} GB")  # fmt: skip


if __name__ == "__main__":
    main()
