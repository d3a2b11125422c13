"""The same Ibis expressions give the same tables on DuckDB and on PySpark."""

from __future__ import annotations

import pandas as pd
import pytest

from features import build, engine, registry

pytestmark = [pytest.mark.spark, pytest.mark.integration]

CUTOFF = pd.Timestamp("2024-11-01")


@pytest.fixture(scope="module")
def spark_con():
    return engine.connect(engine="pyspark")


@pytest.mark.parametrize("name", registry.FEATURE_SET_NAMES)
def test_duckdb_and_pyspark_agree(name: str, tiny_world, spark_con) -> None:
    feature_set = registry.get(name)
    duck = build.compute_frame(feature_set, engine.LakeTables(engine.connect(engine="duckdb"), tiny_world), CUTOFF)
    spark = build.compute_frame(feature_set, engine.LakeTables(spark_con, tiny_world), CUTOFF)
    assert len(duck) > 0
    pd.testing.assert_frame_equal(duck, spark, check_exact=False, rtol=1e-6, atol=1e-9, check_dtype=False)
