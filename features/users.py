"""User features "as of" a cutoff: RFM windows, trend, breadth, discounts, returns, service and delivery experience,
reviews and browsing. Every input row is filtered to strictly before the cutoff, including the facts that become
known later (a delivery, a ticket resolution, a refund): a point-in-time value is what an operator could have seen.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from features import columns as c
from features.engine import LakeTables
from features.expr import as_of_literal, days_between, flag, safe_ratio
from features.spec import Feature, FeatureSet

WINDOWS = (30, 90, 180, 365)
EVENT_WINDOWS = (7, 30)


def _order_values(lake: LakeTables, t: ir.TimestampScalar) -> ir.Table:
    """One row per non-guest, non-cancelled order placed before the cutoff, with its value and units."""
    orders = lake["orders"]
    orders = orders.filter((orders[c.ORDER_TS] < t) & orders[c.USER_ID].notnull() & (orders[c.STATUS] != "cancelled"))
    items = lake["order_items"]
    values = items.group_by(c.ORDER_ID).aggregate(
        gross=(items[c.QUANTITY] * items[c.UNIT_PRICE]).sum(),
        discount=items[c.DISCOUNT_AMOUNT].fill_null(0.0).sum(),
        units=items[c.QUANTITY].sum(),
    )
    joined = orders.join(values, c.ORDER_ID)
    return joined.mutate(age=days_between(t, joined[c.ORDER_TS]))


def _order_aggregates(ov: ir.Table) -> ir.Table:
    windows = {}
    for days in WINDOWS:
        inside = flag(ov.age <= days)
        windows[f"orders_{days}d"] = inside.sum()
        windows[f"spend_{days}d"] = (ov.gross * inside).sum()
    return ov.group_by(c.USER_ID).aggregate(
        orders_total=ov.count(),
        spend_total=ov.gross.sum(),
        units_total=ov.units.sum(),
        discount_total=ov.discount.sum(),
        coupon_orders=flag(ov[c.COUPON_AMOUNT] > 0).sum(),
        orders_prev_90d=flag((ov.age > 90) & (ov.age <= 180)).sum(),
        recency_days=ov.age.min(),
        first_order_age=ov.age.max(),
        **windows,
    )


def _delivery_aggregates(ov: ir.Table, t: ir.TimestampScalar) -> ir.Table:
    """Late deliveries count only once delivered before the cutoff: until then the operator cannot know."""
    done = ov.filter(ov[c.DELIVERED_AT].notnull() & (ov[c.DELIVERED_AT] < t) & ov[c.PROMISED_AT].notnull())
    delay = days_between(done[c.DELIVERED_AT], done[c.PROMISED_AT])
    return done.group_by(c.USER_ID).aggregate(
        late_deliveries=flag(delay > 0).sum(),
        mean_delivery_delay_days=ibis.greatest(delay, 0.0).mean(),
    )


def _category_breadth(lake: LakeTables, ov: ir.Table) -> ir.Table:
    items, products = lake["order_items"], lake["products"]
    lines = items.join(ov.select(c.ORDER_ID, c.USER_ID), c.ORDER_ID).join(
        products.select(c.SKU_ID, c.CATEGORY), c.SKU_ID
    )
    return lines.group_by(c.USER_ID).aggregate(distinct_categories=lines[c.CATEGORY].nunique())


def _return_aggregates(lake: LakeTables, t: ir.TimestampScalar) -> ir.Table:
    returns = lake["returns"]
    returns = returns.filter((returns[c.RETURNED_AT] < t) & returns[c.USER_ID].notnull())
    return returns.group_by(c.USER_ID).aggregate(
        returned_units=returns[c.QUANTITY].sum(), refund_total=returns[c.REFUND_AMOUNT].sum()
    )


def _ticket_aggregates(lake: LakeTables, t: ir.TimestampScalar) -> ir.Table:
    tickets = lake["service_tickets"]
    tickets = tickets.filter(tickets[c.CREATED_AT] < t)
    open_at_cutoff = tickets[c.RESOLVED_AT].isnull() | (tickets[c.RESOLVED_AT] >= t)
    return tickets.group_by(c.USER_ID).aggregate(
        tickets_total=tickets.count(), tickets_unresolved=flag(open_at_cutoff).sum()
    )


def _review_aggregates(lake: LakeTables, t: ir.TimestampScalar) -> ir.Table:
    reviews = lake["reviews"]
    reviews = reviews.filter(reviews[c.REVIEW_TS] < t)
    return reviews.group_by(c.USER_ID).aggregate(
        reviews_written=reviews.count(), mean_rating_given=reviews[c.RATING].cast("float64").mean()
    )


def _event_aggregates(lake: LakeTables, t: ir.TimestampScalar) -> ir.Table:
    events = lake["events"]
    events = events.filter(events[c.EVENT_TS] < t)
    age = days_between(t, events[c.EVENT_TS])
    counts = {
        f"{kind}s_{days}d": flag((events[c.EVENT_TYPE] == kind) & (age <= days)).sum()
        for kind in ("view", "cart")
        for days in EVENT_WINDOWS
    }
    return events.group_by(c.USER_ID).aggregate(days_since_last_event=age.min(), **counts)


def _population(lake: LakeTables, t: ir.TimestampScalar, orders: ir.Table) -> ir.Table:
    """Users who exist at the cutoff: signed up before it, or (signup unknown) already bought before it."""
    users = lake["users"].select(c.USER_ID, c.SIGNUP_AT)
    users = users.left_join(orders.select(c.USER_ID, "first_order_age"), c.USER_ID).select(
        c.USER_ID, c.SIGNUP_AT, "first_order_age"
    )
    exists = (users[c.SIGNUP_AT] < t) | (users[c.SIGNUP_AT].isnull() & users.first_order_age.notnull())
    users = users.filter(exists)
    tenure = ibis.coalesce(days_between(t, users[c.SIGNUP_AT]), users.first_order_age)
    return users.mutate(tenure_days=tenure).drop(c.SIGNUP_AT, "first_order_age")


def compute(lake: LakeTables, as_of: pd.Timestamp) -> ir.Table:
    """All available user features as of ``as_of`` (one row per existing user)."""
    t = as_of_literal(as_of)
    ov = _order_values(lake, t)
    orders = _order_aggregates(ov)
    parts = [orders, _delivery_aggregates(ov, t), _category_breadth(lake, ov)]
    optional = {
        "returns": _return_aggregates,
        "service_tickets": _ticket_aggregates,
        "reviews": _review_aggregates,
        "events": _event_aggregates,
    }
    parts += [build(lake, t) for table, build in optional.items() if lake.has(table)]
    result = _population(lake, t, orders)
    for part in parts:
        result = result.left_join(part, c.USER_ID).drop(f"{c.USER_ID}_right")
    return _finish(result, lake)


def _finish(r: ir.Table, lake: LakeTables) -> ir.Table:
    """Derived ratios, then exactly the declared columns (see ``FeatureSet.project``)."""
    derived = {
        "first_order_days": r.first_order_age,
        "avg_order_value": safe_ratio(r.spend_total, r.orders_total),
        "order_trend_90d": safe_ratio(
            r.orders_90d.fill_null(0) - r.orders_prev_90d.fill_null(0),
            r.orders_90d.fill_null(0) + r.orders_prev_90d.fill_null(0),
        ),
        "discount_share": safe_ratio(r.discount_total, r.spend_total + r.discount_total),
        "coupon_order_share": safe_ratio(r.coupon_orders, r.orders_total),
    }
    if lake.has("returns"):
        derived["return_rate"] = safe_ratio(r.returned_units, r.units_total)
        derived["refund_rate"] = safe_ratio(r.refund_total, r.spend_total)
    return USER_FEATURES.project(r.mutate(**derived), lake)


def _window_features() -> list[Feature]:
    feats = []
    for days in WINDOWS:
        feats.append(Feature(f"orders_{days}d", "int64", f"Orders placed in the {days} days before the cutoff."))
        feats.append(Feature(f"spend_{days}d", "float64", f"Money spent in the {days} days before the cutoff."))
    return feats


def _event_features() -> list[Feature]:
    return [
        Feature(f"{kind}s_{days}d", "int64", f"Product {kind}s in the last {days} days.", ("events",))
        for kind in ("view", "cart")
        for days in EVENT_WINDOWS
    ]


USER_FEATURES = FeatureSet(
    name="user",
    entity="user",
    keys=(c.USER_ID,),
    description="Purchase, service, review and browsing history of a user up to the cutoff.",
    requires=("users", "orders", "order_items", "products"),
    compute=compute,
    features=(
        Feature("recency_days", "float64", "Days since the last order (null: never ordered)."),
        Feature("tenure_days", "float64", "Days since signup, or since the first order when signup is unknown."),
        Feature("first_order_days", "float64", "Days since the first order (null: never ordered); BG/NBD's age T."),
        Feature("orders_total", "int64", "Orders placed before the cutoff."),
        Feature("spend_total", "float64", "Money spent before the cutoff."),
        *_window_features(),
        Feature("avg_order_value", "float64", "Mean order value (spend / orders)."),
        Feature("order_trend_90d", "float64", "(orders last 90 d - prior 90 d) / their sum, in [-1, 1]."),
        Feature("distinct_categories", "int64", "Distinct categories bought."),
        Feature("discount_share", "float64", "Item discounts / (spend + discounts)."),
        Feature("coupon_order_share", "float64", "Share of orders that used a coupon."),
        Feature("return_rate", "float64", "Units returned / units bought.", ("returns",)),
        Feature("refund_rate", "float64", "Money refunded / money spent.", ("returns",)),
        Feature("tickets_total", "int64", "Customer-service tickets opened.", ("service_tickets",)),
        Feature("tickets_unresolved", "int64", "Tickets still open at the cutoff.", ("service_tickets",)),
        Feature("late_deliveries", "int64", "Orders delivered after the promised time (known by the cutoff)."),
        Feature("mean_delivery_delay_days", "float64", "Mean days late over delivered orders (early counts 0)."),
        Feature("reviews_written", "int64", "Reviews posted.", ("reviews",)),
        Feature("mean_rating_given", "float64", "Mean star rating of the user's reviews.", ("reviews",)),
        *_event_features(),
        Feature("days_since_last_event", "float64", "Days since the last view/cart/favourite.", ("events",)),
    ),
)
