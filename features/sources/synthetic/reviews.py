"""Genuine reviews: written after delivery by some buyers, rated by latent quality and by the parcel's delay."""

from __future__ import annotations

import numpy as np

from features import columns as c
from features.sources.synthetic.population import device_ids
from features.sources.synthetic.simulate import SimResult
from features.sources.synthetic.text import genuine_texts

DAY = 86_400
HOUR = 3_600
#: Genuine reviews posted from a device several accounts use (a family tablet, an office or shop phone, a second-hand
#: handset): device sharing alone is not proof of a ring.
SHARED_DEVICE_SHARE = 0.02
ACCOUNTS_PER_SHARED_DEVICE = 4


def genuine_reviews(sim: SimResult, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One optional review per delivered line; unhappy buyers are more likely to write one.

    Returns columns user, sku, order (internal order id), t, rating, text, device, late_days.
    """
    orders, lines = sim.ledger.columns("orders"), sim.ledger.columns("lines")
    end = sim.config.days * DAY
    o = lines["order"]
    delivered, late = orders["delivered"][o], orders["late"][o]
    eligible = (delivered >= 0) & (delivered < end)
    upset = lines["defect"] | lines["wrong"] | (late >= 3)
    writes = eligible & (rng.random(len(o)) < np.where(upset, 0.35, 0.18))
    idx = np.flatnonzero(writes)
    t = delivered[idx] + (HOUR + rng.exponential(2 * DAY, len(idx))).astype(np.int64)
    idx, t = idx[t < end], t[t < end]
    sku, late_i = lines["sku"][idx], late[idx]
    defect, wrong = lines["defect"][idx], lines["wrong"][idx]
    rating = rate(rng, sim.cat.quality[sku], late_i, defect, wrong)
    user = orders["user"][o[idx]]
    device = sim.pop.pii[c.DEVICE_ID][user]
    other = np.flatnonzero(rng.random(len(idx)) >= 0.9)  # posted from a second phone or a tablet
    device[other] = device_ids(rng, len(other))
    text = genuine_texts(rng, rating, sim.cat.category[sku], late_i, defect, wrong)
    shared = np.flatnonzero(rng.random(len(idx)) < SHARED_DEVICE_SHARE)
    pool = device_ids(rng, max(1, len(shared) // ACCOUNTS_PER_SHARED_DEVICE))
    device[shared] = rng.choice(pool, len(shared))
    return {
        "user": user, "sku": sku, "order": o[idx], "t": t, "rating": rating, "text": text, "device": device,
        "late_days": late_i,
    }  # fmt: skip


def rate(
    rng: np.random.Generator, quality: np.ndarray, late_days: np.ndarray, defect: np.ndarray, wrong: np.ndarray
) -> np.ndarray:
    """Stars from latent quality, minus delivery delay, defects and wrong items, plus taste noise."""
    mu = 2.5 + 2.7 * quality - 0.45 * np.minimum(late_days, 6) - 2.0 * defect - 1.5 * wrong
    return np.clip(np.round(mu + rng.normal(0.0, 0.75, len(mu))), 1, 5).astype(np.int64)
