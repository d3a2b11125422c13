"""Online feature lookup latency through Feast: the SDK path and the direct SQLite fast path.

Prints p50/p95/p99 over single-id lookups and over 100-id batches, in wall-clock time and in CPU time of the
calling thread (wall clock includes waiting for a core when the machine is busy; CPU time shows the work the
lookup itself costs). The serving goal is p99 <= 2 ms for one user.

By default it builds a stand-in ``user`` feature file with the declared schema (random values, ``--users`` users,
two cutoffs) in a temporary dataset, applies and materializes it on SQLite; ``--dataset NAME`` measures a dataset
already built and materialized under ``SHOPSENSE_DATA_DIR`` instead.

    .venv/bin/python benchmarks/bench_feast_online.py --users 20000 --lookups 2000
    .venv/bin/python benchmarks/bench_feast_online.py --online-store redis   # a throwaway local redis-server
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from features import columns as c
from features.build import combined_path
from features.settings import DatasetPaths, Settings, get_settings
from features.users import USER_FEATURES

CUTOFFS = (pd.Timestamp("2025-05-01"), pd.Timestamp("2025-06-01"))


def stand_in_user_features(paths: DatasetPaths, users: int, seed: int = 0) -> list[str]:
    """Random values in the declared user schema, so the store sees the real column count and dtypes."""
    rng = np.random.default_rng(seed)
    ids = [f"u{i:07d}" for i in range(users)]
    frames = []
    for as_of in CUTOFFS:
        frame = pd.DataFrame({c.USER_ID: ids, c.AS_OF: as_of})
        for feat in USER_FEATURES.features:
            if feat.dtype == "int64":
                frame[feat.name] = rng.integers(0, 50, users)
            else:
                values = rng.gamma(2.0, 30.0, users)
                values[rng.random(users) < 0.05] = np.nan
                frame[feat.name] = values
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out[c.AS_OF] = out[c.AS_OF].astype("datetime64[us]")
    target = combined_path(paths, USER_FEATURES)
    target.parent.mkdir(parents=True, exist_ok=True)
    out.to_parquet(target, index=False)
    return ids


def percentiles(samples_ns: list[int]) -> str:
    p50, p95, p99 = np.percentile(np.array(samples_ns) / 1e6, [50, 95, 99])
    return f"p50 {p50:6.3f}  p95 {p95:6.3f}  p99 {p99:6.3f} ms"


def measure(calls: dict[str, Callable[[int], object]], repeats: int, warmup: int = 200) -> None:
    """Time the calls round-robin, so a burst of load from other processes hits every path alike."""
    for i in range(warmup):
        for call in calls.values():
            call(i)
    wall: dict[str, list[int]] = {label: [] for label in calls}
    cpu: dict[str, list[int]] = {label: [] for label in calls}
    for i in range(repeats):
        for label, call in calls.items():
            w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            call(i)
            cpu[label].append(time.thread_time_ns() - c0)
            wall[label].append(time.perf_counter_ns() - w0)
    for label in calls:
        print(f"{label:<38} wall {percentiles(wall[label])}   cpu {percentiles(cpu[label])}")


def run(paths: DatasetPaths, ids: list[str], settings: Settings, lookups: int, batch: int) -> None:
    from features.store import OnlineFeatureReader

    rng = np.random.default_rng(1)
    singles = [ids[i] for i in rng.integers(0, len(ids), lookups + 200)]
    batches = [[ids[i] for i in rng.integers(0, len(ids), batch)] for _ in range(300)]
    sdk = OnlineFeatureReader(paths, settings)
    # the fast path reads Feast's SQLite table directly: on Redis only the SDK path exists
    fast = OnlineFeatureReader(paths, settings, fast=True) if settings.online_store == "sqlite" else None
    service = sdk.store.get_feature_service("churn_v1")

    def raw_sdk(i: int) -> object:
        return sdk.store.get_online_features(features=service, entity_rows=[{c.USER_ID: singles[i]}]).to_dict()

    print(f"-- {lookups} single-id lookups (churn_v1)")
    single = {
        "feast SDK get_online_features+to_dict": raw_sdk,
        "reader SDK path -> DataFrame": lambda i: sdk.get("churn_v1", [singles[i]]),
    }
    many = {"reader SDK path -> DataFrame": lambda i: sdk.get("churn_v1", batches[i % 300])}
    if fast is not None:
        single["reader fast path -> DataFrame"] = lambda i: fast.get("churn_v1", [singles[i]])
        many["reader fast path -> DataFrame"] = lambda i: fast.get("churn_v1", batches[i % 300])
    measure(single, lookups)
    print(f"-- 300 lookups of {batch} ids")
    measure(many, 300, warmup=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--dataset", help="an already materialized dataset instead of the stand-in")
    parser.add_argument("--online-store", choices=["sqlite", "redis"], default="sqlite")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.online_store == "redis":  # Debian's redis-server on a free loopback port, stopped at the end
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.redis_server import redis_server

        with redis_server() as url:
            print(f"online store: redis-server at {url}")
            measure_store(args, get_settings().model_copy(update={"online_store": "redis", "redis_connection": url}))
        return
    measure_store(args, get_settings().model_copy(update={"online_store": "sqlite"}))


def measure_store(args: argparse.Namespace, settings: Settings) -> None:
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (a busy machine inflates wall p95/p99)")
    if args.dataset:
        paths = settings.dataset(args.dataset)
        ids = pd.read_parquet(combined_path(paths, USER_FEATURES), columns=[c.USER_ID])[c.USER_ID].unique().tolist()
        run(paths, ids, settings, args.lookups, args.batch)
        return
    from features.store import materialize

    with tempfile.TemporaryDirectory() as tmp:
        paths = DatasetPaths("bench", Path(tmp) / "bench")
        ids = stand_in_user_features(paths, args.users)
        summary = materialize(paths, settings=settings, progress=False)
        print(f"{args.users} users x {len(USER_FEATURES.features)} features materialized: {summary['views']}")
        run(paths, ids, settings, args.lookups, args.batch)


if __name__ == "__main__":
    main()
