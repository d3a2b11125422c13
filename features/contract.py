"""The raw-data contract: tables, columns, dtypes, keys, allowed values and personal-data flags.

Every source (the synthetic world, the public-dataset adapters, a shop's own files) is mapped into these tables
before anything else reads them, so the feature layer is written once against one shape. The contract is data,
not code paths: the validator, the pandera schemas and the README table are all derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandera.pandas as pa

from features import columns as c

DType = Literal["string", "int", "float", "bool", "timestamp", "date"]

PANDAS_DTYPES: dict[str, str] = {
    "string": "object",
    "int": "int64",
    "float": "float64",
    "bool": "bool",
    "timestamp": "datetime64[ns]",
    "date": "datetime64[ns]",
}


@dataclass(frozen=True)
class Column:
    """One contract column; ``ge``/``gt``/``le`` are value bounds, ``allowed`` a closed vocabulary."""

    name: str
    dtype: DType
    description: str
    nullable: bool = False
    pii: bool = False
    allowed: tuple[str, ...] | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    in_platform_time: bool = False


def pandas_dtype(col: Column) -> str:
    """The pandas dtype a validated column has in the lake (nullable ints and bools use pandas' masked types)."""
    if col.nullable and col.dtype == "int":
        return "Int64"
    if col.nullable and col.dtype == "bool":
        return "boolean"
    return PANDAS_DTYPES[col.dtype]


@dataclass(frozen=True)
class ForeignKey:
    """``column`` must name an existing ``ref_table.ref_column`` (nulls allowed where the column is nullable)."""

    column: str
    ref_table: str
    ref_column: str


@dataclass(frozen=True)
class NotBefore:
    """Row rule: ``later`` must not be earlier than ``earlier`` (both nullable timestamps)."""

    later: str
    earlier: str


@dataclass(frozen=True)
class Table:
    """A contract table with its keys and row rules."""

    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    not_before: tuple[NotBefore, ...] = ()
    time_column: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [col.name for col in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def pii_columns(self) -> list[str]:
        return [col.name for col in self.columns if col.pii]


ORDER_STATUSES = ("paid", "shipped", "delivered", "cancelled", "returned")
EVENT_TYPES = ("view", "cart", "favourite")
PROMO_TYPES = ("festival", "discount", "coupon", "display", "mailer", "campaign", "flash_sale")
TICKET_CATEGORIES = ("late_delivery", "defect", "wrong_item", "refund", "account", "other")
GENDERS = ("F", "M", "U")
VERDICTS = ("genuine", "fake")
VERDICT_SOURCES = ("manual_review", "user_report")

TABLES: tuple[Table, ...] = (
    Table(
        "users",
        "Registered accounts (members, households, customers).",
        (
            Column(c.USER_ID, "string", "Account id."),
            Column(c.SIGNUP_AT, "timestamp", "Registration time.", nullable=True, in_platform_time=True),
            Column(c.USER_NAME, "string", "Display name.", nullable=True, pii=True),
            Column(c.PHONE, "string", "Mobile number.", nullable=True, pii=True),
            Column(c.CITY, "string", "City of the default address.", nullable=True, pii=True),
            Column(c.COUNTRY, "string", "Country of the default address.", nullable=True),
            Column(c.GENDER, "string", "F, M or U(nknown).", nullable=True, pii=True, allowed=GENDERS),
            Column(c.BIRTH_YEAR, "int", "Year of birth.", nullable=True, pii=True, ge=1900, le=2025),
            Column(c.CHANNEL, "string", "Acquisition channel.", nullable=True),
            Column(c.DEVICE_ID, "string", "Device fingerprint at registration.", nullable=True, pii=True),
        ),
        primary_key=(c.USER_ID,),
        time_column=c.SIGNUP_AT,
    ),
    Table(
        "suppliers",
        "Vendors that replenish SKUs.",
        (
            Column(c.SUPPLIER_ID, "string", "Supplier id."),
            Column(c.SUPPLIER_NAME, "string", "Supplier name.", nullable=True),
            Column(c.MEAN_LEAD_TIME_DAYS, "float", "Quoted mean lead time in days.", nullable=True, gt=0),
        ),
        primary_key=(c.SUPPLIER_ID,),
    ),
    Table(
        "products",
        "The catalogue: one row per SKU.",
        (
            Column(c.SKU_ID, "string", "SKU id."),
            Column(c.PRODUCT_NAME, "string", "Title shown to shoppers.", nullable=True),
            Column(c.CATEGORY, "string", "Top-level category (服装, 美妆, 数码 ...)."),
            Column(c.BRAND, "string", "Brand.", nullable=True),
            Column(c.SUPPLIER_ID, "string", "Default supplier.", nullable=True),
            Column(c.LIST_PRICE, "float", "Regular price before discounts.", nullable=True, ge=0),
            Column(c.UNIT_COST, "float", "Purchase cost per unit.", nullable=True, ge=0),
            Column(c.LAUNCHED_AT, "timestamp", "First day on sale.", nullable=True, in_platform_time=True),
        ),
        primary_key=(c.SKU_ID,),
        foreign_keys=(ForeignKey(c.SUPPLIER_ID, "suppliers", c.SUPPLIER_ID),),
    ),
    Table(
        "orders",
        "Order headers; user_id is null for guest checkouts.",
        (
            Column(c.ORDER_ID, "string", "Order id."),
            Column(c.USER_ID, "string", "Buyer; null for a guest order.", nullable=True),
            Column(c.ORDER_TS, "timestamp", "Time the order was placed.", in_platform_time=True),
            Column(c.STATUS, "string", "Latest status.", allowed=ORDER_STATUSES),
            Column(c.CHANNEL, "string", "app, web, mini_program, store ...", nullable=True),
            Column(c.COUPON_AMOUNT, "float", "Coupon value applied to the order.", nullable=True, ge=0),
            Column(c.PROMISED_AT, "timestamp", "Promised delivery time.", nullable=True),
            Column(c.SHIPPED_AT, "timestamp", "Hand-over to the carrier.", nullable=True, in_platform_time=True),
            Column(c.DELIVERED_AT, "timestamp", "Delivery time.", nullable=True, in_platform_time=True),
        ),
        primary_key=(c.ORDER_ID,),
        foreign_keys=(ForeignKey(c.USER_ID, "users", c.USER_ID),),
        not_before=(NotBefore(c.SHIPPED_AT, c.ORDER_TS), NotBefore(c.DELIVERED_AT, c.ORDER_TS)),
        time_column=c.ORDER_TS,
    ),
    Table(
        "order_items",
        "Order lines: what was sold, how many, at what price.",
        (
            Column(c.ORDER_ITEM_ID, "string", "Order-line id."),
            Column(c.ORDER_ID, "string", "Order header."),
            Column(c.SKU_ID, "string", "SKU sold."),
            Column(c.QUANTITY, "int", "Units sold; a sale has at least one.", gt=0),
            Column(c.UNIT_PRICE, "float", "Price paid per unit after item discounts.", ge=0),
            Column(c.DISCOUNT_AMOUNT, "float", "Item-level discount on the line.", nullable=True, ge=0),
        ),
        primary_key=(c.ORDER_ITEM_ID,),
        foreign_keys=(
            ForeignKey(c.ORDER_ID, "orders", c.ORDER_ID),
            ForeignKey(c.SKU_ID, "products", c.SKU_ID),
        ),
    ),
    Table(
        "returns",
        "Returns and refunds, linked to the original order where it is known.",
        (
            Column(c.RETURN_ID, "string", "Return id."),
            Column(c.ORDER_ID, "string", "Original order; null when it cannot be linked.", nullable=True),
            Column(c.USER_ID, "string", "Customer; null for a guest.", nullable=True),
            Column(c.SKU_ID, "string", "SKU returned."),
            Column(c.RETURNED_AT, "timestamp", "Time of the return or refund.", in_platform_time=True),
            Column(c.QUANTITY, "int", "Units returned.", gt=0),
            Column(c.REFUND_AMOUNT, "float", "Money refunded.", ge=0),
            Column(c.RETURN_REASON, "string", "Stated reason.", nullable=True),
        ),
        primary_key=(c.RETURN_ID,),
        foreign_keys=(
            ForeignKey(c.ORDER_ID, "orders", c.ORDER_ID),
            ForeignKey(c.USER_ID, "users", c.USER_ID),
            ForeignKey(c.SKU_ID, "products", c.SKU_ID),
        ),
        time_column=c.RETURNED_AT,
    ),
    Table(
        "events",
        "Behaviour events: product views, add-to-cart and favourites.",
        (
            Column(c.EVENT_ID, "string", "Event id."),
            Column(c.USER_ID, "string", "Who."),
            Column(c.SKU_ID, "string", "Which product."),
            Column(c.EVENT_TS, "timestamp", "When.", in_platform_time=True),
            Column(c.EVENT_TYPE, "string", "view, cart or favourite.", allowed=EVENT_TYPES),
            Column(c.SESSION_ID, "string", "Browsing session.", nullable=True),
        ),
        primary_key=(c.EVENT_ID,),
        foreign_keys=(ForeignKey(c.USER_ID, "users", c.USER_ID), ForeignKey(c.SKU_ID, "products", c.SKU_ID)),
        time_column=c.EVENT_TS,
    ),
    Table(
        "reviews",
        "Product reviews with rating and text.",
        (
            Column(c.REVIEW_ID, "string", "Review id."),
            Column(c.USER_ID, "string", "Reviewer account."),
            Column(c.SKU_ID, "string", "Reviewed product."),
            Column(c.ORDER_ID, "string", "Order the review is attached to, if any.", nullable=True),
            Column(c.REVIEW_TS, "timestamp", "Posting time.", in_platform_time=True),
            Column(c.RATING, "int", "Stars, 1 to 5.", ge=1, le=5),
            Column(c.REVIEW_TEXT, "string", "Review text.", nullable=True),
            Column(c.DEVICE_ID, "string", "Device fingerprint used to post.", nullable=True, pii=True),
        ),
        primary_key=(c.REVIEW_ID,),
        foreign_keys=(
            ForeignKey(c.USER_ID, "users", c.USER_ID),
            ForeignKey(c.SKU_ID, "products", c.SKU_ID),
            ForeignKey(c.ORDER_ID, "orders", c.ORDER_ID),
        ),
        time_column=c.REVIEW_TS,
    ),
    Table(
        "review_verdicts",
        "Moderators' verdicts on reviews: the labels a platform has (a sample, decided some time after posting).",
        (
            Column(c.REVIEW_ID, "string", "Review judged (one verdict per review: the latest)."),
            Column(c.VERDICT, "string", "genuine or fake.", allowed=VERDICTS),
            Column(c.DECIDED_AT, "timestamp", "When the verdict was made.", in_platform_time=True),
            Column(c.VERDICT_SOURCE, "string", "How it reached a moderator.", nullable=True, allowed=VERDICT_SOURCES),
        ),
        primary_key=(c.REVIEW_ID,),
        foreign_keys=(ForeignKey(c.REVIEW_ID, "reviews", c.REVIEW_ID),),
        time_column=c.DECIDED_AT,
    ),
    Table(
        "inventory",
        "Daily closing on-hand stock per SKU.",
        (
            Column(c.SKU_ID, "string", "SKU."),
            Column(c.DATE, "date", "Calendar day.", in_platform_time=True),
            Column(c.ON_HAND, "int", "Units on hand at the end of the day.", ge=0),
        ),
        primary_key=(c.SKU_ID, c.DATE),
        foreign_keys=(ForeignKey(c.SKU_ID, "products", c.SKU_ID),),
        time_column=c.DATE,
    ),
    Table(
        "purchase_orders",
        "Replenishment orders to suppliers; received_at is null while in transit.",
        (
            Column(c.PO_ID, "string", "Purchase-order id."),
            Column(c.SKU_ID, "string", "SKU ordered."),
            Column(c.SUPPLIER_ID, "string", "Supplier.", nullable=True),
            Column(c.ORDERED_AT, "timestamp", "Order date.", in_platform_time=True),
            Column(c.RECEIVED_AT, "timestamp", "Receipt date.", nullable=True, in_platform_time=True),
            Column(c.QUANTITY, "int", "Units ordered.", gt=0),
        ),
        primary_key=(c.PO_ID,),
        foreign_keys=(
            ForeignKey(c.SKU_ID, "products", c.SKU_ID),
            ForeignKey(c.SUPPLIER_ID, "suppliers", c.SUPPLIER_ID),
        ),
        not_before=(NotBefore(c.RECEIVED_AT, c.ORDERED_AT),),
        time_column=c.ORDERED_AT,
    ),
    Table(
        "promotions",
        "Campaign calendar; sku_id null means a platform-wide event (618, 双11 ...).",
        (
            Column(c.PROMOTION_ID, "string", "Promotion row id."),
            Column(c.PROMOTION_NAME, "string", "Campaign name."),
            Column(c.PROMO_TYPE, "string", "Kind of promotion.", allowed=PROMO_TYPES),
            Column(c.SKU_ID, "string", "SKU on promotion; null for platform-wide.", nullable=True),
            Column(c.START_AT, "timestamp", "First moment of the promotion."),
            Column(c.END_AT, "timestamp", "Last moment of the promotion."),
            Column(c.DISCOUNT_RATE, "float", "Fraction off the list price.", nullable=True, ge=0, le=1),
        ),
        primary_key=(c.PROMOTION_ID,),
        foreign_keys=(ForeignKey(c.SKU_ID, "products", c.SKU_ID),),
        not_before=(NotBefore(c.END_AT, c.START_AT),),
        time_column=c.START_AT,
    ),
    Table(
        "service_tickets",
        "Customer-service tickets (complaints, refunds, delivery problems).",
        (
            Column(c.TICKET_ID, "string", "Ticket id."),
            Column(c.USER_ID, "string", "Customer."),
            Column(c.ORDER_ID, "string", "Order concerned, if any.", nullable=True),
            Column(c.CREATED_AT, "timestamp", "Opened.", in_platform_time=True),
            Column(c.TICKET_CATEGORY, "string", "Topic.", allowed=TICKET_CATEGORIES),
            Column(c.RESOLVED, "bool", "Closed to the customer's satisfaction."),
            Column(c.RESOLVED_AT, "timestamp", "Closed at.", nullable=True, in_platform_time=True),
        ),
        primary_key=(c.TICKET_ID,),
        foreign_keys=(
            ForeignKey(c.USER_ID, "users", c.USER_ID),
            ForeignKey(c.ORDER_ID, "orders", c.ORDER_ID),
        ),
        not_before=(NotBefore(c.RESOLVED_AT, c.CREATED_AT),),
        time_column=c.CREATED_AT,
    ),
)

TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in TABLES)
_BY_NAME = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    """Look up a contract table, with a message that lists the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; the contract has: {', '.join(TABLE_NAMES)}") from None


def pandera_schema(name: str) -> pa.DataFrameSchema:
    """Column-level checks of a contract table as a pandera schema (dtype, nulls, vocabularies, bounds).

    Cross-row rules (keys, foreign keys, ordering of timestamps, platform time window) need other tables or
    run-time settings and live in :mod:`features.validation`.
    """
    spec = table(name)
    cols: dict[str, pa.Column] = {}
    for col in spec.columns:
        checks: list[pa.Check] = []
        if col.allowed is not None:
            checks.append(pa.Check.isin(list(col.allowed)))
        if col.ge is not None:
            checks.append(pa.Check.ge(col.ge))
        if col.gt is not None:
            checks.append(pa.Check.gt(col.gt))
        if col.le is not None:
            checks.append(pa.Check.le(col.le))
        cols[col.name] = pa.Column(pandas_dtype(col), checks=checks, nullable=col.nullable)
    return pa.DataFrameSchema(cols, strict=True, name=name)


def markdown_table() -> str:
    """The contract as Markdown, for the README (generated, so docs never drift from code)."""
    lines = [
        "| table | column | type | null | rule | personal | description |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in TABLES:
        fks = {fk.column: f"→ {fk.ref_table}.{fk.ref_column}" for fk in spec.foreign_keys}
        for col in spec.columns:
            rules = []
            if col.name in spec.primary_key:
                rules.append("PK")
            if col.name in fks:
                rules.append(fks[col.name])
            if col.allowed:
                rules.append("in {" + ", ".join(col.allowed) + "}")
            for sym, bound in ((">=", col.ge), (">", col.gt), ("<=", col.le)):
                if bound is not None:
                    rules.append(f"{sym} {bound:g}")
            if col.in_platform_time:
                rules.append("opened ≤ t ≤ now")
            rules += [f">= {r.earlier}" for r in spec.not_before if r.later == col.name]
            lines.append(
                f"| {spec.name} | {col.name} | {col.dtype} | {'yes' if col.nullable else 'no'} | "
                f"{'; '.join(rules)} | {'yes' if col.pii else ''} | {col.description} |"
            )
    return "\n".join(lines)
