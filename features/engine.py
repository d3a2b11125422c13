"""The Ibis connection that runs feature expressions: DuckDB (embedded default) or PySpark (scale-out).

Feature code is written once as Ibis expressions over :class:`LakeTables`; which engine evaluates them is a
setting (``SHOPSENSE_ENGINE``), not a code path.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from features.settings import DatasetPaths, Settings, get_settings

logger = logging.getLogger(__name__)


@cache
def _spark_session(master: str) -> Any:
    """One SparkSession per process: starting one costs seconds, and Spark allows one per JVM anyway."""
    from pyspark.sql import SparkSession

    logger.info("starting Spark (%s)", master)
    session = (
        SparkSession.builder.master(master)
        .appName("shopsense-features")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def connect(settings: Settings | None = None, engine: str | None = None) -> ibis.BaseBackend:
    """A new Ibis backend for the configured engine (timestamps are naive and read as UTC on both)."""
    settings = settings or get_settings()
    engine = engine or settings.engine
    if engine == "duckdb":
        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'UTC'")
        if settings.duckdb_threads:  # parallel float sums differ in the last bits from run to run
            con.raw_sql(f"SET threads = {int(settings.duckdb_threads)}")
        return con
    if engine == "pyspark":
        return ibis.pyspark.connect(_spark_session(settings.spark_master))
    raise ValueError(f"unknown engine {engine!r}; choose duckdb or pyspark (SHOPSENSE_ENGINE)")


class LakeTables:
    """Lazy Ibis tables over one dataset's lake Parquet files, registered once per connection."""

    def __init__(self, con: ibis.BaseBackend, paths: DatasetPaths) -> None:
        self.con = con
        self.paths = paths
        self._tables: dict[str, ir.Table] = {}

    def has(self, name: str) -> bool:
        """Whether the source had this table (real datasets lack some: no reviews in Online Retail)."""
        return self._path(name).exists()

    def _path(self, name: str) -> Path:
        return self.paths.lake / f"{name}.parquet"

    def __getitem__(self, name: str) -> ir.Table:
        if name not in self._tables:
            if not self.has(name):
                raise FileNotFoundError(f"the {self.paths.name} lake has no {name!r} table ({self._path(name)})")
            table_name = f"{self.paths.name}_{name}"
            self._tables[name] = self.con.read_parquet(str(self._path(name)), table_name=table_name)
        return self._tables[name]
