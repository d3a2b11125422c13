"""The "items not bought before" recommender on the tiny world: its ranker reads the title-affinity features, the
all-items one does not, and serving (one user, a batch, a pickled model) ranks alike without past purchases."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from features.settings import DatasetPaths
from models.reco_features import candidate_columns, feature_columns, fit_retrieval
from models.recommend import Recommender, fit_recommender
from tests.model.test_recommend import GRID, _parts, _small_ranker
from training.reco_data import LakeReader

pytestmark = pytest.mark.model

TITLES = ["title_affinity", "title_last_baskets"]


@pytest.fixture(scope="module")
def fitted_new(tiny_world: DatasetPaths):
    train, valid, serve = _parts(LakeReader(tiny_world))
    return fit_recommender(train, valid, serve, GRID, exclude_bought=True, seed=3, ranker=_small_ranker()), serve


def test_only_the_new_items_ranker_reads_title_features(fitted_new) -> None:
    model, serve = fitted_new
    assert model.retrieval.titles is not None and set(TITLES) <= set(model.ranker.feature_names_)
    bare = fit_retrieval(serve, model.m, model.params, seed=3)
    assert bare.titles is None and not set(TITLES) & set(_columns(bare))
    # and only the all-items ranker the replenishment timing: a new item is never a bought pair
    assert model.retrieval.pair_due is None and "pair_due_ratio" not in model.ranker.feature_names_
    assert "pair_due_ratio" in _columns(bare)


def _columns(ret) -> list[str]:
    return list(feature_columns(ret, candidate_columns(ret, np.arange(5))))


def test_new_item_lists_hold_no_past_purchase(fitted_new) -> None:
    model, _ = fitted_new
    users = np.arange(0, model.m.shape[0], 11)
    rows, items, _, _ = model._ranked(users)
    bought = np.asarray(model.m.bought[users[rows], items]).ravel()
    assert len(rows) and not (bought > 0).any()


def test_one_user_batch_and_pickled_model_rank_alike(fitted_new) -> None:
    """The title profile of a one-user request (binary search in one row) equals the batch's for that user."""
    model, _ = fitted_new
    loaded: Recommender = pickle.loads(pickle.dumps(model))
    users = np.arange(0, model.m.shape[0], max(model.m.shape[0] // 30, 1))
    rows, items, scores, _ = model._ranked(users)
    again = loaded._ranked(users)
    assert np.array_equal(again[1], items) and np.array_equal(again[2], scores)
    for r, user in enumerate(users):
        _, one_items, one_scores, _ = model._ranked(np.array([user]))
        assert np.array_equal(one_items, items[rows == r]) and np.array_equal(one_scores, scores[rows == r])
