"""Adapter for UCI "Online Retail" (UK online gift retailer, 2010-12-01 .. 2011-12-09) into the contract.

One source line ends up in exactly one place, so source rows = order_items + returns + rejected:

- sale lines (invoice not starting with "C"/"A", Quantity > 0) -> ``order_items``; their invoices -> ``orders``
  (status "paid", channel "online": the donor describes a non-store online retailer). Lines without CustomerID
  are guest orders (user_id null), never dropped.
- cancellation lines (InvoiceNo "C...") -> ``returns`` (quantity = |Quantity|, refund = |Quantity| x UnitPrice),
  linked to the latest sale invoice of the same customer and StockCode at or before the cancellation
  (``merge_asof``); guest cancellations and those with no earlier purchase stay unlinked (order_id null).
- everything else -> ``rejected["order_items"]`` with a reason: stock adjustments (Quantity <= 0 on a
  non-cancellation invoice, notes like "damaged", "check") and the three "A" invoices (Adjust bad debt, one of
  them with a positive price that would otherwise pass as an 11,062 sale).

Choices worth knowing:
- sku_id = StockCode; a lower-case code whose upper-case twin also occurs ("85123a") is merged into the twin,
  since the donor documents codes as digits plus an upper-case letter.
- product_name = the most frequent Description on priced sale lines (stripped); "Unknown" (the convenience
  copy's stand-in for a missing Description) is null. category = "non_merchandise" for postage, fees, manual
  and discount codes (see ``NON_MERCHANDISE_CODES``), else "unknown": the dataset has no categories.
- list_price = median UnitPrice over the SKU's sale lines with a positive price (robust to the wholesale and
  zero-price lines); null when the SKU was never sold at a price.
- users: one per CustomerID; country = the customer's latest specified Country ("Unspecified" is null);
  signup_at is unknown and stays null.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from features import columns as c
from features.settings import get_settings
from features.sources.base import SourceBatch
from features.sources.realdata import contract_frame, file_lineage, id_strings, rejected_frame, require_file

logger = logging.getLogger(__name__)

DATASET = "online_retail"
FOLDER = "uci_online_retail"
FILE = "online_retail.parquet"
OPENED_AT = pd.Timestamp("2010-12-01")
STATUS_PAID = "paid"
CHANNEL = "online"
CATEGORY_UNKNOWN = "unknown"
CATEGORY_NON_MERCHANDISE = "non_merchandise"
NON_MERCHANDISE_CODES = frozenset({"POST", "DOT", "C2", "M", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "B"})
MISSING_DESCRIPTION = "Unknown"
UNSPECIFIED_COUNTRY = "Unspecified"
CANCEL_PREFIX = "C"
BAD_DEBT_PREFIX = "A"
REASON_STOCK_ADJUSTMENT = "stock adjustment: quantity <= 0 on a non-cancellation invoice (Quantity)"
REASON_BAD_DEBT = "accounting adjustment: InvoiceNo starts with 'A' (Adjust bad debt), not a sale (InvoiceNo)"

# source columns
INVOICE_NO, STOCK_CODE, DESCRIPTION = "InvoiceNo", "StockCode", "Description"
QTY, INVOICE_DATE, PRICE, CUSTOMER, COUNTRY = "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"

# working columns
_DESC, _KIND = "_description", "_kind"
SALE, RETURN, REJECTED = "sale", "return", "rejected"


def default_root() -> Path:
    return get_settings().shared_data / FOLDER


def _normalise_sku(codes: pd.Series) -> tuple[pd.Series, int]:
    """Merge lower-case codes into their upper-case twin when the twin exists; return codes and merge count."""
    upper = codes.str.upper()
    known = pd.Index(codes.unique())
    merge = (upper != codes) & upper.isin(known)
    logger.debug("merged %d lower-case stock codes", codes[merge].nunique())
    return upper.where(merge, codes), int(codes[merge].nunique())


def _read(path: Path) -> tuple[pd.DataFrame, int]:
    """Source lines renamed to contract names (plus a few working columns), with ``source_row``."""
    raw = pd.read_parquet(path)
    sku, merged = _normalise_sku(raw[STOCK_CODE])
    desc = raw[DESCRIPTION].str.strip()
    lines = pd.DataFrame(
        {
            c.SOURCE_ROW: range(len(raw)),
            c.ORDER_ID: raw[INVOICE_NO],
            c.SKU_ID: sku,
            _DESC: desc.where(desc.ne(MISSING_DESCRIPTION) & desc.ne(""), None),
            c.QUANTITY: raw[QTY].astype("int64"),
            c.ORDER_TS: raw[INVOICE_DATE].astype("datetime64[ns]"),
            c.UNIT_PRICE: raw[PRICE].astype("float64"),
            c.USER_ID: id_strings(raw[CUSTOMER]),
            c.COUNTRY: raw[COUNTRY].where(raw[COUNTRY].ne(UNSPECIFIED_COUNTRY), None),
        }
    )
    return lines, merged


def _classify(lines: pd.DataFrame) -> pd.DataFrame:
    """Tag each line sale / return / rejected (with reason): one bucket per line keeps the row-count invariant."""
    invoice = lines[c.ORDER_ID]
    cancel = invoice.str.startswith(CANCEL_PREFIX)
    bad_debt = invoice.str.startswith(BAD_DEBT_PREFIX)
    adjustment = ~cancel & ~bad_debt & lines[c.QUANTITY].le(0)
    reason = pd.Series(None, index=lines.index, dtype=object)
    reason[adjustment] = REASON_STOCK_ADJUSTMENT
    reason[bad_debt] = REASON_BAD_DEBT
    kind = pd.Series(SALE, index=lines.index)
    kind[cancel] = RETURN
    kind[reason.notna()] = REJECTED
    return lines.assign(**{_KIND: kind, c.REASON: reason})


def _line_ids(lines: pd.DataFrame) -> pd.Series:
    """Stable line id: invoice plus the 0-based source row ("536365-0")."""
    return lines[c.ORDER_ID] + "-" + lines[c.SOURCE_ROW].astype(str)


def _order_items(sales: pd.DataFrame) -> pd.DataFrame:
    return contract_frame("order_items", sales.assign(**{c.ORDER_ITEM_ID: _line_ids(sales)}), extra=(c.SOURCE_ROW,))


def _orders(sales: pd.DataFrame) -> pd.DataFrame:
    """One header per sale invoice; order_ts = its earliest line (42 invoices span two minutes)."""
    headers = (
        sales.groupby(c.ORDER_ID, sort=False)
        .agg(**{c.ORDER_TS: (c.ORDER_TS, "min"), c.USER_ID: (c.USER_ID, "first")})
        .reset_index()
    )
    headers[c.STATUS] = STATUS_PAID
    headers[c.CHANNEL] = CHANNEL
    return contract_frame("orders", headers)


def _link_returns(cancels: pd.DataFrame, sales: pd.DataFrame) -> pd.Series:
    """Original order of each cancellation: latest sale invoice, same customer and SKU, at or before it."""
    keys = [c.USER_ID, c.SKU_ID]
    left = cancels.loc[cancels[c.USER_ID].notna(), [*keys, c.ORDER_TS]].sort_values(c.ORDER_TS)
    right = sales.loc[sales[c.USER_ID].notna(), [*keys, c.ORDER_TS, c.ORDER_ID]].sort_values(c.ORDER_TS)
    matched = pd.merge_asof(
        left.reset_index(), right, on=c.ORDER_TS, by=keys, direction="backward", allow_exact_matches=True
    ).set_index("index")
    return matched[c.ORDER_ID].reindex(cancels.index)


def _returns(cancels: pd.DataFrame, sales: pd.DataFrame) -> pd.DataFrame:
    quantity = cancels[c.QUANTITY].abs()
    frame = cancels.assign(
        **{
            c.RETURN_ID: _line_ids(cancels),
            c.ORDER_ID: _link_returns(cancels, sales),
            c.RETURNED_AT: cancels[c.ORDER_TS],
            c.QUANTITY: quantity,
            c.REFUND_AMOUNT: quantity * cancels[c.UNIT_PRICE],
        }
    )
    return contract_frame("returns", frame, extra=(c.SOURCE_ROW,))


def _users(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per CustomerID seen anywhere; country = latest specified one (8 customers have two)."""
    known = lines[lines[c.USER_ID].notna()]
    users = pd.DataFrame({c.USER_ID: known[c.USER_ID].unique()})
    with_country = known[known[c.COUNTRY].notna()].sort_values([c.ORDER_TS, c.SOURCE_ROW])
    latest = with_country.drop_duplicates(c.USER_ID, keep="last").set_index(c.USER_ID)[c.COUNTRY]
    users[c.COUNTRY] = users[c.USER_ID].map(latest)
    return contract_frame("users", users)


