"""Point-in-time correctness for every feature set: what happens at or after the cutoff never changes a feature."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features import build, engine, registry
from tests.worlds import known_at

pytestmark = pytest.mark.unit

CUTOFF = pd.Timestamp("2024-11-01")


@pytest.fixture(scope="module")
def as_known(tiny_world, tmp_path_factory) -> object:
    return known_at(tiny_world, CUTOFF, tmp_path_factory.mktemp("known"))


@pytest.mark.parametrize("name", registry.FEATURE_SET_NAMES)
def test_rows_after_the_cutoff_change_nothing(name: str, tiny_world, as_known) -> None:
    feature_set = registry.get(name)
    con = engine.connect(engine="duckdb")
    full = build.compute_frame(feature_set, engine.LakeTables(con, tiny_world), CUTOFF)
    truncated = build.compute_frame(feature_set, engine.LakeTables(con, as_known), CUTOFF)
    assert len(full) > 0
    pd.testing.assert_frame_equal(full, truncated, check_exact=False, rtol=1e-9)


def test_later_cutoff_sees_more(tiny_world) -> None:
    feature_set = registry.get("user")
    lake = engine.LakeTables(engine.connect(engine="duckdb"), tiny_world)
    early = build.compute_frame(feature_set, lake, CUTOFF)
    late = build.compute_frame(feature_set, lake, CUTOFF + pd.Timedelta(days=60))
    assert late["orders_total"].sum() > early["orders_total"].sum()
    assert len(late) >= len(early)


def test_build_writes_partitions_and_combined(tiny_world, tmp_path: Path) -> None:
    from features.settings import DatasetPaths

    paths = DatasetPaths(tiny_world.name, tiny_world.root)
    feature_set = registry.get("user")
    cutoffs = [CUTOFF, CUTOFF + pd.Timedelta(days=30)]
    frame = build.build(feature_set, engine.connect(engine="duckdb"), paths, cutoffs, progress=False)
    combined = build.load(paths, feature_set)
    assert sorted(combined["as_of"].unique()) == [pd.Timestamp(t) for t in cutoffs]
    assert len(combined) == len(frame)
    assert build.partition_path(paths, feature_set, CUTOFF).exists()


def test_sums_come_out_the_same_bits_on_every_run(tmp_path: Path) -> None:
    """Parallel DuckDB adds floats in a different order each run (a spend total moved by 4.7e-10 on the default
    world, and LightGBM's bins turned that into a different LTV model); the default single thread does not."""
    import numpy as np

    rng = np.random.default_rng(0)
    n = 300_000
    lines = pd.DataFrame({"user_id": rng.integers(0, 50, n).astype(str), "amount": rng.lognormal(3.0, 2.0, n)})
    path = tmp_path / "lines.parquet"
    lines.to_parquet(path, row_group_size=5_000)  # many row groups: what a parallel scan splits
    totals = []
    for _ in range(5):
        con = engine.connect(engine="duckdb")
        t = con.read_parquet(path)
        per_user = t.group_by("user_id").aggregate(total=t.amount.sum()).order_by("user_id")
        totals.append(con.to_pandas(per_user)["total"].to_numpy())
    assert all(np.array_equal(total, totals[0]) for total in totals[1:])
