"""Ground truth that no feature may read: latent user traits and churn, fake reviews, demand before stockouts.

Models are scored against these tables; the lake stores them under ``truth/``, apart from the raw tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import columns as c
from features.sources.synthetic import truth_columns as tc
from features.sources.synthetic.frames import MISSING, make_ids, timestamps
from features.sources.synthetic.fraud import Fraud
from features.sources.synthetic.fulfilment import BAD_KINDS
from features.sources.synthetic.simulate import LINES_PER_ORDER, SimResult
from features.sources.synthetic.tables import Keys
from features.sources.synthetic.tables_stock import sku_days

DAY = 86_400
SEGMENTS = ("dormant", "occasional", "regular", "bargain_hunter", "vip")


def users_truth(sim: SimResult, fraud: Fraud, keys: Keys) -> pd.DataFrame:
    """Latent traits per account; fake accounts carry their ring and no purchase traits."""
    pop, cust, start = sim.pop, sim.customers, sim.config.start_ns
    n_fake = len(fraud.accounts["signup_t"])
    value = pop.rate * 30 * (1 + LINES_PER_ORDER) * sim.group_line_value[pop.group]
    churned_at, reactivated_at = _first_events(sim)
    bad = sim.ledger.columns("bad")
    n_bad = np.bincount(bad["user"], minlength=pop.n)
    pad = np.full(n_fake, np.nan)
    return pd.DataFrame(
        {
            c.USER_ID: keys.user,
            tc.IS_FAKE: np.r_[np.zeros(pop.n, bool), np.ones(n_fake, bool)],
            tc.SEGMENT: np.r_[_segments(pop.rate, pop.price_sensitivity, value), np.full(n_fake, "fake", object)],
            tc.LATENT_VALUE: np.r_[value, pad], tc.PURCHASE_RATE: np.r_[pop.rate, pad],
            tc.PRICE_SENSITIVITY: np.r_[pop.price_sensitivity, pad], tc.BASE_HAZARD: np.r_[pop.base_hazard, pad],
            tc.TASTE_CLUSTER: np.r_[pop.taste, np.full(n_fake, -1)],
            tc.FRAUD_RING: np.r_[np.full(pop.n, -1), fraud.accounts["ring"]],
            tc.CHURNED_AT: timestamps(start, np.r_[churned_at, np.full(n_fake, MISSING)]),
            tc.REACTIVATED_AT: timestamps(start, np.r_[reactivated_at, np.full(n_fake, MISSING)]),
            tc.IS_CHURNED: np.r_[cust.churned, np.zeros(n_fake, bool)],
            tc.N_BAD_EXPERIENCES: np.r_[n_bad, np.zeros(n_fake, np.int64)],
        }
    )  # fmt: skip


def _segments(rate: np.ndarray, ps: np.ndarray, value: np.ndarray) -> np.ndarray:
    """A readable label from the latent traits (what a perfect tiering model would say)."""
    seg = np.full(len(rate), "regular", dtype=object)
    seg[rate < np.quantile(rate, 0.35)] = "occasional"
    seg[(ps > 0.7) & (seg == "regular")] = "bargain_hunter"
    seg[value >= np.quantile(value, 0.9)] = "vip"
    seg[rate < 0.01] = "dormant"
    return seg


def _first_events(sim: SimResult) -> tuple[np.ndarray, np.ndarray]:
    """End-of-day time of each user's first churn and first reactivation (MISSING if none).

    Later spells (a reactivated user who churns again) are in the ``churn_events`` table; ``is_churned`` says
    whether the user is gone at the end of the window.
    """
    n, ev = sim.pop.n, sim.customers.churn_events()
    churned_at, reactivated_at = np.full(n, MISSING), np.full(n, MISSING)
    for kind, target in ((1, churned_at), (0, reactivated_at)):
        m = np.flatnonzero(ev["kind"] == kind)  # events are in day order
        users, first = np.unique(ev["user"][m], return_index=True)
        target[users] = ev["day"][m[first]] * DAY + DAY - 1
    return churned_at, reactivated_at


def churn_tables(sim: SimResult, keys: Keys) -> dict[str, pd.DataFrame]:
    """Monthly churn probability while at risk, and every churn and reactivation event."""
    cust, start = sim.customers, sim.config.start_ns
    user, month = np.nonzero(cust.exposure)
    first = sim.config.start.to_period("M").to_timestamp()
    months = pd.date_range(first, periods=cust.exposure.shape[1], freq="MS")
    hazard = pd.DataFrame(
        {
            c.USER_ID: keys.user[user], tc.MONTH: months[month].to_numpy(),
            tc.HAZARD: -np.expm1(-cust.hazard_sum[user, month].astype(float)),
            tc.EXPOSURE_DAYS: cust.exposure[user, month].astype(np.int64),
        }
    )  # fmt: skip
    ev = cust.churn_events()
    events = pd.DataFrame(
        {
            c.USER_ID: keys.user[ev["user"]], tc.AT: timestamps(start, ev["day"] * DAY + DAY - 1),
            tc.EVENT: np.where(ev["kind"] == 1, "churn", "reactivation").astype(object),
        }
    )  # fmt: skip
    bad = sim.ledger.columns("bad")
    end = sim.config.days * DAY
    keep = np.flatnonzero(bad["t"] < end)
    experiences = pd.DataFrame(
        {
            c.USER_ID: keys.user[bad["user"][keep]], c.ORDER_ID: keys.order[bad["order"][keep]],
            tc.AT: timestamps(start, bad["t"][keep]), tc.KIND: np.array(BAD_KINDS, dtype=object)[bad["kind"][keep]],
            tc.WEIGHT: bad["weight"][keep],
        }
    ).sort_values(tc.AT, kind="stable", ignore_index=True)  # fmt: skip
    return {"churn_hazard": hazard, "churn_events": events, "experiences": experiences}


def demand_truth(sim: SimResult, sku_ids: np.ndarray) -> pd.DataFrame:
    """Units wanted vs units sold per SKU and day; the gap is demand lost to stockouts."""
    sku, day = sku_days(sim)
    true, sold = sim.true_demand[day, sku].astype(np.int64), sim.sold[day, sku].astype(np.int64)
    return pd.DataFrame(
        {
            c.SKU_ID: sku_ids[sku], c.DATE: timestamps(sim.config.start_ns, day * DAY), tc.TRUE_DEMAND: true,
            tc.OBSERVED_UNITS: sold, tc.LOST_UNITS: true - sold,
            tc.STOCKOUT: sim.closing_stock[day, sku] == 0,
        }
    )  # fmt: skip


def _tactics(camp: dict[str, np.ndarray]) -> np.ndarray:
    """Comma-separated evasion tactics per campaign ("" for a careless one)."""
    names = [k for k in camp if k.startswith("tactic_")]
    return np.array(
        [",".join(k.removeprefix("tactic_") for k in names if camp[k][i]) for i in range(len(camp["sku"]))],
        dtype=object,
    )


def fraud_truth(fraud: Fraud, keys: Keys, n_genuine_orders: int, start_ns: int) -> dict[str, pd.DataFrame]:
    """Campaigns (boost or attack) and the brushing orders behind verified-looking fake reviews."""
    camp = fraud.campaigns
    campaign_ids = make_ids("C", len(camp["sku"]))
    campaigns = pd.DataFrame(
        {
            tc.CAMPAIGN_ID: campaign_ids, tc.CAMPAIGN_KIND: camp["kind"], c.SKU_ID: keys.sku[camp["sku"]],
            tc.START_AT: timestamps(start_ns, camp["start_t"]), tc.N_REVIEWS: camp["n_reviews"].astype(np.int64),
            tc.RING_ID: camp["ring"].astype(np.int64), tc.TACTICS: _tactics(camp),
        }
    )  # fmt: skip
    b = fraud.brushing
    brushing = pd.DataFrame(
        {
            c.ORDER_ID: keys.order[n_genuine_orders + np.arange(len(b["account"]))],
            tc.CAMPAIGN_ID: campaign_ids[b["campaign"]] if len(b["account"]) else np.empty(0, dtype=object),
        }
    )
    return {"campaigns": campaigns, "brushing_orders": brushing}
