"""Test worlds: the tiny synthetic lake, and the same lake as it was known at a cutoff (for leakage tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from features import columns as c
from features.contract import TABLES
from features.lake import ingest
from features.settings import DatasetPaths

TINY_SEED = 7
# Known when the row is created, even if the moment lies after the cutoff: a promised delivery, a planned end.
PLANNED_COLUMNS = {c.PROMISED_AT, c.END_AT}


def build_tiny_world(root: Path, seed: int = TINY_SEED) -> DatasetPaths:
    """Generate and ingest the tiny synthetic preset under ``root``."""
    from features.sources.synthetic import SynthConfig, generate

    paths = DatasetPaths("synthetic", root / "synthetic")
    ingest(generate(SynthConfig.preset("tiny", seed=seed), progress=False), paths, progress=False)
    return paths


def known_at(paths: DatasetPaths, cutoff: pd.Timestamp, root: Path) -> DatasetPaths:
    """A copy of the lake holding only what an operator could have known at ``cutoff``.

    Rows whose own time is at or after the cutoff are dropped (order lines follow their orders); facts that
    became known later on surviving rows (a delivery, a ticket resolution, a PO receipt) are blanked; planned
    moments (a promised delivery date, a promotion's end) stay, as they were known when the row was written.
    """
    out = DatasetPaths(paths.name, root / f"{paths.name}_known_at_{cutoff:%Y%m%d}")
    shutil.rmtree(out.root, ignore_errors=True)
    out.lake.mkdir(parents=True)
    kept_orders: pd.Series | None = None
    for spec in TABLES:
        source = paths.lake / f"{spec.name}.parquet"
        if not source.exists():
            continue
        frame = pd.read_parquet(source)
        if spec.time_column is not None:
            frame = frame[~(frame[spec.time_column] >= cutoff)]
        for col in spec.columns:
            if col.dtype in ("timestamp", "date") and col.name != spec.time_column and col.name not in PLANNED_COLUMNS:
                frame.loc[frame[col.name] >= cutoff, col.name] = pd.NaT
        if spec.name == "service_tickets":
            frame.loc[frame[c.RESOLVED_AT].isna(), c.RESOLVED] = False
        if spec.name == "orders":
            kept_orders = frame[c.ORDER_ID]
        if spec.name == "order_items" and kept_orders is not None:
            frame = frame[frame[c.ORDER_ID].isin(kept_orders)]
        frame.to_parquet(out.lake / source.name, index=False)
    return out


HAND_MADE_OPENED = pd.Timestamp("2024-01-01")
HAND_MADE_NOW = pd.Timestamp("2025-06-01")


def hand_made_lake(tables: dict[str, pd.DataFrame], root: Path, con=None, opened: pd.Timestamp = HAND_MADE_OPENED):
    """Ingest hand-made contract tables (which must all be valid) and return Ibis tables over that lake."""
    from features.engine import LakeTables, connect
    from features.sources.base import SourceBatch

    paths = DatasetPaths("t", root)
    report = ingest(SourceBatch("t", tables, opened), paths, now=HAND_MADE_NOW, progress=False)
    assert all(r.quarantined == 0 for r in report.tables.values()), report.tables
    return LakeTables(con if con is not None else connect(engine="duckdb"), paths)
