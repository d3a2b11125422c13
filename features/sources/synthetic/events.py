"""Behaviour events: views, add-to-carts and favourites, from purchase sessions and from plain browsing.

Browsed items come from the same group choice distribution as purchases, so co-views share the latent item
factors with co-purchases; browsing fades with bad experiences, which gives churn models an early signal.
"""

from __future__ import annotations

import numpy as np

from features.sources.synthetic.calendar import sample_seconds
from features.sources.synthetic.choice import DayChoice
from features.sources.synthetic.ledger import Ledger

DAY = 86_400
VIEW, CART, FAVOURITE = 0, 1, 2
BROWSE_RATE = 0.05  # browse-only sessions per active user-day at volume 1


def _add(ledger: Ledger, user: np.ndarray, sku: np.ndarray, t: np.ndarray, kind: int, session: np.ndarray) -> None:
    ledger.add(
        "events", user=user, sku=sku, t=np.maximum(t, 0), kind=np.full(len(user), kind, dtype=np.int8),
        session=session,
    )  # fmt: skip


def purchase_events(
    rng: np.random.Generator,
    ledger: Ledger,
    lines: dict[str, np.ndarray],
    orders: dict[str, np.ndarray],
    choice: DayChoice,
    event_rate: float,
) -> None:
    """Events around attempted orders: a view and usually a cart per line, favourites, and co-views.

    ``lines`` has user, sku, t (order time), session, group, bought; ``orders`` has user, t, session, group.
    Lines lost to a stockout still leave their view (the shopper saw 'sold out').
    """
    keep = rng.random(len(lines["user"])) < min(1.0, event_rate)
    u, s, t, sess = (lines[k][keep] for k in ("user", "sku", "t", "session"))
    bought = lines["bought"][keep]
    _add(ledger, u, s, t - rng.integers(120, 2_400, len(u)), VIEW, sess)
    cart = rng.random(len(u)) < np.where(bought, 0.65, 0.3)
    _add(ledger, u[cart], s[cart], t[cart] - rng.integers(10, 120, int(cart.sum())), CART, sess[cart])
    fav = rng.random(len(u)) < 0.08
    _add(ledger, u[fav], s[fav], t[fav] - rng.integers(60, 2_000, int(fav.sum())), FAVOURITE, sess[fav])
    n_co = rng.poisson(1.2 * event_rate, len(orders["user"]))
    co = np.repeat(np.arange(len(n_co)), n_co)
    co_sku = choice.sample(orders["group"][co], rng)
    co_t = orders["t"][co] - rng.integers(60, 3_000, len(co))
    _add(ledger, orders["user"][co], co_sku, co_t, VIEW, orders["session"][co])


def browse_events(
    rng: np.random.Generator,
    ledger: Ledger,
    day: int,
    users: np.ndarray,
    intensity: np.ndarray,
    groups: np.ndarray,
    choice: DayChoice,
    first_session: int,
) -> int:
    """Browse-only sessions of active users; returns how many session ids were used.

    Args:
        intensity: expected browse sessions today per user (already scaled by calendar, mood and event rate).
    """
    n_sess = rng.poisson(intensity)
    who = np.repeat(np.arange(len(users)), n_sess)
    if not len(who):
        return 0
    session = first_session + np.arange(len(who))
    start = day * DAY + sample_seconds(rng, len(who), False)
    n_views = 1 + rng.poisson(1.8, len(who))
    view_sess = np.repeat(np.arange(len(who)), n_views)
    offset = np.concatenate([[0], np.cumsum(n_views)[:-1]])
    step = np.arange(len(view_sess)) - offset[view_sess]
    t = start[view_sess] + step * rng.integers(20, 240, len(view_sess))
    sku = choice.sample(groups[who][view_sess], rng)
    user = users[who][view_sess]
    _add(ledger, user, sku, t, VIEW, session[view_sess])
    for kind, p in ((CART, 0.06), (FAVOURITE, 0.03)):
        hit = rng.random(len(sku)) < p
        _add(ledger, user[hit], sku[hit], t[hit] + rng.integers(5, 90, int(hit.sum())), kind, session[view_sess][hit])
    return len(who)
