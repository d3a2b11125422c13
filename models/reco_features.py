"""Retrieval at one cutoff: fitted generators, the union of their candidates, and the ranker's features per pair.

A candidate row is (user, item) with every generator's score (even generators that did not propose it) and its
rank among the ones that did, plus user, item and user x item features: price against the user's usual price
level, category affinity, popularity trend, days since launch, stock, promotion, and the time since the user last
touched the item. Added for the "items not bought before" target (high in LightGBM's gain on Online Retail): each score
relative to the user's best candidate, recent first-time buyers per item (what draws new customers now), the
user's share of first-time items, and the co-purchase / EASE scores of the last baskets (14-day half-life). Everything is computed from :class:`~models.reco_inputs.Matrices`, i.e. strictly before the
cutoff, so the same code builds training rows and serves requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models import candidates as cg
from models.reco_inputs import Matrices, RecoInputs

ROW, USER, ITEM = "_row", "_user", "_item"
MISSING_RANK = 1000.0
TREND_RECENT_DAYS, TREND_BEFORE_DAYS = 28.0, 84.0
CONSUMABLE_REPEAT_SHARE = 0.10
#: Half-life of the "last baskets" profile scored through the item-item models (co-purchase, EASE).
LAST_BASKET_HALF_LIFE = 14.0
ITEM_ITEM = ("knn_purchase", "ease")


def _pairs(matrix: sp.csr_matrix, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    return np.asarray(matrix[users, items]).ravel().astype("float64") if len(users) else np.zeros(0)


@dataclass
class Retrieval:
    """Generators fitted on one cutoff's matrices, with the statistics the ranker's features need."""

    m: Matrices
    generators: dict[str, cg.Generator]
    n_per_generator: int
    stock: np.ndarray
    promoted: np.ndarray
    category_codes: np.ndarray
    user_category: sp.csr_matrix
    user_price: np.ndarray
    item_stats: pd.DataFrame
    consumable: dict[str, bool]
    user_recency: np.ndarray
    user_repeat: np.ndarray
    user_explore: np.ndarray
    last_bought: sp.csr_matrix
    last_baskets: sp.csr_matrix

    @property
    def names(self) -> list[str]:
        return list(self.generators)


def category_repeat_share(m: Matrices) -> pd.Series:
    """Per category, the share of user x item purchase pairs bought in two or more order lines."""
    bought = m.bought.tocoo()
    cats = pd.Series(m.category[bought.col])
    return (pd.Series(bought.data >= 2).groupby(cats.to_numpy()).mean()).rename("repeat_share")


def fit_retrieval(
    inputs: RecoInputs,
    m: Matrices,
    params: dict[str, dict[str, Any]],
    n_per_generator: int = 50,
    seed: int = 0,
) -> Retrieval:
    """Fit every generator in ``params`` (name -> hyper-parameters) and the feature statistics."""
    gens = {name: cg.make(name, **p).fit(m, seed) for name, p in params.items()}
    stock = inputs.stock.reindex(m.item_ids).to_numpy("float64") if inputs.stock is not None else None
    codes, cats = pd.factorize(pd.Series(m.category))
    onehot = sp.csr_matrix((np.ones(len(codes), "float32"), (np.arange(len(codes)), codes)), (len(codes), len(cats)))
    user_cat = (m.weight @ onehot).tocsr()
    sums = np.asarray(user_cat.sum(axis=1)).ravel()
    user_cat = sp.diags(1.0 / np.maximum(sums, 1e-9)) @ user_cat
    log_price = np.log1p(m.price)
    user_price = pd.Series(log_price[m.log_item]).groupby(m.log_user).median()
    recent = cg.popularity_scores(m, TREND_RECENT_DAYS)
    before = cg.popularity_scores(m, TREND_BEFORE_DAYS) - recent
    stats = pd.DataFrame(
        {
            "item_log_price": log_price,
            "item_buyers": m.buyers(),
            "item_buyers_28d": np.floor(recent),
            "item_trend": (np.floor(recent) + 1.0) / (np.floor(before) * TREND_RECENT_DAYS / 56.0 + 1.0),
            "item_days_since_launch": m.launch_age,
        }
    )
    share = category_repeat_share(m)
    stats["item_repeat_share"] = _repeat_share(m.bought, axis=0)
    pair_age = pd.Series(m.log_age).groupby([m.log_user, m.log_item])
    last, first = pair_age.min(), pair_age.max()
    where = (last.index.get_level_values(0), last.index.get_level_values(1))
    # First-time buyers recently: items that are drawing new customers now, not just re-bought by old ones.
    fresh = first[first < TREND_RECENT_DAYS]
    new_buyers = np.bincount(fresh.index.get_level_values(1), minlength=m.shape[1]).astype("float64")
    stats["item_new_buyers_28d"] = new_buyers
    stats["item_new_buyer_share_28d"] = new_buyers / (stats["item_buyers_28d"].to_numpy() + 1.0)
    return Retrieval(
        m=m,
        generators=gens,
        n_per_generator=n_per_generator,
        stock=stock if stock is not None else np.full(m.shape[1], np.nan),
        promoted=np.isin(m.item_ids, list(inputs.promoted)),
        category_codes=codes,
        user_category=user_cat.tocsr(),
        user_price=user_price.reindex(np.arange(m.shape[0])).to_numpy("float64"),
        item_stats=stats,
        consumable={str(k): bool(v >= CONSUMABLE_REPEAT_SHARE) for k, v in share.items()},
        user_recency=_user_recency(m),
        user_repeat=_repeat_share(m.bought, axis=1),
        user_explore=_explore_share(first, last, m.shape[0]),
        last_baskets=cg.decayed_log(m, LAST_BASKET_HALF_LIFE),
        last_bought=sp.csr_matrix((last.to_numpy() + 1.0, where), shape=m.shape),
    )


def _explore_share(first: pd.Series, last: pd.Series, n_users: int, days: float = 90.0) -> np.ndarray:
    """Per user, of the items bought in the last ``days``, the share bought then for the first time (NaN: none)."""
    recent = last < days
    users = last.index.get_level_values(0)[recent.to_numpy()]
    new = (first[recent] < days).to_numpy()
    total = np.bincount(users, minlength=n_users).astype("float64")
    novel = np.bincount(users, weights=new.astype("float64"), minlength=n_users)
    return np.where(total > 0, novel / np.maximum(total, 1.0), np.nan)


def _repeat_share(bought: sp.csr_matrix, axis: int) -> np.ndarray:
    """Per item (axis 0) or user (axis 1): share of its user x item pairs bought in two or more order lines."""
    pairs = np.asarray((bought > 0).sum(axis=axis)).ravel()
    repeats = np.asarray((bought >= 2).sum(axis=axis)).ravel()
    return repeats / np.maximum(pairs, 1)


def candidates(ret: Retrieval, users: np.ndarray, exclude_bought: bool = False) -> pd.DataFrame:
    """Union of every generator's top ``n_per_generator`` for each user (positions), with all scores and ranks."""
    blocks = {name: g.block(users) for name, g in ret.generators.items()}
    n_items = ret.m.shape[1]
    ranked: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, (universe, scores) in blocks.items():
        if exclude_bought:
            scores = cg.mask_bought(ret.m, users, universe, scores)
        best = cg.top_n(universe, scores, ret.n_per_generator)
        keys = np.concatenate([r * n_items + b.astype("int64") for r, b in enumerate(best)] or [np.zeros(0, "int64")])
        pos = np.concatenate([np.arange(1, len(b) + 1) for b in best] or [np.zeros(0, int)])
        order = np.argsort(keys, kind="stable")
        ranked[name] = (keys[order], pos[order].astype("float64"))
    key = np.unique(np.concatenate([k for k, _ in ranked.values()] or [np.zeros(0, "int64")]))
    row, item = key // n_items, key % n_items
    out = pd.DataFrame({ROW: row, USER: users[row] if len(users) else row, ITEM: item})
    for name, (universe, scores) in blocks.items():
        col = np.full(ret.m.shape[1], -1)
        col[universe] = np.arange(len(universe))
        pos = col[item]
        inside = len(row) and scores.shape[1]  # e.g. repeat for users who only viewed: an empty universe
        out[f"{name}_score"] = np.where(pos >= 0, scores[row, np.maximum(pos, 0)], 0.0) if inside else 0.0
        keys, pos_rank = ranked[name]
        at = np.minimum(np.searchsorted(keys, key), max(len(keys) - 1, 0))
        found = (keys[at] == key) if len(keys) else np.zeros(len(key), bool)
        out[f"{name}_rank"] = np.where(found, pos_rank[at] if len(keys) else 0.0, MISSING_RANK)
    return out


