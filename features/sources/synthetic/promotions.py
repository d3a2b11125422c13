"""The campaign calendar: platform festivals plus per-SKU discounts, flash sales and shop coupons.

The same plan drives the simulation (a per-day, per-SKU discount that raises demand) and the promotions table,
so what the table says is what happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from features.sources.synthetic.calendar import Calendar
from features.sources.synthetic.catalogue import Catalogue
from features.sources.synthetic.config import SynthConfig

logger = logging.getLogger(__name__)

DAY_NS = 86_400 * 10**9

# kind -> (share of SKU promotions, min days, max days, min rate, max rate, label)
_KINDS: dict[str, tuple[float, int, int, float, float, str]] = {
    "discount": (0.6, 5, 14, 0.10, 0.30, "品牌折扣周"),
    "flash_sale": (0.15, 1, 1, 0.30, 0.50, "限时秒杀"),
    "coupon": (0.25, 7, 21, 0.05, 0.15, "店铺优惠券"),
}


@dataclass(frozen=True)
class PromotionPlan:
    """Promotion rows (platform-wide rows have sku == -1) and the daily SKU discount they imply."""

    name: np.ndarray  # object
    kind: np.ndarray  # object, contract promo_type
    sku: np.ndarray  # int, -1 = platform-wide
    start_ns: np.ndarray
    end_ns: np.ndarray
    rate: np.ndarray
    sku_discount: np.ndarray  # (days, n_sku) float32: the best SKU-level discount that day


def plan_promotions(config: SynthConfig, cal: Calendar, cat: Catalogue, rng: np.random.Generator) -> PromotionPlan:
    """Draw per-SKU promotions (popular SKUs are promoted more often) and add the festival rows."""
    n_promo = int(cat.n * config.days / 365 * 1.5)
    weight = np.exp(0.5 * cat.log_pop)
    sku = rng.choice(cat.n, size=n_promo, p=weight / weight.sum())
    kinds = list(_KINDS)
    kind_idx = rng.choice(len(kinds), size=n_promo, p=[_KINDS[k][0] for k in kinds])
    lo = np.array([_KINDS[k][1] for k in kinds])[kind_idx]
    hi = np.array([_KINDS[k][2] for k in kinds])[kind_idx]
    length = rng.integers(lo, hi + 1)
    start = np.maximum(rng.integers(0, config.days, n_promo), cat.launch_day[sku])
    keep = start < config.days
    rate_lo = np.array([_KINDS[k][3] for k in kinds])[kind_idx]
    rate_hi = np.array([_KINDS[k][4] for k in kinds])[kind_idx]
    rate = np.round(rng.uniform(rate_lo, rate_hi), 2)
    sku, kind_idx, length, start, rate = sku[keep], kind_idx[keep], length[keep], start[keep], rate[keep]
    end = np.minimum(start + length, config.days)  # exclusive day
    matrix = np.zeros((config.days, cat.n), dtype=np.float32)
    for s, e, j, r in zip(start, end, sku, rate, strict=True):
        matrix[s:e, j] = np.maximum(matrix[s:e, j], r)
    labels = np.array([_KINDS[k][5] for k in kinds], dtype=object)[kind_idx]
    base = config.start_ns
    fest = _festival_rows(config, cal)
    logger.debug("promotions: %d SKU rows, %d festival rows", len(sku), len(fest[0]))
    return PromotionPlan(
        name=np.concatenate([fest[0], cat.brand[sku] + labels]),
        kind=np.concatenate([np.full(len(fest[0]), "festival", dtype=object), np.array(kinds, dtype=object)[kind_idx]]),
        sku=np.concatenate([np.full(len(fest[0]), -1), sku]),
        start_ns=np.concatenate([fest[1], base + start * DAY_NS]),
        end_ns=np.concatenate([fest[2], base + end * DAY_NS - 10**9]),
        rate=np.concatenate([fest[3], rate]),
        sku_discount=matrix,
    )  # fmt: skip


def _festival_rows(config: SynthConfig, cal: Calendar) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One platform-wide row per festival that overlaps the window, clipped to the window."""
    lo, hi = config.start.value, config.end.value - 10**9
    rows = [
        (f"{f.peak.year}{f.name}", max(f.start.value, lo), min(f.end.value + DAY_NS - 10**9, hi), f.discount)
        for f in cal.festivals
        if f.start < config.end and f.end >= config.start
    ]
    if not rows:
        return np.array([], dtype=object), np.array([], np.int64), np.array([], np.int64), np.array([])
    names, starts, ends, rates = zip(*rows, strict=True)
    return np.array(names, dtype=object), np.array(starts), np.array(ends), np.array(rates)
