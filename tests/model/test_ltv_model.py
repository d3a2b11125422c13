"""Lifetime value: non-negative, deterministic, and better than "next half-year = last half-year"."""

from __future__ import annotations

import numpy as np
import pytest

from models import metrics
from models.ltv import LtvRegressor
from tests.synthetic_users import FUTURE_SPEND, feature_columns, make_user_frame

pytestmark = pytest.mark.model


def test_ltv_beats_the_naive_forecast_and_is_non_negative() -> None:
    frame = make_user_frame(10000, seed=3)
    cols = feature_columns(frame)
    train, test = frame.iloc[:6000], frame.iloc[6000:]
    model = LtvRegressor(n_estimators=200).fit(train[cols], train[FUTURE_SPEND])
    pred = model.predict(test[cols])
    assert (pred >= 0).all()
    naive = test["spend_180d"].to_numpy()
    truth = test[FUTURE_SPEND].to_numpy()
    assert metrics.spearman(truth, pred) > metrics.spearman(truth, naive) + 0.1
    assert np.abs(truth - pred).mean() < np.abs(truth - naive).mean()
    assert pred.mean() == pytest.approx(truth.mean(), rel=0.15)
    again = LtvRegressor(n_estimators=200).fit(train[cols], train[FUTURE_SPEND])
    np.testing.assert_array_equal(again.predict(test[cols]), pred)


def test_ltv_rejects_negative_targets() -> None:
    frame = make_user_frame(200, seed=1)
    with pytest.raises(ValueError, match=">= 0"):
        LtvRegressor().fit(frame[feature_columns(frame)], -frame[FUTURE_SPEND] - 1)
