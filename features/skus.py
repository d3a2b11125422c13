"""SKU features "as of" a cutoff: a dense daily series per SKU (Nixtla long format) and a per-SKU snapshot.

The daily set is what demand models train on: one row per SKU per complete calendar day before the cutoff, from
the SKU's first day on sale, with y = 0 on days without sales (a missing day is not a missing value), stock,
price, promotions and the festival calendar. It holds the SKUs the shop actively sells: the ``demand_max_skus``
(setting, default 5,000) with the most revenue in the 91 days before the cutoff, SKUs without sales there ranking
last, so a catalogue no larger than that keeps every SKU on sale (the synthetic world's 2,000); a grocery
catalogue's long tail (Complete Journey: 92k products, 17M SKU-days) is never expanded into the dense grid. The
snapshot covers every SKU on sale: it summarises the recent series, current stock and the supplier lead times
that safety stock needs. Every input row is filtered to strictly before the cutoff; a purchase
order received at or after it is still in transit, not a lead-time sample.

Days are integer day numbers (days since 1970-01-01, UTC) on both engines; the calendar is a small in-memory table
(:mod:`features.calendar`) that the SKUs are range-joined to, which builds the dense grid on DuckDB and PySpark.
The calendar starts in 2009 (the first year with known festival dates), so a series never reaches back before
2009-01-01.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from features import calendar as cal
from features import columns as c
from features.engine import LakeTables
from features.expr import as_of_literal, days_between, flag, safe_ratio
from features.settings import get_settings
from features.spec import Feature, FeatureSet

DAY = cal.DAY
FIRST_TS = "first_ts"
FIRST_DAY = "first_day"
REVENUE = "revenue"
IN_STOCK = "in_stock"
PRICE = "price"
PROMO_FLAGS = {"promo_festival": "festival", "promo_display": "display", "promo_mailer": "mailer"}
PROMO_COUPON = "promo_coupon"
PROMO_ANY = "promo_any"
SNAPSHOT_DAYS = 91
SELECTION_DAYS = 91  # the demand panel's SKUs: the most revenue over these days before the cutoff
RECENT_REVENUE = "recent_revenue"
UNIT_WINDOWS = (7, 28, 91)
STOCKOUT_WINDOW = 28
LEAD_TIME_QUANTILE = 0.9
OPEN_ENDED_DAY = 10**6  # a day number far after any cutoff (year 4707)


def _end_day(as_of: pd.Timestamp) -> int:
    """Day number of the cutoff's day: the series covers complete days strictly before it."""
    return int(cal.day_index(pd.DatetimeIndex([pd.Timestamp(as_of)]))[0])


def _attach(left: ir.Table, right: ir.Table, keys: tuple[str, ...]) -> ir.Table:
    """Left join on equal-named keys, keeping the left keys only."""
    joined = left.left_join(right, list(keys))
    return joined.drop(*[f"{k}_right" for k in keys if f"{k}_right" in joined.columns])


def _sales(lake: LakeTables, t: ir.TimestampScalar) -> ir.Table:
    """Units and money per SKU and order day; cancelled orders are not sales, returned ones were."""
    orders = lake["orders"]
    orders = orders.filter((orders[c.ORDER_TS] < t) & (orders[c.STATUS] != "cancelled"))
    lines = lake["order_items"].join(orders.select(c.ORDER_ID, c.ORDER_TS), c.ORDER_ID)
    lines = lines.mutate(**{DAY: cal.day_number(lines[c.ORDER_TS])})
    return lines.group_by([c.SKU_ID, DAY]).aggregate(
        **{
            c.Y: lines[c.QUANTITY].sum(),
            REVENUE: (lines[c.QUANTITY] * lines[c.UNIT_PRICE]).sum(),
            FIRST_TS: lines[c.ORDER_TS].min(),
        }
    )


def _inventory(lake: LakeTables, t: ir.TimestampScalar) -> ir.Table:
    inv = lake["inventory"]
    inv = inv.filter(inv[c.DATE] < t)
    return inv.select(c.SKU_ID, c.DATE, c.ON_HAND, **{DAY: cal.day_number(inv[c.DATE])})


