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

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from datasketch import MinHash, MinHashLSH

from features import columns as c
from features.review_text import DuplicateConfig, normalise_text, text_statistics, text_statistics_arrays

DAY = 86_400
WINDOWS = (1, 7, 30)
DUPLICATE_WINDOW = 30 * DAY
NUM_PERM = 64
LSH_THRESHOLD = 0.5  # candidates only; every candidate is checked exactly against the 0.7 Jaccard rule


def _hash(values: Iterable[object], categorize: bool = True) -> np.ndarray:
    """Stable 64-bit hashes of the values as strings; ``categorize`` (same hashes) pays off on many repeated keys
    and costs 0.1 ms on a handful."""
    arr = np.asarray(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values], object)
    return pd.util.hash_array(arr, categorize=categorize).astype(np.uint64) if len(arr) else np.empty(0, np.uint64)


def _missing(value: object) -> bool:
    """What ``notna`` calls missing, for one value (None, NaN, NaT, pd.NA)."""
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _second(ts: object) -> float:
    """:func:`_seconds` of one time: the same float (int64 nanoseconds over 1e9)."""
    stamp = pd.Timestamp(ts)
    return float("nan") if stamp is pd.NaT else float(stamp.as_unit("ns").value) / 1e9


def _seconds(ts: pd.Series | np.ndarray) -> np.ndarray:
    """Epoch seconds as float (NaN for missing)."""
    values = pd.to_datetime(pd.Series(ts)).to_numpy("datetime64[ns]")
    out = values.astype(np.int64).astype(np.float64) / 1e9
    out[np.isnat(values)] = np.nan
    return out


def _float(value: object) -> float:
    return float("nan") if _missing(value) else float(value)  # type: ignore[arg-type]


SMALL_ADD = 64  # up to this many new entries are inserted in place rather than re-sorted with the rest
FOLD_AT = 4096  # entries added one request at a time wait in a per-key side list until this many, then go in at once


