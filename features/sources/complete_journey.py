"""Adapter for 84.51 "The Complete Journey" (2,469 households' grocery baskets in 2017) into the contract.

What maps where:
- households (transactions, demographics, campaigns) -> ``users``: only user_id. The 801 demographic rows hold
  age/income/household bands; none of them is a contract column (an age band is not a birth year), so they
  are not mapped rather than invented.
- products.parquet -> ``products``: category = department, brand = brand ("National" / "Private": the brand
  type, the only brand information there is), product_name = product_category, product_type and package_size;
  list_price = median shelf price before the loyalty discount, (sales_value + retail_disc) / quantity, over
  the SKU's sale lines. Product ids that sale lines or coupons use but the catalogue lacks (6) get a row with
  category "unknown" so their lines still have a product.
- baskets -> ``orders`` (order_id = basket_id, user_id = household_id, order_ts = first line's time, status
  "paid", channel "store", coupon_amount = basket sum of coupon_disc + coupon_match_disc).
- transaction lines -> ``order_items`` (order_item_id = "<basket>-<product>", unique in the source;
  unit_price = sales_value / quantity; discount_amount = retail_disc, the loyalty-card discount). Lines with
  quantity 0 (mostly manufacturer-coupon lines) go to ``rejected["order_items"]``; their coupon value still
  counts in the basket's coupon_amount.
- promotions.parquet (product x store x week placements) -> ``promotions`` per product and week, any store:
  promo_type "display" if any store had display_location != "0", "mailer" likewise for mailer_location.
- campaign_descriptions -> platform-wide "campaign" rows (sku_id null); coupons (coupon_upc x product x
  campaign, exact duplicates dropped) -> "coupon" rows over their campaign's dates.

Time: this copy stores ``transaction_timestamp`` in UTC, while ``week`` counts Monday-to-Sunday weeks in US
Eastern time: converted to America/New_York, every line falls inside its Monday-00:00 week (checked at load
time and recorded in lineage); read as naive UTC, 34,729 lines would not. Daily and weekly features need the
shop's calendar (Online Retail's times are UK shop time too), so order_ts is naive America/New_York time;
week 1 is Mon 2016-12-26 .. Sun 2017-01-01 and campaign dates are local calendar days.

Amounts: discounts are non-negative numbers in this copy (84.51's original files use negative ones); the
adapter reads either sign as a non-negative amount and records how many negative ones it saw.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from features import columns as c
from features.settings import get_settings
from features.sources.base import SourceBatch
from features.sources.realdata import (
    contract_frame,
    end_of_period,
    file_lineage,
    id_strings,
    rejected_frame,
    require_file,
)

logger = logging.getLogger(__name__)

DATASET = "complete_journey"
FOLDER = "complete_journey"
OPENED_AT = pd.Timestamp("2017-01-01")
TIMEZONE = "America/New_York"
STATUS_PAID, CHANNEL = "paid", "store"
CATEGORY_UNKNOWN = "unknown"
NO_PLACEMENT = "0"
REASON_ZERO_QUANTITY = "quantity 0 on a sale: a sale line needs quantity > 0 (quantity)"

FILES = {
    "transactions": "transactions.parquet",
    "products": "products.parquet",
    "demographics": "demographics.parquet",
    "promotions": "promotions.parquet",
    "campaign_descriptions": "campaign_descriptions.parquet",
    "campaigns": "campaigns.parquet",
    "coupons": "coupons.parquet",
    "coupon_redemptions": "coupon_redemptions.parquet",
}
MAPS_TO = {
    "transactions": "orders (per basket) + order_items (per line) + rejected order_items (quantity 0)",
    "products": "products",
    "demographics": "users (household ids only; no demographic column maps to the contract)",
    "promotions": "promotions display / mailer, aggregated to product x week over stores",
    "campaign_descriptions": "promotions campaign (platform-wide) and the dates of coupon rows",
    "campaigns": "users (household ids only; campaign targeting has no contract table)",
    "coupons": "promotions coupon (coupon_upc x product x campaign)",
    "coupon_redemptions": "not mapped (no contract table for redemptions; coupon value is in orders.coupon_amount)",
}

# source columns
HOUSEHOLD, BASKET, PRODUCT, WEEK, TS = "household_id", "basket_id", "product_id", "week", "transaction_timestamp"
SALES, RETAIL_DISC, COUPON_DISC, MATCH_DISC = "sales_value", "retail_disc", "coupon_disc", "coupon_match_disc"
DEPARTMENT, BRAND, PRODUCT_CATEGORY, PRODUCT_TYPE, PACKAGE = (
    "department",
    "brand",
    "product_category",
    "product_type",
    "package_size",
)
CAMPAIGN, CAMPAIGN_TYPE, START_DATE, END_DATE, COUPON_UPC = (
    "campaign_id",
    "campaign_type",
    "start_date",
    "end_date",
    "coupon_upc",
)
DISPLAY_STORES, MAILER_STORES = "display_stores", "mailer_stores"
_DISCOUNTS = [RETAIL_DISC, COUPON_DISC, MATCH_DISC]
# the source's "quantity" column has the contract's name
_TX_COLUMNS = [HOUSEHOLD, BASKET, PRODUCT, c.QUANTITY, SALES, RETAIL_DISC, COUPON_DISC, MATCH_DISC, WEEK, TS]


def default_root() -> Path:
    return get_settings().shared_data / FOLDER


def _local_time(ts: pd.Series) -> pd.Series:
    """UTC timestamps as naive shop-local (US Eastern) time."""
    return ts.dt.tz_localize("UTC").dt.tz_convert(TIMEZONE).dt.tz_localize(None).astype("datetime64[ns]")


def _read_transactions(path: Path) -> tuple[pd.DataFrame, int]:
    """Transaction lines in local time with ``source_row``; returns them and the count of negative discounts.

    This copy stores discounts as non-negative amounts, 84.51's original files as negative ones; taking the
    absolute value reads either convention correctly (the count tells which one the file used).
    """
    tx = pd.read_parquet(path, columns=_TX_COLUMNS)
    negative = int((tx[_DISCOUNTS] < 0).to_numpy().sum())
    if negative:
        logger.info("%d negative discount amounts in %s: read as their absolute value", negative, path)
    tx[_DISCOUNTS] = tx[_DISCOUNTS].abs()
    tx[c.SOURCE_ROW] = range(len(tx))
    tx[c.ORDER_TS] = _local_time(tx[TS])
    return tx.drop(columns=[TS]), negative


def _week_starts(tx: pd.DataFrame, last_week: int) -> tuple[pd.Series, int]:
    """Local Monday 00:00 of weeks 1..last_week, anchored on the Monday of week 1's first line.

    Returns the starts (indexed by week) and how many transactions fall outside their week (0 expected).
    """
    first = tx.loc[tx[WEEK].eq(1), c.ORDER_TS].min().normalize()
    anchor = first - pd.Timedelta(days=first.weekday())
    weeks = pd.RangeIndex(1, last_week + 1, name=WEEK)
    starts = pd.Series(anchor + pd.to_timedelta((weeks - 1) * 7, unit="D"), index=weeks)
    offset = tx[c.ORDER_TS] - tx[WEEK].map(starts)
    outside = int((offset.lt(pd.Timedelta(0)) | offset.ge(pd.Timedelta(days=7))).sum())
    if outside:
        logger.warning("%d transactions fall outside their week under the %s mapping", outside, TIMEZONE)
    return starts, outside


def _order_items(sales: pd.DataFrame) -> pd.DataFrame:
    frame = sales.assign(
        **{
            c.ORDER_ITEM_ID: sales[BASKET].astype(str) + "-" + sales[PRODUCT].astype(str),
            c.ORDER_ID: sales[BASKET].astype(str),
            c.SKU_ID: sales[PRODUCT].astype(str),
            c.UNIT_PRICE: sales[SALES] / sales[c.QUANTITY],
            c.DISCOUNT_AMOUNT: sales[RETAIL_DISC],
        }
    )
    return contract_frame("order_items", frame, extra=(c.SOURCE_ROW,))


def _rejected_items(zero: pd.DataFrame) -> pd.DataFrame:
    frame = zero.assign(
        **{
            c.ORDER_ITEM_ID: zero[BASKET].astype(str) + "-" + zero[PRODUCT].astype(str),
            c.ORDER_ID: zero[BASKET].astype(str),
            c.SKU_ID: zero[PRODUCT].astype(str),
            c.DISCOUNT_AMOUNT: zero[RETAIL_DISC],
        }
    )
    return rejected_frame("order_items", frame, REASON_ZERO_QUANTITY)


def _orders(tx: pd.DataFrame, sale_baskets: pd.Index) -> pd.DataFrame:
    """Basket headers over all lines (coupon lines included), kept for baskets with at least one sale line."""
    coupon = tx[COUPON_DISC] + tx[MATCH_DISC]
    headers = (
        tx.assign(_coupon=coupon)
        .groupby(BASKET, sort=False)
        .agg(**{c.ORDER_TS: (c.ORDER_TS, "min"), HOUSEHOLD: (HOUSEHOLD, "first"), c.COUPON_AMOUNT: ("_coupon", "sum")})
    )
    headers = headers[headers.index.isin(sale_baskets)].reset_index()
    headers[c.ORDER_ID] = headers[BASKET].astype(str)
    headers[c.USER_ID] = id_strings(headers[HOUSEHOLD])
    headers[c.STATUS], headers[c.CHANNEL] = STATUS_PAID, CHANNEL
    headers[c.COUPON_AMOUNT] = headers[c.COUPON_AMOUNT].round(2)
    return contract_frame("orders", headers)


def _users(*household_ids: pd.Series) -> pd.DataFrame:
    ids = pd.Index(pd.concat(household_ids, ignore_index=True).unique()).sort_values()
    return contract_frame("users", pd.DataFrame({c.USER_ID: id_strings(pd.Series(ids))}))


def _product_names(catalogue: pd.DataFrame) -> list[str | None]:
    parts = catalogue[[PRODUCT_CATEGORY, PRODUCT_TYPE, PACKAGE]].itertuples(index=False)
    return [", ".join(p for p in row if isinstance(p, str) and p.strip()) or None for row in parts]


def _products(catalogue: pd.DataFrame, sales: pd.DataFrame, referenced: pd.Series) -> tuple[pd.DataFrame, int]:
    """The catalogue plus minimal rows (category unknown) for referenced ids it lacks, and how many were added."""
    shelf = (sales[SALES] + sales[RETAIL_DISC]) / sales[c.QUANTITY]
    list_price = shelf[sales[SALES].gt(0)].groupby(sales[PRODUCT]).median()
    missing = pd.Index(referenced.unique()).difference(pd.Index(catalogue[PRODUCT]))
    products = pd.concat([catalogue, pd.DataFrame({PRODUCT: missing, DEPARTMENT: CATEGORY_UNKNOWN})], ignore_index=True)
    frame = pd.DataFrame(
        {
            c.SKU_ID: products[PRODUCT].astype(str),
            c.PRODUCT_NAME: _product_names(products),
            c.CATEGORY: products[DEPARTMENT].fillna(CATEGORY_UNKNOWN),
            c.BRAND: products[BRAND],
            c.LIST_PRICE: products[PRODUCT].map(list_price),
        }
    )
    return contract_frame("products", frame), len(missing)


_PLACEMENT_SQL = f"""
SELECT {PRODUCT}, {WEEK},
       count(*) FILTER (WHERE display_location <> '{NO_PLACEMENT}') AS {DISPLAY_STORES},
       count(*) FILTER (WHERE mailer_location <> '{NO_PLACEMENT}') AS {MAILER_STORES}
