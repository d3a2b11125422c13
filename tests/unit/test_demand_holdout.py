"""The demand gate's holdout sees what a planner knows at its origin: planned promotions, not the prices paid."""

from __future__ import annotations

import pandas as pd
import pytest

from features import columns as c
from training.decisions.demand import _known_ahead
from training.decisions.spec import DecisionData

pytestmark = pytest.mark.unit


def test_holdout_price_is_the_last_price_before_the_origin_and_promotions_stay() -> None:
    days = pd.date_range("2024-03-01", periods=4)
    frame = pd.DataFrame(
        {
            c.UNIQUE_ID: ["a"] * 4 + ["b"] * 4,
            c.DS: list(days) * 2,
            c.Y: [1, 0, 3, 0, 0, 2, 0, 5],
            "price": [9.0, 10.0, 7.5, 10.0, 4.0, 3.0, 4.0, 2.5],  # paid on sale days, list price otherwise
            "promo_any": [0, 0, 1, 0, 0, 0, 0, 1],
        }
    )
    cut = days[1]
    parts = {"train": frame[frame[c.DS] <= cut], "test": frame[frame[c.DS] > cut]}
    ahead = _known_ahead(DecisionData(parts, [], {}, holdout="test"))
    assert c.Y not in ahead
    assert ahead["price"].tolist() == [10.0, 10.0, 3.0, 3.0]  # the holdout's own prices would reveal its sales
    assert ahead["promo_any"].tolist() == [1, 0, 0, 1]  # a promotion is planned ahead
