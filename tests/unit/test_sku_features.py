"""SKU features on a tiny hand-made lake: exact daily values, snapshot values, no leakage, festival calendar."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from features import calendar as cal
from features import columns as c
from features.build import compute_frame
from features.engine import connect
from features.settings import Settings, get_settings
from features.skus import SKU_DAILY_FEATURES, SKU_FEATURES, compute_daily
from tests.worlds import hand_made_lake

pytestmark = pytest.mark.unit

AS_OF = pd.Timestamp("2024-03-10")
OPTIONAL = ("inventory", "purchase_orders", "promotions")


def _frame(columns: list[str], rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def _world() -> dict[str, pd.DataFrame]:
    """s1 launched 03-01 with stock and POs; s2 first sold 03-05 with no stock records; s3 launches after."""
    return {
        "users": _frame([c.USER_ID, c.SIGNUP_AT], [("u1", "2024-01-05")]),
        "products": _frame(
            [c.SKU_ID, c.CATEGORY, c.LIST_PRICE, c.LAUNCHED_AT],
            [("s1", "x", 10.0, "2024-03-01"), ("s2", "x", 20.0, None), ("s3", "x", 5.0, "2024-03-20")],
        ),
        "orders": _frame(
            [c.ORDER_ID, c.USER_ID, c.ORDER_TS, c.STATUS],
            [
                ("o1", "u1", "2024-03-03 10:00", "delivered"),
                ("o2", "u1", "2024-03-05 23:30", "paid"),
                ("o3", None, "2024-03-04 12:00", "cancelled"),
                ("o4", "u1", "2024-03-08 09:00", "returned"),
                ("o5", None, "2024-03-05 14:00", "paid"),
            ],
        ),
        "order_items": _frame(
            [c.ORDER_ITEM_ID, c.ORDER_ID, c.SKU_ID, c.QUANTITY, c.UNIT_PRICE],
            [
                ("i1", "o1", "s1", 2, 9.0),
                ("i5", "o1", "s1", 1, 12.0),
                ("i2", "o2", "s2", 1, 20.0),
                ("i3", "o3", "s1", 5, 9.0),
                ("i4", "o4", "s1", 1, 8.0),
                ("i6", "o5", "s1", 2, 10.0),
            ],
        ),
        "inventory": _frame(
            [c.SKU_ID, c.DATE, c.ON_HAND],
            [("s1", f"2024-03-0{d}", n) for d, n in zip(range(1, 10), (5, 5, 2, 2, 0, 0, 0, 9, 9), strict=True)],
        ),
        "purchase_orders": _frame(
            [c.PO_ID, c.SKU_ID, c.ORDERED_AT, c.RECEIVED_AT, c.QUANTITY],
            [
                ("po0", "s1", "2024-02-01", "2024-02-04", 10),
                ("po1", "s1", "2024-03-01", "2024-03-08", 10),
                ("po2", "s1", "2024-03-06", None, 20),
                ("po3", "s1", "2024-03-07", "2024-03-12", 5),  # received after the cutoff: in transit
            ],
        ),
        "promotions": _frame(
            [c.PROMOTION_ID, c.PROMOTION_NAME, c.PROMO_TYPE, c.SKU_ID, c.START_AT, c.END_AT, c.DISCOUNT_RATE],
            [
                ("p1", "fest", "festival", None, "2024-03-08", "2024-03-08 23:59:59", 0.1),
                ("p2", "coupon", "coupon", "s1", "2024-03-07", "2024-03-08 23:59:59", 0.2),
                ("p3", "display", "display", "s2", "2024-03-09", "2024-03-20 23:59:59", None),
            ],
        ),
    }


def _future_rows(world: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The same world plus rows at or after the cutoff in every table the SKU features read."""
    extra = {
        "products": [("s9", "x", 1.0, "2024-03-10")],
        "orders": [("o8", "u1", "2024-03-10 00:00", "paid"), ("o9", None, "2024-03-11 08:00", "paid")],
        "order_items": [("i8", "o8", "s1", 7, 1.0), ("i9", "o9", "s2", 4, 1.0), ("i10", "o8", "s9", 1, 1.0)],
        "inventory": [("s1", "2024-03-10", 0), ("s2", "2024-03-11", 3), ("s3", "2024-03-10", 1)],
        "purchase_orders": [("po8", "s1", "2024-03-10", "2024-03-11", 50), ("po9", "s2", "2024-03-12", None, 9)],
        "promotions": [
            ("p8", "f", "festival", None, "2024-03-10", "2024-03-12", 0.5),
            ("p9", "m", "mailer", "s1", "2024-03-11", "2024-03-11 12:00", 0.3),
        ],
    }
    out = dict(world)
    for name, rows in extra.items():
        out[name] = pd.concat([world[name], _frame(list(world[name].columns), rows)], ignore_index=True)
    return out


