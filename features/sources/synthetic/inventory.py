"""Stock per SKU under an (s, S) replenishment policy with random supplier lead times.

The planner forecasts from *observed* (censored) sales and only partly anticipates festivals, so stockouts
happen where they do in practice: on hot items at peaks and after Spring Festival, when suppliers are closed.
"""

from __future__ import annotations

import logging

import numpy as np

from features.sources.synthetic.calendar import Calendar
from features.sources.synthetic.catalogue import Catalogue

logger = logging.getLogger(__name__)

MAX_LEAD = 150
EWMA = 0.06
HORIZON = 10


class Inventory:
    """Mutable stock state for the day loop; logs closing stock and purchase orders as it goes."""

    def __init__(
        self, cat: Catalogue, cal: Calendar, days: int, forecast: np.ndarray, rng: np.random.Generator
    ) -> None:
        n = cat.n
        self.rng, self.days, self.cal = rng, days, cal
        self.launch_day = cat.launch_day
        self.lead_mean = cat.supplier_lead[cat.supplier]
        self.forecast = np.maximum(forecast * rng.lognormal(0.0, 0.4, n), 0.01)  # per unit of platform volume
        self.safety = rng.uniform(0.0, 2.0, n)  # some planners run lean, some safe
        self.cycle = rng.uniform(7.0, 30.0, n)  # days of demand per order
        self.on_hand = np.zeros(n, dtype=np.int64)
        self.on_order = np.zeros(n, dtype=np.int64)
        self.arrivals = np.zeros((days + MAX_LEAD + 1, n), dtype=np.int64)
        self.closing = np.zeros((days, n), dtype=np.int32)
        vol = np.concatenate([cal.volume, np.full(HORIZON + 1, cal.volume[-1])])
        window = np.lib.stride_tricks.sliding_window_view(vol[1:], HORIZON)[: len(cal.volume)]
        self.ahead = window.mean(axis=1) ** 0.8  # festival anticipation, deliberately partial
        self.po: dict[str, list[np.ndarray]] = {"sku": [], "ordered": [], "received": [], "qty": []}

    def open_day(self, day: int) -> None:
        """Receive today's deliveries and stock newly launched SKUs."""
        arrived = self.arrivals[day]
        self.on_hand += arrived
        self.on_order -= arrived
        new = np.flatnonzero(self.launch_day == day)
        if len(new):
            self.on_hand[new] += np.ceil(self._targets(day, new)[1]).astype(np.int64)

    def close_day(self, day: int, sold: np.ndarray) -> None:
        """Book today's sales, update the (censored) forecast, log stock and reorder where needed."""
        self.on_hand -= sold
        in_stock = self.on_hand > 0
        level = sold / self.cal.volume[day]
        self.forecast = np.where(in_stock, (1 - EWMA) * self.forecast + EWMA * level, self.forecast)
        self.closing[day] = self.on_hand
        self._reorder(day)

    def _targets(self, day: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reorder point s and order-up-to level S for some SKUs."""
        f = self.forecast[idx] * self.ahead[day]
        cover = self.lead_mean[idx] + 1.0
        s = f * cover + self.safety[idx] * np.sqrt(f * cover)
        return s, s + f * self.cycle[idx]

    def _reorder(self, day: int) -> None:
        launched = np.flatnonzero(self.launch_day <= day)
        s, big_s = self._targets(day, launched)
        position = self.on_hand[launched] + self.on_order[launched]
        need = position < s
        idx = launched[need]
        if not len(idx):
            return
        qty = np.maximum(np.ceil(big_s[need] - position[need]), 1).astype(np.int64)
        noise = self.rng.lognormal(0.0, 0.35, len(idx))
        lead = np.round(self.lead_mean[idx] * noise + self.cal.supplier_extra_d[day]).astype(np.int64)
        lead = np.clip(lead, 1, MAX_LEAD)
        self.arrivals[day + lead, idx] += qty
        self.on_order[idx] += qty
        for key, val in (("sku", idx), ("ordered", np.full(len(idx), day)), ("received", day + lead), ("qty", qty)):
            self.po[key].append(val)

    def purchase_orders(self) -> dict[str, np.ndarray]:
        """Every purchase order placed: SKU, order day, receipt day (may lie after the window), units."""
        return {k: np.concatenate(v) if v else np.empty(0, dtype=np.int64) for k, v in self.po.items()}
