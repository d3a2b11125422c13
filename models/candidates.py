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
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.sparse import _sparsetools

from models.reco_inputs import Matrices

logger = logging.getLogger(__name__)

#: Largest item-KNN similarity matrix also kept dense for scoring (2,000 items: 16 MB).
DENSE_SIM_BYTES = 32 * 2**20


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


class CsrRows(NamedTuple):
    """Rows of a CSR matrix as its three arrays (what a scipy matrix of them would hold), for products that need
    no scipy matrix: building one costs ~20 us of checks, more than a one-user product itself."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray


def row_entries(matrix: sp.csr_matrix, rows: np.ndarray) -> CsrRows:
    """``indptr``, ``indices`` and ``data`` of ``matrix[rows]`` (CSR), sliced from the arrays without scipy's
    fancy indexing: its checks cost more than the rows themselves for a one-user request."""
    rows = np.asarray(rows, dtype="int64")
    if len(rows) == 1:  # the one-user request: a plain slice
        lo, hi = matrix.indptr[rows[0]], matrix.indptr[rows[0] + 1]
        return CsrRows(np.array([0, hi - lo], dtype=matrix.indptr.dtype), matrix.indices[lo:hi], matrix.data[lo:hi])
    starts, counts = matrix.indptr[rows], matrix.indptr[rows + 1] - matrix.indptr[rows]
    indptr = np.zeros(len(rows) + 1, dtype=matrix.indptr.dtype)
    np.cumsum(counts, out=indptr[1:])
    take = np.repeat(starts - indptr[:-1], counts) + np.arange(indptr[-1])
    return CsrRows(indptr, matrix.indices[take], matrix.data[take])


def rows_times_dense(rows: CsrRows | sp.csr_matrix, dense: np.ndarray) -> np.ndarray:
    """``rows @ dense`` by the kernel scipy's own sparse x dense product calls (same sums, same order, same dtype),
    minus its dispatch: scipy's checks around a one-user product cost twice the product."""
    out = np.zeros((len(rows.indptr) - 1, dense.shape[1]), dtype=np.result_type(rows.data, dense))
    dense = np.ascontiguousarray(dense)
    _sparsetools.csr_matvecs(out.shape[0], dense.shape[0], dense.shape[1], rows.indptr, rows.indices, rows.data,
                             dense.ravel(), out.ravel())  # fmt: skip
    return out


def take_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """``matrix[rows]`` of a CSR matrix (same entries in the same order), through :func:`row_entries`."""
    indptr, indices, data = row_entries(matrix, rows)
    return sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, matrix.shape[1]))


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
        indptr, indices, data = row_entries(self.r_, users)
        items = np.unique(indices)
        scores = np.zeros((len(users), len(items)), dtype=self.r_.dtype)
        np.add.at(scores, (np.repeat(np.arange(len(users)), np.diff(indptr)), np.searchsorted(items, indices)), data)
        return items, scores


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
        self._densify()
        return self

    def _densify(self) -> None:
        """A dense copy of ``sim_`` when it is small: scipy multiplies a user's row by it ~3x faster than by the
        sparse matrix, with the same sums in the same order (the extra terms are exact zeros)."""
        small = self.sim_.shape[0] ** 2 * self.sim_.dtype.itemsize <= DENSE_SIM_BYTES
        self.dense_ = self.sim_.toarray() if small else None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the dense copy (rebuilt on load)."""
        return {key: value for key, value in self.__dict__.items() if key != "dense_"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "sim_" in state:
            self._densify()

    def times(self, profile: CsrRows | sp.csr_matrix) -> np.ndarray:
        """``profile @ sim_`` as a dense array (``profile``: users x this generator's items)."""
        if self.dense_ is not None:
            return rows_times_dense(profile, self.dense_)
        rows = sp.csr_matrix(
            (profile.data, profile.indices, profile.indptr), (len(profile.indptr) - 1, len(self.items_))
        )
        return (rows @ self.sim_).toarray()

    def block(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.items_, self.times(row_entries(self.profile_, users))


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
        return self.items_, rows_times_dense(row_entries(self.x_, users), self.b_)


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
        with threadpool_limits(1, "blas"):  # implicit checks BLAS threads when the model is made, not fitted
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                num_threads=1,
                random_state=seed,
            )
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
    bought = take_rows(m.bought, users)[:, items].toarray() > 0
    return np.where(bought, -np.inf, scores)


def top_n(items: np.ndarray, scores: np.ndarray, n: int) -> list[np.ndarray]:
    """Per row, the ``n`` best item positions with a finite positive score (ties broken by item order)."""
    best, valid = top_n_matrix(items, scores, n)
    return [row[keep] for row, keep in zip(best, valid, strict=True)]


def top_n_matrix(items: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_n` as a matrix: per row the ``min(n, items)`` best item positions, best first, and a mask of the
    ones with a finite positive score (a prefix of each row)."""
    if scores.shape[1] == 0:
        return np.zeros((len(scores), 0), dtype=items.dtype), np.zeros((len(scores), 0), dtype=bool)
    neg = np.where((scores > 0) & (scores < np.inf), -scores, np.inf)  # invalid scores last
    n = min(n, neg.shape[1])
    rows = np.arange(len(neg))[:, None]
    part = np.argpartition(neg, n - 1, axis=1)[:, :n] if n < neg.shape[1] else np.tile(np.arange(n), (len(neg), 1))
    part_neg = neg[rows, part]
    order = np.lexsort((part, part_neg), axis=1)
    return items[part[rows, order]], part_neg[rows, order] < np.inf
