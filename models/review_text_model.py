"""The text half of review authenticity: three TF-IDF views, each a linear model, stacked by inner cross-validation.

One tokenizer serves both languages: Latin-script words stay words (English by word n-grams) and every CJK
character is a token (Chinese by character n-grams; no segmenter needed, so unseen product names and slang still
count). The views:

- ``words``: those tokens' 1-2 grams, NB-LR (Wang & Manning 2012's NB-SVM with a logistic loss: feature values
  scaled by their Naive-Bayes log-count ratio before an L2 logistic regression; scikit-learn has no NB scaling
  step, which is the only part written here);
- ``chars``: character 2-5 grams within word boundaries, NB-LR (spelling and punctuation habits);
- ``chars_plain``: character 1-5 grams across word boundaries, plain TF-IDF logistic regression.

All use sublinear TF. Nothing is tuned to a benchmark: on every training set, an inner stratified K-fold (on the
training rows only) picks each view's regularisation from a fixed grid by out-of-fold log loss, and a logistic
regression over the views' out-of-fold log-odds learns how much to trust each view. Those stacked out-of-fold
log-odds (``oof_log_odds_``) are what the behaviour model trains on, so no second K-fold pass is needed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)
VIEWS: tuple[str, ...] = ("words", "chars", "chars_plain")
C_GRID: tuple[float, ...] = (1.0, 4.0, 16.0, 64.0)
MANY_ROWS = 10_000
ONE_BY_ONE = 16  # up to this many texts are scored one by one from arrays (same values as the batch transform)
FALLBACK_C = 4.0  # too few examples of a class for inner folds: a fixed middle value, views averaged


def script_tokens(text: str) -> list[str]:
    """NFKC, lower case; a CJK character is one token, a run of other letters or digits is one word."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def _texts(texts: Any) -> list[str]:
    """Missing text becomes the empty string: it carries no text evidence either way."""
    values = texts if isinstance(texts, list) else pd.Series(texts, dtype=object).tolist()
    return ["" if not isinstance(t, str) else t for t in values]