def _first_on_sale(lake: LakeTables, t: ir.TimestampScalar, sales: ir.Table) -> ir.Table:
    """Earliest evidence a SKU was on sale before the cutoff: launch date, first sale or first stock record."""
    products = lake["products"]
    launched = products.filter(products[c.LAUNCHED_AT] < t)
    parts = [
        launched.select(c.SKU_ID, **{FIRST_TS: launched[c.LAUNCHED_AT].cast("timestamp")}),
        sales.select(c.SKU_ID, **{FIRST_TS: sales[FIRST_TS].cast("timestamp")}),
    ]
    if lake.has("inventory"):
        inv = _inventory(lake, t)
        parts.append(inv.select(c.SKU_ID, **{FIRST_TS: inv[c.DATE].cast("timestamp")}))
    firsts = ibis.union(*parts).group_by(c.SKU_ID).aggregate(**{FIRST_TS: ibis._[FIRST_TS].min()})
    return firsts.mutate(**{FIRST_DAY: cal.day_number(firsts[FIRST_TS])})


def select_active(firsts: ir.Table, sales: ir.Table, end_day: int, max_skus: int) -> ir.Table:
    """The ``max_skus`` SKUs of ``firsts`` with the most revenue in the last ``SELECTION_DAYS`` days (0: all).

    Why: demand planning forecasts the SKUs a shop actively sells, and the dense daily grid grows with SKUs x days.
    SKUs without sales in the window rank last (ties by id, so the choice is deterministic): out of stock or just
    launched, they stay in while the catalogue fits, and a catalogue of at most ``max_skus`` keeps every SKU.
    """
    if max_skus <= 0:
        return firsts
    recent = sales.filter((sales[DAY] >= end_day - SELECTION_DAYS) & (sales[DAY] < end_day))
    revenue = recent.group_by(c.SKU_ID).aggregate(**{RECENT_REVENUE: recent[REVENUE].sum()})
    ranked = _attach(firsts, revenue, (c.SKU_ID,))
    order = [ibis.desc(ranked[RECENT_REVENUE].fill_null(0)), ranked[c.SKU_ID]]
    ranked = ranked.mutate(rank_=ibis.row_number().over(order_by=order))
    return ranked.filter(ranked.rank_ < max_skus).drop(RECENT_REVENUE, "rank_")


def _grid(firsts: ir.Table, days: ir.Table) -> ir.Table:
    """Every (SKU, day) from the SKU's first day on sale: a range join of SKUs to the calendar."""
    grid = firsts.join(days, firsts[FIRST_DAY] <= days[DAY])
    return grid.drop(FIRST_DAY)


def _in_stock(daily: ir.Table) -> ir.FloatingValue:
    """Whether the SKU could be bought that day: 1 if the day closed with stock or had sales, else 0.

    Stock leaves only through sales, so a day that opened with stock and closed empty had sales and counts as in
    stock (the sell-out day); 0 means it neither closed with stock nor sold, i.e. it was out all day. Null when
    the day has no inventory record and no sale.
    """
    close = daily[c.ON_HAND]
    evidence = (close.fill_null(0) > 0) | (daily[c.Y] > 0)
    return ibis.ifelse(evidence, 1.0, ibis.ifelse(close.isnull(), ibis.null("float64"), 0.0))


