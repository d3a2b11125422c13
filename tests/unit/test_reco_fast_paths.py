"""The recommender's array shortcuts give exactly what scipy's indexing and products give (same entries, same
order, same bits): serving reads rows and pairs by slicing CSR arrays instead of scipy's fancy indexing."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from models import candidates as cg
from models.reco_features import _restricted_rows, pair_values
from models.reco_inputs import Matrices

pytestmark = pytest.mark.unit


def _matrix(seed: int = 0, shape: tuple[int, int] = (40, 30), density: float = 0.2) -> sp.csr_matrix:
    out = sp.random(*shape, density=density, format="csr", dtype=np.float32, random_state=seed)
    out.data += 0.5  # no stored zeros
    out.data[out.indptr[5] : out.indptr[6]] = 0.0  # an empty row
    out.eliminate_zeros()
    return out


@pytest.mark.parametrize("rows", [[3], [5], [0, 7, 7, 39], [], [5, 2]])
def test_row_slices_are_scipys_rows(rows: list[int]) -> None:
    matrix = _matrix()
    ours, theirs = cg.take_rows(matrix, np.array(rows, dtype=int)), matrix[np.array(rows, dtype=int)]
    assert ours.shape == theirs.shape
    for name in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(ours, name), getattr(theirs, name))


def test_pair_values_are_scipys_elements_including_absent_pairs() -> None:
    matrix = _matrix(1)
    rng = np.random.default_rng(0)
    for rows in (np.full(25, 4), rng.integers(0, 40, 200), np.full(10, 5), np.zeros(0, int)):
        cols = rng.integers(0, 30, len(rows))
        ours = pair_values(matrix, rows, cols)
        theirs = np.asarray(matrix[rows, cols]).ravel() if len(rows) else np.zeros(0, np.float32)
        assert ours.dtype == matrix.dtype and np.array_equal(ours, theirs)


def test_restricted_rows_are_scipys_column_selection() -> None:
    matrix = _matrix(2)
    universe = np.array([1, 4, 5, 9, 20, 29])
    col = np.full(matrix.shape[1], -1)
    col[universe] = np.arange(len(universe))
    for rows in (np.array([3]), np.array([0, 5, 8, 3]), np.array([5])):
        ours, theirs = _restricted_rows(matrix, rows, col, len(universe)), matrix[rows][:, universe]
        for name in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(ours, name), getattr(theirs, name))


def test_knn_scores_through_the_dense_copy_are_bitwise_the_sparse_product() -> None:
    gen = cg.ItemKNN(neighbours=5)
    gen.sim_ = _matrix(3, (30, 30), 0.3)
    gen.profile_ = _matrix(4, (40, 30), 0.4)
    gen._densify()
    assert gen.dense_ is not None
    for users in (np.array([2]), np.array([5]), np.arange(40)):
        profile = cg.take_rows(gen.profile_, users)
        dense = gen.times(profile)
        assert dense.dtype == np.float32 and np.array_equal(dense, (profile @ gen.sim_).toarray())
    state = pickle.loads(pickle.dumps(gen))
    assert "dense_" not in gen.__getstate__() and np.array_equal(state.dense_, gen.dense_)


def test_user_positions_for_a_few_ids_and_for_many_agree() -> None:
    ids = pd.Index([f"U{i}" for i in range(50)])
    m = Matrices(pd.Timestamp("2024-01-01"), ids, pd.Index(["a"]), *([None] * 11))
    asked = ["U3", "nobody", 7, "U49"]
    few = m.user_index(asked)
    many = m.user_index(asked * 10)
    assert few.tolist() == [3, -1, -1, 49] and many.tolist() == few.tolist() * 10
