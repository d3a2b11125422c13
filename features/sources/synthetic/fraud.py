"""Fake-review campaigns (刷单): bursts of templated 5-star reviews, and 1-star attacks on competitors.

Campaigns are run by rings that register fresh accounts shortly before a burst, reuse a few older ones, and post
from a small pool of shared devices. Boost campaigns often place a cheap "brushing" order first so the review
looks verified; those orders ship empty parcels and never touch stock.

Not every ring is careless. Each campaign independently uses some evasion tactics (:data:`TACTIC_SHARE`), the
ones moderators and the 刷单 literature describe, so that neither the text nor any single behaviour gives a
campaign away on its own:
- ``paraphrase``: hired writers (水军) write each review like a buyer would (the genuine text generator for the
  SKU's category and the star rating, sometimes with a promotional closing) instead of mutating one script;
- ``aged``: the ring buys aged accounts (养号: registered months to two years before, with a history of small
  nurturing orders) instead of fresh ones;
- ``drip``: the reviews trickle in over 4-14 days instead of a burst of hours, under burst detectors;
- ``device_reset``: a device-spoofing tool (改机) gives the campaign a fresh fingerprint for every three accounts
  or so, instead of the ring's few phones;
- ``verified``: nearly every review sits on a brushing order (also for attacks: the competitor buys first), so it
  shows as a verified purchase.
Tactics come from their own random stream, so every table that does not depend on them is unchanged by a seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from features import columns as c
from features.sources.synthetic.population import device_ids, personal_data
from features.sources.synthetic.simulate import SimResult
from features.sources.synthetic.text import DEFAULT_TEXT, campaign_texts, genuine_texts

logger = logging.getLogger(__name__)

DAY = 86_400
HOUR = 3_600
ATTACK_SHARE = 0.2
REUSE_SHARE = 0.85
REUSE_MAX_AGE = 45 * DAY  # rings recycle their recent accounts and retire old ones
BRUSH_SHARE = 0.5
#: Share of campaigns using each evasion tactic (independently); see the module docstring.
TACTIC_SHARE: dict[str, float] = {"paraphrase": 0.4, "aged": 0.25, "drip": 0.3, "device_reset": 0.35, "verified": 0.35}
ACCOUNTS_PER_RESET_DEVICE = 3
VERIFIED_BRUSH_SHARE = 0.9
AGED_DAYS = (60.0, 700.0)
NURTURE_ORDERS = (3, 30)  # small orders an aged account placed before the ring used it
DRIP_DAYS = (4.0, 14.0)
PROMO_CLOSINGS = ("已经推荐给朋友了。", "下次还会再来！", "强烈推荐！", "整体非常满意！")
EVASION_STREAM = 1012


@dataclass
class Fraud:
    """Fake accounts (index 0.. within the fake block), their reviews, the campaigns and brushing orders."""

    accounts: dict[str, np.ndarray]  # signup_t, ring, plus contract PII columns
    reviews: dict[str, np.ndarray]  # account, sku, t, rating, text, device, campaign, brush (-1 or index)
    campaigns: dict[str, np.ndarray]  # kind (object), sku, start_t, n_reviews, ring, tactic_<name> (bool)
    brushing: dict[str, np.ndarray]  # account, sku, t, promised, shipped, delivered, price, campaign


def plan_campaigns(sim: SimResult, n_genuine: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """How many campaigns, how big, against which SKU and when; sized to a 5-7% fake share of all reviews."""
    share = rng.uniform(0.05, 0.07)
    target = max(round(n_genuine * share / (1 - share)), 12)
    sizes = np.minimum(6 + rng.geometric(1 / 12, size=target), 60)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), target)) + 1]
    n = len(sizes)
    attack = rng.random(n) < ATTACK_SHARE
    cat = sim.cat
    w_boost = np.exp(-0.5 * cat.log_pop) * (1.25 - cat.quality)
    w_attack = np.exp(cat.log_pop)
    sku = np.where(
        attack, rng.choice(cat.n, n, p=w_attack / w_attack.sum()), rng.choice(cat.n, n, p=w_boost / w_boost.sum())
    )
    days = sim.config.days
    first = np.maximum(cat.launch_day[sku] + 7, min(20, days // 4))
    ok = first < days - 3
    start_day = first[ok] + (rng.random(int(ok.sum())) * (days - 3 - first[ok])).astype(np.int64)
    n_rings = max(2, n // 100)  # a few busy rings, so their accounts are both young and reused
    return {
        "kind": np.where(attack[ok], "attack", "boost").astype(object), "sku": sku[ok],
        "start_t": start_day * DAY + rng.integers(0, DAY, int(ok.sum())), "n_reviews": sizes[ok],
        "ring": rng.integers(0, n_rings, int(ok.sum())),
    }  # fmt: skip


def run_campaigns(sim: SimResult, n_genuine: int, rng: np.random.Generator) -> Fraud:
    """Draw campaigns, the accounts and devices behind them, their reviews and brushing orders."""
    camp = plan_campaigns(sim, n_genuine, rng)
    evasion = np.random.default_rng([sim.config.seed, EVASION_STREAM])
    for name, share in TACTIC_SHARE.items():
        camp[f"tactic_{name}"] = evasion.random(len(camp["sku"])) < share
    n_rings = int(camp["ring"].max()) + 1 if len(camp["ring"]) else 0
    per_ring = np.bincount(camp["ring"], minlength=n_rings)
    ring_devices = [device_ids(rng, int(rng.integers(3, 9)) + int(k) // 3) for k in per_ring]
    pools: list[list[int]] = [[] for _ in range(n_rings)]
    signup_of: list[int] = []
    aged_accounts: list[np.ndarray] = []
    aged_campaigns: list[np.ndarray] = []
    acc_signup: list[np.ndarray] = []
    acc_ring: list[np.ndarray] = []
    acc_device: list[np.ndarray] = []
    rev_account: list[np.ndarray] = []
    n_acc = 0
    for ci in np.argsort(camp["start_t"], kind="stable"):
        ring, size, start = int(camp["ring"][ci]), int(camp["n_reviews"][ci]), int(camp["start_t"][ci])
        pools[ring] = [a for a in pools[ring] if start - signup_of[a] < REUSE_MAX_AGE]
        n_reuse = min(len(pools[ring]), int(rng.binomial(size, REUSE_SHARE)))
        reused = rng.choice(pools[ring], n_reuse, replace=False) if n_reuse else np.empty(0, dtype=np.int64)
        fresh = np.arange(n_acc, n_acc + size - n_reuse)
        n_acc += len(fresh)
        fresh_signup = np.maximum(start - (rng.uniform(1.0, 14.0, len(fresh)) * DAY).astype(np.int64), 0)
        if camp["tactic_aged"][ci]:
            aged = (evasion.uniform(*AGED_DAYS, len(fresh)) * DAY).astype(np.int64)
            fresh_signup = np.maximum(start - aged, 0)
            aged_accounts.append(fresh)
            aged_campaigns.append(np.full(len(fresh), ci))
        signup_of.extend(fresh_signup.tolist())
        acc_signup.append(fresh_signup)
        acc_ring.append(np.full(len(fresh), ring))
        acc_device.append(rng.choice(ring_devices[ring], len(fresh)))
        pools[ring].extend(fresh.tolist())
        rev_account.append(np.concatenate([reused, fresh]).astype(np.int64))
    order = np.argsort(camp["start_t"], kind="stable")
    campaign_of_review = np.repeat(order, camp["n_reviews"][order])
    accounts = _accounts(rng, acc_signup, acc_ring, acc_device)
    account = np.concatenate(rev_account) if rev_account else np.empty(0, dtype=np.int64)
    reviews = _reviews(rng, camp, campaign_of_review, account, accounts, ring_devices)
    _evade(sim, evasion, camp, reviews, accounts)
    brushing = _brushing(sim, rng, reviews, accounts, camp)
    if aged_accounts:
        nurture = _nurture(sim, evasion, np.concatenate(aged_accounts), np.concatenate(aged_campaigns), reviews,
                           accounts)  # fmt: skip
        brushing = {k: np.concatenate([brushing[k], nurture[k]]) for k in brushing}
    logger.info("fraud: %d campaigns, %d fake accounts, %d fake reviews", len(order), n_acc, len(account))
    return Fraud(accounts=accounts, reviews=reviews, campaigns=camp, brushing=brushing)


def _accounts(
    rng: np.random.Generator, signup: list[np.ndarray], ring: list[np.ndarray], device: list[np.ndarray]
) -> dict[str, np.ndarray]:
    """Fake accounts look like anyone else's except for their age, their devices and their history."""
    signup_t = np.concatenate(signup) if signup else np.empty(0, dtype=np.int64)
    pii = personal_data(rng, len(signup_t))
    pii.pop("_city_idx")
    pii[c.DEVICE_ID] = np.concatenate(device) if device else np.empty(0, dtype=object)
    return {"signup_t": signup_t, "ring": np.concatenate(ring) if ring else np.empty(0, dtype=np.int64), **pii}


