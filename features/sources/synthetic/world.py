"""``generate``: run the simulation and deliver the contract tables plus the ground truth as a SourceBatch."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from features import columns as c
from features.sources.base import SourceBatch
from features.sources.synthetic import tables as tb
from features.sources.synthetic import tables_stock as ts
from features.sources.synthetic import truth as tr
from features.sources.synthetic import truth_columns as tc
from features.sources.synthetic.config import SynthConfig
from features.sources.synthetic.frames import MISSING, make_ids, rank_ids, to_contract
from features.sources.synthetic.fraud import Fraud, run_campaigns
from features.sources.synthetic.reviews import genuine_reviews
from features.sources.synthetic.simulate import SimResult, simulate
from features.sources.synthetic.verdicts import moderation_verdicts

logger = logging.getLogger(__name__)


def generate(config: SynthConfig, progress: bool = True) -> SourceBatch:
    """Build the synthetic world for ``config``: same config, same tables, bit for bit.

    Returns:
        A SourceBatch named ``synthetic`` with every contract table, ``opened_at`` = the start date, the ground
        truth in ``truth`` and the config in ``lineage``.
    """
    sim = simulate(config, progress=progress)
    steps = tqdm(total=6, desc="assembling tables", disable=not progress)
    genuine = genuine_reviews(sim, sim.rngs["reviews"])
    fraud = run_campaigns(sim, len(genuine["t"]), sim.rngs["fraud"])
    steps.update()
    tables, sku_ids, supplier_ids = tb.catalogue_tables(sim)
    tables["users"], user_ids, signup = tb.users_table(sim, fraud)
    keys = tb.Keys(user=user_ids, user_signup_t=signup, sku=sku_ids, supplier=supplier_ids, order=np.empty(0))
    order_frames, keys.order = tb.order_tables(sim, fraud, keys)
    tables.update(order_frames)
    steps.update()
    tables.update(tb.after_sales_tables(sim, keys))
    for done in ("orders", "lines", "returns", "tickets"):
        sim.ledger.drop(done)  # large worlds: free the raw arrays before the events table is built
    tables["events"] = tb.events_table(sim, keys)
    steps.update()
    tables["reviews"], review_truth = _reviews(sim, genuine, fraud, keys)
    tables["review_verdicts"] = moderation_verdicts(
        tables["reviews"], review_truth[tc.IS_FAKE].to_numpy(bool), config.seed, config.start_ns, config.days
    )
    tables["inventory"] = ts.inventory_table(sim, sku_ids)
    tables["purchase_orders"] = ts.purchase_orders_table(sim, sku_ids, supplier_ids, sim.rngs["inventory"])
    tables["promotions"] = ts.promotions_table(sim, sku_ids)
    steps.update()
    truth = _truth(sim, fraud, keys, review_truth)
    steps.update()
    ordered = {name: tables[name] for name in CONTRACT_ORDER}
    steps.update()
    steps.close()
    logger.info("synthetic world: %s", ", ".join(f"{k}={len(v):,}" for k, v in ordered.items()))
    return SourceBatch(name="synthetic", tables=ordered, opened_at=config.start, truth=truth, lineage=config.as_dict())


CONTRACT_ORDER = ("users", "suppliers", "products", "orders", "order_items", "returns", "events", "reviews",
                  "review_verdicts", "inventory", "purchase_orders", "promotions", "service_tickets")  # fmt: skip


def _reviews(
    sim: SimResult, genuine: dict[str, np.ndarray], fraud: Fraud, keys: tb.Keys
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Genuine and fake reviews in one table (ids in time order) and the truth about each."""
    f = fraud.reviews
    n_orders = sim.ledger.count("orders")
    t = np.concatenate([genuine["t"], f["t"]])
    ids, order = rank_ids("R", (np.arange(len(t)), t))
    is_fake = np.r_[np.zeros(len(genuine["t"]), bool), np.ones(len(f["t"]), bool)]
    fake_order = np.where(f["brush"] >= 0, n_orders + f["brush"], MISSING)
    order_idx = np.concatenate([genuine["order"], fake_order])
    table = to_contract(
        "reviews",
        {
            c.REVIEW_ID: ids, c.USER_ID: keys.user[np.concatenate([genuine["user"], sim.pop.n + f["account"]])],
            c.SKU_ID: keys.sku[np.concatenate([genuine["sku"], f["sku"]])],
            c.ORDER_ID: np.where(order_idx >= 0, keys.order[np.maximum(order_idx, 0)], None), c.REVIEW_TS: t,
            c.RATING: np.concatenate([genuine["rating"], f["rating"]]),
            c.REVIEW_TEXT: np.concatenate([genuine["text"], f["text"]]),
            c.DEVICE_ID: np.concatenate([genuine["device"], f["device"]]),
        },
        sim.config.start_ns, order,
    )  # fmt: skip
    campaign_ids = make_ids("C", len(fraud.campaigns["sku"]))
    campaign = np.r_[np.full(len(genuine["t"]), MISSING), f["campaign"]]
    truth = pd.DataFrame(
        {
            c.REVIEW_ID: ids[order], tc.IS_FAKE: is_fake[order],
            tc.CAMPAIGN_ID: np.where(campaign >= 0, campaign_ids[np.maximum(campaign, 0)], None)[order],
            tc.CAMPAIGN_KIND: np.where(campaign >= 0, fraud.campaigns["kind"][np.maximum(campaign, 0)], None)[order],
            tc.LATE_DAYS: np.r_[genuine[tc.LATE_DAYS], np.zeros(len(f["t"]), np.int64)][order],
        }
    )  # fmt: skip
    return table, truth


def _truth(sim: SimResult, fraud: Fraud, keys: tb.Keys, review_truth: pd.DataFrame) -> dict[str, pd.DataFrame]:
    truth = {"users": tr.users_truth(sim, fraud, keys), **tr.churn_tables(sim, keys), "reviews": review_truth}
    truth["demand"] = tr.demand_truth(sim, keys.sku)
    truth.update(tr.fraud_truth(fraud, keys, sim.ledger.count("orders"), sim.config.start_ns))
    return truth
