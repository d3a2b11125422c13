"""Review-authenticity features: one row per review (point in time per row) and one per reviewer (as of a cutoff).

A review's features use only what was known when it was posted (the reviewer's history, the product's earlier
reviews, purchases and deliveries before it), so its values never change once it exists: a model trained on
them sees exactly what a moderator could have seen. Windowed counts run on whole seconds (see
:func:`features.expr.epoch_second`); text statistics and near-duplicate counts are computed in pandas/numpy by
:mod:`features.review_text` and joined back as an Ibis memtable, so the sets run on DuckDB and PySpark alike.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from features import columns as c
from features.engine import LakeTables
from features.expr import as_of_literal, days_between, epoch_second, flag, safe_ratio, sum_before
from features.review_text import near_duplicate_counts, text_statistics
from features.spec import Feature, FeatureSet

DAY = 86400
WINDOWS = (1, 7, 30)
BURST_SECONDS = DAY
DUPLICATE_WINDOW_DAYS = 30
ORDER_TABLES = ("orders", "order_items")
_KEY = "_second"


def _has_orders(lake: LakeTables) -> bool:
    return all(lake.has(name) for name in ORDER_TABLES)


def _reviews_before(lake: LakeTables, t: ir.TimestampScalar) -> ir.Table:
    reviews = lake["reviews"]
    reviews = reviews.filter(reviews[c.REVIEW_TS] < t)
    return reviews.select(
        c.REVIEW_ID, c.USER_ID, c.SKU_ID, c.REVIEW_TS, c.RATING, c.DEVICE_ID, c.REVIEW_TEXT,
        **{_KEY: epoch_second(reviews[c.REVIEW_TS])},
    )  # fmt: skip


def _history(r: ir.Table) -> ir.Table:
    """The reviewer's and the product's earlier reviews, as window sums that exclude simultaneous rows."""
    one, key = flag(r[c.REVIEW_ID].notnull()), r[_KEY]
    by_user, by_sku = [c.USER_ID], [c.SKU_ID]
    windows = {f"reviewer_reviews_{d}d": sum_before(one, by_user, key, d * DAY) for d in WINDOWS}
    earlier = sum_before(one, by_user, key)
    sku_earlier = sum_before(one, by_sku, key)
    sku_mean = safe_ratio(sum_before(r[c.RATING].cast("float64"), by_sku, key), sku_earlier)
    return r.mutate(
        **windows,
        reviewer_reviews_before=earlier,
        reviewer_five_star_share=safe_ratio(sum_before(flag(r[c.RATING] == 5), by_user, key), earlier),
        product_reviews_24h=sum_before(one, by_sku, key, BURST_SECONDS),
        rating_deviation=r[c.RATING].cast("float64") - sku_mean,
    )


def _account_age(lake: LakeTables, r: ir.Table) -> ir.Table:
    users = lake["users"].select(c.USER_ID, c.SIGNUP_AT)
    joined = r.select(c.REVIEW_ID, c.USER_ID, c.REVIEW_TS).join(users, c.USER_ID)
    return joined.select(c.REVIEW_ID, account_age_days=days_between(joined[c.REVIEW_TS], joined[c.SIGNUP_AT]))


def _orders_before(lake: LakeTables, t: ir.TimestampScalar) -> ir.Table:
    """Orders placed before the cutoff. Status is the latest status (known only later), so it is not used."""
    orders = lake["orders"]
    return orders.filter((orders[c.ORDER_TS] < t) & orders[c.USER_ID].notnull())


def _purchases(lake: LakeTables, r: ir.Table, t: ir.TimestampScalar) -> ir.Table:
    """Whether the reviewer had ordered the SKU before the review, and when the latest such order arrived."""
    orders = _orders_before(lake, t).select(c.ORDER_ID, c.USER_ID, c.ORDER_TS, c.DELIVERED_AT)
    bought = lake["order_items"].select(c.ORDER_ID, c.SKU_ID).join(orders, c.ORDER_ID)
    rv = r.select(c.REVIEW_ID, c.USER_ID, c.SKU_ID, c.REVIEW_TS)
    pairs = rv.join(
        bought,
        [
            rv[c.USER_ID] == bought[c.USER_ID],
            rv[c.SKU_ID] == bought[c.SKU_ID],
            bought[c.ORDER_TS] < rv[c.REVIEW_TS],
        ],
    )
    arrived = pairs[c.DELIVERED_AT].notnull() & (pairs[c.DELIVERED_AT] < pairs[c.REVIEW_TS])
    latest = pairs.group_by(c.REVIEW_ID, c.REVIEW_TS).aggregate(
        verified_purchase=pairs.count(),
        _delivered=ibis.ifelse(arrived, pairs[c.DELIVERED_AT], ibis.null("timestamp")).max(),
    )
    return latest.select(
        c.REVIEW_ID, "verified_purchase", days_from_delivery=days_between(latest[c.REVIEW_TS], latest._delivered)
    )


def _orders_count(lake: LakeTables, r: ir.Table, t: ir.TimestampScalar) -> ir.Table:
    orders = _orders_before(lake, t).select(c.USER_ID, c.ORDER_TS)
    rv = r.select(c.REVIEW_ID, c.USER_ID, c.REVIEW_TS)
    pairs = rv.join(orders, [rv[c.USER_ID] == orders[c.USER_ID], orders[c.ORDER_TS] < rv[c.REVIEW_TS]])
    return pairs.group_by(c.REVIEW_ID).aggregate(reviewer_orders_before=pairs.count())


def _device_sharing(r: ir.Table) -> ir.Table:
    """Accounts that had posted from the review's device by the time of the review (itself included)."""
    posted = r.filter(r[c.DEVICE_ID].notnull())
    firsts = posted.group_by(c.DEVICE_ID, c.USER_ID).aggregate(_first=posted[c.REVIEW_TS].min())
    rv = posted.select(c.REVIEW_ID, c.DEVICE_ID, c.REVIEW_TS)
    pairs = rv.join(firsts, [rv[c.DEVICE_ID] == firsts[c.DEVICE_ID], firsts._first <= rv[c.REVIEW_TS]])
    return pairs.group_by(c.REVIEW_ID).aggregate(device_shared_accounts=pairs.count())


