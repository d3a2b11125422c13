"""Review features for a review that has just been submitted, from the context a service keeps in memory.

At submission time there is no batch job: the reviewer's history, the product's earlier reviews, the device's
accounts, the reviewer's orders and the recent texts (for near-duplicates) must be at hand. :class:`ReviewContext`
holds them as sorted hashed keys with times (numpy ``searchsorted`` per lookup, a few MB for a large shop) plus a
MinHash LSH index (datasketch) of the last 30 days of texts, and computes exactly the definitions of
:data:`features.reviews.REVIEW_FEATURES` (same windows, same "strictly earlier, whole seconds" rule, same
near-duplicate rule), so a model trained on batch features scores new reviews on the same scale. The index/windows
are written here because no library keeps per-key time windows; MinHash LSH comes from datasketch.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from datasketch import MinHash, MinHashLSH

from features import columns as c
from features.review_text import DuplicateConfig, normalise_text, text_statistics

DAY = 86_400
WINDOWS = (1, 7, 30)
DUPLICATE_WINDOW = 30 * DAY
NUM_PERM = 64
LSH_THRESHOLD = 0.5  # candidates only; every candidate is checked exactly against the 0.7 Jaccard rule


def _hash(values: Iterable[object]) -> np.ndarray:
    arr = np.asarray(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values], object)
    return pd.util.hash_array(arr).astype(np.uint64) if len(arr) else np.empty(0, np.uint64)


def _seconds(ts: pd.Series | np.ndarray) -> np.ndarray:
    """Epoch seconds as float (NaN for missing)."""
    values = pd.to_datetime(pd.Series(ts)).to_numpy("datetime64[ns]")
    out = values.astype(np.int64).astype(np.float64) / 1e9
    out[np.isnat(values)] = np.nan
    return out


SMALL_ADD = 64  # up to this many new entries are inserted in place rather than re-sorted with the rest


class _Timeline:
    """Times (and one value) per hashed key, sorted by (key, time): counts and sums over ``[t - w, t)``."""

    def __init__(self, keys: np.ndarray, times: np.ndarray, values: np.ndarray | None = None) -> None:
        self.keys, self.times = np.empty(0, np.uint64), np.empty(0, np.float64)
        self.values = np.empty(0, np.float64)
        self.add(keys, times, values)

    def add(self, keys: np.ndarray, times: np.ndarray, values: np.ndarray | None = None) -> None:
        values = np.zeros(len(keys)) if values is None else np.asarray(values, np.float64)
        if 0 < len(keys) <= SMALL_ADD < len(self.keys):
            self._insert(np.asarray(keys, np.uint64), np.asarray(times, np.float64), values)
            return
        keys = np.r_[self.keys, np.asarray(keys, np.uint64)]
        times = np.r_[self.times, np.asarray(times, np.float64)]
        values = np.r_[self.values, values]
        order = np.lexsort((times, keys))
        self.keys, self.times, self.values = keys[order], times[order], values[order]

    def _insert(self, keys: np.ndarray, times: np.ndarray, values: np.ndarray) -> None:
        """A few entries (a review just scored) go in place: no re-sort of the whole timeline per request.

        Same order as the full sort: by (key, time), a new entry after existing ones with the same key and time.
        """
        order = np.lexsort((times, keys))
        keys, times, values = keys[order], times[order], values[order]
        at = np.empty(len(keys), np.int64)
        for i, (k, t) in enumerate(zip(keys, times, strict=True)):
            lo, hi = self._span(k)
            at[i] = lo + int(np.searchsorted(self.times[lo:hi], t, "right"))
        self.keys = np.insert(self.keys, at, keys)
        self.times = np.insert(self.times, at, times)
        self.values = np.insert(self.values, at, values)

    def _span(self, key: np.uint64) -> tuple[int, int]:
        return int(np.searchsorted(self.keys, key, "left")), int(np.searchsorted(self.keys, key, "right"))

    def window(self, key: np.uint64, t: float, within: float | None = None) -> tuple[int, float]:
        """(count, sum of values) of entries with ``t - within <= time < t`` (whole seconds; None = all earlier)."""
        lo, hi = self._span(key)
        times = np.floor(self.times[lo:hi])
        t = np.floor(t)
        end = int(np.searchsorted(times, t, "left"))
        start = 0 if within is None else int(np.searchsorted(times, t - within, "left"))
        return end - start, float(self.values[lo + start : lo + end].sum())

    def latest_before(self, key: np.uint64, t: float) -> float:
        """The largest value among entries earlier than ``t`` (NaN if none): used for delivery times."""
        lo, hi = self._span(key)
        mask = self.times[lo:hi] < t
        vals = self.values[lo:hi][mask]
        vals = vals[~np.isnan(vals) & (vals < t)]
        return float(vals.max()) if len(vals) else float("nan")


class ReviewContext:
    """What a service needs to compute a review's features at submission time; grows as reviews arrive."""

    def __init__(self, config: DuplicateConfig | None = None) -> None:
        self.config = config or DuplicateConfig()
        self._defaults = {normalise_text(t) for t in self.config.platform_defaults}
        self.signup: dict[int, float] = {}
        self.has_orders = False
        self.by_user = _Timeline(np.empty(0), np.empty(0))  # value: 1 if five-star
        self.by_sku = _Timeline(np.empty(0), np.empty(0))  # value: rating
        self.user_orders = _Timeline(np.empty(0), np.empty(0))
        self.purchases = _Timeline(np.empty(0), np.empty(0))  # key: user+sku, value: delivered time
        self.device_first: dict[int, dict[int, float]] = {}  # device -> account -> first post
        self.lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
        self.texts: dict[str, tuple[float, frozenset[str]]] = {}
        self.seen: set[str] = set()

    @classmethod
    def from_frames(
        cls,
        reviews: pd.DataFrame,
        users: pd.DataFrame,
        orders: pd.DataFrame | None = None,
        order_items: pd.DataFrame | None = None,
        keep_text_days: int | None = None,
    ) -> ReviewContext:
        """Context from lake tables; texts of the last ``keep_text_days`` days (None: all, so stored reviews of any
        age get their exact near-duplicate counts) go into the near-duplicate index."""
        ctx = cls()
        ctx.signup = dict(zip(_hash(users[c.USER_ID]).tolist(), _seconds(users[c.SIGNUP_AT]).tolist(), strict=True))
        if orders is not None and order_items is not None:
            ctx.has_orders = True
            known = orders[orders[c.USER_ID].notna()]
            ctx.user_orders.add(_hash(known[c.USER_ID]), _seconds(known[c.ORDER_TS]))
            lines = order_items[[c.ORDER_ID, c.SKU_ID]].merge(known, on=c.ORDER_ID)
            keys = _hash(lines[c.USER_ID].astype(str) + "\x1f" + lines[c.SKU_ID].astype(str))
            ctx.purchases.add(keys, _seconds(lines[c.ORDER_TS]), _seconds(lines[c.DELIVERED_AT]))
        since = -np.inf if keep_text_days is None else _seconds(reviews[c.REVIEW_TS]).max() - keep_text_days * DAY
        ctx.add(reviews, keep_text_since=since)
        return ctx

    def _shingles(self, text: object) -> frozenset[str] | None:
        norm = normalise_text(text)
        if len(norm) < self.config.min_chars or norm in self._defaults:
            return None
        n = self.config.ngram
        return frozenset(norm[i : i + n] for i in range(len(norm) - n + 1))

    def add(self, reviews: pd.DataFrame, keep_text_since: float = -np.inf) -> None:
        """Record reviews (stored or just scored) so later ones see them; ids already known are skipped."""
        fresh = reviews[[rid not in self.seen for rid in reviews[c.REVIEW_ID].astype(str)]]  # set lookups, no O(N)
        if fresh.empty:
            return
        t = _seconds(fresh[c.REVIEW_TS])
        users, skus = _hash(fresh[c.USER_ID]), _hash(fresh[c.SKU_ID])
        rating = fresh[c.RATING].to_numpy(np.float64)
        self.by_user.add(users, t, (rating == 5).astype(float))
        self.by_sku.add(skus, t, rating)
        devices = fresh[c.DEVICE_ID] if c.DEVICE_ID in fresh else pd.Series([None] * len(fresh))
        for d, u, ti, present in zip(_hash(devices), users, t, devices.notna().to_numpy(), strict=True):
            accounts = self.device_first.setdefault(int(d), {}) if present else {}
            if present and ti < accounts.get(int(u), np.inf):
                accounts[int(u)] = ti
        for rid, text, ti in zip(fresh[c.REVIEW_ID].astype(str), fresh[c.REVIEW_TEXT], t, strict=True):
            shingles = self._shingles(text) if ti >= keep_text_since else None
            if shingles is not None:
                self.texts[rid] = (ti, shingles)
                self.lsh.insert(rid, self._minhash(shingles))
        self.seen.update(fresh[c.REVIEW_ID].astype(str))

    def _minhash(self, shingles: frozenset[str]) -> MinHash:
        if getattr(self, "_permutations", None) is None:  # drawing them costs ms: once per context
            template = MinHash(num_perm=NUM_PERM, seed=self.config.seed)
            self._permutations, self._scheme = template.permutations, template.scheme
        mh = MinHash(num_perm=NUM_PERM, seed=self.config.seed, permutations=self._permutations, scheme=self._scheme)
        mh.update_batch([s.encode("utf-8") for s in shingles])
        return mh

    def _near_duplicates(self, rid: str, text: object, t: float) -> int:
        shingles = self._shingles(text)
        if shingles is None:
            return 0
        count = 0
        for other in self.lsh.query(self._minhash(shingles)):
            ot, os_ = self.texts[other]
            if other == rid or not (np.floor(t) - DUPLICATE_WINDOW <= np.floor(ot) < np.floor(t)):
                continue
            if len(shingles & os_) / len(shingles | os_) >= self.config.jaccard:
                count += 1
        return count

    def _device_accounts(self, present: bool, d: int, user: np.uint64, t: float) -> int:
        if not present:
            return 0
        others = {u for u, first in self.device_first.get(d, {}).items() if first <= t}
        return len(others | {int(user)})

    def features(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The review features of each row (review_id, user_id, sku_id, review_ts, rating, text, device_id) as of
        its own time, plus the row's content columns: ready for :meth:`ReviewAuthenticityModel.decide`."""
        rows = rows.reset_index(drop=True)
        t = _seconds(rows[c.REVIEW_TS])
        users, skus = _hash(rows[c.USER_ID]), _hash(rows[c.SKU_ID])
        pairs = _hash(rows[c.USER_ID].astype(str) + "\x1f" + rows[c.SKU_ID].astype(str))
        devices = rows[c.DEVICE_ID] if c.DEVICE_ID in rows else pd.Series([None] * len(rows))
        keys = zip(t, users, skus, pairs, _hash(devices).tolist(), devices.notna().to_numpy(), strict=True)
        out = [self._one(row, *key) for row, key in zip(rows.to_dict("records"), keys, strict=True)]
        frame = pd.DataFrame(out)
        stats = text_statistics(rows[c.REVIEW_TEXT])
        return pd.concat([rows, frame, stats.reset_index(drop=True)], axis=1)

    def _one(
        self, row: dict, t: float, user: np.uint64, sku: np.uint64, pair: np.uint64, device: int, has_device: bool
    ) -> dict[str, float]:
        rating = float(row[c.RATING])
        before, fives = self.by_user.window(user, t)
        sku_n, sku_sum = self.by_sku.window(sku, t)
        signup = self.signup.get(int(user), np.nan)
        feats: dict[str, float] = {
            c.REVIEWER_ID: row[c.USER_ID],
            "account_age_days": (t - signup) / DAY if not np.isnan(signup) else np.nan,
            **{f"reviewer_reviews_{d}d": self.by_user.window(user, t, d * DAY)[0] for d in WINDOWS},
            "reviewer_reviews_before": before,
            "reviewer_five_star_share": fives / before if before else np.nan,
            "product_reviews_24h": self.by_sku.window(sku, t, DAY)[0],
            "rating_deviation": rating - sku_sum / sku_n if sku_n else np.nan,
            "near_duplicate_count_30d": self._near_duplicates(str(row.get(c.REVIEW_ID)), row[c.REVIEW_TEXT], t),
            "device_shared_accounts": self._device_accounts(has_device, device, user, t),
        }
        if self.has_orders:
            bought, _ = self.purchases.window(pair, t)
            feats["verified_purchase"] = float(bought > 0)
            delivered = self.purchases.latest_before(pair, t)
            feats["days_from_delivery"] = (t - delivered) / DAY if not np.isnan(delivered) else np.nan
            feats["reviewer_orders_before"] = self.user_orders.window(user, t)[0]
        return feats
