"""Demand datasets from the built features and the lake: the daily SKU panel, peer groups and lead-time samples.

I/O at the edge for the demand decision and its benchmark; the models in ``models/`` receive plain frames. The
synthetic world's ``truth/`` is never read here (only the benchmark reads it, to score).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import columns as c
from features.settings import DatasetPaths

STATIC_COLUMNS = (c.CATEGORY, c.BRAND, c.LIST_PRICE)


def load_sku_daily(paths: DatasetPaths) -> pd.DataFrame:
    """The latest built ``sku_daily`` feature set as a long frame (``unique_id, ds, y`` + exogenous columns)."""
    from features import build, registry

    frame = build.load(paths, registry.get("sku_daily"))
    frame = frame.drop(columns=[c.AS_OF]).sort_values([c.UNIQUE_ID, c.DS], kind="stable").reset_index(drop=True)
    frame[c.DS] = frame[c.DS].astype("datetime64[ns]")
    return frame


def load_static(paths: DatasetPaths) -> pd.DataFrame:
    """``unique_id`` with category, brand and list price: the cold-start peer groups."""
    products = pd.read_parquet(paths.lake / "products.parquet", columns=[c.SKU_ID, *STATIC_COLUMNS])
    return products.rename(columns={c.SKU_ID: c.UNIQUE_ID})


def load_lead_times(paths: DatasetPaths, before: pd.Timestamp) -> dict[str, np.ndarray]:
    """Order-to-receipt days of every purchase order received before ``before``, per SKU (empty without POs)."""
    file = paths.lake / "purchase_orders.parquet"
    if not file.exists():
        return {}
    pos = pd.read_parquet(file, columns=[c.SKU_ID, c.ORDERED_AT, c.RECEIVED_AT])
    pos = pos[pos[c.RECEIVED_AT].notna() & (pos[c.RECEIVED_AT] < before)]
    days = (pos[c.RECEIVED_AT] - pos[c.ORDERED_AT]).dt.total_seconds() / 86_400
    return {str(k): v.to_numpy("float64") for k, v in days.groupby(pos[c.SKU_ID])}


def pooled_lead_times(lead_times: dict[str, np.ndarray]) -> np.ndarray:
    """Every SKU's samples together: the fallback of a SKU with no received purchase order yet."""
    parts = [v for v in lead_times.values() if len(v)]
    return np.concatenate(parts) if parts else np.array([7.0])


def sku_rule(settings, before: str = "the cutoff") -> str:
    """The demand panel's SKU selection in words (``features.skus.select_active``), for lineage and params."""
    from features.skus import SELECTION_DAYS

    if settings.demand_max_skus <= 0:
        return "every SKU on sale"
    return f"top {settings.demand_max_skus} SKUs by revenue in the {SELECTION_DAYS} days before {before}"


def ensure_sku_daily(paths: DatasetPaths, settings) -> pd.DataFrame:
    """The ``sku_daily`` panel at the lake's natural cutoff (the day after its last order), built when missing.

    It holds the SKUs of :func:`sku_rule` (``demand_max_skus``): a built partition is reused as it is, so after
    changing that setting rebuild it (``shopsense features build -e sku_daily --dataset <name>``).
    """
    from features import build, engine, registry

    feature_set = registry.get("sku_daily")
    con = engine.connect(settings)
    cutoff = build.default_cutoff(con, paths)
    if not build.partition_path(paths, feature_set, cutoff).exists():
        build.build(feature_set, con, paths, [cutoff], progress=False)
    return _as_panel(pd.read_parquet(build.partition_path(paths, feature_set, cutoff)))


def _as_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """A ``sku_daily`` frame as the models read it: no ``as_of`` column, ``ds`` as datetime, sorted by SKU and day."""
    frame = frame.drop(columns=[c.AS_OF])
    frame[c.DS] = frame[c.DS].astype("datetime64[ns]")
    return frame.sort_values([c.UNIQUE_ID, c.DS], kind="stable").reset_index(drop=True)


