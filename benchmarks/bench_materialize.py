"""Materialization into the SQLite online store: Feast's SDK writer against the bulk writer, per view.

Measures a dataset already built under ``SHOPSENSE_DATA_DIR`` (features only; its own Feast repo is not touched):
each writer materializes into a fresh Feast repo in a temporary copy that links the dataset's feature files. Prints
keys online, seconds per view, wall and CPU seconds in total, and the size of ``online.db``. Goal: the default
world's views in <= 30 s. CPU seconds are this process's (user + system), which a loaded machine inflates less than
wall time.

    export SHOPSENSE_DATA_DIR=/tmp/bench_data
    .venv/bin/shopsense data synth --preset default && .venv/bin/shopsense features build
    .venv/bin/python benchmarks/bench_materialize.py --writers bulk bulk-all feast
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import tempfile
import time
from pathlib import Path

from features.settings import DatasetPaths, get_settings

# writer label -> (bulk?, keep every pair online?)
WRITERS = {"bulk": (True, False), "bulk-all": (True, True), "feast": (False, True)}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(source: DatasetPaths, writer: str, top_n: int) -> dict:
    from features.store import materialize

    bulk, every_pair = WRITERS[writer]
    settings = get_settings().model_copy(update={"online_store": "sqlite", "online_top_n": 0 if every_pair else top_n})
    with tempfile.TemporaryDirectory(prefix="bench_materialize_") as tmp:
        paths = DatasetPaths(source.name, Path(tmp) / source.name)
        paths.root.mkdir()
        paths.features.symlink_to(source.features.resolve(), target_is_directory=True)
        wall, cpu = time.perf_counter(), _cpu()
        summary = materialize(paths, settings=settings, progress=False, bulk=bulk)
        summary["wall"], summary["cpu"] = time.perf_counter() - wall, _cpu() - cpu
        summary["bytes"] = (paths.feast / "online.db").stat().st_size
    return summary


def print_table(results: dict[str, dict], top_n: int) -> None:
    views = list(next(iter(results.values()))["views"])
    print(
        f"\n{'writer':<10} " + " ".join(f"{v + ' keys':>18} {'s':>6}" for v in views) + "   total s   cpu s   online.db"
    )
    for writer, summary in results.items():
        cells = " ".join(f"{info['keys']:>18,} {info['seconds']:>6.1f}" for info in summary["views"].values())
        size = summary["bytes"] / 2**20
        print(f"{writer:<10} {cells}   {summary['wall']:>7.1f} {summary['cpu']:>7.1f}   {size:>7.0f} MB")
    print(f"(bulk: top {top_n} pairs per user online; bulk-all and feast: every pair; goal: total <= 30 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--writers", nargs="+", choices=list(WRITERS), default=["bulk", "bulk-all"])
    parser.add_argument("--top-n", type=int, default=get_settings().online_top_n)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    source = get_settings().dataset(args.dataset)
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}; dataset {source.root}")
    results = {}
    for writer in args.writers:
        results[writer] = run(source, writer, args.top_n)
        print(f"{writer}: {results[writer]['wall']:.1f} s, load average {os.getloadavg()[0]:.2f}", flush=True)
    print_table(results, args.top_n)


if __name__ == "__main__":
    main()
