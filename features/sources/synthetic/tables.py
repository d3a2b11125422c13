"""The contract tables of the synthetic world, as every real source would deliver them.

Statuses and optional timestamps are a snapshot at the end of the window: a parcel still on the road is
``shipped`` with no delivery time, a ticket not yet closed is unresolved, a purchase order in transit has no
receipt date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import columns as c
from features.sources.synthetic import vocab as v
from features.sources.synthetic.frames import MISSING, lookup, make_ids, rank_ids, to_contract
from features.sources.synthetic.fraud import Fraud
from features.sources.synthetic.fulfilment import RETURN_CODES, TICKET_CODES
from features.sources.synthetic.simulate import SimResult

DAY = 86_400
EVENT_TYPES = np.array(["view", "cart", "favourite"], dtype=object)


@dataclass
class Keys:
    """String ids per internal index, shared by the contract tables and the truth tables."""

    user: np.ndarray  # genuine users first, then fake accounts
    user_signup_t: np.ndarray
    sku: np.ndarray
    supplier: np.ndarray
    order: np.ndarray  # genuine orders first, then brushing orders


def catalogue_tables(sim: SimResult) -> tuple[dict[str, pd.DataFrame], np.ndarray, np.ndarray]:
    """Suppliers and products; SKU ids follow the internal (random) order, so they say nothing about sales."""
    cat, start = sim.cat, sim.config.start_ns
    supplier_ids = make_ids("SUP", len(cat.supplier_lead))
    sku_ids = make_ids("SKU", cat.n)
    suppliers = to_contract(
        "suppliers",
        {c.SUPPLIER_ID: supplier_ids, c.SUPPLIER_NAME: cat.supplier_name, c.MEAN_LEAD_TIME_DAYS: cat.supplier_lead},
        start,
    )
    products = to_contract(
        "products",
        {
            c.SKU_ID: sku_ids, c.PRODUCT_NAME: cat.name,
            c.CATEGORY: np.array(v.CATEGORIES, dtype=object)[cat.category], c.BRAND: cat.brand,
            c.SUPPLIER_ID: supplier_ids[cat.supplier], c.LIST_PRICE: cat.price, c.UNIT_COST: cat.cost,
            c.LAUNCHED_AT: cat.launch_day * DAY,
        },
        start,
    )  # fmt: skip
    return {"suppliers": suppliers, "products": products}, sku_ids, supplier_ids


def users_table(sim: SimResult, fraud: Fraud) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Genuine users and fake accounts in one table, ids in signup order so fakes do not stand out by id."""
    pop = sim.pop
    signup = np.concatenate([pop.signup_day * DAY + pop.signup_sec, fraud.accounts["signup_t"]])
    ids, order = rank_ids("U", (np.arange(len(signup)), signup))
    cols = {c.USER_ID: ids, c.SIGNUP_AT: signup}
    for name in (c.USER_NAME, c.PHONE, c.CITY, c.COUNTRY, c.GENDER, c.BIRTH_YEAR, c.CHANNEL, c.DEVICE_ID):
        cols[name] = np.concatenate([pop.pii[name], fraud.accounts[name]])
    return to_contract("users", cols, sim.config.start_ns, order), ids, signup


def order_tables(sim: SimResult, fraud: Fraud, keys: Keys) -> tuple[dict[str, pd.DataFrame], np.ndarray]:
    """Orders (genuine plus brushing) and their lines; order ids follow order time."""
    o, lines, b = sim.ledger.columns("orders"), sim.ledger.columns("lines"), fraud.brushing
    n_gen, n_fake = len(o["user"]), len(b["account"])
    end, n_users = sim.config.days * DAY, sim.pop.n
    t = np.concatenate([o["t"], b["t"]])
    ids, order = rank_ids("O", (np.arange(len(t)), t))
    shipped = np.concatenate([o["shipped"], b["shipped"]])
    delivered = np.concatenate([o["delivered"], b["delivered"]])
    status = _status(sim, np.concatenate([o["cancelled"], np.zeros(n_fake, bool)]), shipped, delivered, n_gen + n_fake)
    shipped = np.where(shipped < end, shipped, MISSING)
    delivered = np.where(delivered < end, delivered, MISSING)
    orders = to_contract(
        "orders",
        {
            c.ORDER_ID: ids, c.USER_ID: keys.user[np.concatenate([o["user"], n_users + b["account"]])],
            c.ORDER_TS: t, c.STATUS: status,
            c.CHANNEL: np.concatenate([np.array(v.ORDER_CHANNELS, dtype=object)[o["channel"]],
                                       np.full(n_fake, "app", dtype=object)]),
            c.COUPON_AMOUNT: np.concatenate([o["coupon"], np.zeros(n_fake)]),
            c.PROMISED_AT: np.concatenate([o["promised"], b["promised"]]), c.SHIPPED_AT: shipped,
            c.DELIVERED_AT: delivered,
        },
        sim.config.start_ns, order,
    )  # fmt: skip
    line_order = np.concatenate([lines["order"], n_gen + np.arange(n_fake)])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    line_sort = np.lexsort((np.arange(len(line_order)), rank[line_order]))
    items = to_contract(
        "order_items",
        {
            c.ORDER_ITEM_ID: np.empty(len(line_order), dtype=object), c.ORDER_ID: ids[line_order],
            c.SKU_ID: keys.sku[np.concatenate([lines["sku"], b["sku"]])],
            c.QUANTITY: np.concatenate([lines["qty"], np.ones(n_fake, dtype=np.int64)]),
            c.UNIT_PRICE: np.concatenate([lines["unit"], b["price"]]),
            c.DISCOUNT_AMOUNT: np.concatenate([lines["discount"], np.zeros(n_fake)]),
        },
        sim.config.start_ns, line_sort,
    )  # fmt: skip
    items[c.ORDER_ITEM_ID] = make_ids("OI", len(items))
    return {"orders": orders, "order_items": items}, ids


