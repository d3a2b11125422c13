"""carparts (Hyndman et al. 2008): 2,674 monthly car-part demand series, Jan 1998 - Mar 2002, as a long panel.

Why a panel and not a lake: the contract's sales tables are orders and order lines with users, timestamps and
prices. carparts holds only a monthly count per part; mapping it into orders would invent a customer, a day in
the month, a price and an order per unit, and every feature computed from them would describe that invention.
So carparts enters as what it is, Nixtla's long format ``unique_id, ds, y`` at month starts, read straight by the
forecaster and its baselines (``shopsense train demand --dataset carparts`` and the benchmark).

The published protocol drops series with a missing value (2,509 of 2,674 kept) and holds out the last 12 months.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features import columns as c
from features.settings import get_settings
from features.sources.realdata import file_lineage, require_file

DATASET = "carparts"
FOLDER = "carparts"
FILE = "carparts.parquet"
FREQ = "MS"
SEASON = 12
HORIZON = 12


def default_path() -> Path:
    """``<shared_data>/carparts/carparts.parquet``."""
    return get_settings().shared_data / FOLDER / FILE


def load_panel(path: Path | None = None, drop_missing: bool = True) -> pd.DataFrame:
    """The monthly panel ``unique_id`` (part number), ``ds`` (month start), ``y`` (units), sorted.

    Args:
        path: the Parquet file (default :func:`default_path`).
        drop_missing: drop every series with a missing month, as the published protocol does.
    """
    raw = pd.read_parquet(require_file(path or default_path()))
    panel = pd.DataFrame(
        {
            c.UNIQUE_ID: raw["part"].astype(str),
            c.DS: pd.to_datetime(raw["month"]).astype("datetime64[ns]"),
            c.Y: raw["demand"].astype("float64"),
        }
    )
    if drop_missing:
        bad = panel.loc[panel[c.Y].isna(), c.UNIQUE_ID].unique()
        panel = panel[~panel[c.UNIQUE_ID].isin(set(bad))]
    return panel.sort_values([c.UNIQUE_ID, c.DS], kind="stable").reset_index(drop=True)


def lineage(path: Path | None = None) -> dict[str, object]:
    """Source file, checksum and row count, for the run's lineage."""
    return {"dataset": DATASET, **file_lineage(require_file(path or default_path()))}
