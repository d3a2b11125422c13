"""Sustained load: ``POST /churn/predict`` for 60 s at concurrency 8 and 32; errors, p50/p99 and the server's RSS.

A reliability check rather than a speed race: every request must be answered 200 (an error is any other status or
a transport failure), and the server's resident memory (arbiter + workers) is printed before and after each cell,
so a leak or an unbounded queue shows. The load generator runs in its own process (keep-alive httpx clients, one
per thread) so it does not share the GIL with anything it measures.

    SHOPSENSE_DATA_DIR=/tmp/data .venv/bin/python benchmarks/bench_load.py            # starts a server
    .venv/bin/python benchmarks/bench_load.py --url http://127.0.0.1:3000 --key KEY  # one already running
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving import local_server  # noqa: E402


def loadgen(url: str, key: str, ids: list[str], batch: int, concurrency: int, seconds: float) -> dict:
    """``concurrency`` threads posting until the deadline; latencies of 200s, everything else an error."""
    import httpx

    deadline = time.perf_counter() + seconds
    samples: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[dict[str, int]] = [{} for _ in range(concurrency)]

    def worker(i: int) -> None:
        rng = random.Random(i)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = client.post("/churn/predict", json={"user_ids": rng.sample(ids, batch)})
                    outcome = str(response.status_code)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                if outcome == "200":
                    samples[i].append(time.perf_counter() - started)
                else:
                    errors[i][outcome] = errors[i].get(outcome, 0) + 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ok = np.array([s for per in samples for s in per]) * 1e3
    merged: dict[str, int] = {}
    for per in errors:
        for kind, n in per.items():
            merged[kind] = merged.get(kind, 0) + n
    p50, p99 = np.percentile(ok, [50, 99]).tolist() if len(ok) else [float("nan")] * 2
    return {"ok": len(ok), "errors": merged, "p50": p50, "p99": p99, "rps": len(ok) / elapsed}


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children (the arbiter and every worker), in MB."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return float("nan")
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 1e6


def server_pid(url: str) -> int | None:
    """The pid listening on the URL's port (for RSS), when it is on this machine and visible."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            parent = psutil.Process(conn.pid).parent()
            return parent.pid if parent and "bentoml" in " ".join(parent.cmdline()) else conn.pid
    return None


def cell(url: str, key: str, ids_file: Path, batch: int, concurrency: int, seconds: float) -> dict:
    command = [sys.executable, __file__, "--loadgen", url, "--key", key, "--ids-file", str(ids_file)]
    command += ["--batch", str(batch), "--concurrency", str(concurrency), "--seconds", str(seconds)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, env=os.environ | {"OMP_NUM_THREADS": "1"}
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def known_ids(limit: int = 5000) -> list[str]:
    import pandas as pd

    from features import columns as c
    from features.settings import get_settings

    settings = get_settings()
    paths = settings.dataset(settings.served_dataset)
    frame = pd.read_parquet(paths.features / "user.parquet", columns=[c.USER_ID])
    return frame[c.USER_ID].drop_duplicates().astype(str).head(limit).tolist()


def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench_load_"))
    ids_file = tmp / "ids.json"
    ids_file.write_text(json.dumps(known_ids()))
    proc = None
    url = args.url
    if url is None:
        from features.settings import get_settings
        from training.cli_serve import sync

        settings = get_settings()
        sync(settings)
        port = local_server.free_port()
        proc = local_server.start(settings, port, tmp / "server.log", workers=args.workers, timeout=900)
        url = f"http://127.0.0.1:{port}"
    pid = proc.pid if proc is not None else server_pid(url)
    print(f"server {url} ({args.workers} worker(s) if started here), {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; {args.seconds:.0f} s per cell, {args.batch} id(s) per request")  # fmt: skip
    print(f"{'concurrency':>11} {'ok':>7} {'errors':>8} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'RSS MB before':>14} "
          f"{'after':>7}")  # fmt: skip
    failed = 0
    try:
        for concurrency in args.concurrency:
            before = rss_mb(pid) if pid else float("nan")
            r = cell(url, args.key, ids_file, args.batch, concurrency, args.seconds)
            after = rss_mb(pid) if pid else float("nan")
            errors = sum(r["errors"].values())
            failed += errors
            print(f"{concurrency:>11} {r['ok']:>7} {errors:>8} {r['rps']:>7.1f} {r['p50']:>8.2f} {r['p99']:>8.2f} "
                  f"{before:>14.0f} {after:>7.0f}  {r['errors'] or ''}", flush=True)  # fmt: skip
    finally:
        if proc is not None:
            local_server.stop(proc)
    print("0 errors" if not failed else f"{failed} errors")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="Duration of each concurrency cell.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--batch", type=int, default=1, help="Ids per request.")
    parser.add_argument("--url", help="A running server on this machine (else one is started on the data dir).")
    parser.add_argument("--key", default="shopsense-demo-key", help="API key.")
    parser.add_argument("--workers", type=int, default=1, help="Workers of a server started here.")
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--ids-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        ids = json.loads(Path(args.ids_file).read_text())
        print(json.dumps(loadgen(args.loadgen, args.key, ids, args.batch, args.concurrency[0], args.seconds)))
        return
    raise SystemExit(run(args))


if __name__ == "__main__":
    main()
