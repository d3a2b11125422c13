"""Cost of the ops reports: seconds and size per page for every decision with a champion (goal: ≤ 60 s, ≤ 5 MB).

Run after ``shopsense train all`` on the dataset:

    .venv/bin/python benchmarks/bench_reports.py [--dataset synthetic] [--lang zh] [--runs 2] [--profile 25]

The first run also builds the user-feature partitions the reports read (latest day, a month earlier) if they are
missing; later runs show the steady cost. Prints one table per run and the machine's load average beside it;
``--profile N`` also prints the N functions with the most cumulative time of the last run (where the time goes).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

from rich.console import Console
from rich.table import Table

from training.reports.build import build_reports, frame_of

GOAL_SECONDS, GOAL_BYTES = 60.0, 5 * 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--lang", default="zh", choices=("zh", "en"))
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--profile", type=int, default=0, help="print the N most expensive functions (last run)")
    args = parser.parse_args()
    console = Console()
    for run in range(1, args.runs + 1):
        load = os.getloadavg()[0]
        profiler = cProfile.Profile() if args.profile and run == args.runs else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        written = build_reports(None, args.dataset, args.lang)
        if profiler is not None:
            profiler.disable()
        total = time.perf_counter() - started
        table = Table(
            title=f"run {run}: all reports in {total:.1f} s (goal ≤ {GOAL_SECONDS:.0f} s); load avg {load:.1f}"
        )
        for column in ("page", "seconds", "kB", "≤ 5 MB", "note"):
            table.add_column(column)
        for row in frame_of(written).itertuples():
            ok = "yes" if row.kB * 1024 <= GOAL_BYTES else "NO"
            table.add_row(row.page, f"{row.seconds:.1f}", f"{row.kB:,.0f}", ok, row.note[:60])
        console.print(table)
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)


if __name__ == "__main__":
    main()
