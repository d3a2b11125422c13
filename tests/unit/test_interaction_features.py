"""Interaction features on a hand-made lake: decay by half-life, weights, counts, optional events, no leakage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features import build, engine
from features import columns as c
from features.interactions import (
    DEFAULT_HALF_LIFE_DAYS,
    INTERACTION_FEATURES,
    InteractionWeights,
    compute_with,
)
from tests.worlds import hand_made_lake

pytestmark = pytest.mark.unit

CUTOFF = pd.Timestamp("2024-05-01")
HALF_LIFE_AGO = CUTOFF - pd.Timedelta(days=DEFAULT_HALF_LIFE_DAYS)


def _world(with_events: bool = True) -> dict[str, pd.DataFrame]:
    """u1 bought s1 exactly one half-life before the cutoff; u1 and u2 browsed; a guest bought s2."""
    tables = {
        "users": pd.DataFrame({c.USER_ID: ["u1", "u2"], c.SIGNUP_AT: ["2024-01-05", "2024-02-01"]}),
        "products": pd.DataFrame({c.SKU_ID: ["s1", "s2"], c.CATEGORY: ["服装", "数码"]}),
        "orders": pd.DataFrame(
            {
                c.ORDER_ID: ["o1", "o2"],
                c.USER_ID: ["u1", None],
                c.ORDER_TS: [HALF_LIFE_AGO, pd.Timestamp("2024-04-30")],
                c.STATUS: ["delivered", "paid"],
            }
        ),
        "order_items": pd.DataFrame(
            {
                c.ORDER_ITEM_ID: ["i1", "i2"],
                c.ORDER_ID: ["o1", "o2"],
                c.SKU_ID: ["s1", "s2"],
                c.QUANTITY: [2, 1],
                c.UNIT_PRICE: [10.0, 20.0],
            }
        ),
    }
    if with_events:
        tables["events"] = pd.DataFrame(
            {
                c.EVENT_ID: ["e1", "e2", "e3", "e4"],
                c.USER_ID: ["u1", "u2", "u2", "u2"],
                c.SKU_ID: ["s1", "s2", "s2", "s2"],
                c.EVENT_TS: ["2024-04-30", "2024-04-30", "2024-04-30 12:00", "2024-04-01"],
                c.EVENT_TYPE: ["view", "cart", "favourite", "view"],
            }
        )
    return tables


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> engine.LakeTables:
    return hand_made_lake(_world(), tmp_path_factory.mktemp("interactions"))


@pytest.fixture(scope="module")
def frame(lake: engine.LakeTables) -> pd.DataFrame:
    return build.compute_frame(INTERACTION_FEATURES, lake, CUTOFF).set_index([c.USER_ID, c.SKU_ID])


def test_a_purchase_one_half_life_ago_weighs_half(tmp_path: Path) -> None:
    lake = hand_made_lake(_world(with_events=False), tmp_path)
    frame = build.compute_frame(INTERACTION_FEATURES, lake, CUTOFF)
    assert frame[[c.USER_ID, c.SKU_ID]].values.tolist() == [["u1", "s1"]]  # the guest order has no user
    assert frame.loc[0, "weight"] == pytest.approx(5.0 * 0.5)
    assert frame.loc[0, "purchases"] == 1
    assert frame.loc[0, "days_since_last"] == pytest.approx(DEFAULT_HALF_LIFE_DAYS)
    assert "views" not in frame and "carts" not in frame  # no events table: those features are absent


def test_events_add_decayed_weights_and_counts(frame: pd.DataFrame) -> None:
    u1 = frame.loc[("u1", "s1")]
    assert u1["weight"] == pytest.approx(5.0 * 0.5 + 1.0 * 0.5 ** (1 / 30))
    assert u1[["purchases", "views", "carts", "favourites"]].tolist() == [1, 1, 0, 0]
    assert u1["days_since_last"] == pytest.approx(1.0)
    u2 = frame.loc[("u2", "s2")]
    expected = 3.0 * 0.5 ** (1 / 30) + 2.0 * 0.5 ** (0.5 / 30) + 1.0 * 0.5 ** (30 / 30)
    assert u2["weight"] == pytest.approx(expected)
    assert u2[["purchases", "views", "carts", "favourites"]].tolist() == [0, 1, 1, 1]
    assert u2["days_since_last"] == pytest.approx(0.5)


def test_weights_and_half_life_are_configurable(lake: engine.LakeTables) -> None:
    weights = InteractionWeights(purchase=1.0, cart=0.0, favourite=0.0, view=0.0)
    result = lake.con.to_pandas(compute_with(lake, CUTOFF, weights, half_life_days=15.0))
    result = result.set_index([c.USER_ID, c.SKU_ID])
    assert result.loc[("u1", "s1"), "weight"] == pytest.approx(0.25)  # two half-lives of 15 days
    assert result.loc[("u2", "s2"), "weight"] == 0.0


def test_invalid_configuration_is_refused(lake: engine.LakeTables) -> None:
    with pytest.raises(ValueError, match="half_life_days"):
        compute_with(lake, CUTOFF, InteractionWeights(), half_life_days=0.0)
    with pytest.raises(ValueError, match=">= 0"):
        InteractionWeights(view=-1.0)


def test_rows_at_or_after_the_cutoff_change_nothing(lake: engine.LakeTables, tmp_path: Path) -> None:
    tables = _world()
    tables["orders"].loc[len(tables["orders"])] = ["o3", "u2", CUTOFF, "paid"]
    tables["order_items"].loc[len(tables["order_items"])] = ["i3", "o3", "s1", 1, 10.0]
    tables["events"].loc[len(tables["events"])] = ["e5", "u1", "s2", CUTOFF, "cart"]
    tables["events"].loc[len(tables["events"])] = ["e6", "u1", "s1", "2024-06-01", "view"]
    later = hand_made_lake(tables, tmp_path)
    expected = build.compute_frame(INTERACTION_FEATURES, lake, CUTOFF)
    pd.testing.assert_frame_equal(build.compute_frame(INTERACTION_FEATURES, later, CUTOFF), expected)