def _reviews(
    rng: np.random.Generator,
    camp: dict[str, np.ndarray],
    campaign: np.ndarray,
    account: np.ndarray,
    accounts: dict[str, np.ndarray],
    ring_devices: list[np.ndarray],
) -> dict[str, np.ndarray]:
    """The burst: within a day and a half of the start, near-identical text, shared devices."""
    n = len(campaign)
    attack = camp["kind"][campaign] == "attack"
    t = camp["start_t"][campaign] + (np.minimum(rng.exponential(8.0, n), 40.0) * HOUR).astype(np.int64)
    t = np.maximum(t, accounts["signup_t"][account] + 2 * HOUR)
    rating = np.where(attack, np.where(rng.random(n) < 0.88, 1, 2), np.where(rng.random(n) < 0.92, 5, 4))
    other_device = np.array([rng.choice(ring_devices[r]) for r in camp["ring"][campaign]], dtype=object)
    device = np.where(rng.random(n) < 0.7, accounts[c.DEVICE_ID][account], other_device)
    brush = (~attack) & (rng.random(n) < BRUSH_SHARE)
    return {
        "account": account, "sku": camp["sku"][campaign], "t": t, "rating": rating.astype(np.int64),
        "text": campaign_texts(rng, campaign, attack), "device": device, "campaign": campaign,
        "brush": np.where(brush, np.cumsum(brush) - 1, -1),
    }  # fmt: skip


