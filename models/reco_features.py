"""Retrieval at one cutoff: fitted generators, the union of their candidates, and the ranker's features per pair.

A candidate row is (user, item) with every generator's score (even generators that did not propose it) and its
rank among the ones that did, plus user, item and user x item features: price against the user's usual price
level, category affinity, popularity trend, days since launch, stock, promotion, and the time since the user last
touched the item. Added for the "items not bought before" target (high in LightGBM's gain on Online Retail): each score
relative to the user's best candidate, recent first-time buyers per item (what draws new customers now), the
user's share of first-time items, the co-purchase / EASE scores of the last baskets (14-day half-life), and (only
that target's ranker: neutral for all items on Online Retail's validation period) how close the item's title words
are to the titles the user bought, over all purchases and over the last baskets: an unseen item of a design line or
kind the user buys shares their words, where Online Retail has no categories. Everything is computed from
:class:`~models.reco_inputs.Matrices` and the catalogue, i.e. strictly before the cutoff, so the same code builds
training rows and serves requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from features import columns as c
from models import candidates as cg
from models.reco_inputs import Matrices, RecoInputs

ROW, USER, ITEM = "_row", "_user", "_item"
MISSING_RANK = 1000.0
TREND_RECENT_DAYS, TREND_BEFORE_DAYS = 28.0, 84.0
CONSUMABLE_REPEAT_SHARE = 0.10
#: Half-life of the "last baskets" profile scored through the item-item models (co-purchase, EASE).
LAST_BASKET_HALF_LIFE = 14.0
ITEM_ITEM = ("knn_purchase", "ease")
#: Title words kept for the title-affinity features: those of at least this many SKUs (a word of one SKU links none).
TITLE_MIN_DF = 2
#: Attributes of :class:`Retrieval` derived at build or load time, never pickled.
DERIVED = ("item_columns_", "user_items_", "pairs_", "positions_", "shared_universe_", "basket_profiles_")


def pair_values(
    matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray, groups: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """``matrix[rows, cols]`` (0 where absent) of a canonical CSR matrix, in its dtype, by binary search in the rows
    involved (one user: their row made dense, half the work): scipy's element indexing costs a fixed ~0.1 ms a call,
    several times per one-user request.

    ``groups``: ``np.unique(rows, return_inverse=True)``, when the caller reads several matrices at the same pairs.
    """
    if not len(rows):
        return np.zeros(0, dtype=matrix.dtype)
    involved, inverse = groups if groups is not None else np.unique(rows, return_inverse=True)
    indptr, indices, data = cg.row_entries(matrix, involved)
    if len(involved) == 1:  # one user: their row spread over the items (each stored once), then read
        row = np.zeros(matrix.shape[1], dtype=matrix.dtype)
        row[indices] = data
        return row[cols]
    width = np.int64(matrix.shape[1])
    keys = np.repeat(np.arange(len(involved), dtype="int64"), np.diff(indptr)) * width + indices
    wanted = inverse.astype("int64") * width + np.asarray(cols, dtype="int64")
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    found = keys[at] == wanted if len(keys) else np.zeros(len(wanted), bool)
    return np.where(found, data[at] if len(keys) else 0, 0).astype(matrix.dtype)


def canonical(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` with sorted, summed indices (a copy only when it is not), as :func:`pair_values` needs."""
    if matrix.has_canonical_format:
        return matrix
    out = matrix.copy()
    out.sum_duplicates()
    return out


