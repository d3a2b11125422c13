"""Ingest memory and time on a large CSV: peak RSS must follow the chunk setting, not the file size.

Generates a shop folder in a temporary directory (``products.csv`` with 2,000 SKUs and an ``order_items.csv`` of
about ``--mb`` megabytes, with a few rows of each kind of error), ingests it with the ``files`` source in a fresh
subprocess per chunk setting (so peak RSS is the ingest's own, not the generator's) and prints a table:

    .venv/bin/python benchmarks/bench_ingest.py --mb 200 --chunk-rows 50000 --chunk-rows 200000

The subprocess calls the Python API (``files.load`` + ``lake.ingest``), which has the same shape before and after
chunked ingest, so the same script measures both: ``--code DIR`` (repeatable) runs the ingest of another checkout
(e.g. ``git archive HEAD | tar -x -C /tmp/head``) on the same file, in the same window of machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
N_SKUS = 2_000

_CHILD = """
import json, resource, sys, time
from pathlib import Path
import pandas as pd
from features.lake import ingest
from features.settings import DatasetPaths
from features.sources import files
folder, out = Path(sys.argv[1]), Path(sys.argv[2])
started = time.perf_counter()
report = ingest(files.load(folder, opened_at=pd.Timestamp("2000-01-01")), DatasetPaths("bench", out), progress=False)
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": usage.ru_maxrss / 1024, "tables": {k: [v.rows_in, v.accepted, v.quarantined]
                  for k, v in report.tables.items()}}))
"""


def write_shop(folder: Path, megabytes: float, ragged: bool = True, seed: int = 7) -> int:
    """Write products.csv and an order_items.csv of about ``megabytes`` MB in blocks; return its data rows."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    skus = [f"SKU{i:05d}" for i in range(N_SKUS)]
    with (folder / "products.csv").open("w") as fh:
        fh.write("sku_id,category,list_price\n")
        fh.writelines(f"{s},服装,{rng.uniform(5, 500):.2f}\n" for s in skus)
    target = int(megabytes * 1_000_000)
    path, rows, block = folder / "order_items.csv", 0, 100_000
    with path.open("w") as fh:
        fh.write("order_item_id,order_id,sku_id,quantity,unit_price,discount_amount\n")
        while fh.tell() < target:
            ids = np.arange(rows, rows + block)
            sku = rng.integers(0, N_SKUS, block)
            qty = rng.integers(1, 5, block).astype(str).astype(object)
            price = np.round(rng.uniform(1, 900, block), 2).astype(str).astype(object)
            qty[ids % 50_000 == 7] = "-1"  # range error
            price[ids % 80_000 == 9] = "abc"  # type error
            lines = [f"LI{i},O{i // 3},{skus[s]},{q},{p},\n" for i, s, q, p in zip(ids, sku, qty, price, strict=True)]
            if ragged and rows == block:
                lines[5] = "ragged,line\n"
            fh.writelines(lines)
            rows += block
    return rows


def run_ingest(folder: Path, out: Path, chunk_rows: int | None, code: Path = ROOT) -> dict[str, object]:
    """Ingest ``folder`` in a fresh interpreter; return seconds, peak RSS (MB) and per-table counts."""
    env = dict(os.environ, PYTHONPATH=str(code))
    if chunk_rows is not None:
        env["SHOPSENSE_INGEST_CHUNK_ROWS"] = str(chunk_rows)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), str(out)],
        env=env,
        cwd=code,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"ingest failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])  # peak RSS is the child's own (ru_maxrss, Linux KiB)
    result.update(wall=wall)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="Size of order_items.csv in MB.")
    parser.add_argument(
        "--chunk-rows", type=int, action="append", help="SHOPSENSE_INGEST_CHUNK_ROWS values (ascending)."
    )
    parser.add_argument(
        "--no-ragged", action="store_true", help="No ragged line (the pre-chunking reader aborts on it)."
    )
    parser.add_argument("--code", type=Path, action="append", help="Checkout(s) to run (default: this one).")
    args = parser.parse_args()
    settings = sorted(args.chunk_rows) if args.chunk_rows else [None]
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        folder = Path(tmp) / "shop"
        started = time.perf_counter()
        rows = write_shop(folder, args.mb, ragged=not args.no_ragged)
        size = (folder / "order_items.csv").stat().st_size / 1e6
        print(f"generated order_items.csv: {size:.0f} MB, {rows:,} lines in {time.perf_counter() - started:.1f} s")
        print(
            "| code | chunk rows | ingest s | CPU s (incl. start) | peak RSS MB | order_items in / accepted / quarantined |"
        )
        print("|---|---|---|---|---|---|")
        for code in args.code or [ROOT]:
            for chunk in settings:
                r = run_ingest(folder, Path(tmp) / f"out_{len(str(code))}_{chunk}", chunk, code.resolve())
                counts = r["tables"]["order_items"]
                peak = f"{r['peak_mb']:,.0f}"
                print(
                    f"| {code} | {chunk or 'default'} | {r['seconds']:.1f} | {r['cpu']:.1f} | {peak} | "
                    f"{counts[0]:,} / {counts[1]:,} / {counts[2]:,} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
