"""Title-affinity features: each candidate's title words against the titles its user bought, as plain cosines."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from features import columns as c
from models.reco_features import _title_scores, title_vectors

pytestmark = pytest.mark.unit

TITLES = ["RED RETROSPOT JUMBO BAG", "RED RETROSPOT LUNCH BAG", "WHITE HANGING HEART T-LIGHT HOLDER",
          "RED HANGING HEART T-LIGHT HOLDER", "JUMBO BAG PINK POLKADOT", "SET OF 3 CAKE TINS", "CAKE TINS PANTRY"]  # fmt: skip


def _titles(names: list[str]) -> sp.csr_matrix | None:
    items = pd.Index([f"S{i}" for i in range(len(names))])
    products = pd.DataFrame({c.SKU_ID: items[::-1], c.PRODUCT_NAME: names[::-1]})  # catalogue order differs
    return title_vectors(SimpleNamespace(products=products), SimpleNamespace(item_ids=items))


def test_title_scores_are_cosines_with_the_users_mean_title_vector() -> None:
    titles = _titles(TITLES)
    assert titles is not None and titles.shape[0] == len(TITLES)
    assert np.allclose(np.asarray(titles.multiply(titles).sum(axis=1)).ravel(), 1.0)
    bought = sp.csr_matrix(np.array([[2, 0, 0, 0, 0, 1, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0]], "float32"))
    profile = normalize(normalize((bought > 0).astype("float64"), norm="l1") @ titles).toarray()
    dense = titles.toarray()
    for users, items in ((np.array([0, 0, 1, 1, 2]), np.array([1, 6, 3, 5, 0])), (np.array([1, 1]), np.array([3, 4]))):
        groups = np.unique(users, return_inverse=True)
        ours = _title_scores(titles, bought, groups, items, binary=True)
        assert np.allclose(ours, (profile[users] * dense[items]).sum(axis=1), atol=1e-6)
    lunch, pantry = _title_scores(titles, bought, np.unique([0, 0], return_inverse=True), np.array([1, 6]), True)
    assert lunch > 0 and pantry > 0 and lunch > _title_scores(titles, bought, (np.array([0]), np.array([0])),
                                                              np.array([3]), True)[0]  # fmt: skip


def test_decayed_weights_tilt_the_profile_towards_recent_items() -> None:
    titles = _titles(TITLES)
    recent_bag = sp.csr_matrix(np.array([[0.9, 0, 0, 0, 0, 0.1, 0]], "float32"))
    recent_tins = sp.csr_matrix(np.array([[0.1, 0, 0, 0, 0, 0.9, 0]], "float32"))
    groups = (np.array([0]), np.array([0, 0]))
    bag = _title_scores(titles, recent_bag, groups, np.array([4, 6]), binary=False)
    tins = _title_scores(titles, recent_tins, groups, np.array([4, 6]), binary=False)
    assert bag[0] > tins[0] and tins[1] > bag[1]


def test_no_title_vectors_when_no_word_is_shared() -> None:
    assert _titles(["alpha", "beta", ""]) is None
    assert _titles(["", ""]) is None