def _product_names(mapped: pd.DataFrame) -> pd.Series:
    """Most frequent Description per SKU, preferring priced sale lines over cancellations and free lines."""
    named = mapped[mapped[_DESC].notna()]
    priority = (~(named[_KIND].eq(SALE) & named[c.UNIT_PRICE].gt(0))).astype(int).rename("_priority")
    counts = named.groupby([c.SKU_ID, priority, _DESC]).size().rename("_n").reset_index()
    best = counts.sort_values([c.SKU_ID, "_priority", "_n", _DESC], ascending=[True, True, False, True])
    return best.drop_duplicates(c.SKU_ID).set_index(c.SKU_ID)[_DESC]


def _products(mapped: pd.DataFrame) -> pd.DataFrame:
    """Catalogue = every SKU on a sale or return line (what the foreign keys need)."""
    products = pd.DataFrame({c.SKU_ID: pd.unique(mapped[c.SKU_ID])})
    priced = mapped[mapped[_KIND].eq(SALE) & mapped[c.UNIT_PRICE].gt(0)]
    products[c.PRODUCT_NAME] = products[c.SKU_ID].map(_product_names(mapped))
    products[c.LIST_PRICE] = products[c.SKU_ID].map(priced.groupby(c.SKU_ID)[c.UNIT_PRICE].median())
    non_merch = products[c.SKU_ID].isin(NON_MERCHANDISE_CODES)
    products[c.CATEGORY] = CATEGORY_UNKNOWN
    products.loc[non_merch, c.CATEGORY] = CATEGORY_NON_MERCHANDISE
    return contract_frame("products", products)


