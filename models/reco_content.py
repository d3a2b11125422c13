"""Content similarity (category, brand, price band, title tokens) and context-aware popular lists.

Both serve what collaborative filtering cannot: a SKU nobody has bought yet still has a title, a brand and a price,
so it can appear in similar-item lists; a shopper nobody knows still has a channel and a city, so they get what
their segment buys now. Title tokens use scikit-learn's character n-gram TF-IDF, which needs no word segmenter
for Chinese titles and still matches English ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from features import columns as c
from models import candidates as cg
from models.reco_inputs import Matrices, RecoInputs

PRICE_BANDS = 8
POPULAR_TOP = 500
#: Relative weight of each content block before the rows are L2-normalised.
BLOCK_WEIGHTS = {"title": 1.0, "category": 1.0, "brand": 0.6, "price": 0.4}


def _onehot(values: pd.Series) -> sp.csr_matrix:
    codes, _ = pd.factorize(values.fillna("∅").astype(str))
    return sp.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), codes.max() + 1))


def price_bands(price: np.ndarray, n: int = PRICE_BANDS) -> np.ndarray:
    """Price band per item: quantile bins of the catalogue's log price (0 = cheapest)."""
    edges = np.unique(np.quantile(np.log1p(price), np.linspace(0, 1, n + 1)[1:-1]))
    return np.searchsorted(edges, np.log1p(price))


@dataclass
class ContentIndex:
    """L2-normalised sparse content vectors, one row per item position of :class:`Matrices`."""

    max_features: int = 30_000
    vectors_: sp.csr_matrix | None = field(default=None, repr=False)

    def fit(self, inputs: RecoInputs, m: Matrices) -> ContentIndex:
        products = inputs.products.set_index(c.SKU_ID).reindex(m.item_ids)
        titles = products[c.PRODUCT_NAME].fillna("").astype(str)
        blocks = [_onehot(pd.Series(m.category)) * BLOCK_WEIGHTS["category"]]
        blocks.append(_onehot(products[c.BRAND]) * BLOCK_WEIGHTS["brand"])
        blocks.append(_onehot(pd.Series(price_bands(m.price))) * BLOCK_WEIGHTS["price"])
        if titles.str.len().gt(0).any():
            tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), max_features=self.max_features)
            blocks.append(tfidf.fit_transform(titles) * BLOCK_WEIGHTS["title"])
        self.vectors_ = normalize(sp.hstack(blocks).tocsr())
        return self

    def similar(self, item: int) -> np.ndarray:
        """Cosine similarity of ``item`` to every item (dense vector over item positions)."""
        return np.asarray((self.vectors_ @ self.vectors_[item].T).todense()).ravel()


@dataclass
class PopularLists:
    """Recent-popularity scores, overall and per user channel and city (the cold-start context)."""

    window_days: float = 28.0
    overall_: np.ndarray | None = field(default=None, repr=False)
    segments_: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    def fit(self, inputs: RecoInputs, m: Matrices) -> PopularLists:
        self.overall_ = cg.popularity_scores(m, self.window_days)
        users = inputs.users.set_index(c.USER_ID).reindex(m.user_ids)
        for column in (c.CHANNEL, c.CITY):
            if column not in users.columns:
                continue
            values = users[column].to_numpy()
            for value in pd.unique(users[column].dropna()):
                mask = values[m.log_user] == value
                if mask.sum() >= 20:  # a segment with a handful of buyers is noise, not context
                    self.segments_[(column, str(value))] = cg.popularity_scores(m, self.window_days, mask)
        return self

    def scores(self, channel: str | None = None, city: str | None = None) -> tuple[np.ndarray, str]:
        """The most specific list the context allows (channel, then city, then overall) and its name."""
        for column, value in ((c.CHANNEL, channel), (c.CITY, city)):
            if value is not None and (column, str(value)) in self.segments_:
                return self.segments_[(column, str(value))], f"{column}={value}"
        return self.overall_, "overall"
