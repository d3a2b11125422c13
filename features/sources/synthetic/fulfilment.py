"""What happens after checkout: shipping, delivery against the promise, defects, returns, service tickets.

All times are integer seconds since the start of the window. Outcomes are drawn when the order is placed (the
dice are the same either way) and the bad experiences they cause are felt by the customer on the day they happen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.sources.synthetic.calendar import Calendar
from features.sources.synthetic.catalogue import Catalogue
from features.sources.synthetic.vocab import RETURN_RATE

DAY = 86_400
HOUR = 3_600
TRANSIT_BY_TIER = np.array([0.0, 0.9, 1.3, 1.9, 3.2])  # index = city tier
PROMISE_BY_TIER = np.array([0, 3, 4, 4, 6])
TICKET_CODES = ("late_delivery", "defect", "wrong_item", "refund", "account", "other")
RETURN_CODES = ("defect", "wrong_item", "size", "dislike", "no_reason", "late")
BAD_KINDS = ("late_delivery", "defect", "wrong_item", "unresolved_ticket")


@dataclass
class Shipping:
    """Per-order delivery times and lateness."""

    promised: np.ndarray
    shipped: np.ndarray
    delivered: np.ndarray
    late_days: np.ndarray


def ship(rng: np.random.Generator, cal: Calendar, day: int, t: np.ndarray, tier: np.ndarray) -> Shipping:
    """Ship and deliver orders placed at ``t`` to cities of ``tier``; festivals and 春节 slow everything down."""
    n = len(t)
    ship_h = rng.lognormal(np.log(14.0), 0.5, n) + cal.ship_extra_h[day] * rng.uniform(0.5, 1.5, n)
    shipped = t + (ship_h * HOUR).astype(np.int64)
    transit = TRANSIT_BY_TIER[tier] + rng.gamma(2.0, 0.3, n) + cal.transit_extra_d[day] * rng.uniform(0.6, 1.4, n)
    mishap = rng.random(n) < 0.03
    transit = transit + mishap * rng.uniform(2.0, 6.0, n)
    delivered = shipped + (transit * DAY).astype(np.int64)
    busy = int(cal.volume[day] > 1.3)
    promise_days = PROMISE_BY_TIER[tier] + cal.promise_extra_d[day].astype(np.int64) + busy
    promised = (day + promise_days + 1) * DAY - 1
    late = np.maximum(np.ceil((delivered - promised) / DAY), 0).astype(np.int64)
    return Shipping(promised=promised, shipped=shipped, delivered=delivered, late_days=late)


@dataclass
class LineOutcome:
    """Per-line defects and returns."""

    defect: np.ndarray
    wrong: np.ndarray
    returned: np.ndarray
    ret_qty: np.ndarray
    ret_t: np.ndarray
    reason: np.ndarray  # index into RETURN_CODES


def line_outcomes(
    rng: np.random.Generator,
    cat: Catalogue,
    sku: np.ndarray,
    qty: np.ndarray,
    delivered: np.ndarray,
    late: np.ndarray,
    ps: np.ndarray,
) -> LineOutcome:
    """Defects follow latent quality; apparel comes back for size; price-sensitive shoppers return more."""
    n = len(sku)
    defect = rng.random(n) < 0.004 + 0.08 * (1.0 - cat.quality[sku]) ** 2
    wrong = rng.random(n) < 0.004
    base = np.asarray(RETURN_RATE)[cat.category[sku]] * (0.6 + 0.8 * ps) + 0.04 * (late >= 3)
    p_ret = np.where(defect, 0.75, np.where(wrong, 0.95, base))
    returned = rng.random(n) < p_ret
    ret_qty = np.where((qty > 1) & (rng.random(n) < 0.3), 1, qty)
    ret_t = delivered + (rng.uniform(1.0, 10.0, n) * DAY).astype(np.int64)
    apparel = cat.category[sku] == 0
    other = np.where(apparel & (rng.random(n) < 0.6), 2, rng.choice([3, 4], size=n, p=[0.4, 0.6]))
    other = np.where((late >= 3) & (rng.random(n) < 0.5), 5, other)
    reason = np.where(defect, 0, np.where(wrong, 1, other))
    return LineOutcome(defect=defect, wrong=wrong, returned=returned, ret_qty=ret_qty, ret_t=ret_t, reason=reason)


@dataclass
class Tickets:
    """Customer-service tickets raised by orders (order index local to the day's orders)."""

    order: np.ndarray
    created: np.ndarray
    category: np.ndarray  # index into TICKET_CODES
    resolved_t: np.ndarray  # -1 = never resolved


def order_tickets(
    rng: np.random.Generator,
    cal: Calendar,
    day: int,
    ship_info: Shipping,
    line_order: np.ndarray,
    out: LineOutcome,
) -> Tickets:
    """Late parcels, defects, wrong items and refunds turn into tickets; busy days resolve fewer of them."""
    late = ship_info.late_days
    n_orders = len(late)
    late_ok = (late >= 1) & (rng.random(n_orders) < 0.2 + 0.1 * np.minimum(late, 5))
    late_idx = np.flatnonzero(late_ok)
    parts = [(late_idx, ship_info.promised[late_idx] + (rng.uniform(2, 30, len(late_idx)) * HOUR).astype(int), 0)]
    delivered_line = ship_info.delivered[line_order]
    for mask, p, code in ((out.defect, 0.55, 1), (out.wrong, 0.85, 2)):
        hit = np.flatnonzero(mask & (rng.random(len(mask)) < p))
        parts.append((line_order[hit], delivered_line[hit] + (rng.uniform(2, 48, len(hit)) * HOUR).astype(int), code))
    refund = np.flatnonzero(out.returned & ~out.defect & ~out.wrong & (rng.random(len(out.returned)) < 0.15))
    parts.append((line_order[refund], out.ret_t[refund] + (rng.uniform(1, 72, len(refund)) * HOUR).astype(int), 3))
    order = np.concatenate([p[0] for p in parts])
    created = np.concatenate([p[1] for p in parts])
    category = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    return Tickets(order=order, created=created, category=category, resolved_t=resolve(rng, cal, day, created))


def resolve(rng: np.random.Generator, cal: Calendar, day: int, created: np.ndarray) -> np.ndarray:
    """Resolution time of each ticket, or -1 for the ones service never closes."""
    n = len(created)
    busy = cal.volume[day] > 1.3
    resolved = rng.random(n) < (0.72 if busy else 0.85)
    delay = rng.lognormal(np.log(8.0), 1.0, n) * (3.0 if busy else 1.0) * HOUR
    return np.where(resolved, created + delay.astype(np.int64), -1)


def bad_experiences(
    ship_info: Shipping, line_order: np.ndarray, out: LineOutcome, tickets: Tickets
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(order index, time felt, weight, kind index into BAD_KINDS) for everything that annoys a customer."""
    late = np.flatnonzero(ship_info.late_days >= 1)
    felt_late = np.maximum(ship_info.delivered[late], ship_info.promised[late] + 1)
    defect = np.flatnonzero(out.defect)
    wrong = np.flatnonzero(out.wrong & ~out.defect)
    unresolved = np.flatnonzero(tickets.resolved_t < 0)
    parts = [
        (late, felt_late, 0.4 + 0.2 * np.minimum(ship_info.late_days[late], 6), 0),
        (line_order[defect], ship_info.delivered[line_order[defect]], np.full(len(defect), 1.0), 1),
        (line_order[wrong], ship_info.delivered[line_order[wrong]], np.full(len(wrong), 0.8), 2),
        (tickets.order[unresolved], tickets.created[unresolved] + 3 * DAY, np.full(len(unresolved), 1.5), 3),
    ]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]).astype(np.int64),
        np.concatenate([p[2] for p in parts]).astype(float),
        np.concatenate([np.full(len(p[0]), p[3]) for p in parts]),
    )