def _daily_base(
    lake: LakeTables, as_of: pd.Timestamp, start: pd.Timestamp, max_skus: int = 0, ranked_at: pd.Timestamp | None = None
) -> tuple[ir.Table, ir.Table, ir.Table]:
    """The dense grid from ``start`` with y, price and stock (of the ``max_skus`` SKUs selected by their revenue
    before ``ranked_at``, default ``as_of``; 0: all SKUs on sale), plus every SKU's first day and the calendar."""
    t = as_of_literal(as_of)
    sales = _sales(lake, t)
    firsts = _first_on_sale(lake, t, sales)
    days = cal.calendar_table(start, pd.Timestamp(as_of).normalize())
    rank_day = _end_day(min(pd.Timestamp(ranked_at if ranked_at is not None else as_of), pd.Timestamp(as_of)))
    selected = select_active(firsts.select(c.SKU_ID, FIRST_DAY), sales, rank_day, max_skus)
    daily = _grid(selected, days)
    daily = _attach(daily, sales.select(c.SKU_ID, DAY, c.Y, REVENUE), (c.SKU_ID, DAY))
    daily = _attach(daily, lake["products"].select(c.SKU_ID, c.LIST_PRICE), (c.SKU_ID,))
    y = daily[c.Y].fill_null(0)
    price = ibis.coalesce(safe_ratio(daily[REVENUE], y), daily[c.LIST_PRICE].cast("float64"))
    daily = daily.mutate(**{c.Y: y, PRICE: price})
    if lake.has("inventory"):
        daily = _attach(daily, _inventory(lake, t).select(c.SKU_ID, DAY, c.ON_HAND), (c.SKU_ID, DAY))
        daily = daily.mutate(**{IN_STOCK: _in_stock(daily)})
    return daily, firsts, days


def _promotion_days(lake: LakeTables, t: ir.TimestampScalar, days: ir.Table) -> tuple[ir.Table, ir.Table]:
    """Promotion flags and best discount per (SKU, day) and, for platform-wide rows (sku_id null), per day."""
    promos = lake["promotions"]
    promos = promos.filter(promos[c.START_AT] < t)
    # an end not known yet (null) means still running: the calendar stops the coverage at the cutoff anyway
    last = cal.day_number(promos[c.END_AT]).fill_null(OPEN_ENDED_DAY)
    promos = promos.mutate(first=cal.day_number(promos[c.START_AT]), last=last)
    covered = promos.join(days.select(DAY), (days[DAY] >= promos.first) & (days[DAY] <= promos.last))
    kind = covered[c.PROMO_TYPE]
    aggs = {
        c.DISCOUNT_RATE: covered[c.DISCOUNT_RATE].max(),
        PROMO_ANY: flag(kind.notnull()).max(),
        **{name: flag(kind == value).max() for name, value in PROMO_FLAGS.items()},
        PROMO_COUPON: flag(kind == "coupon").max(),
    }
    per_sku = covered.filter(covered[c.SKU_ID].notnull()).group_by([c.SKU_ID, DAY]).aggregate(**aggs)
    platform = covered.filter(covered[c.SKU_ID].isnull()).group_by(DAY).aggregate(**aggs)
    return per_sku, platform


def _with_promotions(lake: LakeTables, as_of: pd.Timestamp, daily: ir.Table, days: ir.Table) -> ir.Table:
    """Platform-wide rows apply to every SKU: each flag and the discount are the max over both kinds of row."""
    per_sku, platform = _promotion_days(lake, as_of_literal(as_of), days)
    names = [c.DISCOUNT_RATE, PROMO_ANY, *PROMO_FLAGS, PROMO_COUPON]
    daily = _attach(daily, per_sku, (c.SKU_ID, DAY))
    daily = _attach(daily, platform.rename({f"{n}_platform": n for n in names}), (DAY,))
    merged = {n: ibis.greatest(daily[n].fill_null(0), daily[f"{n}_platform"].fill_null(0)) for n in names}
    return daily.mutate(**merged)


def compute_daily(
    lake: LakeTables, as_of: pd.Timestamp, max_skus: int | None = None, ranked_at: pd.Timestamp | None = None
) -> ir.Table:
    """The dense daily series of the actively sold SKUs before ``as_of`` (see the module docstring).

    ``max_skus``: how many SKUs to keep by recent revenue (0: every SKU on sale); default the
    ``demand_max_skus`` setting. ``ranked_at``: rank them on the 91 days before this earlier moment instead of
    before ``as_of`` (a backtest's first origin: the SKUs a planner would have chosen then, not after the fact).
    """
    max_skus = get_settings().demand_max_skus if max_skus is None else max_skus
    daily, _firsts, days = _daily_base(lake, as_of, cal.CALENDAR_START, max_skus, ranked_at)
    if lake.has("promotions"):
        daily = _with_promotions(lake, as_of, daily, days)
    keys = {c.UNIQUE_ID: daily[c.SKU_ID], c.DS: daily[c.DS]}
    return SKU_DAILY_FEATURES.project(daily, lake, keys)