def _evade(
    sim: SimResult,
    rng: np.random.Generator,
    camp: dict[str, np.ndarray],
    reviews: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
) -> None:
    """Apply the drip, paraphrase, device-reset and verified tactics to the reviews of the campaigns that use them (in place)."""
    campaign, n = reviews["campaign"], len(reviews["campaign"])
    attack = camp["kind"][campaign] == "attack"
    end = sim.config.days * DAY - HOUR
    drip = np.flatnonzero(camp["tactic_drip"][campaign])
    start = camp["start_t"][campaign[drip]]
    span = rng.uniform(*DRIP_DAYS, len(camp["sku"]))[campaign[drip]] * DAY
    t = start + (rng.random(len(drip)) * np.minimum(span, end - start)).astype(np.int64)
    reviews["t"][drip] = np.maximum(t, accounts["signup_t"][reviews["account"][drip]] + 2 * HOUR)
    para = np.flatnonzero(camp["tactic_paraphrase"][campaign])
    if len(para):
        rating, sku = reviews["rating"][para], reviews["sku"][para]
        zeros = np.zeros(len(para), dtype=np.int64)
        defect = attack[para] & (rng.random(len(para)) < 0.5)
        text = genuine_texts(rng, rating, sim.cat.category[sku], zeros, defect, np.zeros(len(para), bool))
        blank = np.array([x is None or x == DEFAULT_TEXT for x in text])
        text[blank] = reviews["text"][para][blank]  # a paid writer always writes; fall back to the script
        promo = ~attack[para] & ~blank & (rng.random(len(para)) < 0.3)
        text[promo] = text[promo] + np.array(PROMO_CLOSINGS, dtype=object)[rng.integers(0, 4, int(promo.sum()))]
        reviews["text"][para] = text
    for ci in np.flatnonzero(camp["tactic_device_reset"]):
        rows = np.flatnonzero(campaign == ci)
        pool = device_ids(rng, max(2, len(rows) // ACCOUNTS_PER_RESET_DEVICE))
        reviews["device"][rows] = rng.choice(pool, len(rows))
    verified = camp["tactic_verified"][campaign] & (rng.random(n) < VERIFIED_BRUSH_SHARE)
    brush = (reviews["brush"] >= 0) | verified
    reviews["brush"] = np.where(brush, np.cumsum(brush) - 1, -1)


def _brushing(
    sim: SimResult,
    rng: np.random.Generator,
    reviews: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
    camp: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Fake orders behind verified-looking boost reviews: paid at list price, delivered before the review."""
    idx = np.flatnonzero(reviews["brush"] >= 0)
    account, review_t = reviews["account"][idx], reviews["t"][idx]
    signup = accounts["signup_t"][account]
    t = np.maximum(review_t - (rng.uniform(1.0, 3.0, len(idx)) * DAY).astype(np.int64), signup + HOUR)
    t = np.minimum(t, review_t - HOUR)
    delivered = t + ((review_t - t) * rng.uniform(0.5, 0.9, len(idx))).astype(np.int64)
    shipped = t + ((delivered - t) * rng.uniform(0.1, 0.3, len(idx))).astype(np.int64)
    sku = reviews["sku"][idx]
    return {
        "account": account, "sku": sku, "t": t, "promised": (t // DAY + 4) * DAY - 1, "shipped": shipped,
        "delivered": delivered, "price": np.round(sim.cat.price[sku] * rng.uniform(0.9, 1.0, len(idx)), 2),
        "campaign": reviews["campaign"][idx],
    }  # fmt: skip


def _nurture(
    sim: SimResult,
    rng: np.random.Generator,
    account: np.ndarray,
    campaign: np.ndarray,
    reviews: dict[str, np.ndarray],
    accounts: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Small genuine-looking orders of the aged accounts, between signup and their first fake review."""
    first = np.full(len(accounts["signup_t"]), np.iinfo(np.int64).max)
    np.minimum.at(first, reviews["account"], reviews["t"])
    signup = accounts["signup_t"][account]
    used = first[account] < np.iinfo(np.int64).max
    account, campaign, signup = account[used], campaign[used], signup[used]
    n = rng.integers(*NURTURE_ORDERS, len(account))
    acc, camp_of = np.repeat(account, n), np.repeat(campaign, n)
    lo, hi = np.repeat(signup, n) + DAY, np.repeat(first[account], n) - 5 * DAY
    t = lo + (rng.random(len(acc)) * np.maximum(hi - lo, HOUR)).astype(np.int64)
    cheap = np.flatnonzero(sim.cat.price <= np.quantile(sim.cat.price, 0.3))
    sku = rng.choice(cheap, len(acc))
    t = np.maximum(t, sim.cat.launch_day[sku] * DAY + HOUR)
    delivered = t + (rng.uniform(1.0, 4.0, len(acc)) * DAY).astype(np.int64)
    keep = delivered < np.repeat(first[account], n)  # before the account's first fake review
    t, delivered, acc, sku, camp_of = t[keep], delivered[keep], acc[keep], sku[keep], camp_of[keep]
    return {
        "account": acc, "sku": sku, "t": t, "promised": (t // DAY + 4) * DAY - 1,
        "shipped": t + ((delivered - t) * rng.uniform(0.1, 0.3, len(t))).astype(np.int64), "delivered": delivered,
        "price": np.round(sim.cat.price[sku] * rng.uniform(0.9, 1.0, len(t)), 2), "campaign": camp_of,
    }  # fmt: skip