@pytest.fixture(scope="module")
def con():
    return connect(engine="duckdb")


@pytest.fixture(scope="module")
def frames(con, tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    lake = hand_made_lake(_world(), tmp_path_factory.mktemp("sku"), con)
    return compute_frame(SKU_DAILY_FEATURES, lake, AS_OF), compute_frame(SKU_FEATURES, lake, AS_OF)


def _series(daily: pd.DataFrame, sku: str, column: str) -> list:
    return daily.loc[daily[c.UNIQUE_ID] == sku, column].tolist()


def test_daily_grid_is_dense_from_first_day_on_sale(frames) -> None:
    daily, _ = frames
    assert sorted(daily[c.UNIQUE_ID].unique()) == ["s1", "s2"]  # s3 launches after the cutoff
    days = pd.date_range("2024-03-01", "2024-03-09")
    assert _series(daily, "s1", c.DS) == list(days)
    assert _series(daily, "s2", c.DS) == list(days[4:])  # first sale 03-05 late evening
    assert _series(daily, "s1", c.Y) == [0, 0, 3, 0, 2, 0, 0, 1, 0]  # cancelled o3 is not a sale
    assert _series(daily, "s2", c.Y) == [1, 0, 0, 0, 0]


def test_daily_price_stock_and_promotions(frames) -> None:
    daily, _ = frames
    assert _series(daily, "s1", "price")[2:4] == [10.0, 10.0]  # (2 x 9 + 1 x 12) / 3, then the list price
    assert _series(daily, "s1", "in_stock") == [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    assert _series(daily, "s1", c.ON_HAND)[-2:] == [9.0, 9.0]
    s2_stock = _series(daily, "s2", "in_stock")
    assert s2_stock[0] == 1.0 and all(math.isnan(v) for v in s2_stock[1:])  # a sale is evidence; else unknown
    s1 = daily[daily[c.UNIQUE_ID] == "s1"].set_index(c.DS)
    on_0308 = s1.loc["2024-03-08"]
    assert on_0308[[c.DISCOUNT_RATE, "promo_any", "promo_festival", "promo_coupon"]].tolist() == [0.2, 1, 1, 1]
    assert s1.loc["2024-03-06", "promo_any"] == 0 and s1.loc["2024-03-07", "promo_coupon"] == 1
    s2 = daily[daily[c.UNIQUE_ID] == "s2"].set_index(c.DS)
    assert s2.loc["2024-03-08", [c.DISCOUNT_RATE, "promo_festival", "promo_coupon"]].tolist() == [0.1, 1, 0]
    assert s2.loc["2024-03-09", [c.DISCOUNT_RATE, "promo_display", "promo_any"]].tolist() == [0.0, 1, 1]


def test_snapshot_values(frames) -> None:
    _, snap = frames
    s1 = snap.set_index(c.SKU_ID).loc["s1"]
    assert s1[["units_7d", "units_28d", "units_91d"]].tolist() == [6, 6, 6]
    assert s1["zero_sale_share_91d"] == pytest.approx(6 / 9)
    assert s1["mean_units_91d"] == pytest.approx(6 / 9)
    assert s1[[c.LIST_PRICE, "days_since_launch", c.ON_HAND, "stockout_days_28d"]].tolist() == [10.0, 9.0, 9.0, 2]
    assert s1["lead_time_count"] == 2  # po0 (3 days) and po1 (7 days); po3 arrives after the cutoff
    assert s1["lead_time_mean_days"] == pytest.approx(5.0)
    assert s1["lead_time_std_days"] == pytest.approx(math.sqrt(8.0))
    assert s1["lead_time_p90_days"] == pytest.approx(6.6)
    assert s1["units_in_transit"] == 25  # po2 (never received) + po3 (received after the cutoff)
    s2 = snap.set_index(c.SKU_ID).loc["s2"]
    assert s2[["units_7d", "days_since_launch", "lead_time_count", "units_in_transit"]].tolist() == [1, 5.0, 0, 0]
    assert math.isnan(s2[c.ON_HAND]) and math.isnan(s2["lead_time_mean_days"])


def test_rows_at_or_after_the_cutoff_change_nothing(con, frames, tmp_path: Path) -> None:
    lake = hand_made_lake(_future_rows(_world()), tmp_path / "future", con)
    daily, snap = frames
    pd.testing.assert_frame_equal(compute_frame(SKU_DAILY_FEATURES, lake, AS_OF), daily)
    pd.testing.assert_frame_equal(compute_frame(SKU_FEATURES, lake, AS_OF), snap)


def test_dataset_without_stock_promotions_or_pos_has_no_such_features(con, tmp_path: Path) -> None:
    world = {name: frame for name, frame in _world().items() if name not in OPTIONAL}
    lake = hand_made_lake(world, tmp_path / "bare", con)
    daily = compute_frame(SKU_DAILY_FEATURES, lake, AS_OF)
    snap = compute_frame(SKU_FEATURES, lake, AS_OF)
    dropped = {f.name for fs in (SKU_DAILY_FEATURES, SKU_FEATURES) for f in fs.features if f.needs}
    assert {"in_stock", c.ON_HAND, "promo_any", "lead_time_count", "units_in_transit"} <= dropped
    assert not dropped & (set(daily.columns) | set(snap.columns))
    assert _series(daily, "s1", c.Y) == [0, 0, 3, 0, 2, 0, 0, 1, 0]
    assert snap.set_index(c.SKU_ID).loc["s1", "units_7d"] == 6


def test_festival_calendar_on_known_dates() -> None:
    frame = cal.calendar_frame(pd.Timestamp("2024-06-01"), pd.Timestamp("2025-07-01")).set_index(c.DS)
    assert frame.loc["2024-11-11", cal.IS_DOUBLE11] == 1 and frame[cal.IS_DOUBLE11].sum() == 1
    assert frame.loc["2024-06-18", cal.IS_618] == 1 and frame.loc["2025-06-18", cal.IS_618] == 1
    assert frame.loc["2024-12-12", cal.IS_DOUBLE12] == 1
    holiday = frame.index[frame[cal.IS_SPRING_FESTIVAL] == 1]
    assert list(holiday) == list(pd.date_range("2025-01-28", "2025-02-03"))  # 除夕 to 初六 around 2025-01-29
    assert frame.loc["2024-11-10", cal.DAYS_TO_NEXT_FESTIVAL] == 1
    assert frame.loc["2024-11-11", cal.DAYS_TO_NEXT_FESTIVAL] == 0
    assert frame.loc["2024-12-13", cal.DAYS_TO_NEXT_FESTIVAL] == 47  # to 2025-01-29
    assert frame.loc["2024-11-09", [cal.DAY_OF_WEEK, cal.IS_WEEKEND]].tolist() == [5, 1]  # a Saturday
    assert cal.spring_festival(1997) == pd.Timestamp("1997-02-07") and cal.spring_festival(2031) is not None
    assert cal.spring_festival(cal.FIRST_YEAR - 1) is None


def test_a_shop_from_the_1990s_gets_the_same_daily_series(con, frames, tmp_path: Path) -> None:
    """The daily grid and its calendar must not start at some recent year: a 1997 history is a history too."""
    years = pd.DateOffset(years=27)
    world = {}
    for name, frame in _world().items():
        moved = frame.copy()
        for column in moved.columns:
            if column.endswith(("_at", "_ts")) or column == c.DATE:
                moved[column] = pd.to_datetime(moved[column]) - years
        world[name] = moved
    lake = hand_made_lake(world, tmp_path / "shop97", con, opened=pd.Timestamp("1996-01-01"))
    daily = compute_frame(SKU_DAILY_FEATURES, lake, AS_OF - years)
    assert _series(daily, "s1", c.Y) == _series(frames[0], "s1", c.Y) and len(daily) == len(frames[0])
    march = cal.calendar_frame(pd.Timestamp("1997-01-01"), pd.Timestamp("1997-03-01")).set_index(c.DS)
    assert march.loc["1997-02-07", cal.IS_SPRING_FESTIVAL] == 1  # 春节 1997 from the lunisolar calendar


def test_daily_calendar_columns_come_from_the_calendar(frames) -> None:
    daily, _ = frames
    expected = cal.calendar_frame(pd.Timestamp("2024-03-01"), AS_OF).drop(columns=cal.DAY)
    got = daily[daily[c.UNIQUE_ID] == "s1"][[c.DS, *cal.CALENDAR_FEATURES]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def _ids(lake, max_skus: int, ranked_at: pd.Timestamp | None = None) -> list[str]:
    daily = lake.con.to_pandas(compute_daily(lake, AS_OF, max_skus=max_skus, ranked_at=ranked_at))
    return sorted(daily[c.UNIQUE_ID].unique())


def test_daily_panel_keeps_the_skus_with_the_most_recent_revenue(con, tmp_path: Path, monkeypatch) -> None:
    """demand_max_skus: revenue in the 91 days before the cutoff ranks the SKUs; none there ranks last, ties by id."""
    world = _world()
    # s0 sold 5,000.0 but 96 days before the cutoff (outside the window); s4 is on sale since 03-02, never sold
    extra = {
        "products": [("s0", "x", 50.0, "2023-06-01"), ("s4", "x", 1.0, "2024-03-02")],
        "orders": [("o0", None, "2023-12-05 10:00", "paid")],
        "order_items": [("i0", "o0", "s0", 100, 50.0)],
    }
    for name, rows in extra.items():
        world[name] = pd.concat([world[name], _frame(list(world[name].columns), rows)], ignore_index=True)
    lake = hand_made_lake(world, tmp_path / "ranked", con, opened=pd.Timestamp("2023-01-01"))
    assert _ids(lake, 1) == ["s1"]  # 58.0 in the window (the returned o4 was a sale) against s2's 20.0
    assert _ids(lake, 2) == ["s1", "s2"]
    assert _ids(lake, 3) == ["s0", "s1", "s2"]  # s0 and s4 tie at 0.0 in the window: by id
    assert _ids(lake, 0) == _ids(lake, 4) == ["s0", "s1", "s2", "s4"]  # a catalogue that fits keeps every SKU
    assert _ids(lake, 1, ranked_at=pd.Timestamp("2024-03-04")) == ["s0"]  # its window reaches back to 12-04
    kept = lake.con.to_pandas(compute_daily(lake, AS_OF, max_skus=2))
    everything = lake.con.to_pandas(compute_daily(lake, AS_OF, max_skus=0))
    pd.testing.assert_frame_equal(  # the kept SKUs' series are the same as without the rule
        kept.sort_values([c.UNIQUE_ID, c.DS], ignore_index=True),
        everything[everything[c.UNIQUE_ID].isin(["s1", "s2"])].sort_values([c.UNIQUE_ID, c.DS], ignore_index=True),
    )
    monkeypatch.setenv("SHOPSENSE_DEMAND_MAX_SKUS", "1")
    get_settings.cache_clear()
    try:
        assert compute_frame(SKU_DAILY_FEATURES, lake, AS_OF)[c.UNIQUE_ID].unique().tolist() == ["s1"]
    finally:
        monkeypatch.delenv("SHOPSENSE_DEMAND_MAX_SKUS")
        get_settings.cache_clear()
    assert len(compute_frame(SKU_FEATURES, lake, AS_OF)) == 4  # the snapshot still covers every SKU on sale


def test_default_panel_size_keeps_every_sku_of_the_default_synthetic_world() -> None:
    from features.sources.synthetic import SynthConfig

    assert Settings().demand_max_skus >= SynthConfig.preset("default").products
