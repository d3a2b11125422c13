"""The commercial calendar: weekly cycle, shopping festivals, Spring Festival slowdown, seasonality.

Everything is precomputed per simulated day as plain arrays so the day loop only indexes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lunardate import LunarDate

from features.sources.synthetic.config import SynthConfig
from features.sources.synthetic.vocab import CATEGORIES

logger = logging.getLogger(__name__)

# 春节 (first day of the lunar new year) from a maintained lunisolar calendar, for any start date 1970-2099.
SPRING_FESTIVAL: dict[int, str] = {
    year: LunarDate(year, 1, 1).to_solar_date().isoformat() for year in range(1970, 2100)
}

# Monday .. Sunday: weekends a little busier, mid-week a little quieter.
WEEKLY = np.array([0.97, 0.95, 0.96, 0.98, 1.02, 1.07, 1.05])

# Orders per hour of an ordinary day: a late-morning bump, a lunch dip, the evening peak.
HOURLY = np.array(
    [1.6, 0.8, 0.4, 0.25, 0.2, 0.25, 0.6, 1.4, 2.6, 3.8, 4.6, 4.4, 3.7, 4.0, 4.5, 4.6, 4.4, 4.3, 4.3, 5.0, 6.0,
     6.8, 6.6, 4.2]
)  # fmt: skip


@dataclass(frozen=True)
class Festival:
    """One platform-wide campaign: its window, peak day and how strongly it lifts and discounts sales."""

    name: str
    start: pd.Timestamp
    peak: pd.Timestamp
    end: pd.Timestamp
    lift: float  # volume multiplier on the peak day
    warmup_lift: float  # volume multiplier on the other days of the window
    discount: float  # platform-wide fraction off list price during the window
    manjian: tuple[int, int] | None  # 满减: every `threshold` yuan spent takes `off` yuan off
    category_boost: dict[str, float]  # extra multiplier for some categories


def festivals_for_year(year: int) -> list[Festival]:
    """The festivals of one calendar year, in date order."""
    ts = pd.Timestamp
    sf = ts(SPRING_FESTIVAL[year]) if year in SPRING_FESTIVAL else None
    out: list[Festival] = []
    if sf is not None:
        out.append(
            Festival(
                "年货节", sf - pd.Timedelta(days=24), sf - pd.Timedelta(days=12), sf - pd.Timedelta(days=8),
                1.6, 1.35, 0.08, (200, 20), {"食品生鲜": 2.0, "家居": 1.3, "服装": 1.2},
            )
        )  # fmt: skip
    out += [
        Festival("38女王节", ts(f"{year}-03-05"), ts(f"{year}-03-08"), ts(f"{year}-03-08"), 1.9, 1.3, 0.08,
                 None, {"美妆": 2.0, "服装": 1.3}),
        Festival("618", ts(f"{year}-06-01"), ts(f"{year}-06-18"), ts(f"{year}-06-18"), 4.0, 1.3, 0.12,
                 (300, 40), {"数码": 1.5, "家居": 1.2}),
        Festival("开学季", ts(f"{year}-08-20"), ts(f"{year}-09-01"), ts(f"{year}-09-10"), 1.1, 1.05, 0.05,
                 None, {"数码": 1.4, "图书": 2.0}),
        Festival("双11", ts(f"{year}-10-31"), ts(f"{year}-11-11"), ts(f"{year}-11-12"), 7.5, 1.45, 0.15,
                 (300, 50), {"美妆": 1.3, "服装": 1.2}),
        Festival("双12", ts(f"{year}-12-10"), ts(f"{year}-12-12"), ts(f"{year}-12-12"), 2.8, 1.3, 0.10,
                 (200, 20), {}),
    ]  # fmt: skip
    return out


@dataclass(frozen=True)
class Calendar:
    """Per-day arrays over the simulated window (plus a margin for things scheduled after it)."""

    dates: pd.DatetimeIndex
    volume: np.ndarray  # purchase-volume multiplier
    basket: np.ndarray  # extra-lines multiplier (people fill baskets on festivals)
    fest_discount: np.ndarray  # platform-wide discount rate
    mj_threshold: np.ndarray  # 满减 threshold (0 = none)
    mj_off: np.ndarray  # 满减 amount per threshold
    cat_boost: np.ndarray  # days x categories multiplier
    ship_extra_h: np.ndarray  # warehouse congestion, extra hours to ship
    transit_extra_d: np.ndarray  # logistics slowdown, extra transit days
    promise_extra_d: np.ndarray  # what the platform admits in its promise
    supplier_extra_d: np.ndarray  # factories closed around Spring Festival
    midnight_rush: np.ndarray  # bool: the peak day opens at 00:00
    month: np.ndarray  # month index since the start month
    doy: np.ndarray  # day of year, 0-based
    festivals: tuple[Festival, ...]


def build_calendar(config: SynthConfig, margin: int = 60) -> Calendar:
    """Precompute every calendar effect for the window and ``margin`` days after it."""
    dates = pd.date_range(config.start, periods=config.days + margin, freq="D")
    n, cat_index = len(dates), {name: i for i, name in enumerate(CATEGORIES)}
    volume = WEEKLY[dates.dayofweek.to_numpy()].astype(float)
    basket = np.ones(n)
    fest_discount, mj_threshold, mj_off = np.zeros(n), np.zeros(n), np.zeros(n)
    cat_boost = np.ones((n, len(CATEGORIES)))
    ship_extra_h, midnight = np.zeros(n), np.zeros(n, dtype=bool)
    fests = [f for y in sorted(set(dates.year)) for f in festivals_for_year(y)]
    fests = [f for f in fests if f.end >= dates[0] and f.start <= dates[-1]]
    for fest in fests:
        window = (dates >= fest.start) & (dates <= fest.end)
        peak = dates == fest.peak
        volume[window & ~peak] *= fest.warmup_lift
        volume[peak] *= fest.lift
        basket[window] = np.maximum(basket[window], 1.0 + 0.25 * np.log(fest.lift))
        fest_discount[window] = np.maximum(fest_discount[window], fest.discount)
        if fest.manjian:
            mj_threshold[window], mj_off[window] = fest.manjian
        for cat, boost in fest.category_boost.items():
            cat_boost[window, cat_index[cat]] *= boost
        ship_extra_h[peak] += 4 * fest.lift
        ship_extra_h[window & ~peak] += 40 * (fest.warmup_lift - 1)
        midnight[peak] = fest.lift >= 2.5
    transit, promise, supplier = _spring_festival_effects(dates, volume)
    first_month = dates[0].year * 12 + dates[0].month
    logger.debug("calendar: %d festivals in window", len(fests))
    return Calendar(
        dates=dates, volume=volume, basket=basket, fest_discount=fest_discount, mj_threshold=mj_threshold,
        mj_off=mj_off, cat_boost=cat_boost, ship_extra_h=ship_extra_h, transit_extra_d=transit,
        promise_extra_d=promise, supplier_extra_d=supplier, midnight_rush=midnight,
        month=(dates.year * 12 + dates.month - first_month).to_numpy(), doy=dates.dayofyear.to_numpy() - 1,
        festivals=tuple(fests),
    )  # fmt: skip


def _spring_festival_effects(dates: pd.DatetimeIndex, volume: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Couriers and factories go home for 春节: fewer orders, slower parcels, longer supplier lead times.

    Mutates ``volume`` (the holiday dip) and returns extra transit days, extra promised days (the platform
    admits less than the real slowdown, hence late parcels) and extra supplier lead days.
    """
    n = len(dates)
    transit, promise, supplier = np.zeros(n), np.zeros(n), np.zeros(n)
    for sf_str in SPRING_FESTIVAL.values():
        offset = ((dates - pd.Timestamp(sf_str)).days).to_numpy()
        if offset.min() > 20 or offset.max() < -25:
            continue
        dip = (offset >= -5) & (offset <= 6)
        volume[dip] *= 0.55
        # slowdown ramps up a week before, peaks on the festival, fades over ten days after
        ramp = np.clip(np.where(offset < 0, (offset + 10) / 10, 1 - offset / 12), 0, 1)
        transit += 4.5 * ramp
        promise += np.floor(3.0 * ramp)
        supplier += np.where((offset >= -14) & (offset <= 10), 12.0 * np.clip(1 - np.abs(offset) / 14, 0, 1), 0)
    return transit, promise, supplier


def seasonal_log_multiplier(doy: np.ndarray, peak_doy: np.ndarray, amp: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Log seasonality per (day, item-type): +amp at the peak, about -amp half a year away.

    ``width`` in (0, 1]: 1 gives a broad cosine season, small values a narrow one (mooncakes, swimsuits).

    Returns:
        Array of shape (len(doy), len(peak_doy)).
    """
    theta = 2 * np.pi * (doy[:, None] - peak_doy[None, :]) / 365.0
    kappa = 1.0 / np.maximum(width, 0.05)[None, :]
    bump = np.exp(kappa * (np.cos(theta) - 1.0))
    return amp[None, :] * (2.0 * bump - 1.0)


def sample_seconds(rng: np.random.Generator, n: int, midnight_rush: bool) -> np.ndarray:
    """Seconds after midnight for ``n`` orders, from the hourly profile (peak days open with a midnight rush)."""
    profile = HOURLY.copy()
    if midnight_rush:
        profile[0] += 40.0
    hour = rng.choice(24, size=n, p=profile / profile.sum())
    return hour * 3600 + rng.integers(0, 3600, size=n)
