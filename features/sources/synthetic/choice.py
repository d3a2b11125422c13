"""Which SKU a shopper picks: popularity x taste affinity x season x price x promotion, per choice group.

Users share a choice distribution with their group (taste cluster x price-sensitivity tier), which keeps each day
at one (groups x SKUs) softmax instead of one per user, while co-views and co-purchases still follow the latent
item factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.sources.synthetic.calendar import Calendar
from features.sources.synthetic.catalogue import FACTOR_DIM, Catalogue
from features.sources.synthetic.population import PS_TIERS, TASTE_CLUSTERS
from features.sources.synthetic.vocab import EXTRA_UNITS

AFFINITY_SCALE = 0.9
PRICE_SCALE = 1.4


@dataclass(frozen=True)
class DayChoice:
    """One day's choice distribution, flattened so a single ``searchsorted`` samples every group at once."""

    flat_cdf: np.ndarray  # (groups * n_sku,), row g spans [g, g + 1]
    n_sku: int

    def sample(self, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One SKU per entry of ``groups``."""
        if len(groups) == 0:
            return np.empty(0, dtype=np.int64)
        target = groups + rng.random(len(groups))
        idx = np.searchsorted(self.flat_cdf, target, side="right")
        return np.clip(idx - groups * self.n_sku, 0, self.n_sku - 1)


class ChoiceModel:
    """Group-level multinomial-logit choice over the catalogue, recomputed per day for season and promotions."""

    def __init__(self, cat: Catalogue, cal: Calendar, rng: np.random.Generator) -> None:
        self.n_groups = TASTE_CLUSTERS * PS_TIERS
        self.centroids = rng.normal(0.0, 1.0, (TASTE_CLUSTERS, FACTOR_DIM))
        ps_mid = (np.arange(PS_TIERS) + 0.5) / PS_TIERS
        taste = np.repeat(np.arange(TASTE_CLUSTERS), PS_TIERS)
        ps = np.tile(ps_mid, TASTE_CLUSTERS)
        affinity = AFFINITY_SCALE * (self.centroids @ cat.factors.T) / np.sqrt(FACTOR_DIM)
        log_price = np.log(cat.price)
        cat_mean = np.bincount(cat.category, weights=log_price) / np.maximum(np.bincount(cat.category), 1)
        rel_price = log_price - cat_mean[cat.category]
        self.base = cat.log_pop[None, :] + affinity[taste] - PRICE_SCALE * (ps[:, None] - 0.35) * rel_price[None, :]
        self.elasticity = 1.5 + 2.5 * ps
        self.season = cat.season_log(cal.doy).astype(np.float32)
        self.cat_boost_log = np.log(cal.cat_boost)[:, cat.category].astype(np.float32)
        self.launch_day = cat.launch_day
        self.mean_units = 1.0 + np.asarray(EXTRA_UNITS)[cat.category]
        self.price = cat.price

    def logits(self, day: int, discount: np.ndarray) -> np.ndarray:
        """(groups x SKUs) utilities for one day given the SKU-level discounts in force."""
        daily = self.season[day] + self.cat_boost_log[day] + np.where(self.launch_day <= day, 0.0, -np.inf)
        promo = -np.log1p(-np.minimum(discount, 0.95))
        return self.base + daily[None, :] + self.elasticity[:, None] * promo[None, :]

    def day(self, day: int, discount: np.ndarray) -> DayChoice:
        """The sampling structure for one day."""
        probs = self.probabilities(day, discount)
        cdf = np.cumsum(probs, axis=1)
        cdf /= cdf[:, -1:]
        flat = (cdf + np.arange(self.n_groups)[:, None]).ravel()
        return DayChoice(flat_cdf=flat, n_sku=probs.shape[1])

    def probabilities(self, day: int, discount: np.ndarray) -> np.ndarray:
        """Row-normalised choice probabilities per group."""
        logit = self.logits(day, discount)
        logit -= logit.max(axis=1, keepdims=True)
        p = np.exp(logit)
        return p / p.sum(axis=1, keepdims=True)

    def expected_line_value(self, day: int = 0) -> np.ndarray:
        """Expected list-price value of one order line per group (for the users' latent value)."""
        p = self.probabilities(day, np.zeros(len(self.price)))
        return p @ (self.price * self.mean_units)
