"""The day loop: who buys what today, what stock allows, what it costs, how it arrives, who leaves.

Each day is a handful of vectorised numpy steps over the active users and the day's order lines; results go to a
:class:`Ledger` and become tables only at the end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from features.sources.synthetic import checkout
from features.sources.synthetic import events as ev
from features.sources.synthetic import fulfilment as ff
from features.sources.synthetic.calendar import Calendar, build_calendar, sample_seconds
from features.sources.synthetic.catalogue import Catalogue, build_catalogue
from features.sources.synthetic.choice import ChoiceModel, DayChoice
from features.sources.synthetic.config import SynthConfig, spawn
from features.sources.synthetic.customers import Customers
from features.sources.synthetic.inventory import Inventory
from features.sources.synthetic.ledger import Ledger
from features.sources.synthetic.population import MEAN_RATE, Population, build_population
from features.sources.synthetic.promotions import PromotionPlan, plan_promotions
from features.sources.synthetic.vocab import EXTRA_UNITS, REPEAT_RATE

logger = logging.getLogger(__name__)

COMPONENTS = ["calendar", "catalogue", "population", "promotions", "choice", "customers", "inventory", "orders",
              "fulfilment", "events", "reviews", "fraud"]  # fmt: skip
DAY = 86_400
CANCEL_RATE = 0.025
LINES_PER_ORDER = 0.55  # extra lines beyond the first, before festival baskets
MISC_TICKET_RATE = 0.0003


@dataclass
class SimResult:
    """Everything the day loop produced, as internal-index column arrays."""

    config: SynthConfig
    cal: Calendar
    cat: Catalogue
    pop: Population
    promos: PromotionPlan
    ledger: Ledger
    true_demand: np.ndarray  # (days, n_sku)
    sold: np.ndarray  # (days, n_sku)
    closing_stock: np.ndarray  # (days, n_sku)
    purchase_orders: dict[str, np.ndarray]
    customers: Customers
    group_line_value: np.ndarray  # expected list value of one order line per choice group
    rngs: dict[str, np.random.Generator] = field(repr=False, default_factory=dict)


@dataclass
class Basket:
    """The orders users try to place today and their lines (before stock and cancellations)."""

    user: np.ndarray
    t: np.ndarray
    channel: np.ndarray
    cancelled: np.ndarray
    session: np.ndarray
    line_order: np.ndarray
    sku: np.ndarray
    qty: np.ndarray


class Simulation:
    """Owns the world's components and advances them one day at a time."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        self.rngs = spawn(config.seed, COMPONENTS)
        self.cal = build_calendar(config)
        self.cat = build_catalogue(config, self.rngs["catalogue"])
        self.pop = build_population(config, self.rngs["population"])
        self.promos = plan_promotions(config, self.cal, self.cat, self.rngs["promotions"])
        self.choice = ChoiceModel(self.cat, self.cal, self.rngs["choice"])
        self.customers = Customers(self.pop, self.cal, config.days, self.rngs["customers"])
        self.inventory = Inventory(self.cat, self.cal, config.days, self._initial_forecast(), self.rngs["inventory"])
        self.ledger = Ledger()
        self.true_demand = np.zeros((config.days, self.cat.n), dtype=np.int32)
        self.sold = np.zeros((config.days, self.cat.n), dtype=np.int32)
        self.n_sessions = 0

    def _initial_forecast(self) -> np.ndarray:
        """The planner's first guess of daily units per SKU (per unit of platform volume)."""
        logit = self.choice.base - self.choice.base.max(axis=1, keepdims=True)
        p = np.exp(logit)
        p /= p.sum(axis=1, keepdims=True)
        weights = np.bincount(self.pop.group, minlength=self.choice.n_groups)
        share = weights @ p / weights.sum()
        orders_per_day = 0.5 * self.pop.rate.sum()
        return orders_per_day * (1 + LINES_PER_ORDER) * share * self.choice.mean_units

    def run(self, progress: bool = True) -> SimResult:
        """Simulate every day of the window."""
        for day in tqdm(range(self.config.days), desc="synthetic world", unit="day", disable=not progress):
            self.step(day)
        return SimResult(
            config=self.config, cal=self.cal, cat=self.cat, pop=self.pop, promos=self.promos, ledger=self.ledger,
            true_demand=self.true_demand, sold=self.sold, closing_stock=self.inventory.closing,
            purchase_orders=self.inventory.purchase_orders(), customers=self.customers,
            group_line_value=self.choice.expected_line_value(0), rngs=self.rngs,
        )  # fmt: skip

    def step(self, day: int) -> None:
        """One simulated day."""
        active = self.customers.start_day(day)
        self.inventory.open_day(day)
        discount = self.promos.sku_discount[day].astype(float)
        choice = self.choice.day(day, discount)
        basket = self._draw_baskets(day, active, choice)
        fulfilled = self._allocate(day, basket)
        buyers = self._book(day, basket, fulfilled, discount, choice)
        self._browse(day, active, choice)
        self._misc_tickets(day, active)
        self.inventory.close_day(day, self.sold[day])
        self.customers.end_day(day, active, buyers)

    def _draw_baskets(self, day: int, active: np.ndarray, choice: DayChoice) -> Basket:
        """Poisson orders per active user; lines chosen by the group choice model or re-bought favourites."""
        rng, pop = self.rngs["orders"], self.pop
        n = rng.poisson(self.customers.purchase_rates(active, day))
        user = np.repeat(active, n)
        sec = sample_seconds(rng, len(user), bool(self.cal.midnight_rush[day]))
        new = pop.signup_day[user] == day  # a new account orders after it exists
        sec = np.where(new, pop.signup_sec[user] + (DAY - pop.signup_sec[user]) * rng.random(len(user)), sec)
        channel = np.where(rng.random(len(user)) < 0.8, pop.main_channel[user], rng.integers(0, 3, len(user)))
        n_lines = 1 + rng.poisson(LINES_PER_ORDER * self.cal.basket[day], len(user))
        line_order = np.repeat(np.arange(len(user)), n_lines)
        line_user = user[line_order]
        sku = choice.sample(pop.group[line_user], rng)
        fav = self.customers.fav_sku[line_user]
        rebuy = (fav >= 0) & (rng.random(len(sku)) < np.asarray(REPEAT_RATE)[self.cat.category[np.maximum(fav, 0)]])
        sku = np.where(rebuy, fav, sku)
        _, first = np.unique(line_order * self.cat.n + sku, return_index=True)  # one line per SKU per order
        first.sort()
        line_order, sku = line_order[first], sku[first]
        qty = 1 + rng.poisson(np.asarray(EXTRA_UNITS)[self.cat.category[sku]])
        session = self.n_sessions + np.arange(len(user))
        self.n_sessions += len(user)
        return Basket(
            user=user, t=day * DAY + sec.astype(np.int64), channel=channel,
            cancelled=rng.random(len(user)) < CANCEL_RATE, session=session, line_order=line_order, sku=sku, qty=qty,
        )  # fmt: skip

    def _allocate(self, day: int, b: Basket) -> np.ndarray:
        """Serve lines first-come-first-served from stock; what exceeds on-hand is lost (censored) demand."""
        live = ~b.cancelled[b.line_order]
        idx = np.flatnonzero(live)
        order = idx[np.lexsort((b.t[b.line_order[idx]], b.sku[idx]))]
        sku, qty = b.sku[order], b.qty[order]
        cum = np.cumsum(qty)
        run_start = np.ones(len(sku), dtype=bool)
        run_start[1:] = sku[1:] != sku[:-1]
        base = np.maximum.accumulate(np.where(run_start, cum - qty, 0))
        before = cum - qty - base
        served = np.clip(self.inventory.on_hand[sku] - before, 0, qty)
        fulfilled = np.where(live, b.qty, 0)
        fulfilled[order] = served
        n = self.cat.n
        self.true_demand[day] = np.bincount(b.sku[idx], weights=b.qty[idx], minlength=n)
        self.sold[day] = np.bincount(sku, weights=served, minlength=n)
        return fulfilled

    def _book(self, day: int, b: Basket, fulfilled: np.ndarray, discount: np.ndarray, choice: DayChoice) -> np.ndarray:
        return checkout.book(self, day, b, fulfilled, discount, choice)

    def _browse(self, day: int, active: np.ndarray, choice: DayChoice) -> None:
        """Browse-only sessions: heavier buyers browse more; bad experiences and quiet days browse less."""
        pop = self.pop
        intensity = (
            ev.BROWSE_RATE * self.config.event_rate * np.sqrt(pop.rate[active] / MEAN_RATE)
            * np.sqrt(self.cal.volume[day]) * np.exp(-0.4 * self.customers.bad[active])
        )  # fmt: skip
        self.n_sessions += ev.browse_events(
            self.rngs["events"], self.ledger, day, active, intensity, pop.group[active], choice, self.n_sessions
        )

    def _misc_tickets(self, day: int, active: np.ndarray) -> None:
        """Account and other questions that are not about an order."""
        rng = self.rngs["fulfilment"]
        who = active[rng.random(len(active)) < MISC_TICKET_RATE]
        created = day * DAY + rng.integers(8 * 3600, 23 * 3600, len(who))
        self.ledger.add(
            "tickets", user=who, order=np.full(len(who), -1), created=created,
            category=rng.choice([4, 5], size=len(who), p=[0.6, 0.4]),
            resolved_t=ff.resolve(rng, self.cal, day, created),
        )  # fmt: skip


def simulate(config: SynthConfig, progress: bool = True) -> SimResult:
    """Run the day loop for ``config``."""
    logger.info(
        "simulating %d users, %d SKUs, %d days (seed %d)", config.users, config.products, config.days, config.seed
    )
    return Simulation(config).run(progress=progress)
