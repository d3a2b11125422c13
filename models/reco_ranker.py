"""Generator tuning on a validation period and the LightGBM LambdaRank model over the union of candidates.

Tuning and ranking share the evaluation of :func:`rank_lists`, so every baseline is scored exactly like the
ranker: same users, same truth, same top-k cut.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from models import candidates as cg
from models.compiled_forest import CompiledForest, compile_booster
from models.metrics import ndcg_at_k
from models.reco_features import (
    ITEM,
    ROW,
    Retrieval,
    candidate_columns,
    candidates,
    feature_columns,
    feature_names,
    features,
    fit_retrieval,
)
from models.reco_inputs import Matrices, RecoInputs

logger = logging.getLogger(__name__)

LABEL = "_label"
SCORE = "_score"
BATCH = 1000

#: Small grids on purpose: each point is a full fit, and the validation period is the only judge.
DEFAULT_GRID: dict[str, list[dict[str, Any]]] = {
    "popularity": [{"window_days": 7.0}, {"window_days": 28.0}, {"window_days": 91.0}],
    "repeat": [{"half_life_days": 30.0}, {"half_life_days": 120.0}, {"half_life_days": 10_000.0}],
    "knn_purchase": [{"shrink": 10.0, "neighbours": 50}, {"shrink": 50.0, "neighbours": 200}],
    "knn_view": [{"shrink": 10.0, "neighbours": 50}, {"shrink": 50.0, "neighbours": 200}],
    "knn_recent": [{"half_life_days": 14.0, "shrink": 10.0}, {"half_life_days": 60.0, "shrink": 10.0}],
    "ease": [{"l2": 50.0}, {"l2": 300.0}, {"l2": 1500.0}],
    "als": [
        {"factors": 64, "regularization": 0.05, "alpha": 5.0},
        {"factors": 128, "regularization": 0.1, "alpha": 20.0},
    ],
}


def truth_users(m: Matrices, truth: pd.Series, exclude_bought: bool) -> tuple[np.ndarray, list[frozenset]]:
    """Positions and item-position sets of users seen before the cutoff with at least one (new) purchase after."""
    pos = m.user_index(truth.index)
    seen = pos >= 0
    seen[seen] = np.diff(m.bought.indptr)[pos[seen]] > 0
    users, sets = [], []
    for p, items in zip(pos[seen], truth.to_numpy()[seen], strict=True):
        idx = m.item_ids.get_indexer(list(items))
        idx = idx[idx >= 0]
        if exclude_bought:
            idx = idx[np.asarray(m.bought[p, idx].todense()).ravel() == 0] if len(idx) else idx
        if len(idx):
            users.append(p)
            sets.append(frozenset(int(i) for i in idx))
    return np.asarray(users, dtype=int), sets


def generator_lists(gen: cg.Generator, m: Matrices, users: np.ndarray, k: int, exclude_bought: bool) -> list[list[int]]:
    """A single generator's top-k item positions per user (the per-generator baseline)."""
    out: list[list[int]] = []
    for start in range(0, len(users), BATCH):
        batch = users[start : start + BATCH]
        items, scores = gen.block(batch)
        if exclude_bought:
            scores = cg.mask_bought(m, batch, items, scores)
        out += [list(map(int, r)) for r in cg.top_n(items, scores, k)]
    return out


def tune_generators(
    m: Matrices,
    truth: pd.Series,
    grid: Mapping[str, list[dict[str, Any]]],
    exclude_bought: bool = False,
    seed: int = 0,
) -> tuple[dict[str, dict[str, Any]], pd.DataFrame]:
    """Best hyper-parameters per generator by validation nDCG@10, and the whole grid's scores."""
    users, sets = truth_users(m, truth, exclude_bought)
    rows, best = [], {}
    names = [n for n in grid if n in cg.available(m) and not (exclude_bought and n == "repeat")]
    for name in tqdm(names, desc="tune generators", leave=False):
        for params in grid[name]:
            recs = generator_lists(cg.make(name, **params).fit(m, seed), m, users, 10, exclude_bought)
            rows.append({"generator": name, "params": params, "ndcg_at_10": ndcg_at_k(sets, recs, 10)})
        scored = [r for r in rows if r["generator"] == name]
        best[name] = max(scored, key=lambda r: r["ndcg_at_10"])["params"]
    return best, pd.DataFrame(rows)


