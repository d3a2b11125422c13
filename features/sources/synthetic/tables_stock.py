"""Stock-side contract tables: daily inventory, purchase orders to suppliers, and the promotion calendar."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import columns as c
from features.sources.synthetic.frames import MISSING, lookup, make_ids, to_contract
from features.sources.synthetic.simulate import SimResult

DAY = 86_400


def sku_days(sim: SimResult) -> tuple[np.ndarray, np.ndarray]:
    """(sku, day) pairs from each SKU's launch to the end of the window, SKU-major."""
    days = sim.config.days
    alive = np.arange(days)[None, :] >= sim.cat.launch_day[:, None]
    sku, day = np.nonzero(alive)
    return sku, day


def inventory_table(sim: SimResult, sku_ids: np.ndarray) -> pd.DataFrame:
    """Closing on-hand per SKU and day, from the SKU's launch on."""
    sku, day = sku_days(sim)
    return to_contract(
        "inventory",
        {c.SKU_ID: sku_ids[sku], c.DATE: day * DAY, c.ON_HAND: sim.closing_stock[day, sku].astype(np.int64)},
        sim.config.start_ns,
    )


def purchase_orders_table(
    sim: SimResult, sku_ids: np.ndarray, supplier_ids: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Replenishment orders placed during office hours, received in the morning; in transit at the end = null."""
    po = sim.purchase_orders
    n = len(po["sku"])
    ordered = po["ordered"] * DAY + rng.integers(17 * 3600, 20 * 3600, n)  # after the day's sales are known
    received = po["received"] * DAY + rng.integers(7 * 3600, 11 * 3600, n)
    received = np.where(received < sim.config.days * DAY, received, MISSING)
    return to_contract(
        "purchase_orders",
        {
            c.PO_ID: make_ids("PO", n), c.SKU_ID: sku_ids[po["sku"]],
            c.SUPPLIER_ID: supplier_ids[sim.cat.supplier[po["sku"]]], c.ORDERED_AT: ordered, c.RECEIVED_AT: received,
            c.QUANTITY: po["qty"].astype(np.int64),
        },
        sim.config.start_ns,
    )  # fmt: skip


def promotions_table(sim: SimResult, sku_ids: np.ndarray) -> pd.DataFrame:
    """Festival rows (no SKU) and SKU promotions, in start order."""
    p, start_ns = sim.promos, sim.config.start_ns
    order = np.lexsort((p.sku, p.start_ns))

    def to_sec(ns: np.ndarray) -> np.ndarray:
        return (ns - start_ns) // 1_000_000_000

    return to_contract(
        "promotions",
        {
            c.PROMOTION_ID: make_ids("P", len(order)), c.PROMOTION_NAME: p.name[order], c.PROMO_TYPE: p.kind[order],
            c.SKU_ID: lookup(sku_ids, p.sku[order]), c.START_AT: to_sec(p.start_ns[order]),
            c.END_AT: to_sec(p.end_ns[order]), c.DISCOUNT_RATE: p.rate[order],
        },
        start_ns,
    )  # fmt: skip