class _Timeline:
    """Times (and one value) per hashed key, sorted by (key, time): counts and sums over ``[t - w, t)``.

    A review just scored does not copy the whole timeline (``np.insert``, a fraction of a millisecond per array at
    a large shop's size): small additions wait per key in ``_recent`` and join the arrays in one pass every
    ``FOLD_AT`` entries; a lookup on a key with waiting entries merges them into its own slice first, exactly as
    the in-place insertion would have placed them.
    """

    def __init__(self, keys: np.ndarray, times: np.ndarray, values: np.ndarray | None = None) -> None:
        self.keys, self.times = np.empty(0, np.uint64), np.empty(0, np.float64)
        self.values = np.empty(0, np.float64)
        self._recent: dict[int, tuple[list[float], list[float]]] = {}
        self._n_recent = 0
        self.add(keys, times, values)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_recent", {})  # pickled before the side lists existed
        self.__dict__.setdefault("_n_recent", 0)

    def add(self, keys: np.ndarray, times: np.ndarray, values: np.ndarray | None = None) -> None:
        values = np.zeros(len(keys)) if values is None else np.asarray(values, np.float64)
        keys, times = np.asarray(keys, np.uint64), np.asarray(times, np.float64)
        if 0 < len(keys) <= SMALL_ADD < len(self.keys) and not np.isnan(times).any():
            self._remember(keys, times, values)
            return
        self._fold()  # what waits is older than what comes now
        if 0 < len(keys) <= SMALL_ADD < len(self.keys):
            self._insert(keys, times, values)
            return
        keys = np.r_[self.keys, keys]
        times = np.r_[self.times, times]
        values = np.r_[self.values, values]
        order = np.lexsort((times, keys))
        self.keys, self.times, self.values = keys[order], times[order], values[order]

    def _remember(self, keys: np.ndarray, times: np.ndarray, values: np.ndarray) -> None:
        """Per key, by time; a new entry after waiting ones with the same time (the in-place order)."""
        for k, t, v in zip(keys.tolist(), times.tolist(), values.tolist(), strict=True):
            waiting_times, waiting_values = self._recent.setdefault(k, ([], []))
            at = bisect_right(waiting_times, t)
            waiting_times.insert(at, t)
            waiting_values.insert(at, v)
        self._n_recent += len(keys)
        if self._n_recent >= FOLD_AT:
            self._fold()

    def _fold(self) -> None:
        """The waiting entries join the arrays in one pass."""
        if not self._recent:
            return
        keys = np.concatenate([np.full(len(ts), k, np.uint64) for k, (ts, _) in self._recent.items()])
        times = np.concatenate([np.asarray(ts, np.float64) for ts, _ in self._recent.values()])
        values = np.concatenate([np.asarray(vs, np.float64) for _, vs in self._recent.values()])
        self._recent, self._n_recent = {}, 0
        self._insert(keys, times, values)

    def _insert(self, keys: np.ndarray, times: np.ndarray, values: np.ndarray) -> None:
        """A few entries go in place: no re-sort of the whole timeline.

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

    def _entries(self, key: np.uint64) -> tuple[np.ndarray, np.ndarray]:
        """Times and values of one key, waiting entries merged in where the in-place insertion puts them."""
        lo, hi = self._span(key)
        times, values = self.times[lo:hi], self.values[lo:hi]
        waiting = self._recent.get(int(key))
        if waiting is None:
            return times, values
        at = np.searchsorted(times, waiting[0], "right")
        return np.insert(times, at, waiting[0]), np.insert(values, at, waiting[1])

    def window(self, key: np.uint64, t: float, within: float | None = None) -> tuple[int, float]:
        """(count, sum of values) of entries with ``t - within <= time < t`` (whole seconds; None = all earlier).

        Binary searches on the key's sorted times and its waiting entries, without merging them: a busy key (one
        device posting thousands of reviews) must not cost a pass over its whole history per request. On whole
        seconds, ``floor(time) < n`` is ``time < n`` and ``floor(time) >= m`` is ``time >= ceil(m)``.
        """
        end_t = float(np.floor(t))
        start_t = None if within is None else float(np.ceil(end_t - within))
        lo, hi = self._span(key)
        times = self.times[lo:hi]
        start = 0 if start_t is None else int(np.searchsorted(times, start_t, "left"))
        end = int(np.searchsorted(times, end_t, "left"))
        count, total = end - start, float(self.values[lo + start : lo + end].sum())
        waiting = self._recent.get(int(key))
        if waiting:
            i = 0 if start_t is None else bisect_left(waiting[0], start_t)
            j = bisect_left(waiting[0], end_t)
            count, total = count + j - i, total + float(sum(waiting[1][i:j]))
        return count, total

    def latest_before(self, key: np.uint64, t: float) -> float:
        """The largest value among entries earlier than ``t`` (NaN if none): used for delivery times."""
        times, values = self._entries(key)
        vals = values[times < t]
        vals = vals[~np.isnan(vals) & (vals < t)]
        return float(vals.max()) if len(vals) else float("nan")


@dataclass
class _SameText:
    """The indexed reviews sharing one shingle set (one LSH entry): whole-second times, sorted, for window counts."""

    key: str
    shingles: frozenset[str]
    seconds: list[int] = field(default_factory=list)


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
        self.texts: dict[str, tuple[float, frozenset[str]]] = {}
        self.seen: set[str] = set()
        self._new_text_index()

    def _new_text_index(self) -> None:
        """The LSH holds one entry per distinct shingle set: a campaign's thousand copies of one text are one
        candidate checked once, then counted by binary search on their times (a review's MinHash is a function of
        its shingle set, so the candidates are the same as with one entry per review)."""
        self.lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
        self._same_text: dict[frozenset[str], _SameText] = {}
        self._by_key: dict[str, _SameText] = {}
        self._device_seconds: dict[int, list[float]] = {}  # device -> sorted first posts (built on first use)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A context pickled with one LSH entry per review is regrouped once, at load."""
        self.__dict__.update(state)
        if "_same_text" not in state:
            texts = self.texts
            self._new_text_index()
            for rid, (t, shingles) in texts.items():
                self._index_text(rid, t, shingles, None)

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
            if present:
                self._first_post(int(d), int(u), ti)
        for rid, text, ti in zip(fresh[c.REVIEW_ID].astype(str), fresh[c.REVIEW_TEXT], t, strict=True):
            shingles = self._shingles(text) if ti >= keep_text_since else None
            if shingles is not None:
                self._index_text(rid, ti, shingles, None)
        self.seen.update(fresh[c.REVIEW_ID].astype(str))

    def _index_text(self, rid: str, t: float, shingles: frozenset[str], minhash: MinHash | None) -> None:
        self.texts[rid] = (t, shingles)
        group = self._same_text.get(shingles)
        if group is None:
            group = _SameText(f"T{len(self._same_text)}", shingles)
            self._same_text[shingles] = self._by_key[group.key] = group
            self.lsh.insert(group.key, minhash if minhash is not None else self._minhash(shingles))
        insort(group.seconds, math.floor(t))

    def submit(self, review: Mapping[str, Any]) -> dict[str, Any]:
        """One review just submitted: its row (its own fields, features as of its time, text statistics, as
        :meth:`features` gives them), after which it joins the context as :meth:`add` would record it.

        The serving path: plain values and one hash call per review, no frame; the text's shingles and MinHash
        are computed once for the near-duplicate query and the index.
        """
        t = _second(review.get(c.REVIEW_TS))
        user_id, sku_id, device_id = review.get(c.USER_ID), review.get(c.SKU_ID), review.get(c.DEVICE_ID)
        has_device = not _missing(device_id)
        user, sku, pair, device = _hash([user_id, sku_id, f"{user_id}\x1f{sku_id}", device_id], categorize=False)
        rid = str(review.get(c.REVIEW_ID))
        shingles = self._shingles(review.get(c.REVIEW_TEXT))
        minhash = self._minhash(shingles) if shingles is not None else None
        feats = self._one(review, t, user, sku, pair, int(device), has_device, (shingles, minhash))
        text = review.get(c.REVIEW_TEXT)
        stats = text_statistics_arrays(["" if _missing(text) else str(text)])
        row = {**review, **feats, **{name: values[0] for name, values in stats.items()}}
        if rid not in self.seen:
            rating = _float(review.get(c.RATING))
            self.by_user.add(np.array([user]), np.array([t]), np.array([float(rating == 5)]))
            self.by_sku.add(np.array([sku]), np.array([t]), np.array([rating]))
            if has_device:
                self._first_post(int(device), int(user), t)
            if shingles is not None and not np.isnan(t):  # add() indexes texts with a time only
                self._index_text(rid, t, shingles, minhash)
            self.seen.add(rid)
        return row

    def _first_post(self, device: int, user: int, t: float) -> None:
        """Record an account's post on a device if it is the account's first there."""
        accounts = self.device_first.setdefault(device, {})
        before = accounts.get(user, np.inf)
        if t < before:
            accounts[user] = t
            times = self._device_seconds.get(device)
            if times is not None:
                if before != np.inf:
                    del times[bisect_left(times, before)]
                insort(times, t)

    def prepare(self) -> ReviewContext:
        """Draw the MinHash permutations and build the character-class table now (at load), not on the first
        request (together about 100 ms)."""
        self._minhash(frozenset({"prepare"}))
        text_statistics_arrays(["prepare"])
        return self

    def _minhash(self, shingles: frozenset[str]) -> MinHash:
        if getattr(self, "_permutations", None) is None:  # drawing them costs ms: once per context
            template = MinHash(num_perm=NUM_PERM, seed=self.config.seed)
            self._permutations, self._scheme = template.permutations, template.scheme
        mh = MinHash(num_perm=NUM_PERM, seed=self.config.seed, permutations=self._permutations, scheme=self._scheme)
        mh.update_batch([s.encode("utf-8") for s in shingles])
        return mh

    def _near_duplicates(
        self, rid: str, text: object, t: float, hashed: tuple[frozenset[str] | None, MinHash | None] | None = None
    ) -> int:
        """Earlier reviews of the last 30 days (whole seconds) whose text is within the Jaccard rule, the review's
        own id excepted (``hashed``: the text's shingles and MinHash, when the caller already has them)."""
        shingles, minhash = hashed if hashed is not None else (self._shingles(text), None)
        if shingles is None or math.isnan(t):
            return 0
        end = math.floor(t)
        start = end - DUPLICATE_WINDOW
        own = self.texts.get(rid)
        count = 0
        for key in self.lsh.query(minhash if minhash is not None else self._minhash(shingles)):
            group = self._by_key[key]
            other = group.shingles
            common = len(shingles & other)
            if common / (len(shingles) + len(other) - common) < self.config.jaccard:  # |a ∪ b| without building it
                continue
            count += bisect_left(group.seconds, end) - bisect_left(group.seconds, start)
            if own is not None and own[1] == other and start <= math.floor(own[0]) < end:
                count -= 1  # the review itself, scored again
        return count

    def _device_accounts(self, present: bool, d: int, user: np.uint64, t: float) -> int:
        """Accounts that posted from the device by ``t``, this one included."""
        if not present:
            return 0
        accounts = self.device_first.get(d, {})
        if math.isnan(t) or not accounts:
            return 1
        times = self._device_seconds.get(d)
        if times is None:
            times = self._device_seconds[d] = sorted(accounts.values())
        return bisect_right(times, t) + int(not accounts.get(int(user), np.inf) <= t)

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
        self,
        row: Mapping[str, Any],
        t: float,
        user: np.uint64,
        sku: np.uint64,
        pair: np.uint64,
        device: int,
        has_device: bool,
        hashed: tuple[frozenset[str] | None, MinHash | None] | None = None,
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
            "near_duplicate_count_30d": self._near_duplicates(str(row.get(c.REVIEW_ID)), row[c.REVIEW_TEXT], t, hashed),
            "device_shared_accounts": self._device_accounts(has_device, device, user, t),
        }
        if self.has_orders:
            bought, _ = self.purchases.window(pair, t)
            feats["verified_purchase"] = float(bought > 0)
            delivered = self.purchases.latest_before(pair, t)
            feats["days_from_delivery"] = (t - delivered) / DAY if not np.isnan(delivered) else np.nan
            feats["reviewer_orders_before"] = self.user_orders.window(user, t)[0]
        return feats
