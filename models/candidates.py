"""Candidate generators: popularity, repeat purchases, item-KNN (co-purchase, co-view), EASE and ALS.

Every generator scores a batch of users over its own item universe (``block``: item positions and a dense score
matrix), so retrieval, the ranker's features and the per-generator baselines read one code path. The collaborative
models work on the items with enough buyers (most popular first, capped), as published tuned baselines do; the
repeat and popularity generators see the whole catalogue. Item-KNN and EASE are a few lines of linear algebra that
no maintained CPU library exposes with shrinkage and top-k pruning on a scipy matrix; ALS comes from ``implicit``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from models.reco_inputs import Matrices

logger = logging.getLogger(__name__)


def cf_universe(m: Matrices, min_buyers: int, max_items: int) -> np.ndarray:
    """Item positions with at least ``min_buyers`` interacting users, most interacted first, at most ``max_items``."""
    users_per_item = np.asarray((m.weight > 0).sum(axis=0)).ravel()
    keep = np.flatnonzero(users_per_item >= min_buyers)
    order = np.argsort(-users_per_item[keep], kind="stable")
    return np.sort(keep[order][:max_items])


@dataclass
class Generator:
    """Base: ``fit`` learns from :class:`Matrices`; ``block`` scores users over ``items`` (positions)."""

    name: str = "generator"
    m_: Matrices | None = field(default=None, repr=False)

    def fit(self, m: Matrices, seed: int = 0) -> Generator:
        self.m_ = m
        return self

    def block(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.endswith("_") and k != "name"}


@dataclass
class Popularity(Generator):
    """Distinct buyers in the last ``window_days`` (all-time buyers break ties): the non-personal baseline."""

    name: str = "popularity"
    window_days: float = 28.0
    top: int = 300

    def fit(self, m: Matrices, seed: int = 0) -> Popularity:
        super().fit(m)
        self.score_ = popularity_scores(m, self.window_days)
        self.items_ = np.argsort(-self.score_, kind="stable")[: self.top]
        return self

    def block(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.items_, np.broadcast_to(self.score_[self.items_], (len(users), len(self.items_))).copy()


def popularity_scores(m: Matrices, window_days: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Recent distinct buyers per item (optionally among log rows in ``mask``) + 1e-6 x all-time buyers."""
    rows = m.log_age < window_days
    if mask is not None:
        rows &= mask
    recent = sp.csr_matrix((np.ones(rows.sum(), "float32"), (m.log_user[rows], m.log_item[rows])), shape=m.shape)
    recent_buyers = np.asarray((recent > 0).sum(axis=0)).ravel()
    return recent_buyers + 1e-6 * m.buyers()


def decayed_log(m: Matrices, half_life_days: float) -> sp.csr_matrix:
    """Users x items: the purchase log with each line weighted ``0.5 ** (age / half_life_days)``, summed."""
    decay = np.power(0.5, m.log_age / half_life_days).astype("float32")
    out = sp.csr_matrix((decay, (m.log_user, m.log_item)), shape=m.shape)
    out.sum_duplicates()
    return out


