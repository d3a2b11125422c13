"""Turning a day's served baskets into booked orders: prices, coupons, delivery, after-sales, experiences."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from features.sources.synthetic import events as ev
from features.sources.synthetic import fulfilment as ff
from features.sources.synthetic.calendar import Calendar
from features.sources.synthetic.catalogue import Catalogue
from features.sources.synthetic.choice import DayChoice
from features.sources.synthetic.vocab import REPEAT_RATE

if TYPE_CHECKING:
    from features.sources.synthetic.simulate import Basket, Simulation

DAY = 86_400
GOOD_RELIEF = 0.15  # how much a smooth delivery wears down the bad-experience score


def price_lines(
    cat: Catalogue, cal: Calendar, day: int, sku: np.ndarray, qty: np.ndarray, discount: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Unit price after the better of the SKU promotion and the festival discount, and the line discount."""
    rate = np.maximum(discount[sku], cal.fest_discount[day])
    unit = np.round(cat.price[sku] * (1.0 - rate), 2)
    return unit, np.round((cat.price[sku] - unit) * qty, 2)


def manjian(cal: Calendar, day: int, subtotal: np.ndarray) -> np.ndarray:
    """Festival 满减: every full threshold spent takes a fixed amount off the order."""
    threshold = cal.mj_threshold[day]
    if threshold <= 0:
        return np.zeros(len(subtotal))
    return np.floor(subtotal / threshold) * cal.mj_off[day]


def book(
    sim: Simulation, day: int, b: Basket, fulfilled: np.ndarray, discount: np.ndarray, choice: DayChoice
) -> np.ndarray:
    """Book today's orders that kept at least one line; returns the users who bought (not cancelled)."""
    cancel_line = b.cancelled[b.line_order]
    qty = np.where(cancel_line, b.qty, fulfilled)
    has_line = np.bincount(b.line_order[qty > 0], minlength=len(b.user)) > 0
    kept = np.flatnonzero(has_line)
    li = np.flatnonzero(qty > 0)
    lo = (np.cumsum(has_line) - 1)[b.line_order[li]]  # line -> index into kept orders
    sku, q = b.sku[li], qty[li]
    unit, disc = price_lines(sim.cat, sim.cal, day, sku, q, discount)
    user, t, cancelled = b.user[kept], b.t[kept], b.cancelled[kept]
    subtotal = np.bincount(lo, weights=unit * q, minlength=len(kept))
    coupon = manjian(sim.cal, day, subtotal)
    live = ~cancelled
    coupon[live] += sim.customers.use_coupons(user[live], subtotal[live] - coupon[live], day)
    coupon = np.minimum(coupon, subtotal)
    uid = sim.ledger.next_ids("orders", len(kept))
    shipping = ff.ship(sim.rngs["fulfilment"], sim.cal, day, t, sim.pop.city_tier[user])
    shipping.shipped[cancelled] = -1
    shipping.delivered[cancelled] = -1
    shipping.late_days[cancelled] = 0
    sim.ledger.add(
        "orders", user=user, t=t, channel=b.channel[kept], coupon=np.round(coupon, 2), promised=shipping.promised,
        shipped=shipping.shipped, delivered=shipping.delivered, cancelled=cancelled, late=shipping.late_days,
        session=b.session[kept],
    )  # fmt: skip
    _after_sales(sim, day, uid, user, shipping, lo, sku, q, unit, disc, live)
    _remember_favourites(sim, user[lo], sku, live[lo])
    ev.purchase_events(
        sim.rngs["events"], sim.ledger,
        {"user": b.user[b.line_order], "sku": b.sku, "t": b.t[b.line_order], "session": b.session[b.line_order],
         "bought": fulfilled > 0},
        {"user": b.user, "t": b.t, "session": b.session, "group": sim.pop.group[b.user]},
        choice, sim.config.event_rate,
    )  # fmt: skip
    return np.unique(user[live])


def _after_sales(
    sim: Simulation,
    day: int,
    uid: np.ndarray,
    user: np.ndarray,
    shipping: ff.Shipping,
    lo: np.ndarray,
    sku: np.ndarray,
    q: np.ndarray,
    unit: np.ndarray,
    disc: np.ndarray,
    live: np.ndarray,
) -> None:
    """Defects, returns, tickets and the bad experiences they leave; all written to the ledger."""
    rng, ledger = sim.rngs["fulfilment"], sim.ledger
    out = ff.line_outcomes(rng, sim.cat, sku, q, shipping.delivered[lo], shipping.late_days[lo],
                           sim.pop.price_sensitivity[user[lo]])  # fmt: skip
    live_line = live[lo]
    out.defect &= live_line
    out.wrong &= live_line
    out.returned &= live_line
    ledger.add("lines", order=uid[lo], sku=sku, qty=q, unit=unit, discount=disc, defect=out.defect, wrong=out.wrong)
    r = np.flatnonzero(out.returned)
    ledger.add(
        "returns", order=uid[lo[r]], user=user[lo[r]], sku=sku[r], t=out.ret_t[r], qty=out.ret_qty[r],
        refund=np.round(out.ret_qty[r] * unit[r], 2), reason=out.reason[r],
    )  # fmt: skip
    tickets = ff.order_tickets(rng, sim.cal, day, shipping, lo, out)
    ledger.add(
        "tickets", user=user[tickets.order], order=uid[tickets.order], created=tickets.created,
        category=tickets.category, resolved_t=tickets.resolved_t,
    )  # fmt: skip
    bo, felt, weight, kind = ff.bad_experiences(shipping, lo, out, tickets)
    ledger.add("bad", user=user[bo], order=uid[bo], t=felt, kind=kind, weight=weight)
    smooth = np.flatnonzero(live & (np.bincount(bo, minlength=len(live)) == 0))
    sim.customers.schedule_bad(
        np.concatenate([user[bo], user[smooth]]),
        np.concatenate([felt, shipping.delivered[smooth]]) // DAY,
        np.concatenate([weight, np.full(len(smooth), -GOOD_RELIEF)]),
    )


def _remember_favourites(sim: Simulation, users: np.ndarray, sku: np.ndarray, live: np.ndarray) -> None:
    """Consumables (food, beauty, nappies) become the item a user re-buys later."""
    consumable = np.asarray(REPEAT_RATE)[sim.cat.category[sku]] >= 0.2
    hit = live & consumable
    sim.customers.fav_sku[users[hit]] = sku[hit]
