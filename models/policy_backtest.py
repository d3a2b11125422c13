"""Day-by-day replay of an (s, S) reorder policy on realised demand: the number operators care about.

Every SKU starts the held-out period with a given stock; each day deliveries due arrive, demand is served from
stock (what cannot be served is lost, as in e-commerce), and when on-hand plus on-order falls below the reorder
point (or reaches it) an order up to S is placed and arrives after a lead time drawn from the SKU's own lead-time samples.
Written by hand because the simulation is a few vectorised lines over SKUs and no maintained library replays a
per-day, per-SKU policy with lost sales and empirical lead times.

Realised cycle service level: the share of replenishment cycles (from one receipt to the next, the first cycle
starting on day one) with no unmet demand. This is stricter than "no stockout while an order is on its way": a
stockout before the reorder is placed (demand jumping past the reorder point) counts too. Fill rate: units served
over units demanded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np


@dataclass
class ReplayResult:
    """Per-SKU outcomes of one replay (arrays of length n_skus) and their pooled summary."""

    cycles: np.ndarray
    cycles_ok: np.ndarray
    demand: np.ndarray
    served: np.ndarray
    mean_on_hand: np.ndarray
    stockout_days: np.ndarray

    def summary(self) -> dict[str, float]:
        """Pooled cycle service level, fill rate, mean on-hand per SKU and stockout days per SKU."""
        cycles = self.cycles.sum()
        return {
            "cycle_service_level": float(self.cycles_ok.sum() / cycles) if cycles else float("nan"),
            "fill_rate": float(self.served.sum() / max(self.demand.sum(), 1e-12)),
            "mean_on_hand": float(self.mean_on_hand.mean()),
            "stockout_days": float(self.stockout_days.mean()),
            "orders": float(cycles),
        }


def _lead_matrix(lead_times: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged per-SKU lead-time samples as a padded matrix and a count per SKU."""
    counts = np.array([max(len(x), 1) for x in lead_times])
    mat = np.ones((len(lead_times), counts.max()))
    for i, x in enumerate(lead_times):
        if len(x):
            mat[i, : len(x)] = x
    return mat, counts


def replay(
    demand: np.ndarray,
    reorder_point: np.ndarray,
    order_up_to: np.ndarray,
    lead_times: Sequence[Sequence[float]],
    initial_on_hand: np.ndarray,
    seed: int = 0,
) -> ReplayResult:
    """Replay the policy over ``demand`` (days x SKUs); ``reorder_point``/``order_up_to`` are days x SKUs too.

    Orders still in transit at the end are not counted as cycles (their outcome is unknown). Lead times are
    common random numbers: the k-th order of SKU i draws its lead time from the same uniform in every replay of
    the same shape and seed, whatever the policy and whatever the other SKUs do. Why: with one shared stream, a
    policy that orders one C item a day earlier shifted every later draw, so class A's realised service level
    moved by points between two policies that treat A alike; comparing policies must not hinge on that.
    """
    days, n = demand.shape
    rng = np.random.default_rng(seed)
    leads, counts = _lead_matrix(lead_times)
    max_lead = int(np.ceil(leads.max())) + 1
    arrivals = np.zeros((days + max_lead + 1, n))
    on_hand = np.asarray(initial_on_hand, dtype="float64").copy()
    on_order = np.zeros(n)
    unmet = np.zeros((days, n), dtype=bool)
    open_orders: list[tuple[int, int, np.ndarray]] = []
    uniforms = rng.random((days, n))  # a SKU orders at most once a day: row k serves each SKU's k-th order
    placed = np.zeros(n, dtype=int)
    served_total, hand_total = np.zeros(n), np.zeros(n)
    for t in range(days):
        on_hand += arrivals[t]
        on_order -= arrivals[t]
        served = np.minimum(on_hand, demand[t])
        unmet[t] = demand[t] > served + 1e-9
        on_hand -= served
        served_total += served
        hand_total += on_hand
        position = on_hand + on_order
        idx = np.flatnonzero(position <= reorder_point[t])
        if len(idx):
            qty = np.maximum(np.ceil(order_up_to[t, idx] - position[idx]), 1.0)
            pick = (uniforms[placed[idx], idx] * counts[idx]).astype(int)
            placed[idx] += 1
            lead = np.maximum(np.rint(leads[idx, pick]).astype(int), 1)
            arrivals[t + lead, idx] += qty
            on_order[idx] += qty
            open_orders.append((t, idx, t + lead))
    cycles, ok = _cycles(open_orders, unmet)
    return ReplayResult(cycles, ok, demand.sum(axis=0), served_total, hand_total / days, unmet.sum(axis=0))


def _cycles(open_orders: list[tuple[int, np.ndarray, np.ndarray]], unmet: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cycles between successive receipts that ended within the replay, and how many had no unmet demand."""
    days, n = unmet.shape
    receipts: list[list[int]] = [[] for _ in range(n)]
    for _t, idx, due in open_orders:
        for i, d in zip(idx, due, strict=True):
            if d < days:
                receipts[i].append(int(d))
    cycles, ok = np.zeros(n), np.zeros(n)
    for i, days_in in enumerate(receipts):
        bounds = [0, *sorted(set(days_in))]
        for start, end in pairwise(bounds):
            cycles[i] += 1
            ok[i] += not unmet[start:end, i].any()
    return cycles, ok
