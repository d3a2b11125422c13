"""carparts (Hyndman et al. 2008): 2,674 monthly car-part demand series, Jan 1998 - Mar 2002.

Two ways in:
- :func:`load_panel`: Nixtla's long format ``unique_id, ds, y`` at month starts, read straight by the benchmark.
- :func:`load` (``shopsense data ingest --source carparts``): the lake, as monthly SKU sales and nothing more.
  Each part-month with demand becomes one guest order line at 00:00 UTC on the month's first day, quantity =
  the month's units, unit price 0 (carparts has no prices; the ingest counts these lines in its notices). No
  customer, day of month or price is invented: the demand decision reads a lake whose sales all fall on month
  starts as monthly data (``training.demand_data.sales_frequency``) and forecasts months, not days.

The published protocol drops series with a missing value (2,509 of 2,674 kept) and holds out the last 12 months;
the ingest quarantines every sale month of such a series with that reason (its missing months are no sale line
and are counted in the lineage), so sale lines in = accepted + quarantined.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features import columns as c
from features.settings import get_settings
from features.sources.base import SourceBatch
from features.sources.realdata import contract_frame, file_lineage, rejected_frame, require_file

DATASET = "carparts"
FOLDER = "carparts"
FILE = "carparts.parquet"
FREQ = "MS"
SEASON = 12
HORIZON = 12
OPENED_AT = pd.Timestamp("1998-01-01")
CATEGORY = "car parts"
REASON_MISSING = "series has a missing month (NA demand): the published protocol drops the whole series"


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


def _ids(part: pd.Series, month: pd.Series) -> pd.Series:
    return "CP-" + part.astype(str) + "-" + month.dt.strftime("%Y%m")


def load(path: Path | None = None) -> SourceBatch:
    """The lake tables (products, guest orders, order lines) of the complete series; see the module docstring."""
    file = require_file(path or default_path())
    raw = load_panel(file, drop_missing=False)
    bad = set(raw.loc[raw[c.Y].isna(), c.UNIQUE_ID])
    keep = raw[~raw[c.UNIQUE_ID].isin(bad)]
    sold = keep[keep[c.Y] > 0]
    ids = _ids(sold[c.UNIQUE_ID], sold[c.DS])
    orders = pd.DataFrame({c.ORDER_ID: ids, c.USER_ID: None, c.ORDER_TS: sold[c.DS], c.STATUS: "delivered"})
    items = pd.DataFrame(
        {c.ORDER_ITEM_ID: ids + "-1", c.ORDER_ID: ids, c.SKU_ID: sold[c.UNIQUE_ID], c.QUANTITY: sold[c.Y],
         c.UNIT_PRICE: 0.0}
    )  # fmt: skip
    products = pd.DataFrame({c.SKU_ID: sorted(keep[c.UNIQUE_ID].unique()), c.CATEGORY: CATEGORY})
    dropped = raw[raw[c.UNIQUE_ID].isin(bad)]
    dropped = dropped[dropped[c.Y] > 0]  # its sale months; the NA months are no sale line (counted in lineage)
    rejected = rejected_frame(
        "order_items",
        pd.DataFrame({c.ORDER_ITEM_ID: _ids(dropped[c.UNIQUE_ID], dropped[c.DS]) + "-1", c.SKU_ID: dropped[c.UNIQUE_ID],
                      c.QUANTITY: dropped[c.Y], c.UNIT_PRICE: 0.0}),
        REASON_MISSING,
    )  # fmt: skip
    tables = {
        "products": contract_frame("products", products),
        "orders": contract_frame("orders", orders),
        "order_items": contract_frame("order_items", items),
    }
    info = {
        **lineage(file),
        "series": int(raw[c.UNIQUE_ID].nunique()),
        "series_kept": int(keep[c.UNIQUE_ID].nunique()),
        "part_months": len(keep),
        "part_months_with_demand": len(sold),
        "missing_part_months": int(raw[c.Y].isna().sum()),
        "rules": {
            "order": "one guest order line per part-month with demand > 0, at 00:00 UTC on the month's first day",
            "unit_price": "0: carparts has no prices",
            "missing": REASON_MISSING,
        },
    }
    return SourceBatch(
        name=DATASET, tables=tables, opened_at=OPENED_AT, rejected={"order_items": rejected}, lineage=info
    )
