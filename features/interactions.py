"""Implicit-feedback strength per user x SKU as of a cutoff, for the recommender.

Each purchase, add-to-cart, favourite and view counts with a weight for how much intent it shows, decayed by its
age with a half-life, so last week's cart outweighs last year's view. Only purchases are required (Online Retail
has nothing else); the other signals come from the events table when a dataset has one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from features import columns as c
from features.engine import LakeTables
from features.expr import as_of_literal, days_between, flag
from features.spec import Feature, FeatureSet

KINDS = ("purchase", "cart", "favourite", "view")
_KIND = "_kind"
_AGE = "_age"


@dataclass(frozen=True)
class InteractionWeights:
    """How much one interaction of each kind counts before decay (a purchase shows the most intent)."""

    purchase: float = 5.0
    cart: float = 3.0
    favourite: float = 2.0
    view: float = 1.0

    def __post_init__(self) -> None:
        if any(getattr(self, kind) < 0 for kind in KINDS):
            raise ValueError(f"interaction weights must be >= 0, got {self}")


DEFAULT_WEIGHTS = InteractionWeights()
DEFAULT_HALF_LIFE_DAYS = 30.0


def _purchases(lake: LakeTables, t: ir.TimestampScalar) -> ir.Table:
    """One interaction per order line placed before the cutoff by a known user (status is only known later)."""
    orders = lake["orders"]
    orders = orders.filter((orders[c.ORDER_TS] < t) & orders[c.USER_ID].notnull())
    lines = (
        lake["order_items"]
        .select(c.ORDER_ID, c.SKU_ID)
        .join(orders.select(c.ORDER_ID, c.USER_ID, c.ORDER_TS), c.ORDER_ID)
    )
    return lines.select(
        c.USER_ID, c.SKU_ID, **{_KIND: ibis.literal("purchase"), _AGE: days_between(t, lines[c.ORDER_TS])}
    )


def _events(lake: LakeTables, t: ir.TimestampScalar) -> ir.Table:
    events = lake["events"]
    events = events.filter((events[c.EVENT_TS] < t) & events[c.EVENT_TYPE].isin(KINDS[1:]))
    return events.select(
        c.USER_ID, c.SKU_ID, **{_KIND: events[c.EVENT_TYPE], _AGE: days_between(t, events[c.EVENT_TS])}
    )


def compute_with(lake: LakeTables, as_of: pd.Timestamp, weights: InteractionWeights, half_life_days: float) -> ir.Table:
    """Interaction features with explicit weights and half-life: ``weight = sum(w_kind * 0.5 ** (age / half_life))``."""
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be positive, got {half_life_days}")
    t = as_of_literal(as_of)
    with_events = lake.has("events")
    rows = _purchases(lake, t)
    if with_events:
        rows = rows.union(_events(lake, t))
    kind_weight = rows[_KIND].cases(*((kind, getattr(weights, kind)) for kind in KINDS), else_=0.0)
    decay = (rows[_AGE] * (-math.log(2.0) / half_life_days)).exp()
    counts = {f"{kind}s": flag(rows[_KIND] == kind).sum() for kind in KINDS if with_events or kind == "purchase"}
    agg = rows.group_by(c.USER_ID, c.SKU_ID).aggregate(
        weight=(kind_weight * decay).sum(), days_since_last=rows[_AGE].min(), **counts
    )
    out = {c.USER_ID: agg[c.USER_ID], c.SKU_ID: agg[c.SKU_ID]}
    for feat in INTERACTION_FEATURES.available(lake):
        out[feat.name] = agg[feat.name].cast(feat.dtype)
    return agg.select(**out)


def compute(lake: LakeTables, as_of: pd.Timestamp) -> ir.Table:
    """Interaction features with the default weights and half-life (the FeatureSet signature)."""
    return compute_with(lake, as_of, DEFAULT_WEIGHTS, DEFAULT_HALF_LIFE_DAYS)


INTERACTION_FEATURES = FeatureSet(
    name="interactions",
    entity="user_sku",
    keys=(c.USER_ID, c.SKU_ID),
    description="Decayed implicit-feedback weight and raw counts per user x SKU up to the cutoff.",
    requires=("orders", "order_items"),
    compute=compute,
    features=(
        Feature(
            "weight",
            "float64",
            "Sum of interaction weights (purchase 5, cart 3, favourite 2, view 1) halved every 30 days of age.",
        ),
        Feature("purchases", "int64", "Order lines of this SKU placed by the user."),
        Feature("carts", "int64", "Add-to-cart events.", ("events",)),
        Feature("favourites", "int64", "Favourite events.", ("events",)),
        Feature("views", "int64", "Product views.", ("events",)),
        Feature("days_since_last", "float64", "Days since the latest interaction of any kind."),
    ),
)
