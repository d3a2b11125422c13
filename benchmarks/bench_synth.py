"""Benchmark the synthetic world generator: wall time, peak memory and rows per table.

Usage: ``.venv/bin/python benchmarks/bench_synth.py --preset default --seed 42`` (not a test; prints figures).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

from features.sources.synthetic import SynthConfig, generate


def peak_rss_gb() -> float:
    """Peak resident memory of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=["default", "large", "tiny"], default="default")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args(argv)
    config = SynthConfig.preset(args.preset, seed=args.seed)
    started = time.perf_counter()
    batch = generate(config, progress=not args.no_progress)
    wall = time.perf_counter() - started
    print(
        f"preset={args.preset} seed={args.seed} users={config.users:,} products={config.products:,} days={config.days}"
    )
    print(f"wall time: {wall:,.1f} s")
    print(f"peak RSS:  {peak_rss_gb():,.2f} GB")
    print("rows per table:")
    for name, frame in batch.tables.items():
        print(f"  {name:<16} {len(frame):>12,}")
    print("truth tables:")
    for name, frame in batch.truth.items():
        print(f"  {name:<16} {len(frame):>12,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