def features(ret: Retrieval, cands: pd.DataFrame) -> pd.DataFrame:
    """Add user, item and user x item features to a candidate frame (same row order, new frame).

    Columns are gathered as arrays and joined once: inserting them one by one into the frame cost more than the
    ranker itself for a single user's request.
    """
    m, u, i = ret.m, cands[USER].to_numpy(), cands[ITEM].to_numpy()
    col: dict[str, np.ndarray] = {name: cands[name].to_numpy() for name in cands.columns}
    col.update({name: values.to_numpy()[i] for name, values in ret.item_stats.items()})
    col["item_stock"] = ret.stock[i]
    col["item_promoted"] = ret.promoted[i].astype("float64")
    consumable = np.array([ret.consumable.get(str(cat), False) for cat in m.category], dtype="float64")
    col["item_consumable"] = consumable[i]
    col["user_items"] = np.diff(m.weight.indptr)[u].astype("float64")
    col["user_days_since_active"] = ret.user_recency[u]
    col["user_repeat_share"] = ret.user_repeat[u]
    col["user_explore_share_90d"] = ret.user_explore[u]
    for name in ITEM_ITEM:
        if name in ret.generators:
            col[f"{name}_last_baskets"] = _last_basket_scores(ret, ret.generators[name], u, i)
    rows = col[ROW]
    for name in ret.names:  # per-user relative scores: trees split on one threshold across users
        score = col[f"{name}_score"].astype("float64")
        top = np.zeros(int(rows.max()) + 1 if len(rows) else 0)
        np.maximum.at(top, rows, score)
        col[f"{name}_score_rel"] = np.where(top[rows] > 0, score / np.where(top[rows] > 0, top[rows], 1.0), 0.0)
    col["price_vs_user"] = col["item_log_price"] - ret.user_price[u]
    col["category_affinity"] = _pairs(ret.user_category, u, ret.category_codes[i])
    col["pair_weight"] = _pairs(m.weight, u, i)
    col["pair_purchases"] = _pairs(m.bought, u, i)
    col["pair_views"] = _pairs(m.viewed, u, i) if m.viewed is not None else np.zeros(len(u))
    bought = _pairs(ret.last_bought, u, i)
    col["pair_days_since_bought"] = np.where(bought > 0, bought - 1.0, np.nan)
    touch = _pairs(m.touch, u, i)
    col["pair_days_since_touch"] = np.where(touch > 0, touch - 1.0, np.nan)
    return pd.DataFrame(col, index=cands.index)