def sku_daily_ranked_at(paths: DatasetPaths, settings, ranked_at: pd.Timestamp) -> pd.DataFrame:
    """The ``sku_daily`` series to the lake's end of the ``demand_max_skus`` SKUs ranked on the 91 days before
    ``ranked_at`` (a holdout's or a backtest's first origin), computed and not stored.

    Why: SKUs chosen by their revenue up to the lake's end are partly chosen by the holdout's own sales, which a
    forecaster at the origin could not know; the gate and the benchmarks score the SKUs a planner would have picked
    then.
    """
    from dataclasses import replace
    from functools import partial

    from features import build, engine
    from features.engine import LakeTables
    from features.skus import SKU_DAILY_FEATURES, compute_daily

    con = engine.connect(settings)
    ranked = partial(compute_daily, max_skus=settings.demand_max_skus, ranked_at=ranked_at)
    as_of = build.default_cutoff(con, paths)
    return _as_panel(build.compute_frame(replace(SKU_DAILY_FEATURES, compute=ranked), LakeTables(con, paths), as_of))


def lake_end(paths: DatasetPaths, settings) -> pd.Timestamp:
    """The last complete day of the lake (the day before :func:`features.build.default_cutoff`)."""
    from features import build, engine

    return build.default_cutoff(engine.connect(settings), paths) - pd.Timedelta(days=1)


def units_in_transit(paths: DatasetPaths, at: pd.Timestamp) -> pd.Series:
    """Units per SKU on purchase orders placed before ``at`` and not received before it."""
    file = paths.lake / "purchase_orders.parquet"
    if not file.exists():
        return pd.Series(dtype="float64")
    pos = pd.read_parquet(file, columns=[c.SKU_ID, c.ORDERED_AT, c.RECEIVED_AT, c.QUANTITY])
    open_ = pos[(pos[c.ORDERED_AT] < at) & ~(pos[c.RECEIVED_AT] < at)]
    return open_.groupby(c.SKU_ID)[c.QUANTITY].sum().astype("float64")


PERIOD_DAYS = {"D": 1.0, "MS": 30.4}


def _naive_utc(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert("UTC").dt.tz_localize(None) if ts.dt.tz is not None else ts


def sales_frequency(paths: DatasetPaths) -> str:
    """ "MS" when every order of the lake is placed at 00:00 on a month's first day (monthly data such as
    carparts), else "D". Monthly data forecast day by day would be 29 zero days and one spike a month."""
    ts = _naive_utc(pd.read_parquet(paths.lake / "orders.parquet", columns=[c.ORDER_TS])[c.ORDER_TS])
    if ts.empty:
        return "D"
    monthly = (ts.dt.day == 1) & (ts == ts.dt.normalize())
    return "MS" if bool(monthly.all()) and ts.dt.to_period("M").nunique() >= 24 else "D"


def load_monthly_sales(paths: DatasetPaths) -> pd.DataFrame:
    """Units per SKU and month start (``unique_id, ds, y``), dense from the lake's first month to its last.

    Every catalogue SKU gets every month (zeros where nothing sold), as the published carparts protocol scores
    them.
    """
    orders = pd.read_parquet(paths.lake / "orders.parquet", columns=[c.ORDER_ID, c.ORDER_TS])
    items = pd.read_parquet(paths.lake / "order_items.parquet", columns=[c.ORDER_ID, c.SKU_ID, c.QUANTITY])
    sales = items.merge(orders, on=c.ORDER_ID, how="inner")
    sales[c.DS] = _naive_utc(sales[c.ORDER_TS]).dt.to_period("M").dt.to_timestamp()
    units = sales.groupby([c.SKU_ID, c.DS])[c.QUANTITY].sum()
    skus = pd.read_parquet(paths.lake / "products.parquet", columns=[c.SKU_ID])[c.SKU_ID].astype(str)
    months = pd.date_range(sales[c.DS].min(), sales[c.DS].max(), freq="MS")
    full = pd.MultiIndex.from_product([sorted(skus), months], names=[c.SKU_ID, c.DS])
    panel = units.reindex(full, fill_value=0).astype("float64").rename(c.Y).reset_index()
    panel = panel.rename(columns={c.SKU_ID: c.UNIQUE_ID})
    panel[c.DS] = panel[c.DS].astype("datetime64[ns]")
    return panel