def _window_aggregates(daily: ir.Table, end_day: int, stock: bool) -> ir.Table:
    """Sums, intermittency and spread over the last days (a SKU younger than the window: over its days)."""
    age = end_day - daily[DAY]
    y = daily[c.Y]
    aggs = {f"units_{days}d": (y * flag(age <= days)).sum() for days in UNIT_WINDOWS}
    aggs |= {
        # a mean of ints, not of flag(): its 1.0/0.0 are DECIMAL on Spark, whose mean keeps 5 places
        "zero_sale_share_91d": (y == 0).cast("int64").mean(),
        "mean_units_91d": y.cast("float64").mean(),
        "std_units_91d": y.cast("float64").std(),
    }
    if stock:
        aggs["stockout_days_28d"] = flag((daily[IN_STOCK] == 0) & (age <= STOCKOUT_WINDOW)).sum()
    return daily.group_by(c.SKU_ID).aggregate(**aggs)


def _closing_stock(lake: LakeTables, t: ir.TimestampScalar) -> ir.Table:
    """The last closing stock recorded before the cutoff."""
    inv = _inventory(lake, t)
    return inv.group_by(c.SKU_ID).aggregate(**{c.ON_HAND: inv[c.ON_HAND].argmax(inv[c.DATE]).cast("float64")})


def _lead_times(lake: LakeTables, t: ir.TimestampScalar) -> ir.Table:
    """Lead-time samples are POs received before the cutoff; ordered-but-not-received ones are in transit."""
    pos = lake["purchase_orders"]
    pos = pos.filter(pos[c.ORDERED_AT] < t)
    received = pos[c.RECEIVED_AT].notnull() & (pos[c.RECEIVED_AT] < t)
    lead = ibis.ifelse(received, days_between(pos[c.RECEIVED_AT], pos[c.ORDERED_AT]), ibis.null("float64"))
    pos = pos.mutate(lead=lead, transit=ibis.ifelse(received, 0, pos[c.QUANTITY]))
    return pos.group_by(c.SKU_ID).aggregate(
        lead_time_count=pos.lead.count(),
        lead_time_mean_days=pos.lead.mean(),
        lead_time_std_days=pos.lead.std(),
        lead_time_p90_days=pos.lead.quantile(LEAD_TIME_QUANTILE),
        units_in_transit=pos.transit.sum(),
    )


def compute_snapshot(lake: LakeTables, as_of: pd.Timestamp) -> ir.Table:
    """One row per SKU on sale before ``as_of``: recent demand, stock, price, age and supplier lead times."""
    t = as_of_literal(as_of)
    start = pd.Timestamp(as_of).normalize() - pd.Timedelta(days=SNAPSHOT_DAYS)
    daily, firsts, _days = _daily_base(lake, as_of, start)
    stock = lake.has("inventory")
    end_day = _end_day(as_of)
    result = firsts.filter(firsts[FIRST_DAY] < end_day)
    since = t.epoch_seconds() - result[FIRST_DAY] * cal.SECONDS_PER_DAY
    result = result.mutate(days_since_launch=since.cast("float64") / cal.SECONDS_PER_DAY)
    result = _attach(result, lake["products"].select(c.SKU_ID, c.LIST_PRICE), (c.SKU_ID,))
    result = _attach(result, _window_aggregates(daily, end_day, stock), (c.SKU_ID,))
    if stock:
        result = _attach(result, _closing_stock(lake, t), (c.SKU_ID,))
    if lake.has("purchase_orders"):
        result = _attach(result, _lead_times(lake, t), (c.SKU_ID,))
    return SKU_FEATURES.project(result, lake)


_INV, _PROMO, _PO = ("inventory",), ("promotions",), ("purchase_orders",)