def _pairs(matrix: sp.csr_matrix, users: np.ndarray, items: np.ndarray, groups: tuple) -> np.ndarray:
    return pair_values(matrix, users, items, groups).astype("float64")


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
    titles: sp.csr_matrix | None = None  # items x title words, unit TF-IDF rows; None: no title features
    #: users x items, 1 + (days since the pair's last purchase / its mean days between purchase days), for pairs
    #: bought on two or more days; None in models trained before it
    pair_due: sp.csr_matrix | None = None

    def __post_init__(self) -> None:
        self._prepare()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the arrays :meth:`_prepare` derives: they are rebuilt on load."""
        return {key: value for key, value in self.__dict__.items() if key not in DERIVED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._prepare()

    def _prepare(self) -> None:
        """Per-item feature columns, canonical pair matrices and the last baskets over each item-item model's
        universe, resolved once (at build or load) rather than on every request: a one-user request otherwise spent
        more on these than on ranking its candidates."""
        consumable = [self.consumable.get(str(cat), False) for cat in self.m.category]
        self.item_columns_ = {name: values.to_numpy() for name, values in self.item_stats.items()}
        self.item_columns_["item_stock"] = self.stock
        self.item_columns_["item_promoted"] = self.promoted.astype("float64")
        self.item_columns_["item_consumable"] = np.array(consumable, dtype="float64")
        self.user_items_ = np.diff(self.m.weight.indptr).astype("float64")
        pairs = {"weight": self.m.weight, "bought": self.m.bought, "viewed": self.m.viewed, "touch": self.m.touch}
        pairs |= {"user_category": self.user_category, "last_bought": self.last_bought, "due": self.pair_due}
        pairs |= {f"{name}_sim_t": g.sim_.T.tocsr() for name, g in self.generators.items() if isinstance(g, cg.ItemKNN)}
        self.pairs_ = {name: canonical(matrix) for name, matrix in pairs.items() if matrix is not None}
        self.positions_ = {
            name: universe_positions(g.items_, self.m.shape[1])
            for name, g in self.generators.items()
            if getattr(g, "items_", None) is not None
        }
        self.shared_universe_ = _shared_universes(self.generators)
        everyone = np.arange(self.m.shape[0])
        self.basket_profiles_ = {
            name: _restricted_rows(
                self.last_baskets, everyone, self.positions_[name], len(self.generators[name].items_)
            )
            for name in ITEM_ITEM
            if name in self.generators
        }

    def positions(self, name: str, universe: np.ndarray) -> np.ndarray:
        """Item -> position in generator ``name``'s universe (-1 outside); built at load for fixed universes (every
        generator but repeat, whose universe is the request's users' own items)."""
        fixed = self.positions_.get(name)
        if fixed is not None and universe is self.generators[name].items_:
            return fixed
        return universe_positions(universe, self.m.shape[1])

    @property
    def names(self) -> list[str]:
        return list(self.generators)


def _shared_universes(generators: dict[str, cg.Generator]) -> dict[str, str]:
    """Generator (with a fixed universe) -> the first generator whose universe is equal: their scores stack."""
    out: dict[str, str] = {}
    for name, gen in generators.items():
        items = getattr(gen, "items_", None)
        if items is not None:
            firsts = [first for first, same in out.items() if first == same]
            out[name] = next((f for f in firsts if np.array_equal(generators[f].items_, items)), name)
    return out


def universe_positions(universe: np.ndarray, n_items: int) -> np.ndarray:
    """Per item position, its index in ``universe`` (-1 when outside)."""
    col = np.full(n_items, -1)
    col[universe] = np.arange(len(universe))
    return col


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
    titles: bool = False,
    due: bool = True,
) -> Retrieval:
    """Fit every generator in ``params`` (name -> hyper-parameters) and the feature statistics; ``titles`` adds the
    title-affinity features (the new-items ranker's), ``due`` the replenishment timing of bought pairs (the
    all-items ranker's: the new-items ranker never sees a bought pair)."""
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
        titles=title_vectors(inputs, m) if titles else None,
        pair_due=_pair_due(m, first, last) if due else None,
    )


