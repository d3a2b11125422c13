"""Customer state in the day loop: activity, bad experiences, churn hazard, win-back coupons, reactivation.

The hazard is the ground truth the churn model tries to recover: it rises after late deliveries, defects and
unresolved complaints (a decaying "bad experience" score) and with unusual inactivity, and coupons damp it.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np

from features.sources.synthetic.calendar import Calendar
from features.sources.synthetic.population import Population

logger = logging.getLogger(__name__)

BAD_HALF_LIFE = 60.0
BAD_HAZARD = 1.2  # log-hazard per unit of bad-experience score
BAD_ENGAGEMENT = 0.35  # log purchase-rate drop per unit of bad-experience score
COUPON_DAYS = 14
COUPON_VALUES = np.array([10.0, 20.0, 30.0])


class Customers:
    """Mutable per-user state; every array is indexed by internal user number."""

    def __init__(self, pop: Population, cal: Calendar, days: int, rng: np.random.Generator) -> None:
        n = pop.n
        self.pop, self.cal, self.rng = pop, cal, rng
        self.churned = np.zeros(n, dtype=bool)
        self.last_buy = pop.signup_day.astype(np.int64)
        self.bad = np.zeros(n)
        self.coupon_until = np.full(n, -1, dtype=np.int64)
        self.coupon_value = np.zeros(n)
        self.last_coupon = np.full(n, -(10**6), dtype=np.int64)
        self.fav_sku = np.full(n, -1, dtype=np.int64)
        n_months = int(cal.month[days - 1]) + 1
        self.hazard_sum = np.zeros((n, n_months), dtype=np.float32)
        self.exposure = np.zeros((n, n_months), dtype=np.int16)
        self.pending: dict[int, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
        self.churn_log: dict[str, list[np.ndarray]] = {"user": [], "day": [], "kind": []}
        self._decay = 0.5 ** (1.0 / BAD_HALF_LIFE)

    def start_day(self, day: int) -> np.ndarray:
        """Apply experiences that land today, decay old ones; return the active users (signed up, not churned)."""
        self.bad *= self._decay
        for users, weights in self.pending.pop(day, []):
            self.bad += np.bincount(users, weights=weights, minlength=len(self.bad))
        np.maximum(self.bad, 0.0, out=self.bad)
        return np.flatnonzero((self.pop.signup_day <= day) & ~self.churned)

    def schedule_bad(self, users: np.ndarray, days: np.ndarray, weights: np.ndarray) -> None:
        """Queue experiences for the day they are felt: bad ones (late parcel, defect, unresolved ticket) add
        to the score, smooth deliveries (negative weights) wear it down, so one late parcel among fifty good ones
        hurts less than one among three."""
        if not len(users):
            return
        order = np.argsort(days, kind="stable")
        users, days, weights = users[order], days[order], weights[order]
        uniq, first = np.unique(days, return_index=True)
        for day, part_u, part_w in zip(uniq, np.split(users, first[1:]), np.split(weights, first[1:]), strict=True):
            self.pending[int(day)].append((part_u, part_w))

    def coupon_active(self, users: np.ndarray, day: int) -> np.ndarray:
        return self.coupon_until[users] >= day

    def purchase_rates(self, idx: np.ndarray, day: int) -> np.ndarray:
        """Expected orders today: base rate x calendar (price-sensitive users react more) x mood x coupon."""
        pop, vol = self.pop, self.cal.volume[day]
        festival_response = 1.0 + (vol - 1.0) * (0.6 + 0.8 * pop.price_sensitivity[idx])
        mood = np.exp(-BAD_ENGAGEMENT * self.bad[idx])
        coupon = np.where(self.coupon_active(idx, day), 2.0, 1.0)
        return pop.rate[idx] * np.maximum(festival_response, 0.05) * mood * coupon

    def hazard(self, idx: np.ndarray, day: int) -> np.ndarray:
        """Daily churn hazard of active users (the latent truth)."""
        pop = self.pop
        missed = (day - self.last_buy[idx]) * pop.rate[idx]  # expected purchases that did not happen
        inactivity = 1.0 + 0.5 * np.minimum(missed, 6.0)
        coupon = np.where(self.coupon_active(idx, day), 0.5, 1.0)
        return pop.base_hazard[idx] * np.exp(BAD_HAZARD * self.bad[idx]) * inactivity * coupon

    def end_day(self, day: int, idx: np.ndarray, buyers: np.ndarray) -> None:
        """Record purchases, draw churn, send win-back coupons and (rarely) reactivate churned users."""
        self.last_buy[buyers] = day
        h = self.hazard(idx, day)
        month = self.cal.month[day]
        self.hazard_sum[idx, month] += h
        self.exposure[idx, month] += 1
        leaving = idx[self.rng.random(len(idx)) < -np.expm1(-h)]
        self.churned[leaving] = True
        self._log(leaving, day, 1)
        self._win_back(day, idx)

    def _win_back(self, day: int, idx: np.ndarray) -> None:
        """Coupons for lapsing users; a churned user who gets one occasionally comes back."""
        rng = self.rng
        lapsing = idx[((day - self.last_buy[idx]) * self.pop.rate[idx] > 2.5) & (day - self.last_coupon[idx] > 60)]
        lapsing = lapsing[rng.random(len(lapsing)) < 0.1]
        gone = np.flatnonzero(self.churned)
        gone = gone[rng.random(len(gone)) < 0.002]
        targets = np.concatenate([lapsing, gone])
        self.coupon_until[targets] = day + COUPON_DAYS
        self.coupon_value[targets] = COUPON_VALUES[rng.integers(0, len(COUPON_VALUES), len(targets))]
        self.last_coupon[targets] = day
        back = gone[rng.random(len(gone)) < 0.12]
        self.churned[back] = False
        self.last_buy[back] = day
        self.bad[back] *= 0.5
        self._log(back, day, 0)

    def _log(self, users: np.ndarray, day: int, kind: int) -> None:
        if len(users):
            self.churn_log["user"].append(users)
            self.churn_log["day"].append(np.full(len(users), day))
            self.churn_log["kind"].append(np.full(len(users), kind))  # 1 churn, 0 reactivation

    def use_coupons(self, users: np.ndarray, subtotal: np.ndarray, day: int) -> np.ndarray:
        """Redeem active win-back coupons on qualifying orders; returns the coupon value per order."""
        value = np.zeros(len(users))
        ok = self.coupon_active(users, day) & (subtotal >= 2 * self.coupon_value[users])
        value[ok] = self.coupon_value[users[ok]]
        self.coupon_until[users[ok]] = -1
        return value

    def churn_events(self) -> dict[str, np.ndarray]:
        """Every churn (kind 1) and reactivation (kind 0), in day order."""
        if not self.churn_log["user"]:
            return {k: np.empty(0, dtype=np.int64) for k in self.churn_log}
        return {k: np.concatenate(v) for k, v in self.churn_log.items()}