@dataclass
class LambdaRanker:
    """LightGBM LambdaRank over candidate features, early-stopped on held-out groups (users)."""

    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 100
    max_rounds: int = 600
    max_users: int = 5000
    random_state: int = 0
    n_jobs: int = 1
    objective: str = "lambdarank"
    patience: int = 100  # nDCG on a few thousand held-out users is noisy: a short patience stopped at round 9
    feature_fraction: float = 0.7
    lambda_l2: float = 10.0
    booster_: lgb.Booster | None = field(default=None, repr=False)
    feature_names_: list[str] = field(default_factory=list)
    #: The booster compiled to native code (:meth:`compile`, at serving); never pickled, rebuilt per process.
    forest_: CompiledForest | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "forest_"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.forest_ = None

    def compile(self, cache_dir: Path | None = None) -> LambdaRanker:
        """Predict through the compiled trees from now on (same scores to ~1e-15, ~15x less CPU on a request's
        150 candidates); when compiling is not possible here the booster keeps predicting."""
        if self.booster_ is not None and self.forest_ is None:
            self.forest_ = compile_booster(self.booster_, cache_dir)
        return self

    def _params(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "metric": "ndcg",
            "eval_at": [10],
            "lambdarank_truncation_level": 20,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "lambda_l2": self.lambda_l2,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.n_jobs,
            "verbosity": -1,
        }

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, names: list[str]) -> LambdaRanker:
        """Rows sorted by group (``_row``) with a 0/1 ``_label``; groups without a positive are dropped."""
        self.feature_names_ = list(names)
        sets = [_with_positives(frame) for frame in (train, valid)]
        data = [
            lgb.Dataset(f[names].astype("float64"), f[LABEL], group=f.groupby(ROW, sort=True).size().to_numpy())
            for f in sets
        ]
        self.booster_ = lgb.train(
            self._params(),
            data[0],
            num_boost_round=self.max_rounds,
            valid_sets=[data[1]],
            callbacks=[lgb.early_stopping(self.patience, verbose=False)],
        )
        return self

    def predict(self, frame: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
        """Scores of candidate rows, from a frame or from columns (arrays) holding every feature."""
        if self.booster_ is None:
            raise RuntimeError("LambdaRanker is not fitted")
        columns = [np.asarray(frame[name]) for name in self.feature_names_]
        x = np.empty((len(columns[0]) if columns else 0, len(columns)), dtype="float64")
        for j, values in enumerate(columns):
            x[:, j] = values
        forest = getattr(self, "forest_", None)  # rankers pickled before forest_ existed have none
        return forest.predict(x) if forest is not None else self.booster_.predict(x, num_threads=1)


#: The "items not bought before" ranker's settings over :class:`LambdaRanker`'s defaults. Its labels are few (on
#: Online Retail about 2,000 users over both periods have a new item among their candidates) and 15-leaf trees overfit
#: them: ranking the validation period with a ranker fitted on the train period, 7 leaves gave nDCG@10 0.1750 against
#: 0.1649 (mean of five early-stopping splits; 4, 5 and 10 leaves 0.172-0.173, 0.170).
NEW_ITEMS_RANKER: dict[str, Any] = {"num_leaves": 7}


def _with_positives(frame: pd.DataFrame) -> pd.DataFrame:
    has = frame.groupby(ROW)[LABEL].transform("max") > 0
    return frame[has].sort_values([ROW, ITEM], kind="stable").reset_index(drop=True)


def labelled_candidates(
    ret: Retrieval, truth: pd.Series, exclude_bought: bool, max_users: int, seed: int
) -> pd.DataFrame:
    """Candidate features for users with next-period purchases, labelled 1 where the user bought the item."""
    users, sets = truth_users(ret.m, truth, exclude_bought)
    if len(users) > max_users:
        keep = np.sort(np.random.default_rng(seed).choice(len(users), max_users, replace=False))
        users, sets = users[keep], [sets[i] for i in keep]
    frames = []
    for start in range(0, len(users), BATCH):
        batch = users[start : start + BATCH]
        frame = features(ret, candidates(ret, batch, exclude_bought))
        frame[ROW] += start
        frame[LABEL] = [int(i in sets[r]) for r, i in zip(frame[ROW], frame[ITEM], strict=True)]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def fit_ranker(
    train: tuple[RecoInputs, Matrices, pd.Series],
    valid: tuple[RecoInputs, Matrices, pd.Series],
    params: dict[str, dict[str, Any]],
    exclude_bought: bool = False,
    seed: int = 0,
    ranker: LambdaRanker | None = None,
) -> LambdaRanker:
    """Train the ranker on the next periods of the train and validation cutoffs, stacked.

    Each cutoff's candidates come from generators fitted strictly before it; a seeded fifth of the users (of both
    periods) is held out for early stopping. Stacking the two periods doubles the labelled groups and puts the
    validation cutoff's longer history in training, which on Online Retail beat training on the earliest cutoff
    alone; nothing after the validation period (the test) is read. The new-items ranker (``exclude_bought``) has its
    own settings (:data:`NEW_ITEMS_RANKER`) and the title-affinity features.
    """
    ranker = ranker or LambdaRanker(random_state=seed, **(NEW_ITEMS_RANKER if exclude_bought else {}))
    frames = []
    for inputs, m, truth in (train, valid):
        ret = fit_retrieval(inputs, m, params, seed=seed, titles=exclude_bought, due=not exclude_bought)
        frame = labelled_candidates(ret, truth, exclude_bought, ranker.max_users, seed)
        frame[ROW] += sum(int(f[ROW].max()) + 1 for f in frames)
        frames.append(frame)
    both = pd.concat(frames, ignore_index=True)
    groups = both[ROW].unique()
    held = np.random.default_rng(seed).choice(groups, max(len(groups) // 5, 1), replace=False)
    stop = both[ROW].isin(held)
    logger.info("ranker rows: fit %d, early stopping %d", int((~stop).sum()), int(stop.sum()))
    return ranker.fit(both[~stop], both[stop], feature_names(ret))


def ranked_candidates(
    ret: Retrieval, ranker: LambdaRanker, users: np.ndarray, exclude_bought: bool = False
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Candidate and feature columns of user positions with the ranker's ``_score``, and the order that puts them
    best first per user (by ``_row``, then score descending, then item position)."""
    columns = feature_columns(ret, candidate_columns(ret, users, exclude_bought))
    columns[SCORE] = ranker.predict(columns)
    return columns, np.lexsort((columns[ITEM], -columns[SCORE], columns[ROW]))


def rank_lists(
    ret: Retrieval, ranker: LambdaRanker, users: np.ndarray, k: int, exclude_bought: bool = False
) -> list[list[int]]:
    """Top-k item positions per user by ranker score over the union of candidates."""
    out: list[list[int]] = []
    for start in range(0, len(users), BATCH):
        batch = users[start : start + BATCH]
        columns, order = ranked_candidates(ret, ranker, batch, exclude_bought)
        rows, items = columns[ROW][order], columns[ITEM][order]
        lo = np.searchsorted(rows, np.arange(len(batch)), "left")
        hi = np.minimum(np.searchsorted(rows, np.arange(len(batch)), "right"), lo + k)
        out += [list(map(int, items[a:b])) for a, b in zip(lo, hi, strict=True)]
    return out