SKU_DAILY_FEATURES = FeatureSet(
    name="sku_daily",
    entity="sku",
    keys=(c.UNIQUE_ID, c.DS),
    description="Dense daily sales series per SKU (unique_id = sku_id, ds = day) with stock, price, promotions "
    "and calendar, from the SKU's first day on sale to the last complete day before the cutoff; the SKUs with the "
    "most revenue in the 91 days before the cutoff, at most SHOPSENSE_DEMAND_MAX_SKUS (default 5,000; 0 = all).",
    requires=("products", "orders", "order_items"),
    compute=compute_daily,
    snapshot=False,
    features=(
        Feature(c.Y, "int64", "Units sold that day (orders placed that day, cancelled orders excluded)."),
        Feature(PRICE, "float64", "Units-weighted mean price paid that day; list price on days without sales."),
        Feature(
            IN_STOCK, "float64", "1 if the day closed with stock or had sales, 0 if neither; null: no record.", _INV
        ),
        Feature(c.ON_HAND, "float64", "Closing stock of the day (null: no inventory record).", _INV),
        Feature(c.DISCOUNT_RATE, "float64", "Best discount rate of the promotions covering the day (0: none).", _PROMO),
        Feature(PROMO_ANY, "int64", "Any promotion (SKU-level or platform-wide) covers the day.", _PROMO),
        Feature("promo_festival", "int64", "A festival promotion (platform-wide or SKU-level) covers the day.", _PROMO),
        Feature("promo_display", "int64", "An in-store or on-site display promotion covers the day.", _PROMO),
        Feature("promo_mailer", "int64", "A mailer promotion covers the day.", _PROMO),
        Feature(PROMO_COUPON, "int64", "A coupon promotion covers the day.", _PROMO),
        Feature(cal.DAY_OF_WEEK, "int64", "Day of week, 0 = Monday .. 6 = Sunday."),
        Feature(cal.IS_WEEKEND, "int64", "Saturday or Sunday."),
        Feature(cal.IS_618, "int64", "June 18, the 618 festival peak day."),
        Feature(cal.IS_DOUBLE11, "int64", "November 11, 双11 (Singles' Day)."),
        Feature(cal.IS_DOUBLE12, "int64", "December 12, 双12."),
        Feature(cal.IS_SPRING_FESTIVAL, "int64", "Spring Festival holiday week (除夕 to 初六)."),
        Feature(cal.DAYS_TO_NEXT_FESTIVAL, "int64", "Days until the next 618 / 双11 / 双12 / 春节 (0 on the day)."),
    ),
)

SKU_FEATURES = FeatureSet(
    name="sku",
    entity="sku",
    keys=(c.SKU_ID,),
    description="Recent demand, stock, price, age and supplier lead times of a SKU at the cutoff.",
    requires=("products", "orders", "order_items"),
    compute=compute_snapshot,
    features=(
        *(Feature(f"units_{d}d", "int64", f"Units sold in the last {d} complete days.") for d in UNIT_WINDOWS),
        Feature("zero_sale_share_91d", "float64", "Share of days without sales in the last 91 (intermittency)."),
        Feature("mean_units_91d", "float64", "Mean daily units over the last 91 days (or the SKU's days on sale)."),
        Feature("std_units_91d", "float64", "Sample std of daily units over the same days."),
        Feature(c.LIST_PRICE, "float64", "Current list price."),
        Feature(
            "days_since_launch", "float64", "Days from the start of the first day on sale (launch, sale or stock)."
        ),
        Feature(c.ON_HAND, "float64", "Last closing stock recorded before the cutoff (null: none).", _INV),
        Feature("stockout_days_28d", "int64", "Days with in_stock = 0 in the last 28 days.", _INV),
        Feature("lead_time_count", "int64", "Purchase orders received before the cutoff.", _PO),
        Feature("lead_time_mean_days", "float64", "Mean days from ordering to receipt.", _PO),
        Feature("lead_time_std_days", "float64", "Sample std of the lead time in days.", _PO),
        Feature("lead_time_p90_days", "float64", "90th percentile of the lead time in days (interpolated).", _PO),
        Feature("units_in_transit", "int64", "Units on purchase orders placed but not received by the cutoff.", _PO),
    ),
)
