"""Latency and throughput of the ShopSense service against the in-process cost of the same work.

Starts ``bentoml serve serving.service:ShopSense`` on 127.0.0.1 (or targets ``--url``, which must be on this
machine), then drives ``POST /churn/predict`` from a separate load-generator process (httpx clients on a thread
pool, keep-alive) for ``--seconds`` per cell: 1 and 100 ids per request at concurrency 1, 8 and 32. It then times
the same work in-process (online lookup + tiering + churn, with and without reasons) and prints the ratio.

Goals (2 cores): p99 <= 25 ms for 1 id at concurrency 8; service p50 <= 3x in-process for 100 ids.

    SHOPSENSE_DATA_DIR=/tmp/ss_tiny .venv/bin/python benchmarks/bench_serving.py --seconds 30
    ... --batching both         # also run with SHOPSENSE_SERVING_BATCHING=false and compare
    ... --url http://127.0.0.1:3000 --key KEY   # a server that is already running
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving import local_server  # noqa: E402

LOCALHOST = ("127.0.0.1", "localhost", "[::1]")


def _stats(samples_s: list[float], seconds: float) -> dict[str, float]:
    if not samples_s:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "rps": 0.0}
    p50, p95, p99 = np.percentile(np.array(samples_s) * 1e3, [50, 95, 99])
    return {"n": len(samples_s), "p50": p50, "p95": p95, "p99": p99, "rps": len(samples_s) / seconds}


# -- load generator (runs in its own process) -------------------------------------------------------------------


def loadgen(url: str, key: str, ids: list[str], batch: int, concurrency: int, seconds: float) -> dict:
    """``concurrency`` threads, each with its own keep-alive client, posting until the deadline."""
    import httpx

    deadline = time.perf_counter() + seconds
    samples: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency

    def worker(i: int) -> None:
        rng = random.Random(i)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            while time.perf_counter() < deadline:
                body = {"user_ids": rng.sample(ids, batch)}
                started = time.perf_counter()
                response = client.post("/churn/predict", json=body)
                elapsed = time.perf_counter() - started
                if response.status_code == 200:
                    samples[i].append(elapsed)
                else:
                    errors[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = _stats([s for per in samples for s in per], time.perf_counter() - started)
    return result | {"errors": sum(errors)}


def run_loadgen_process(url: str, key: str, ids_file: Path, batch: int, concurrency: int, seconds: float) -> dict:
    command = [sys.executable, __file__, "--loadgen", url, "--key", key, "--ids-file", str(ids_file)]
    command += ["--batch", str(batch), "--concurrency", str(concurrency), "--seconds", str(seconds)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, env=os.environ | {"OMP_NUM_THREADS": "1"}
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the server -------------------------------------------------------------------------------------------------


def start_server(port: int, batching: bool, workers: int, log: Path) -> subprocess.Popen:
    from features.settings import get_settings

    extra = {"SHOPSENSE_SERVING_BATCHING": str(batching).lower()}
    return local_server.start(get_settings(), port, log, workers=workers, extra_env=extra)


# -- in-process -------------------------------------------------------------------------------------------------


def in_process(ids: list[str], batches: list[int], seconds: float) -> dict[tuple[int, bool], dict]:
    """The same work without HTTP: online lookup + ltv + tiering + churn on the models the service loads."""
    from features.settings import get_settings
    from serving import model_store
    from serving.runtime import Job, Runtime

    settings = get_settings()
    model_store.use_bentoml_home(settings)
    served = {name: model_store.load_from_store(name) for name in ("ltv", "tiering", "churn")}
    runtime = Runtime(served, Runtime.open_reader(settings))
    rng = random.Random(0)
    results = {}
    for batch in batches:
        for explain in (False, True):
            samples, deadline = [], time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                job = Job(ids=rng.sample(ids, batch), params={"explain": explain, "top_k": 3})
                started = time.perf_counter()
                runtime.run("churn", [job])
                samples.append(time.perf_counter() - started)
            results[(batch, explain)] = _stats(samples, seconds)
    return results


# -- main -------------------------------------------------------------------------------------------------------


def known_ids(limit: int = 5000) -> list[str]:
    import pandas as pd

    from features import columns as c
    from features.settings import get_settings

    settings = get_settings()
    paths = settings.dataset(settings.serving_dataset or settings.default_dataset)
    frame = pd.read_parquet(paths.features / "user.parquet", columns=[c.USER_ID])
    return frame[c.USER_ID].drop_duplicates().astype(str).head(limit).tolist()


def service_table(url: str, key: str, ids_file: Path, args: argparse.Namespace) -> dict[tuple[int, int], dict]:
    table = {}
    for batch in args.batches:
        for concurrency in args.concurrency:
            r = run_loadgen_process(url, key, ids_file, batch, concurrency, args.seconds)
            table[(batch, concurrency)] = r
            print(
                f"  ids={batch:<4} conc={concurrency:<3} p50 {r['p50']:7.2f}  p95 {r['p95']:7.2f}  p99 {r['p99']:7.2f} ms"
                f"  {r['rps']:7.1f} req/s  errors {r['errors']}",
                flush=True,
            )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="Duration of each load cell.")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 100], help="Ids per request.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--url", help="A running server on this machine (else one is started).")
    parser.add_argument("--key", default="shopsense-demo-key", help="API key for the server.")
    parser.add_argument("--batching", choices=["on", "off", "both"], default="on", help="Server's request batching.")
    parser.add_argument("--workers", type=int, default=1, help="Worker processes of a started server.")
    parser.add_argument("--inproc-seconds", type=float, default=5.0, help="Duration of each in-process cell.")
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--ids-file", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        ids = json.loads(Path(args.ids_file).read_text())
        print(json.dumps(loadgen(args.loadgen, args.key, ids, args.batch, args.concurrency[0], args.seconds)))
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    import tempfile

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.url and not any(host in args.url for host in LOCALHOST):
        raise SystemExit("--url must point at this machine (127.0.0.1 / localhost)")
    ids = known_ids()
    tmp = Path(tempfile.mkdtemp(prefix="bench_serving_"))
    ids_file = tmp / "ids.json"
    ids_file.write_text(json.dumps(ids))
    tables = {}
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.batching]
    if args.url:
        print(f"service at {args.url} ({os.cpu_count()} cores), {args.seconds:.0f} s per cell")
        tables["as running"] = service_table(args.url, args.key, ids_file, args)
    else:
        from features.settings import get_settings
        from training.cli_serve import sync

        sync(get_settings())
        for batching in modes:
            port = local_server.free_port()
            proc = start_server(port, batching, args.workers, tmp / f"server_{batching}.log")
            label = f"batching {'on' if batching else 'off'}, {args.workers} worker(s)"
            print(f"service ({label}) at 127.0.0.1:{port}, {os.cpu_count()} cores, {args.seconds:.0f} s per cell")
            try:
                tables[label] = service_table(f"http://127.0.0.1:{port}", args.key, ids_file, args)
            finally:
                local_server.stop(proc)
    print("in-process (online lookup + tiering + churn), one request at a time:")
    inproc = in_process(ids, args.batches, args.inproc_seconds)
    for (batch, explain), r in inproc.items():
        print(
            f"  ids={batch:<4} explain={explain!s:<5} p50 {r['p50']:7.2f}  p95 {r['p95']:7.2f}  p99 {r['p99']:7.2f} ms"
        )
    summarize(tables, inproc, args)


def summarize(tables: dict, inproc: dict, args: argparse.Namespace) -> None:
    print("service / in-process (p50, concurrency 1, no reasons):")
    for label, table in tables.items():
        ratios = [
            f"{batch} ids {table[(batch, 1)]['p50'] / inproc[(batch, False)]['p50']:.2f}x"
            for batch in args.batches
            if (batch, 1) in table
        ]
        goal = table.get((1, 8))
        verdict = f"p99 1 id @8 = {goal['p99']:.1f} ms (goal <= 25)" if goal else ""
        print(f"  {label}: {', '.join(ratios)}  {verdict}")


if __name__ == "__main__":
    main()
