"""Genuine users: when they sign up, how often and how price-consciously they buy, and their personal data."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from features import columns as c
from features.sources.synthetic import vocab as v
from features.sources.synthetic.calendar import sample_seconds
from features.sources.synthetic.config import SynthConfig

logger = logging.getLogger(__name__)

TASTE_CLUSTERS = 16
PS_TIERS = 3
MEAN_RATE = 0.13  # orders per active user-day before calendar effects


@dataclass(frozen=True)
class Population:
    """Latent traits of the genuine users, one entry per internal user number."""

    signup_day: np.ndarray
    signup_sec: np.ndarray
    rate: np.ndarray  # base orders per day
    price_sensitivity: np.ndarray  # 0..1
    ps_tier: np.ndarray  # 0, 1, 2
    taste: np.ndarray  # taste cluster
    base_hazard: np.ndarray  # daily churn hazard before experiences and inactivity
    main_channel: np.ndarray  # index into vocab.ORDER_CHANNELS
    city_tier: np.ndarray  # 1..4, drives transit time
    pii: dict[str, np.ndarray]  # contract user columns except ids and signup

    @property
    def n(self) -> int:
        return len(self.rate)

    @property
    def group(self) -> np.ndarray:
        """Choice group: taste cluster x price-sensitivity tier."""
        return self.taste * PS_TIERS + self.ps_tier


def build_population(config: SynthConfig, rng: np.random.Generator) -> Population:
    """Draw every genuine user's latent traits and personal data."""
    n = config.users
    launch_wave = rng.random(n) < 0.4
    later = (config.days * rng.random(n) ** 0.8).astype(np.int64)
    signup_day = np.where(launch_wave, rng.integers(0, min(30, config.days), n), later)
    z_rate = rng.normal(0.0, 1.0, n)
    sigma = 1.1
    rate = MEAN_RATE * np.exp(sigma * z_rate - sigma**2 / 2)
    rate[rng.random(n) < 0.1] *= 0.05  # registered, hardly ever buys
    ps = 1.0 / (1.0 + np.exp(-(1.3 * rng.normal(0.0, 1.0, n) - 0.35 * z_rate)))
    taste = rng.choice(TASTE_CLUSTERS, size=n, p=rng.dirichlet(np.full(TASTE_CLUSTERS, 3.0)))
    loyalty = np.clip(rate / MEAN_RATE, 0.2, 10.0) ** -0.6  # frequent buyers are stickier
    base_hazard = 0.0004 * rng.lognormal(0.0, 0.5, n) * (0.6 + 0.8 * ps) * loyalty
    pii = personal_data(rng, n)
    tiers = np.array([c[1] for c in v.CITIES])
    return Population(
        signup_day=signup_day, signup_sec=sample_seconds(rng, n, False), rate=rate, price_sensitivity=ps,
        ps_tier=np.minimum((ps * PS_TIERS).astype(np.int64), PS_TIERS - 1), taste=taste, base_hazard=base_hazard,
        main_channel=rng.choice(len(v.ORDER_CHANNELS), size=n, p=[0.65, 0.25, 0.10]),
        city_tier=tiers[pii.pop("_city_idx")], pii=pii,
    )  # fmt: skip


def personal_data(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Synthetic personal data: Chinese names and cities, plausible mobile numbers, device fingerprints.

    Returns object arrays keyed by contract column name plus ``_city_idx`` for the caller.
    """
    weights = np.array([w for _, _, w in v.CITIES])
    city_idx = rng.choice(len(v.CITIES), size=n, p=weights / weights.sum())
    gender = np.array(["F", "M", "U"], dtype=object)[rng.choice(3, size=n, p=[0.55, 0.40, 0.05])]
    birth = rng.normal(1992, 9, n).round().clip(1950, 2008).astype(np.int64)
    birth_known = rng.random(n) > 0.15
    acq = rng.choice(len(v.ACQUISITION_CHANNELS), size=n, p=v.ACQUISITION_WEIGHTS)
    return {
        c.USER_NAME: display_names(rng, gender),
        c.PHONE: phone_numbers(rng, n),
        c.CITY: np.array([name for name, _, _ in v.CITIES], dtype=object)[city_idx],
        c.COUNTRY: np.full(n, "CN", dtype=object),
        c.GENDER: gender,
        c.BIRTH_YEAR: np.where(birth_known, birth, -1),
        c.CHANNEL: np.array(v.ACQUISITION_CHANNELS, dtype=object)[acq],
        c.DEVICE_ID: device_ids(rng, n),
        "_city_idx": city_idx,
    }


def display_names(rng: np.random.Generator, gender: np.ndarray) -> np.ndarray:
    """Real-name style (王芳, 李子涵) or nickname style (小雪1234) display names, given chars by gender."""
    n = len(gender)
    sur = np.array(v.SURNAMES, dtype=object)[rng.integers(0, len(v.SURNAMES), n)]
    pools = {g: np.array(chars + v.GIVEN_NEUTRAL, dtype=object) for g, chars in
             (("M", v.GIVEN_MALE), ("F", v.GIVEN_FEMALE), ("U", v.GIVEN_MALE + v.GIVEN_FEMALE))}  # fmt: skip
    g1, g2 = np.empty(n, dtype=object), np.empty(n, dtype=object)
    for g, chars in pools.items():
        mask = np.flatnonzero(gender == g)
        g1[mask] = chars[rng.integers(0, len(chars), len(mask))]
        g2[mask] = chars[rng.integers(0, len(chars), len(mask))]
    real = np.where(rng.random(n) < 0.5, sur + g1, sur + g1 + g2)
    nick_prefix = np.array(v.NICK_PREFIX, dtype=object)[rng.integers(0, len(v.NICK_PREFIX), n)]
    digits = rng.integers(0, 10_000, n).astype(str).astype(object)
    nick = nick_prefix + g2 + digits
    return np.where(rng.random(n) < 0.6, real, nick)


def phone_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """11-digit mainland mobile numbers with real carrier prefixes."""
    prefix = np.array(v.PHONE_PREFIXES)[rng.integers(0, len(v.PHONE_PREFIXES), n)]
    rest = np.strings.zfill(rng.integers(0, 100_000_000, n).astype(str), 8)
    return np.strings.add(prefix, rest).astype(object)


def device_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random 48-bit device fingerprints as hex strings."""
    return np.char.mod("dev%012x", rng.integers(0, 2**48, n, dtype=np.int64)).astype(object)