def _nb_ratio(X: sp.csr_matrix, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Naive-Bayes log-count ratio per feature from binarised presence (Wang & Manning 2012)."""
    present = (X > 0).astype(np.float64)
    pos = alpha + np.asarray(present[y == 1].sum(axis=0)).ravel()
    neg = alpha + np.asarray(present[y == 0].sum(axis=0)).ravel()
    return np.log((pos / pos.sum()) / (neg / neg.sum()))


def view_vectorizer(view: str) -> TfidfVectorizer:
    """The TF-IDF of one view (sublinear TF throughout)."""
    if view == "words":
        return TfidfVectorizer(
            tokenizer=script_tokens, token_pattern=None, lowercase=False, ngram_range=(1, 2), sublinear_tf=True
        )
    if view == "chars":
        return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)
    if view == "chars_plain":
        return TfidfVectorizer(analyzer="char", ngram_range=(1, 5), min_df=2, sublinear_tf=True)
    raise ValueError(f"unknown text view {view!r}; expected one of {VIEWS}")


def _uses_nb(view: str) -> bool:
    return view != "chars_plain"


@dataclass
class _LinearView:
    """Feature scaling (NB ratios or ones) and the logistic regression on the scaled TF-IDF."""

    scale: np.ndarray
    lr: LogisticRegression

    @classmethod
    def fit(cls, X: sp.csr_matrix, y: np.ndarray, nb: bool, C: float) -> _LinearView:
        scale = _nb_ratio(X, y) if nb else np.ones(X.shape[1])
        # the same L2 objective either way: the dual is faster with more n-grams than rows (a small corpus),
        # the primal (Newton) with more rows than n-grams (a platform's short reviews)
        lr = LogisticRegression(C=C, solver="liblinear", dual=X.shape[1] > X.shape[0], max_iter=2000)
        return cls(scale, lr.fit(X.multiply(scale).tocsr(), y))

    def log_odds(self, X: sp.csr_matrix) -> np.ndarray:
        return self.lr.decision_function(X.multiply(self.scale).tocsr())


class _OneText:
    """One view's log-odds for one text from plain arrays: what ``TfidfVectorizer.transform`` then
    :meth:`_LinearView.log_odds` compute, in the same floating-point order (sorted n-gram ids, sequential sums), so
    the value is bit-identical; sklearn's input validation and sparse-matrix plumbing cost a millisecond per text."""

    def __init__(self, vectorizer: TfidfVectorizer, view: _LinearView) -> None:
        self.analyze = vectorizer.build_analyzer()
        self.vocabulary = vectorizer.vocabulary_
        self.binary, self.sublinear, self.norm = vectorizer.binary, vectorizer.sublinear_tf, vectorizer.norm
        self.idf = vectorizer.idf_ if vectorizer.use_idf else None
        self.scale = view.scale
        self.coef = view.lr.coef_.ravel()
        self.intercept = view.lr.intercept_

    def log_odds(self, text: str) -> np.ndarray:
        counts: dict[int, int] = {}
        for gram in self.analyze(text):
            j = self.vocabulary.get(gram)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return 0.0 + self.intercept
        idx = np.fromiter(counts, np.int64, len(counts))
        order = np.argsort(idx)
        idx = idx[order]
        data = np.fromiter(counts.values(), np.float64, len(counts))[order]
        if self.binary:
            data[:] = 1.0
        if self.sublinear:
            np.log(data, data)
            data += 1.0
        if self.idf is not None:
            data *= self.idf[idx]
        if self.norm == "l2":
            total = np.cumsum(data * data)[-1]  # cumsum adds in order, as sklearn's row normalisation does
            if total != 0.0:
                data /= np.sqrt(total)
        elif self.norm is not None:
            raise ValueError(f"no one-text path for norm={self.norm!r}")
        return np.cumsum(data * self.scale[idx] * self.coef[idx])[-1:] + self.intercept


class NbLogisticView(BaseEstimator):
    """One view on its own with a fixed C (the NB-SVM baseline of the benchmark)."""

    def __init__(self, analyzer: str = "words", C: float = FALLBACK_C) -> None:
        self.analyzer = analyzer
        self.C = C

    def fit(self, texts: list[str], y: np.ndarray) -> NbLogisticView:
        self.vectorizer_ = view_vectorizer(self.analyzer)
        X = self.vectorizer_.fit_transform(texts).tocsr()
        self.model_ = _LinearView.fit(X, np.asarray(y, dtype=int), _uses_nb(self.analyzer), self.C)
        return self

    def log_odds(self, texts: list[str]) -> np.ndarray:
        return self.model_.log_odds(self.vectorizer_.transform(texts).tocsr())


class ReviewTextModel(ClassifierMixin, BaseEstimator):
    """Word/character views stacked on the log-odds scale; ``log_odds`` feeds the behaviour model.

    Args:
        views: which views to use (see the module docstring).
        C_grid: regularisation values each view chooses from by inner-CV log loss (on the training rows only).
        n_folds: inner folds (at most 3 from ``MANY_ROWS`` rows on; fewer when a class has fewer examples; none
            below two per class).
        random_state: seeds the inner folds.

    After ``fit``: ``chosen_C_`` per view, ``weights_`` of the stacker, and ``oof_log_odds_`` (every training
    row scored by views that never saw it, combined by the stacker).
    """

    def __init__(
        self,
        views: tuple[str, ...] = VIEWS,
        C_grid: tuple[float, ...] = C_GRID,
        n_folds: int = 5,
        random_state: int = 0,
    ) -> None:
        self.views = views
        self.C_grid = C_grid
        self.n_folds = n_folds
        self.random_state = random_state

    def fit(self, texts: Any, y: Any) -> ReviewTextModel:
        y_arr = np.asarray(y, dtype=int).ravel()
        docs = _texts(texts)
        if len(docs) != len(y_arr):
            raise ValueError(f"{len(docs)} texts for {len(y_arr)} labels")
        if len(np.unique(y_arr)) != 2:
            raise ValueError("the text model needs both genuine (0) and fake (1) examples")
        self.classes_ = np.array([0, 1])
        # vocabulary and IDF from all training texts (no labels involved); NB ratios and weights only per fold
        self.vectorizers_ = {v: view_vectorizer(v).fit(docs) for v in self.views}
        X = {v: vec.transform(docs).tocsr() for v, vec in self.vectorizers_.items()}
        folds = min(self.n_folds, int(np.bincount(y_arr).min()))
        if len(y_arr) >= MANY_ROWS:  # plenty of rows: three folds read the log loss well enough, at 60 % of the cost
            folds = min(folds, 3)
        if folds < 2:
            self._fit_without_folds(X, y_arr)
            return self
        oof = self._inner_oof(X, y_arr, folds)
        self.chosen_C_ = {v: min(self.C_grid, key=lambda C, v=v: log_loss(y_arr, expit(oof[v, C]))) for v in self.views}
        Z = np.column_stack([oof[v, self.chosen_C_[v]] for v in self.views])
        self.stacker_ = LogisticRegression(C=1.0).fit(Z, y_arr)
        self.weights_ = dict(zip(self.views, self.stacker_.coef_.ravel().tolist(), strict=True))
        self.oof_log_odds_ = self.stacker_.decision_function(Z)
        self.models_ = {v: _LinearView.fit(X[v], y_arr, _uses_nb(v), self.chosen_C_[v]) for v in self.views}
        return self

    def _inner_oof(self, X: dict[str, sp.csr_matrix], y: np.ndarray, folds: int) -> dict[tuple[str, float], np.ndarray]:
        oof = {(v, C): np.zeros(len(y)) for v in self.views for C in self.C_grid}
        split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        for train, test in split.split(np.zeros(len(y)), y):
            for v in self.views:
                for C in self.C_grid:
                    oof[v, C][test] = _LinearView.fit(X[v][train], y[train], _uses_nb(v), C).log_odds(X[v][test])
        return oof

    def _fit_without_folds(self, X: dict[str, sp.csr_matrix], y: np.ndarray) -> None:
        """A handful of verdicts: fixed C, views averaged, in-sample scores (said by ``stacker_ = None``)."""
        self.chosen_C_ = dict.fromkeys(self.views, FALLBACK_C)
        self.stacker_ = None
        self.weights_ = dict.fromkeys(self.views, 1.0 / len(self.views))
        self.models_ = {v: _LinearView.fit(X[v], y, _uses_nb(v), FALLBACK_C) for v in self.views}
        self.oof_log_odds_ = self._combine({v: m.log_odds(X[v]) for v, m in self.models_.items()})

    def _combine(self, per_view: dict[str, np.ndarray]) -> np.ndarray:
        Z = np.column_stack([per_view[v] for v in self.views])
        if self.stacker_ is None:
            return Z.mean(axis=1)
        return (Z @ self.stacker_.coef_.T + self.stacker_.intercept_).ravel()  # its decision_function, unvalidated

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_one_text", None)  # rebuilt from the fitted parts on first use
        return state

    def prepare(self) -> ReviewTextModel:
        """Build the one-text scoring path now (at load) rather than on the first request."""
        self._one_text_views()
        return self

    def _one_text_views(self) -> dict[str, _OneText]:
        if getattr(self, "_one_text", None) is None:
            self._one_text = {v: _OneText(self.vectorizers_[v], m) for v, m in self.models_.items()}
        return self._one_text

    def view_log_odds(self, texts: Any) -> dict[str, np.ndarray]:
        """Each view's own log-odds of "fake" (a request's few texts one by one, without sparse-matrix plumbing)."""
        docs = _texts(texts)
        if 0 < len(docs) <= ONE_BY_ONE:
            return {v: np.concatenate([one.log_odds(d) for d in docs]) for v, one in self._one_text_views().items()}
        return {v: m.log_odds(self.vectorizers_[v].transform(docs).tocsr()) for v, m in self.models_.items()}

    def log_odds(self, texts: Any) -> np.ndarray:
        """Stacked log-odds of "fake" (near 0 = little evidence either way)."""
        return self._combine(self.view_log_odds(texts))

    def predict_proba(self, texts: Any) -> np.ndarray:
        p = expit(self.log_odds(texts))
        return np.column_stack([1 - p, p])

    def predict(self, texts: Any) -> np.ndarray:
        return (self.log_odds(texts) > 0).astype(int)
