"""Recommendations: tuned candidate generators, a LambdaRank ranker, business rules, reasons and cold start.

:func:`fit_recommender` tunes each generator on the validation period, trains the ranker on the train cutoff's
next period (early-stopped on the validation period's), and builds a :class:`Recommender` on the serving cutoff's
data. The fitted object answers on its own (no lake at serving time): personal lists, similar items and popular
lists, each item with its source and a reason in Chinese and English; current stock comes in per request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import columns as c
from models import candidates as cg
from models.reco_content import ContentIndex, PopularLists
from models.reco_features import ITEM, ROW, Retrieval, fit_retrieval, pair_values
from models.reco_inputs import Matrices, RecoInputs, build_matrices
from models.reco_ranker import (
    DEFAULT_GRID,
    SCORE,
    LambdaRanker,
    fit_ranker,
    rank_lists,
    ranked_candidates,
    tune_generators,
)
from models.reco_rules import (
    STOCK_SERVICE,
    Candidate,
    Filters,
    LiveStock,
    Lookup,
    RuleConfig,
    apply_rules,
    reason,
    stock_flags,
)
from models.recommend_names import FEATURE_SERVICE

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_GRID", "Filters", "Recommender", "RuleConfig", "fit_recommender"]

SLOT_POOL = 200
CF_WEIGHT = 0.4  # co-purchase / co-view weight in similar items: similar lists show substitutes first
SERVE_POOL = 50  # ranked candidates per user that the rules may draw from
MODES = ("user", "similar", "popular")
Stock = Mapping[str, float] | LiveStock | None  # current on-hand: overrides, or overrides over the online store
ANCHORED = ("knn_purchase", "knn_recent", "knn_view", "ease")  # sources whose reason names a history item


@dataclass
class Recommender:
    """A fitted recommender at one cutoff; ``decide`` serves user, similar and popular lists."""

    retrieval: Retrieval
    ranker: LambdaRanker
    content: ContentIndex
    popular: PopularLists
    params: dict[str, dict[str, Any]]
    rules: RuleConfig = field(default_factory=RuleConfig)
    exclude_bought: bool = False
    tuning: pd.DataFrame | None = None

    @classmethod
    def build(cls, inputs: RecoInputs, params: dict[str, dict[str, Any]], ranker: LambdaRanker, seed: int = 0,
              **kwargs: Any) -> Recommender:  # fmt: skip
        """Fit generators, content and popular lists on ``inputs`` (the serving cutoff) around a trained ranker."""
        m = build_matrices(inputs)
        names = ranker.feature_names_
        ret = fit_retrieval(
            inputs, m, params, seed=seed, titles="title_affinity" in names, due="pair_due_ratio" in names
        )
        window = params.get("popularity", {}).get("window_days", 28.0)
        out = cls(ret, ranker, ContentIndex().fit(inputs, m), PopularLists(window).fit(inputs, m), params, **kwargs)
        out._index(inputs, m)
        return out

    def _index(self, inputs: RecoInputs, m: Matrices) -> None:
        self.skus_ = np.asarray(m.item_ids.astype(str), dtype=object)
        names = inputs.products.set_index(c.SKU_ID)[c.PRODUCT_NAME].reindex(m.item_ids)
        self.names_ = names.fillna(pd.Series(m.item_ids, index=m.item_ids)).astype(str).to_numpy()
        self.snapshot_ = {s: float(v) for s, v in zip(m.item_ids, self.retrieval.stock, strict=True) if v == v}
        self.fresh_ = np.flatnonzero(self.retrieval.promoted | (m.launch_age <= self.rules.new_item_days))

    @property
    def m(self) -> Matrices:
        return self.retrieval.m

    feature_service = FEATURE_SERVICE
    #: Online services ``decide`` reads through the runtime's ``lookup``: current on-hand for the in-stock rule.
    lookup_services = (STOCK_SERVICE,)

    @property
    def feature_names(self) -> list[str]:
        """Nothing to look up online: the model carries the histories, items and indices it ranks with."""
        return []

    def prepare_serving(self, cache_dir: Path | None = None) -> None:
        """Compile the ranker's trees when the server loads the model: LightGBM's predict on a request's ~150
        candidates was the largest part of ``/recommend/user``'s CPU."""
        self.ranker.compile(cache_dir)

    # ---- ranking (also the evaluation path) ----

    def scored(self, users: np.ndarray, exclude_bought: bool | None = None) -> pd.DataFrame:
        """Candidates of user positions with features and ranker score, best first per user."""
        excl = self.exclude_bought if exclude_bought is None else exclude_bought
        columns, order = ranked_candidates(self.retrieval, self.ranker, users, excl)
        return pd.DataFrame(columns).iloc[order]

    def rank_positions(self, users: np.ndarray, k: int, exclude_bought: bool | None = None) -> list[list[int]]:
        excl = self.exclude_bought if exclude_bought is None else exclude_bought
        return rank_lists(self.retrieval, self.ranker, users, k, excl)

    # ---- serving ----

    def _candidate(self, item: int, score: float, source: str) -> Candidate:
        return self._candidates(np.array([item]), np.array([score]), np.array([source], dtype=object))[0]

    def _candidates(self, items: np.ndarray, scores: np.ndarray, sources: np.ndarray) -> list[Candidate]:
        """Candidates of a ranked pool, their fields converted to Python values in bulk (50 items a request)."""
        fields = (self.skus_[items], scores.astype(float), self.m.category[items], self.m.price[items], sources)
        return [Candidate(*row) for row in zip(items.tolist(), *(f.tolist() for f in fields), strict=True)]

    def _records(self, top: list[Candidate], user: int | None, anchor: int | None) -> list[dict[str, Any]]:
        """Answer rows with a reason each; collaborative items name the history item that drove them."""
        anchors = self._anchors(top, user) if user is not None and anchor is None else {}
        counts = dict(zip(*_row(self.m.bought, user), strict=True)) if user is not None else {}
        out = []
        for rank, cand in enumerate(top, start=1):
            values: dict[str, Any] = {"category": cand.category, "n": int(counts.get(cand.item, 0))}
            if cand.source == "repeat":
                values["anchor"] = self.names_[cand.item]
            elif anchor is not None:
                values["anchor"] = self.names_[anchor]
            elif cand.source in ANCHORED:
                found = anchors.get(cand.item)
                cand.source = cand.source if found is not None else "als"
                values["anchor"] = self.names_[found] if found is not None else ""
            zh, en = reason(cand.source, **values)
            out.append({c.SKU_ID: cand.sku, "rank": rank, "score": round(cand.score, 6), "source": cand.source,
                        "reason_zh": zh, "reason_en": en, c.CATEGORY: cand.category, "price": round(cand.price, 2),
                        "badges": list(cand.badges)})  # fmt: skip
        return out

    def _anchors(self, top: list[Candidate], user: int) -> dict[int, int]:
        """Item -> the history item contributing most to its score, for "because you bought / viewed X"."""
        out: dict[int, int] = {}
        for source in ANCHORED:
            gen, position = self.retrieval.generators.get(source), self.retrieval.positions_.get(source)
            if position is None:  # no such generator: no item of this source
                continue
            pairs = [(x.item, int(position[x.item])) for x in top if x.source == source]
            pairs = [(item, col) for item, col in pairs if col >= 0]  # -1: outside the generator's universe
            if not pairs:
                continue
            knn = isinstance(gen, cg.ItemKNN)
            hist, values = _row(gen.profile_ if knn else gen.x_, user)
            if len(hist) == 0:
                continue
            cols = [col for _, col in pairs]
            # EASE's weights, or item-KNN's dense copy of sim_ (kept for small universes): the same values either way
            dense = getattr(gen, "dense_", None) if knn else gen.b_
            if dense is not None:
                weights = dense[hist[:, None], cols]
            else:  # sim[hist, cols] read from the transpose: a few columns rather than every history row
                at = np.repeat(cols, len(hist)), np.tile(hist, len(cols))
                weights = pair_values(self.retrieval.pairs_[f"{source}_sim_t"], *at).reshape(len(cols), len(hist)).T
            contrib = values[:, None] * weights
            best = np.argmax(contrib, axis=0)
            for j, (item, _) in enumerate(pairs):
                if contrib[best[j], j] > 0:
                    out[item] = int(gen.items_[hist[best[j]]])
        return out

    def _blocked(self, user: int) -> set[str]:
        """Durables (non-consumable categories) the user bought within ``just_bought_days``."""
        items, age = _row(self.retrieval.last_bought, user)
        recent = items[age - 1.0 <= self.rules.just_bought_days]
        return {self.skus_[i] for i in recent if not self.retrieval.consumable.get(self.m.category[i], False)}

    def _slot(self, pool: np.ndarray, scores: np.ndarray) -> Candidate | None:
        """The best promoted or new item of ``pool`` (ranked scores), else the most popular fresh item."""
        fresh = np.isin(pool, self.fresh_)
        if fresh.any():
            item, score = pool[fresh][0], scores[fresh][0]
        elif len(self.fresh_):
            item = self.fresh_[np.argmax(self.popular.overall_[self.fresh_])]
            score = 0.0
        else:
            return None
        cand = self._candidate(item, score, "promotion" if self.retrieval.promoted[item] else "new")
        cand.badges.append("slot")
        return cand

    def _finish(self, ranked: list[Candidate], k: int, filters: Filters, stock: Stock,
                user: int | None, slot: Candidate | None, anchor: int | None = None) -> tuple[list, dict]:  # fmt: skip
        skus = [x.sku for x in ranked] + ([slot.sku] if slot else [])
        flags = stock_flags(skus, self.snapshot_, _live(stock).current(skus))
        blocked = self._blocked(user) if user is not None else set()
        # Diversity is for feeds; a similar-items list is meant to stay in the anchor's category.
        rules = self.rules if anchor is None else replace(self.rules, max_per_category=self.rules.diversity_depth)
        top, applied = apply_rules(ranked, k, filters, flags, blocked, slot, rules)
        return self._records(top, user, anchor), applied

    def recommend_users(self, user_ids: list[str], k: int = 10, filters: Filters | None = None,
                        stock: Stock = None, context: Mapping[str, str] | None = None,
                        promo_slot: bool = False) -> list[dict[str, Any]]:  # fmt: skip
        """Personal lists for many users in one ranking pass; unknown users get the context's popular list.

        ``stock``: current on-hand overrides, or a :class:`LiveStock` that reads the online store (one call for
        every user's candidate pool).
        """
        filters, context, stock = filters or Filters(), context or {}, _live(stock)
        pos = self.m.user_index(user_ids)
        known = np.flatnonzero(pos >= 0)
        row_of, items_all, scores_all, sources_all = self._ranked(pos[known])
        pool = max(SERVE_POOL, 5 * k)
        bounds = np.searchsorted(row_of, np.arange(len(known) + 1))  # row r's candidates: bounds[r]:bounds[r + 1]
        heads = items_all[np.arange(len(row_of)) - bounds[row_of] < pool] if len(row_of) else items_all
        stock.fetch(self.skus_[heads].tolist())  # fetch reads each SKU once
        out = []
        for i, uid in enumerate(user_ids):
            if pos[i] < 0:
                out.append({c.USER_ID: str(uid), **self.popular_list(k, filters, stock, **context), "cold_start": True})
                continue
            r = int(np.searchsorted(known, i))
            lo, hi = bounds[r], bounds[r + 1]
            items, scores = items_all[lo:hi], scores_all[lo:hi]
            ranked = self._candidates(items[:pool], scores[:pool], sources_all[lo:hi][:pool])
            slot = self._slot(items, scores) if promo_slot else None
            recs, applied = self._finish(ranked, k, filters, stock, int(pos[i]), slot)
            out.append({c.USER_ID: str(uid), "cold_start": False, "context": "personal", "items": recs,
                        "rules": applied})  # fmt: skip
        return out

    def _ranked(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Row, item, score and best-ranking source of every candidate of user positions, best first per row."""
        if not len(users):
            return np.zeros(0, "int64"), np.zeros(0, "int64"), np.zeros(0), np.zeros(0, dtype=object)
        columns, order = ranked_candidates(self.retrieval, self.ranker, users, self.exclude_bought)
        names = self.retrieval.names
        ranks = np.stack([columns[f"{n}_rank"] for n in names])[:, order]
        sources = np.asarray(names)[np.argmin(ranks, axis=0)]
        return columns[ROW][order], columns[ITEM][order].astype("int64"), columns[SCORE][order], sources

    def popular_list(self, k: int = 10, filters: Filters | None = None, stock: Stock = None,
                     category: str | None = None, channel: str | None = None,
                     city: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Recent best sellers for a context (channel, then city, then overall), optionally in one category."""
        filters = filters or Filters()
        if category is not None:
            filters = replace(filters, categories=(category,))
        scores, segment = self.popular.scores(channel, city)
        allowed = np.ones(len(scores), bool)
        if filters.categories is not None:
            allowed = np.isin(self.m.category, filters.categories)
        order = np.flatnonzero(allowed & (scores > 0))
        order = order[np.argsort(-scores[order], kind="stable")][: SLOT_POOL + k]
        ranked = self._candidates(order, scores[order], np.full(len(order), "popularity", dtype=object))
        recs, applied = self._finish(ranked, k, filters, stock, None, None)
        return {"context": segment, "items": recs, "rules": applied}

    def similar(self, sku_id: str, k: int = 10, filters: Filters | None = None,
                stock: Stock = None) -> dict[str, Any]:  # fmt: skip
        """Items like ``sku_id``: co-purchase and co-view neighbours plus content similarity (works for new SKUs)."""
        item = int(self.m.item_ids.get_indexer([str(sku_id)])[0])
        if item < 0:
            return {c.SKU_ID: str(sku_id), "known": False, "items": [], "rules": {}}
        blend = {"similar_content": self.content.similar(item)}
        for name, source in (("knn_purchase", "similar_purchase"), ("knn_view", "similar_view")):
            gen = self.retrieval.generators.get(name)
            at = _column(gen, item) if isinstance(gen, cg.ItemKNN) else None
            if at is not None:
                col = np.zeros(self.m.shape[1])
                col[gen.items_] = gen.sim_[:, at].toarray().ravel()
                blend[source] = CF_WEIGHT * col / max(col.max(), 1e-9)
        parts = np.vstack(list(blend.values()))
        total = parts.sum(axis=0)
        total[item] = 0.0
        order = np.argsort(-total, kind="stable")[: SLOT_POOL + k]
        order = order[total[order] > 0]
        sources = np.array(list(blend), dtype=object)[np.argmax(parts[:, order], axis=0)]
        ranked = self._candidates(order, total[order], sources)
        recs, applied = self._finish(ranked, k, filters or Filters(), stock, None, None, anchor=item)
        return {c.SKU_ID: str(sku_id), "known": True, "items": recs, "rules": applied}

    def decide(self, frame: pd.DataFrame, mode: str = "user", k: int = 10, lookup: Lookup | None = None,
               **params: Any) -> list[dict[str, Any]]:  # fmt: skip
        """One answer per id: ``user_ids`` (mode user), ``sku_ids`` (similar), or one popular list.

        Ids come from the params or from a ``user_id`` / ``sku_id`` column of ``frame``. Params: ``filters`` (dict
        of :class:`Filters` fields), ``stock`` (``[{sku_id, on_hand}]`` overrides), ``promo_slot``, and the context
        ``category``, ``channel``, ``city``. The in-stock rule reads, per SKU, the override, else the online
        store's current on-hand through ``lookup`` (the serving runtime passes its online lookup), else the cutoff
        snapshot. Unknown users get status ``cold_start`` with a context-aware popular list; unknown SKUs status
        ``unknown_sku``.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        filters = _filters(params.get("filters"))
        overrides = {
            str(s[c.SKU_ID]): float(s["on_hand"]) for s in params.get("stock") or [] if s.get("on_hand") is not None
        }
        stock = LiveStock(overrides, lookup)
        context = {key: params[key] for key in (c.CATEGORY, c.CHANNEL, c.CITY) if params.get(key) is not None}
        if mode == "popular":
            return [{"status": "ok", **self.popular_list(k, filters, stock, **context)}]
        column = c.USER_ID if mode == "user" else c.SKU_ID
        ids = [str(i) for i in params.get(f"{column}s") or []]
        if column in frame.columns:  # read from the frame's array: building a Series cost ~30 us a request
            ids += [str(i) for i in frame.to_numpy(dtype=object)[:, frame.columns.get_loc(column)]]
        if mode == "similar":
            answers = [self.similar(i, k, filters, stock) for i in ids]
            return [{"status": "ok" if a.pop("known") else "unknown_sku", **a} for a in answers]
        answers = self.recommend_users(ids, k, filters, stock, context, bool(params.get("promo_slot")))
        return [{"status": "cold_start" if a["cold_start"] else "ok", **a} for a in answers]


def _live(stock: Stock) -> LiveStock:
    """Overrides (or nothing) as a :class:`LiveStock` without an online store; a LiveStock as it is."""
    return stock if isinstance(stock, LiveStock) else LiveStock(dict(stock or {}))


def _filters(value: Filters | Mapping[str, Any] | None) -> Filters:
    if value is None or isinstance(value, Filters):
        return value or Filters()
    cats = value.get("categories")
    return Filters(tuple(cats) if cats else None, value.get("min_price"), value.get("max_price"),
                   frozenset(str(s) for s in value.get("exclude") or []))  # fmt: skip


def _row(matrix: sp.csr_matrix, row: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of one CSR row, without scipy's per-call indexing overhead."""
    lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
    return matrix.indices[lo:hi], matrix.data[lo:hi]


def _column(gen: cg.Generator | None, item: int) -> int | None:
    """Position of ``item`` in a collaborative generator's universe, None when it is outside."""
    items = getattr(gen, "items_", None)
    if items is None:
        return None
    at = int(np.searchsorted(items, item))
    return at if at < len(items) and items[at] == item else None


def fit_recommender(
    train: tuple[RecoInputs, Matrices, pd.Series],
    valid: tuple[RecoInputs, Matrices, pd.Series],
    serve: RecoInputs,
    grid: Mapping[str, list[dict[str, Any]]] = DEFAULT_GRID,
    exclude_bought: bool = False,
    seed: int = 0,
    ranker: LambdaRanker | None = None,
) -> Recommender:
    """Tune generators on ``valid``, train the ranker on ``train`` and ``valid`` periods, serve on ``serve``.

    Each of ``train`` and ``valid`` is (inputs at the cutoff, their matrices, per-user SKUs bought in the next
    period); ``serve`` holds what is known at the serving (or test) cutoff.
    """
    params, table = tune_generators(valid[1], valid[2], grid, exclude_bought, seed)
    if exclude_bought:  # the user's own history cannot propose an item they never bought
        params.pop("repeat", None)
    ranker = fit_ranker(train, valid, params, exclude_bought, seed, ranker)
    return Recommender.build(serve, params, ranker, seed, exclude_bought=exclude_bought, tuning=table)