FROM read_parquet(?)
GROUP BY {PRODUCT}, {WEEK}
"""


def _placements(path: Path) -> pd.DataFrame:
    """Stores with a display / mailer placement per product and week, aggregated in DuckDB (20.9M rows in)."""
    with duckdb.connect() as con:
        return con.execute(_PLACEMENT_SQL, [str(path)]).df()


def _placement_rows(placements: pd.DataFrame, week_start: pd.Series, kind: str, stores: str) -> pd.DataFrame:
    rows = placements[placements[stores].gt(0)]
    week = rows[WEEK].astype(str)
    start = rows[WEEK].map(week_start)
    frame = pd.DataFrame(
        {
            c.PROMOTION_ID: kind + "-" + rows[PRODUCT].astype(str) + "-w" + week,
            c.PROMOTION_NAME: kind + ", week " + week + ", " + rows[stores].astype(str) + " stores",
            c.PROMO_TYPE: kind,
            c.SKU_ID: rows[PRODUCT].astype(str),
            c.START_AT: start,
            c.END_AT: end_of_period(start + pd.Timedelta(days=7)),
        }
    )
    return contract_frame("promotions", frame)


def _campaign_dates(campaigns: pd.DataFrame) -> pd.DataFrame:
    """Campaign id -> first and last moment (local calendar days, end day inclusive)."""
    start = campaigns[START_DATE].astype("datetime64[ns]").dt.normalize()
    end = end_of_period(campaigns[END_DATE].astype("datetime64[ns]").dt.normalize() + pd.Timedelta(days=1))
    return pd.DataFrame({CAMPAIGN: campaigns[CAMPAIGN], c.START_AT: start, c.END_AT: end})


def _campaign_rows(campaigns: pd.DataFrame) -> pd.DataFrame:
    ids = campaigns[CAMPAIGN].astype(str)
    frame = _campaign_dates(campaigns).assign(
        **{
            c.PROMOTION_ID: "campaign-" + ids,
            c.PROMOTION_NAME: "campaign " + ids + " (" + campaigns[CAMPAIGN_TYPE].fillna("type unknown") + ")",
            c.PROMO_TYPE: "campaign",
        }
    )
    return contract_frame("promotions", frame)


def _coupon_rows(coupons: pd.DataFrame, campaigns: pd.DataFrame) -> pd.DataFrame:
    rows = coupons.drop_duplicates().merge(_campaign_dates(campaigns), on=CAMPAIGN, how="left")
    upc, campaign, sku = rows[COUPON_UPC].astype(str), rows[CAMPAIGN].astype(str), rows[PRODUCT].astype(str)
    frame = rows.assign(
        **{
            c.PROMOTION_ID: "coupon-" + campaign + "-" + upc + "-" + sku,
            c.PROMOTION_NAME: "coupon " + upc + ", campaign " + campaign,
            c.PROMO_TYPE: "coupon",
            c.SKU_ID: sku,
        }
    )
    return contract_frame("promotions", frame)


def _promotions(root: Path, src: dict[str, pd.DataFrame], week_start: pd.Series) -> pd.DataFrame:
    placements = _placements(root / FILES["promotions"])
    parts = [
        _placement_rows(placements, week_start, "display", DISPLAY_STORES),
        _placement_rows(placements, week_start, "mailer", MAILER_STORES),
        _campaign_rows(src["campaign_descriptions"]),
        _coupon_rows(src["coupons"], src["campaign_descriptions"]),
    ]
    return pd.concat(parts, ignore_index=True)


def _lineage(
    root: Path, tables: dict[str, pd.DataFrame], rejected: pd.DataFrame, extra: dict[str, Any]
) -> dict[str, Any]:
    orders, promos = tables["orders"], tables["promotions"]
    files = {name: {**file_lineage(root / f), "maps_to": MAPS_TO[name]} for name, f in FILES.items()}
    return {
        "files": files,
        "source_rows": files["transactions"]["rows"],
        "order_items": len(tables["order_items"]),
        "returns": 0,
        "rejected": len(rejected),
        "rejected_by_reason": rejected[c.REASON].value_counts().to_dict(),
        "orders": len(orders),
        "guest_orders": int(orders[c.USER_ID].isna().sum()),
        "users": len(tables["users"]),
        "products": len(tables["products"]),
        "promotions_by_type": promos[c.PROMO_TYPE].value_counts().to_dict(),
        **extra,
        "rules": {
            "time": f"transaction_timestamp (UTC) converted to naive {TIMEZONE} time",
            "week": "week w starts on local Monday (week 1's Monday) + 7 (w - 1) days, ends 1 µs before the next",
            "opened_at": "2017-01-01, the first day of the data (first line 2017-01-01 06:53 local)",
            "unit_price": "sales_value / quantity",
            "discount_amount": "retail_disc (loyalty-card discount, already deducted from sales_value)",
            "coupon_amount": "basket sum of coupon_disc + coupon_match_disc",
            "list_price": "median (sales_value + retail_disc) / quantity over sale lines with sales_value > 0",
        },
    }


def _read_small(root: Path) -> dict[str, pd.DataFrame]:
    names = ("products", "demographics", "campaign_descriptions", "campaigns", "coupons")
    return {name: pd.read_parquet(root / FILES[name]) for name in names}


def load(root: Path | None = None) -> SourceBatch:
    """Read the Complete Journey files under ``root`` (default: ``<shared_data>/complete_journey``)."""
    root = Path(root or default_root())
    for name in FILES.values():
        require_file(root / name)
    src = _read_small(root)
    tx, negative_discounts = _read_transactions(root / FILES["transactions"])
    week_start, outside = _week_starts(tx, last_week=int(tx[WEEK].max()))
    sale = tx[c.QUANTITY].gt(0)
    sales, zero = tx[sale], tx[~sale]
    referenced = pd.concat([sales[PRODUCT], src["coupons"][PRODUCT]], ignore_index=True)
    products, added_products = _products(src["products"], sales, referenced)
    households = (tx[HOUSEHOLD], src["demographics"][HOUSEHOLD], src["campaigns"][HOUSEHOLD])
    tables = {
        "users": _users(*households),
        "products": products,
        "orders": _orders(tx, pd.Index(sales[BASKET].unique())),
        "order_items": _order_items(sales),
        "promotions": _promotions(root, src, week_start),
    }
    rejected = _rejected_items(zero)
    extra = {
        "baskets": int(tx[BASKET].nunique()),
        "baskets_without_sale_line": int(tx[BASKET].nunique() - len(tables["orders"])),
        "products_not_in_catalogue": added_products,
        "coupon_duplicates_dropped": int(src["coupons"].duplicated().sum()),
        "households_with_demographics": len(src["demographics"]),
        "transactions_outside_their_week": outside,
        "negative_discount_amounts": negative_discounts,
        "week_1_start": str(week_start.iloc[0]),
    }
    batch = SourceBatch(
        name=DATASET,
        tables=tables,
        opened_at=OPENED_AT,
        rejected={"order_items": rejected},
        lineage=_lineage(root, tables, rejected, extra),
    )
    logger.info("complete_journey: %s", {k: batch.lineage[k] for k in ("order_items", "rejected", "orders")})
    return batch