def _pair_due(m: Matrices, first: pd.Series, last: pd.Series) -> sp.csr_matrix:
    """Replenishment timing per user x item: days since the last purchase over the pair's mean gap between purchase
    days (1 = due now), stored + 1 for the pairs bought on two or more days. Why: grocery baskets repeat on each
    household's own cycle, and the trees cannot divide two features."""
    days = pd.Series(np.floor(m.log_age)).groupby([m.log_user, m.log_item]).nunique()
    repeat = (days >= 2).to_numpy()
    gap = (first.to_numpy()[repeat] - last.to_numpy()[repeat]) / (days.to_numpy()[repeat] - 1.0)
    due = last.to_numpy()[repeat] / np.maximum(gap, 1.0)
    index = days.index[repeat]
    where = (index.get_level_values(0), index.get_level_values(1))
    return sp.csr_matrix((due + 1.0, where), shape=m.shape)


def title_vectors(inputs: RecoInputs, m: Matrices) -> sp.csr_matrix | None:
    """Word TF-IDF of each item's title (unit rows, sorted indices); None when no word is shared by two titles."""
    titles = inputs.products.set_index(c.SKU_ID)[c.PRODUCT_NAME].reindex(m.item_ids).fillna("").astype(str)
    try:
        vectors = TfidfVectorizer(min_df=TITLE_MIN_DF, dtype=np.float32).fit_transform(titles)
    except ValueError:  # empty vocabulary: no titles, or none sharing a word
        return None
    return canonical(normalize(vectors).tocsr())


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


def candidate_columns(ret: Retrieval, users: np.ndarray, exclude_bought: bool = False) -> dict[str, np.ndarray]:
    """Union of every generator's top ``n_per_generator`` for each user (positions), with all scores and ranks.

    Rows are sorted by (``_row``, ``_item``); columns are plain arrays, so serving never builds a frame.
    """
    groups = _stacked_blocks(ret, users)
    key, rank = _union_ranks(ret, users, groups, exclude_bought)
    n_items = ret.m.shape[1]
    row, item = key // n_items, key % n_items
    score: dict[str, np.ndarray] = {}
    for names, universe, scores in groups:
        pos = ret.positions(names[0], universe)[item]
        if len(row) and scores.shape[2]:
            score.update(zip(names, np.where(pos >= 0, scores[:, row, np.maximum(pos, 0)], 0.0), strict=True))
        else:  # e.g. repeat for users who only viewed: an empty universe
            score.update((name, np.zeros(len(row))) for name in names)
    out = {ROW: row, USER: users[row] if len(users) else row, ITEM: item}
    for j, name in enumerate(ret.names):
        out[f"{name}_score"], out[f"{name}_rank"] = score[name], rank[j]
    return out


def _stacked_blocks(ret: Retrieval, users: np.ndarray) -> list[tuple[list[str], np.ndarray, np.ndarray]]:
    """Every generator's scores of ``users`` as (names, universe, generators x users x items), the generators over
    one fixed universe and dtype stacked. Why: one top-n pass and one gather then serve them all (each row is still
    ranked on its own), where a call per generator cost more than the work in a one-user request."""
    groups: dict[tuple[str, str], tuple[list[str], np.ndarray, list[np.ndarray]]] = {}
    for name, gen in ret.generators.items():
        universe, scores = gen.block(users)
        fixed = universe is getattr(gen, "items_", None)  # repeat's universe is the users' own items
        key = (ret.shared_universe_[name] if fixed else name, scores.dtype.str)
        names, _, blocks = groups.setdefault(key, ([], universe, []))
        names.append(name)
        blocks.append(scores)
    return [(names, universe, np.stack(blocks)) for names, universe, blocks in groups.values()]