def _last_basket_scores(ret: Retrieval, gen: cg.Generator, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """An item-item model's score from the user's last baskets only (purchases decayed with a 14-day half-life)."""
    out = np.zeros(len(users))
    col = np.full(ret.m.shape[1], -1)
    col[gen.items_] = np.arange(len(gen.items_))
    where = col[items] >= 0
    if not where.any():
        return out
    rows, inverse = np.unique(users[where], return_inverse=True)
    profile = ret.last_baskets[rows][:, gen.items_]
    block = np.asarray((profile @ gen.sim_).todense()) if isinstance(gen, cg.ItemKNN) else profile @ gen.b_
    out[where] = np.asarray(block)[inverse, col[items[where]]]
    return out


def _user_recency(m: Matrices) -> np.ndarray:
    """Days since each user's latest interaction (NaN for users with none)."""
    touch = m.touch.copy()
    touch.data = -touch.data
    latest = -np.asarray(touch.min(axis=1).todense()).ravel()
    return np.where(latest > 0, latest - 1.0, np.nan)


def feature_names(ret: Retrieval) -> list[str]:
    """Ranker columns: each generator's score and rank, then the user, item and pair features."""
    gen = [f"{n}_{kind}" for n in ret.names for kind in ("score", "rank", "score_rel")]
    stats = list(ret.item_stats.columns)
    rest = ["item_stock", "item_promoted", "item_consumable", "user_items", "user_days_since_active"]
    rest += ["user_repeat_share", "user_explore_share_90d", "pair_days_since_bought"]
    rest += [f"{n}_last_baskets" for n in ITEM_ITEM if n in ret.generators]
    pair = ["price_vs_user", "category_affinity", "pair_weight", "pair_purchases", "pair_views"]
    return gen + stats + rest + pair + ["pair_days_since_touch"]
