"""BG/NBD on one row (numpy scalars, the one-user serving path) equals BG/NBD on arrays, to the last bit."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from models.btyd import BgNbdGammaGamma, _clip, _isnan, _maximum, with_btyd_block
from tests.synthetic_users import make_user_frame

pytestmark = pytest.mark.model

NAMES = ("orders_total", "recency_days", "first_order_days", "tenure_days", "avg_order_value", "spend_total")


#: Users with thousands of orders: the expected-orders series overflows for them and its fallback is taken.
HEAVY = pd.DataFrame({"orders_total": [6000.0, 12000.0], "recency_days": [3.0, 1.0], "tenure_days": [900.0, 900.0]})


@pytest.fixture(scope="module")
def users() -> pd.DataFrame:
    """Users with every kind of input: repeat buyers, one-time buyers, never-ordered (NaN recency and value), and
    missing counts or ages, so each branch of the formulas is taken on some row."""
    users = make_user_frame(3000, seed=11)
    users["first_order_days"] = users["tenure_days"] - users["tenure_days"] % 7
    rng = np.random.default_rng(0)
    for name, share in (("orders_total", 0.03), ("first_order_days", 0.1), ("avg_order_value", 0.05)):
        users.loc[rng.random(len(users)) < share, name] = np.nan
    return users


@pytest.fixture(scope="module")
def frame(users) -> pd.DataFrame:
    heavy = HEAVY.assign(first_order_days=HEAVY["tenure_days"], avg_order_value=40.0, spend_total=1e5)
    return pd.concat([users, heavy], ignore_index=True)


@pytest.fixture(scope="module", params=["bgnbd", "gamma_gamma"])
def model(request, users) -> BgNbdGammaGamma:
    """A fitted BG/NBD, without and with Gamma-Gamma order values (fitted ones, or set when the fit was degenerate)."""
    fitted = BgNbdGammaGamma().fit(users)
    if request.param == "bgnbd":
        fitted.gamma_gamma_params_ = None
    elif fitted.gamma_gamma_params_ is None:
        fitted.gamma_gamma_params_ = {"p": 6.0, "q": 4.0, "v": 15.0}
    return fitted


@pytest.mark.parametrize("names", [NAMES, tuple(n for n in NAMES if n != "first_order_days")])
@pytest.mark.parametrize("horizon", [90, 180])
def test_one_row_equals_the_array_bit_for_bit(model, frame, names, horizon) -> None:
    """Every row's derived columns computed alone (scalar path) have the bits of the same row in a batch: a ``**``
    instead of ``np.power``, or ``math`` instead of numpy's ufuncs, would change some of them."""
    x = frame[list(names)].to_numpy(dtype="float64")
    batch = with_btyd_block(model, x, names, horizon)
    rows = np.vstack([with_btyd_block(model, x[i : i + 1], names, horizon) for i in range(len(x))])
    assert rows.shape == batch.shape
    np.testing.assert_array_equal(rows.view(np.int64), batch.view(np.int64))
    assert np.isnan(batch[:, -2]).any()  # never-ordered users: no gap between orders
    heavy = batch[-len(HEAVY) :, -1]
    assert (np.isfinite(heavy) & (heavy > 0)).all()  # the overflow fallback answered (inf or 0 without it)


SPECIAL = (0.0, -0.0, 1.0, -1.0, 2.5, 5e-324, np.inf, -np.inf, np.nan)


def _bits(v: float) -> int:
    return int(np.float64(v).view(np.int64))


def test_scalar_rules_are_numpys_on_special_values() -> None:
    """The one-row helpers' Python rules give numpy's bits for NaN, infinities and zeros of either sign."""
    for a, b in itertools.product(SPECIAL, SPECIAL):
        assert _bits(_maximum(np.float64(a), b)) == _bits(np.maximum(np.float64(a), b)), (a, b)
        assert _isnan(np.float64(a)) == np.isnan(a)
        for hi in (h for h in SPECIAL if b <= h):
            assert _bits(_clip(np.float64(a), b, hi)) == _bits(np.clip(np.float64(a), b, hi)), (a, b, hi)