def _union_ranks(
    ret: Retrieval, users: np.ndarray, groups: list[tuple[list[str], np.ndarray, np.ndarray]], exclude_bought: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The sorted union of every generator's top ``n_per_generator`` per user as ``row * n_items + item`` keys, and
    every generator's rank of each key (generators in ``ret.names`` order x keys; ``MISSING_RANK``: not proposed)."""
    n_items, n_users = ret.m.shape[1], len(users)
    index = {name: j for j, name in enumerate(ret.names)}
    keys, ranks, owners = [], [], []  # per group: each proposal's key, rank and generator
    for names, universe, scores in groups:
        if exclude_bought:
            scores = cg.mask_bought(ret.m, users, universe, scores)
        rows = scores.reshape(len(names) * n_users, scores.shape[2])  # row at = generator * n_users + user row
        best, valid = cg.top_n_matrix(universe, rows, ret.n_per_generator)
        at, rank = np.nonzero(valid)
        keys.append(at % n_users * n_items + best[at, rank])
        ranks.append(rank + 1.0)
        owners.append(np.array([index[name] for name in names])[at // n_users])
    key, union_at = np.unique(np.concatenate(keys or [np.zeros(0, "int64")]), return_inverse=True)
    rank = np.full((len(index), len(key)), MISSING_RANK)
    rank[np.concatenate(owners or [np.zeros(0, "int64")]), union_at] = np.concatenate(ranks or [np.zeros(0)])
    return key, rank


def candidates(ret: Retrieval, users: np.ndarray, exclude_bought: bool = False) -> pd.DataFrame:
    """:func:`candidate_columns` as a frame (training and reports)."""
    return pd.DataFrame(candidate_columns(ret, users, exclude_bought))


def feature_columns(ret: Retrieval, cands: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Candidate columns plus the user, item and user x item features (same rows, a new dict)."""
    u, i = cands[USER], cands[ITEM]
    col = dict(cands)
    col.update({name: values[i] for name, values in ret.item_columns_.items()})
    col["user_items"] = ret.user_items_[u]
    col["user_days_since_active"] = ret.user_recency[u]
    col["user_repeat_share"] = ret.user_repeat[u]
    col["user_explore_share_90d"] = ret.user_explore[u]
    groups = np.unique(u, return_inverse=True)  # the users and each row's position among them
    for name in ITEM_ITEM:
        if name in ret.generators:
            col[f"{name}_last_baskets"] = _last_basket_scores(ret, ret.generators[name], groups, i)
    col.update(_relative_scores(ret.names, col))
    col["price_vs_user"] = col["item_log_price"] - ret.user_price[u]
    pairs = ret.pairs_
    col["category_affinity"] = _pairs(pairs["user_category"], u, ret.category_codes[i], groups)
    col["pair_weight"] = _pairs(pairs["weight"], u, i, groups)
    col["pair_purchases"] = _pairs(pairs["bought"], u, i, groups)
    col["pair_views"] = _pairs(pairs["viewed"], u, i, groups) if "viewed" in pairs else np.zeros(len(u))
    bought = _pairs(pairs["last_bought"], u, i, groups)
    col["pair_days_since_bought"] = np.where(bought > 0, bought - 1.0, np.nan)
    touch = _pairs(pairs["touch"], u, i, groups)
    col["pair_days_since_touch"] = np.where(touch > 0, touch - 1.0, np.nan)
    if "due" in pairs:
        due = _pairs(pairs["due"], u, i, groups)
        col["pair_due_ratio"] = np.where(due > 0, due - 1.0, np.nan)
    titles = getattr(ret, "titles", None)  # models pickled before the title features have none
    if titles is not None:
        col["title_affinity"] = _title_scores(titles, pairs["bought"], groups, i, binary=True)
        col["title_last_baskets"] = _title_scores(titles, ret.last_baskets, groups, i, binary=False)
    return col


def _relative_scores(names: list[str], col: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each generator's score over the user's best candidate score from it (0 when that is not positive): trees
    split on one threshold across users. All generators at once, as one (generators x rows) array."""
    rows = col[ROW]
    score = np.array([col[f"{name}_score"] for name in names], dtype="float64").reshape(len(names), len(rows))
    top = np.zeros((int(rows.max()) + 1 if len(rows) else 0, len(names)))
    if len(rows) and rows.min() == rows.max():  # a one-user request: its best score is a plain max
        top[rows[0]] = np.maximum(score.max(axis=1), 0.0)
    else:
        np.maximum.at(top, rows, score.T)
    best = top[rows].T
    rel = np.where(best > 0, score / np.where(best > 0, best, 1.0), 0.0)
    return {f"{name}_score_rel": values for name, values in zip(names, rel, strict=True)}


def features(ret: Retrieval, cands: pd.DataFrame) -> pd.DataFrame:
    """Add user, item and user x item features to a candidate frame (same row order, new frame).

    Columns are gathered as arrays (:func:`feature_columns`) and joined once: inserting them one by one into the
    frame cost more than the ranker itself for a single user's request.
    """
    col = feature_columns(ret, {name: cands[name].to_numpy() for name in cands.columns})
    return pd.DataFrame(col, index=cands.index)


def _last_basket_scores(
    ret: Retrieval, gen: cg.Generator, groups: tuple[np.ndarray, np.ndarray], items: np.ndarray
) -> np.ndarray:
    """An item-item model's score from the user's last baskets only (purchases decayed with a 14-day half-life);
    ``groups``: the rows' users as ``np.unique(users, return_inverse=True)``."""
    out = np.zeros(len(items))
    col = ret.positions(gen.name, gen.items_)
    where = col[items] >= 0
    if not where.any():
        return out
    users, inverse = groups
    profile = cg.row_entries(ret.basket_profiles_[gen.name], users)
    block = gen.times(profile) if isinstance(gen, cg.ItemKNN) else cg.rows_times_dense(profile, gen.b_)
    out[where] = block[inverse[where], col[items[where]]]
    return out


def _title_scores(titles: sp.csr_matrix, source: sp.csr_matrix, groups: tuple[np.ndarray, np.ndarray],
                  items: np.ndarray, binary: bool) -> np.ndarray:  # fmt: skip
    """Cosine of each item's title vector with its user's title profile: the mean title vector of the items in the
    user's row of ``source`` (weighted by its values, or each bought item once when ``binary``)."""
    users, inverse = groups
    indptr, indices, data = cg.row_entries(source, users)
    weights = (data > 0).astype("float32") if binary else data
    rows = sp.csr_matrix((weights, indices, indptr), shape=(len(users), source.shape[1]))
    profile = canonical(normalize(normalize(rows, norm="l1") @ titles).tocsr())
    lo, words, values = cg.row_entries(titles, items)
    counts = np.diff(lo)
    at = pair_values(profile, np.repeat(inverse, counts), words).astype("float64") * values
    return np.bincount(np.repeat(np.arange(len(items)), counts), weights=at, minlength=len(items))


def _restricted_rows(matrix: sp.csr_matrix, rows: np.ndarray, col: np.ndarray, width: int) -> sp.csr_matrix:
    """``matrix[rows][:, universe]`` where ``col`` maps each column to its universe position (-1: outside), entries
    in the order scipy's indexing gives them, at a fraction of its fixed cost."""
    indptr, indices, data = cg.row_entries(matrix, rows)
    new = col[indices]
    keep = new >= 0
    counts = np.bincount(np.repeat(np.arange(len(rows)), np.diff(indptr))[keep], minlength=len(rows))
    indptr = np.zeros(len(rows) + 1, dtype=indptr.dtype)
    np.cumsum(counts, out=indptr[1:])
    return sp.csr_matrix((data[keep], new[keep], indptr), shape=(len(rows), width))


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
    titles = ["title_affinity", "title_last_baskets"] if getattr(ret, "titles", None) is not None else []
    due = ["pair_due_ratio"] if getattr(ret, "pair_due", None) is not None else []
    return gen + stats + rest + pair + ["pair_days_since_touch"] + titles + due