def _status(sim: SimResult, cancelled: np.ndarray, shipped: np.ndarray, delivered: np.ndarray, n: int) -> np.ndarray:
    """Latest status at the snapshot; an order is 'returned' when every unit came back within the window."""
    end = sim.config.days * DAY
    lines, ret = sim.ledger.columns("lines"), sim.ledger.columns("returns")
    units = np.bincount(lines["order"], weights=lines["qty"], minlength=n)
    done = ret["t"] < end
    back = np.bincount(ret["order"][done], weights=ret["qty"][done], minlength=n)
    status = np.full(n, "delivered", dtype=object)
    status[(back >= units) & (units > 0)] = "returned"
    status[delivered >= end] = "shipped"
    status[shipped >= end] = "paid"
    status[cancelled] = "cancelled"
    return status


def after_sales_tables(sim: SimResult, keys: Keys) -> dict[str, pd.DataFrame]:
    """Returns and service tickets that happened inside the window."""
    end, start = sim.config.days * DAY, sim.config.start_ns
    r = sim.ledger.columns("returns")
    rk = np.flatnonzero(r["t"] < end)
    rk = rk[np.argsort(r["t"][rk], kind="stable")]
    reasons = np.array([v.RETURN_REASONS[code] for code in RETURN_CODES], dtype=object)
    returns = to_contract(
        "returns",
        {
            c.RETURN_ID: make_ids("RT", len(rk)), c.ORDER_ID: keys.order[r["order"][rk]],
            c.USER_ID: keys.user[r["user"][rk]], c.SKU_ID: keys.sku[r["sku"][rk]], c.RETURNED_AT: r["t"][rk],
            c.QUANTITY: r["qty"][rk], c.REFUND_AMOUNT: r["refund"][rk], c.RETURN_REASON: reasons[r["reason"][rk]],
        },
        start,
    )  # fmt: skip
    tk = sim.ledger.columns("tickets")
    keep = np.flatnonzero(tk["created"] < end)
    keep = keep[np.argsort(tk["created"][keep], kind="stable")]
    resolved_t = tk["resolved_t"][keep]
    resolved = (resolved_t >= 0) & (resolved_t < end)
    tickets = to_contract(
        "service_tickets",
        {
            c.TICKET_ID: make_ids("T", len(keep)), c.USER_ID: keys.user[tk["user"][keep]],
            c.ORDER_ID: lookup(keys.order, tk["order"][keep]), c.CREATED_AT: tk["created"][keep],
            c.TICKET_CATEGORY: np.array(TICKET_CODES, dtype=object)[tk["category"][keep]], c.RESOLVED: resolved,
            c.RESOLVED_AT: np.where(resolved, resolved_t, MISSING),
        },
        start,
    )  # fmt: skip
    return {"returns": returns, "service_tickets": tickets}


def events_table(sim: SimResult, keys: Keys) -> pd.DataFrame:
    """Behaviour events inside the window, never before the account existed, ids in time order."""
    e = sim.ledger.columns("events")
    end = sim.config.days * DAY
    t = np.maximum(e["t"], keys.user_signup_t[e["user"]])
    keep = np.flatnonzero(t < end)
    keep = keep[np.argsort(t[keep], kind="stable")]
    used, session = np.unique(e["session"][keep], return_inverse=True)  # ids only for sessions that remain
    frame = to_contract(
        "events",
        {
            c.EVENT_ID: make_ids("E", len(keep)), c.USER_ID: keys.user[e["user"][keep]],
            c.SKU_ID: keys.sku[e["sku"][keep]], c.EVENT_TS: t[keep], c.EVENT_TYPE: EVENT_TYPES[e["kind"][keep]],
            c.SESSION_ID: make_ids("S", len(used))[session],
        },
        sim.config.start_ns,
    )  # fmt: skip
    sim.ledger.drop("events")
    return frame