def _text_features(lake: LakeTables, r: ir.Table) -> ir.Table:
    """Style statistics and near-duplicate counts, computed in pandas and handed back as an Ibis memtable."""
    frame = lake.con.to_pandas(r.select(c.REVIEW_ID, c.REVIEW_TEXT, _KEY))
    stats = text_statistics(frame[c.REVIEW_TEXT])
    stats["near_duplicate_count_30d"] = near_duplicate_counts(
        frame[c.REVIEW_TEXT], frame[_KEY].to_numpy(), DUPLICATE_WINDOW_DAYS * DAY
    )
    schema = {c.REVIEW_ID: "string", **{col: str(dtype) for col, dtype in stats.dtypes.items()}}
    stats = stats.astype({col: "Float64" for col, dtype in schema.items() if dtype == "float64"})  # NaN -> null
    stats.insert(0, c.REVIEW_ID, frame[c.REVIEW_ID].astype(str))
    return ibis.memtable(stats, schema=schema)


def _enriched(lake: LakeTables, as_of: pd.Timestamp) -> ir.Table:
    """Every review before the cutoff with every available feature (plus its time and device, for reviewers)."""
    t = as_of_literal(as_of)
    base = _reviews_before(lake, t)
    parts = [_account_age(lake, base), _device_sharing(base), _text_features(lake, base)]
    if _has_orders(lake):
        parts += [_purchases(lake, base, t), _orders_count(lake, base, t)]
    result = _history(base)
    for part in parts:
        result = result.left_join(part, c.REVIEW_ID).drop(f"{c.REVIEW_ID}_right")
    return result


def compute_reviews(lake: LakeTables, as_of: pd.Timestamp) -> ir.Table:
    """One row per review posted before ``as_of``; each row as of its own posting time."""
    r = _enriched(lake, as_of)
    if _has_orders(lake):
        r = r.mutate(verified_purchase=flag(r.verified_purchase > 0))
    r = r.mutate(**{c.REVIEWER_ID: r[c.USER_ID]})
    return REVIEW_FEATURES.project(r, lake)


def _device_reach(r: ir.Table) -> ir.Table:
    """Per reviewer: the most accounts seen on any one of their devices by the cutoff."""
    posted = r.filter(r[c.DEVICE_ID].notnull())
    accounts = posted.group_by(c.DEVICE_ID).aggregate(_accounts=posted[c.USER_ID].nunique())
    used = posted.select(c.USER_ID, c.DEVICE_ID).distinct().join(accounts, c.DEVICE_ID)
    return used.group_by(c.USER_ID).aggregate(max_device_accounts=used._accounts.max())


def _reviewer_aggregates(r: ir.Table, t: ir.TimestampScalar, with_orders: bool) -> ir.Table:
    """Shares are exact sums over counts (a mean of 0/1 flags could be typed DECIMAL and rounded by Spark)."""
    age = days_between(t, r[c.REVIEW_TS])
    aggs = {
        "reviews_total": r.count(),
        **{f"reviews_{d}d": flag(age <= d).sum() for d in WINDOWS},
        "five_star_share": safe_ratio(flag(r[c.RATING] == 5).sum(), r.count()),
        "mean_near_duplicate_count": r.near_duplicate_count_30d.cast("float64").mean(),
        "distinct_devices": r[c.DEVICE_ID].nunique(),
    }
    if with_orders:
        aggs["verified_share"] = safe_ratio(flag(r.verified_purchase > 0).sum(), r.count())
    return r.group_by(c.USER_ID).aggregate(**aggs)


