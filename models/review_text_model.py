"""The text half of review authenticity: TF-IDF views with Naive-Bayes log-count-ratio scaling and logistic regression.

One tokenizer serves both languages: Latin-script words stay words (English by word n-grams) and every CJK
character is a token (Chinese by character n-grams; no segmenter needed, so unseen product names and slang still
count). A second view of character n-grams within word boundaries catches spelling and punctuation habits.
Each view is an NB-LR (Wang & Manning 2012's NB-SVM with a logistic loss, so it yields a log-odds): the feature
values are scaled by their Naive-Bayes log-count ratio before an L2 logistic regression; the views' log-odds are
averaged. scikit-learn has no NB scaling step, which is the only part written here.
Hyper-parameters are fixed defaults that apply to any corpus (nothing is tuned to a benchmark's folds).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)


def script_tokens(text: str) -> list[str]:
    """NFKC, lower case; a CJK character is one token, a run of other letters or digits is one word."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def _texts(texts: Any) -> list[str]:
    """Missing text becomes the empty string: it carries no text evidence either way."""
    return ["" if not isinstance(t, str) else t for t in pd.Series(texts, dtype=object).tolist()]


def _nb_ratio(X: sp.csr_matrix, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Naive-Bayes log-count ratio per feature from binarised presence (Wang & Manning 2012)."""
    present = (X > 0).astype(np.float64)
    pos = alpha + np.asarray(present[y == 1].sum(axis=0)).ravel()
    neg = alpha + np.asarray(present[y == 0].sum(axis=0)).ravel()
    return np.log((pos / pos.sum()) / (neg / neg.sum()))


class NbLogisticView(BaseEstimator):
    """One TF-IDF view scaled by NB log-count ratios, then an L2 logistic regression (liblinear, dual)."""

    def __init__(self, analyzer: str = "words", C: float = 4.0) -> None:
        self.analyzer = analyzer
        self.C = C

    def _vectorizer(self) -> TfidfVectorizer:
        if self.analyzer == "words":
            return TfidfVectorizer(
                tokenizer=script_tokens, token_pattern=None, lowercase=False, ngram_range=(1, 2), sublinear_tf=True
            )
        return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)

    def fit(self, texts: list[str], y: np.ndarray) -> NbLogisticView:
        self.vectorizer_ = self._vectorizer()
        X = self.vectorizer_.fit_transform(texts).tocsr()
        self.ratio_ = _nb_ratio(X, y)
        self.lr_ = LogisticRegression(C=self.C, solver="liblinear", dual=True, max_iter=2000)
        self.lr_.fit(X.multiply(self.ratio_).tocsr(), y)
        return self

    def log_odds(self, texts: list[str]) -> np.ndarray:
        X = self.vectorizer_.transform(texts).tocsr()
        return self.lr_.decision_function(X.multiply(self.ratio_).tocsr())


class ReviewTextModel(ClassifierMixin, BaseEstimator):
    """Word/character NB-LR views averaged on the log-odds scale; ``log_odds`` feeds the behaviour model.

    Args:
        C: inverse L2 strength of each view's logistic regression (a fixed default, not tuned per corpus).
        views: which views to average: "words" (CJK characters + Latin words, 1-2 grams) and/or "chars"
            (character 2-5 grams within word boundaries).
    """

    def __init__(self, C: float = 4.0, views: tuple[str, ...] = ("words", "chars")) -> None:
        self.C = C
        self.views = views

    def fit(self, texts: Any, y: Any) -> ReviewTextModel:
        y_arr = np.asarray(y, dtype=int).ravel()
        docs = _texts(texts)
        if len(docs) != len(y_arr):
            raise ValueError(f"{len(docs)} texts for {len(y_arr)} labels")
        if len(np.unique(y_arr)) != 2:
            raise ValueError("the text model needs both genuine (0) and fake (1) examples")
        self.classes_ = np.array([0, 1])
        self.views_ = [NbLogisticView(view, self.C).fit(docs, y_arr) for view in self.views]
        return self

    def log_odds(self, texts: Any) -> np.ndarray:
        """Mean log-odds of "fake" over the views (0 = no evidence either way)."""
        docs = _texts(texts)
        return np.mean([view.log_odds(docs) for view in self.views_], axis=0)

    def predict_proba(self, texts: Any) -> np.ndarray:
        p = expit(self.log_odds(texts))
        return np.column_stack([1 - p, p])

    def predict(self, texts: Any) -> np.ndarray:
        return (self.log_odds(texts) > 0).astype(int)


def out_of_fold_log_odds(texts: Any, y: Any, n_folds: int = 5, random_state: int = 0, C: float = 4.0) -> np.ndarray:
    """Text log-odds for every row from a model that never saw that row (stratified folds, seeded).

    This is what the behaviour model is trained on: in-sample text scores would be overconfident and the
    stacked model would trust them far more than they deserve on new reviews.
    """
    docs = pd.Series(_texts(texts), dtype=object)
    y_arr = np.asarray(y, dtype=int).ravel()
    out = np.zeros(len(docs))
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    for train, test in folds.split(docs, y_arr):
        model = ReviewTextModel(C=C).fit(docs.iloc[train], y_arr[train])
        out[test] = model.log_odds(docs.iloc[test])
    return out