def _lineage(path: Path, lines: pd.DataFrame, tables: dict[str, pd.DataFrame], merged: int) -> dict[str, Any]:
    returns, orders = tables["returns"], tables["orders"]
    rejected = lines[lines[_KIND].eq(REJECTED)]
    return {
        "source": file_lineage(path),
        "source_rows": len(lines),
        "order_items": len(tables["order_items"]),
        "returns": len(returns),
        "rejected": len(rejected),
        "rejected_by_reason": rejected[c.REASON].value_counts().to_dict(),
        "orders": len(orders),
        "guest_orders": int(orders[c.USER_ID].isna().sum()),
        "guest_order_items": int(lines[lines[_KIND].eq(SALE)][c.USER_ID].isna().sum()),
        "returns_linked": int(returns[c.ORDER_ID].notna().sum()),
        "returns_unlinked": int(returns[c.ORDER_ID].isna().sum()),
        "returns_unlinked_guest": int(returns[c.USER_ID].isna().sum()),
        "users": len(tables["users"]),
        "products": len(tables["products"]),
        "lowercase_stock_codes_merged": merged,
        "rules": {
            "return_link": "latest sale invoice of the same CustomerID and StockCode at or before the cancellation",
            "list_price": "median UnitPrice over the SKU's sale lines with UnitPrice > 0",
            "category": f"{CATEGORY_NON_MERCHANDISE} for {sorted(NON_MERCHANDISE_CODES)}, else {CATEGORY_UNKNOWN}",
            "opened_at": "first day of the data (first invoice 2010-12-01 08:26)",
        },
    }


def load(root: Path | None = None) -> SourceBatch:
    """Read ``online_retail.parquet`` under ``root`` (default: ``<shared_data>/uci_online_retail``)."""
    path = require_file(Path(root or default_root()) / FILE)
    lines, merged = _read(path)
    lines = _classify(lines)
    sales, cancels = lines[lines[_KIND].eq(SALE)], lines[lines[_KIND].eq(RETURN)]
    tables = {
        "users": _users(lines),
        "products": _products(lines[lines[_KIND].ne(REJECTED)]),
        "orders": _orders(sales),
        "order_items": _order_items(sales),
        "returns": _returns(cancels, sales),
    }
    rejected = lines[lines[_KIND].eq(REJECTED)]
    rejected = rejected.assign(**{c.ORDER_ITEM_ID: _line_ids(rejected)})
    batch = SourceBatch(
        name=DATASET,
        tables=tables,
        opened_at=OPENED_AT,
        rejected={"order_items": rejected_frame("order_items", rejected, rejected[c.REASON])},
        lineage=_lineage(path, lines, tables, merged),
    )
    logger.info("online_retail: %s", {k: batch.lineage[k] for k in ("order_items", "returns", "rejected")})
    return batch