def compute_reviewers(lake: LakeTables, as_of: pd.Timestamp) -> ir.Table:
    """One row per account that had posted a review before ``as_of``, as of ``as_of``."""
    t = as_of_literal(as_of)
    r = _enriched(lake, as_of)
    with_orders = _has_orders(lake)
    result = _reviewer_aggregates(r, t, with_orders)
    users = lake["users"].select(c.USER_ID, c.SIGNUP_AT)
    parts = [users.mutate(account_age_days=days_between(t, users[c.SIGNUP_AT])).drop(c.SIGNUP_AT), _device_reach(r)]
    if with_orders:
        orders = _orders_before(lake, t)
        parts.append(orders.group_by(c.USER_ID).aggregate(orders_total=orders.count()))
    for part in parts:
        result = result.left_join(part, c.USER_ID).drop(f"{c.USER_ID}_right")
    return REVIEWER_FEATURES.project(result, lake)


def _window_features() -> list[Feature]:
    return [
        Feature(f"reviewer_reviews_{d}d", "int64", f"Reviewer's reviews in the {d} day(s) before this one.")
        for d in WINDOWS
    ]


REVIEW_FEATURES = FeatureSet(
    name="review",
    entity="review",
    keys=(c.REVIEW_ID,),
    description="A review and its context as known when it was posted (fixed once the review exists).",
    requires=("reviews", "users"),
    compute=compute_reviews,
    features=(
        Feature(c.SKU_ID, "string", "Reviewed SKU (for joins and evidence, not a model input)."),
        Feature(c.REVIEWER_ID, "string", "Reviewer account (for joins and evidence, not a model input)."),
        Feature(c.RATING, "int64", "Stars given, 1 to 5."),
        Feature("account_age_days", "float64", "Days from the reviewer's signup to the review (null: unknown)."),
        *_window_features(),
        Feature("reviewer_reviews_before", "int64", "All reviews the reviewer had posted before this one."),
        Feature("reviewer_five_star_share", "float64", "Share of 5-star ratings among the reviewer's earlier reviews."),
        Feature(
            "verified_purchase", "int64", "1 if the reviewer had ordered this SKU before the review.", ORDER_TABLES
        ),
        Feature(
            "days_from_delivery",
            "float64",
            "Days from the latest delivery of this SKU to the reviewer before the review (null: none).",
            ORDER_TABLES,
        ),
        Feature("product_reviews_24h", "int64", "The product's reviews in the 24 hours before this one (bursts)."),
        Feature("rating_deviation", "float64", "Rating minus the product's mean rating over earlier reviews."),
        Feature("text_length", "int64", "Characters in the text (0: no text)."),
        Feature("punct_share", "float64", "Share of punctuation characters in the text."),
        Feature("exclaim_share", "float64", "Share of exclamation marks (! and ！)."),
        Feature("digit_share", "float64", "Share of digits."),
        Feature("latin_share", "float64", "Share of Latin letters (half- or full-width)."),
        Feature("max_char_run", "int64", "Longest run of one repeated character (好好好 = 3)."),
        Feature(
            "near_duplicate_count_30d",
            "int64",
            "Reviews of any product in the 30 days before with near-identical text (char 3-gram Jaccard >= 0.7).",
        ),
        Feature("device_shared_accounts", "int64", "Accounts that had posted from this device by then (0: unknown)."),
        Feature("reviewer_orders_before", "int64", "Orders the reviewer had placed before the review.", ORDER_TABLES),
    ),
)

REVIEWER_FEATURES = FeatureSet(
    name="reviewer",
    entity="reviewer",
    keys=(c.USER_ID,),
    description="Each account that has reviewed, summarised as of the cutoff.",
    requires=("reviews", "users"),
    compute=compute_reviewers,
    features=(
        Feature("account_age_days", "float64", "Days since signup (null: unknown)."),
        Feature("reviews_total", "int64", "Reviews posted before the cutoff."),
        *(Feature(f"reviews_{d}d", "int64", f"Reviews posted in the {d} day(s) before the cutoff.") for d in WINDOWS),
        Feature("five_star_share", "float64", "Share of 5-star ratings."),
        Feature("verified_share", "float64", "Share of reviews backed by an earlier order of the SKU.", ORDER_TABLES),
        Feature("mean_near_duplicate_count", "float64", "Mean near-duplicate count (30 d) of the reviewer's reviews."),
        Feature("distinct_devices", "int64", "Distinct devices the reviewer posted from."),
        Feature("max_device_accounts", "int64", "Most accounts seen posting from any one of the reviewer's devices."),
        Feature("orders_total", "int64", "Orders placed before the cutoff.", ORDER_TABLES),
    ),
)