@dataclass
class Repeat(Generator):
    """The user's own purchases, each line decayed by ``0.5 ** (age / half_life_days)``: baskets repeat."""

    name: str = "repeat"
    half_life_days: float = 90.0

    def fit(self, m: Matrices, seed: int = 0) -> Repeat:
        super().fit(m)
        self.r_ = decayed_log(m, self.half_life_days)
        return self

    def block(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = self.r_[users]
        items = np.unique(rows.indices)
        return items, rows[:, items].toarray()


@dataclass
class ItemKNN(Generator):
    """Item-to-item cosine on co-purchase (or co-view) users with shrinkage, top ``neighbours`` per item.

    ``sim(i, j) = |U_i ∩ U_j| / (sqrt(|U_i| |U_j|) + shrink)``; a user's score for j sums their decayed interaction
    weight on each i times ``sim(i, j)``. With ``half_life_days`` the profile is instead the purchase log with each
    line decayed by ``0.5 ** (age / half_life_days)`` (``knn_recent``): the last baskets say what comes next.
    """

    name: str = "knn_purchase"
    source: str = "purchase"
    shrink: float = 10.0
    neighbours: int = 100
    min_buyers: int = 5
    max_items: int = 6000
    half_life_days: float | None = None

    def fit(self, m: Matrices, seed: int = 0) -> ItemKNN:
        super().fit(m)
        basis = m.bought if self.source == "purchase" else m.viewed
        if basis is None:
            raise ValueError(f"{self.name}: the shop has no {self.source} events")
        self.items_ = cf_universe(m, self.min_buyers, self.max_items)
        x = (basis[:, self.items_] > 0).astype("float32")
        gram = (x.T @ x).toarray()
        norms = np.sqrt(np.diag(gram))
        sim = gram / (np.outer(norms, norms) + self.shrink)
        np.fill_diagonal(sim, 0.0)
        self.sim_ = sp.csr_matrix(_top_per_column(sim, self.neighbours))
        self.profile_ = m.weight if self.half_life_days is None else decayed_log(m, self.half_life_days)
        self.profile_ = self.profile_[:, self.items_].tocsr()
        return self

    def block(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.items_, np.asarray((self.profile_[users] @ self.sim_).todense())


def _top_per_column(sim: np.ndarray, k: int) -> np.ndarray:
    """Zero all but the ``k`` largest entries of every column (neighbourhood pruning)."""
    if k >= sim.shape[0]:
        return sim
    cut = np.partition(sim, -k, axis=0)[-k]
    return np.where(sim >= cut[None, :], sim, 0.0).astype("float32")


@dataclass
class Ease(Generator):
    """EASE (Steck 2019): closed-form item-item ridge regression with a zero diagonal on binary interactions."""

    name: str = "ease"
    l2: float = 200.0
    min_buyers: int = 5
    max_items: int = 5000

    def fit(self, m: Matrices, seed: int = 0) -> Ease:
        super().fit(m)
        self.items_ = cf_universe(m, self.min_buyers, self.max_items)
        x = (m.weight[:, self.items_] > 0).astype("float64").tocsr()
        gram = (x.T @ x).toarray()
        gram[np.diag_indices_from(gram)] += self.l2
        p = np.linalg.inv(gram)
        b = -p / np.diag(p)[None, :]
        np.fill_diagonal(b, 0.0)
        self.b_ = b.astype("float32")
        self.x_ = x.astype("float32")
        return self

    def block(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.items_, np.asarray(self.x_[users] @ self.b_)


@dataclass
class Als(Generator):
    """Implicit-feedback ALS (Hu, Koren & Volinsky) from ``implicit`` on the decayed interaction weights."""

    name: str = "als"
    factors: int = 64
    regularization: float = 0.05
    alpha: float = 10.0
    iterations: int = 15
    min_buyers: int = 5
    max_items: int = 20000

    def fit(self, m: Matrices, seed: int = 0) -> Als:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        super().fit(m)
        self.items_ = cf_universe(m, self.min_buyers, self.max_items)
        model = AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            num_threads=1,
            random_state=seed,
        )
        with threadpool_limits(1, "blas"):
            model.fit(m.weight[:, self.items_].tocsr().astype("float32"), show_progress=False)
        self.user_f_ = np.asarray(model.user_factors)
        self.item_f_ = np.asarray(model.item_factors)
        return self

    def block(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.items_, self.user_f_[users] @ self.item_f_.T


GENERATORS: dict[str, type[Generator]] = {
    "popularity": Popularity,
    "repeat": Repeat,
    "knn_purchase": ItemKNN,
    "knn_view": ItemKNN,
    "knn_recent": ItemKNN,
    "ease": Ease,
    "als": Als,
}


def make(name: str, **params: Any) -> Generator:
    """A generator by name (``knn_view``: item-KNN on views, carts and favourites; ``knn_recent``: on purchases,
    scored from the recency-decayed purchase log)."""
    if name not in GENERATORS:
        raise KeyError(f"unknown generator {name!r}; known: {', '.join(GENERATORS)}")
    if name == "knn_view":
        params = {"source": "view", **params}
    if name == "knn_recent":
        params = {"half_life_days": 30.0, **params}
    return GENERATORS[name](name=name, **params)


def available(m: Matrices) -> list[str]:
    """Generators this shop's data supports (co-view needs behaviour events)."""
    return [n for n in GENERATORS if n != "knn_view" or (m.viewed is not None and m.viewed.nnz > 0)]


def mask_bought(m: Matrices, users: np.ndarray, items: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Scores with items each user already bought set to -inf (the "new items only" target)."""
    bought = m.bought[users][:, items].toarray() > 0
    return np.where(bought, -np.inf, scores)


def top_n(items: np.ndarray, scores: np.ndarray, n: int) -> list[np.ndarray]:
    """Per row, the ``n`` best item positions with a finite positive score (ties broken by item order)."""
    if scores.shape[1] == 0:
        return [items[:0] for _ in range(scores.shape[0])]
    s = np.where(np.isfinite(scores) & (scores > 0), scores, -np.inf)
    n = min(n, s.shape[1])
    part = np.argpartition(-s, n - 1, axis=1)[:, :n] if n < s.shape[1] else np.tile(np.arange(s.shape[1]), (len(s), 1))
    part_scores = np.take_along_axis(s, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    return [items[row[np.isfinite(sc)]] for row, sc in zip(best, best_scores, strict=True)]
