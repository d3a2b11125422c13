"""Review and reviewer features on a hand-made lake: exact values, point in time per row, no leakage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import build, engine
from features import columns as c
from features.review_text import near_duplicate_counts, text_statistics
from features.reviews import REVIEW_FEATURES, REVIEWER_FEATURES
from tests.worlds import hand_made_lake

pytestmark = pytest.mark.unit

CUTOFF = pd.Timestamp("2024-05-01")
DUP = "这个衣服质量非常好，物流很快，推荐购买！"
OTHER = "尺码偏小，颜色和图片有差别，一般般吧。"


def _world() -> dict[str, pd.DataFrame]:
    """ua: 2-day-old account; ub: verified buyer of s1; ua/ub/uc share device dA; ud has no signup date."""
    users = pd.DataFrame(
        {
            c.USER_ID: ["ua", "ub", "uc", "ud"],
            c.SIGNUP_AT: ["2024-03-01 00:00", "2024-02-01", "2024-02-01", None],
        }
    )
    products = pd.DataFrame({c.SKU_ID: ["s1", "s2", "s3"], c.CATEGORY: ["服装", "数码", "家居"]})
    orders = pd.DataFrame(
        {
            c.ORDER_ID: ["o1", "o2", "o3"],
            c.USER_ID: ["ub", "ub", "uc"],
            c.ORDER_TS: ["2024-03-01 10:00", "2024-03-20 10:00", "2024-03-02 10:00"],
            c.STATUS: ["delivered", "paid", "paid"],
            c.DELIVERED_AT: ["2024-03-03 10:00", None, None],
        }
    )
    items = pd.DataFrame(
        {
            c.ORDER_ITEM_ID: ["i1", "i2", "i3"],
            c.ORDER_ID: ["o1", "o2", "o3"],
            c.SKU_ID: ["s1", "s2", "s3"],
            c.QUANTITY: [1, 1, 1],
            c.UNIT_PRICE: [10.0, 20.0, 30.0],
        }
    )
    reviews = pd.DataFrame(
        {
            c.REVIEW_ID: ["r1", "r2", "r3", "r4", "r5", "r6"],
            c.USER_ID: ["ua", "ub", "ub", "uc", "ub", "ud"],
            c.SKU_ID: ["s1", "s1", "s2", "s1", "s3", "s2"],
            c.REVIEW_TS: [
                "2024-03-03 00:00",
                "2024-03-04 10:00",
                "2024-03-05 09:00",
                "2024-03-05 09:59",
                "2024-04-10 00:00",
                "2024-04-10 00:00",
            ],
            c.RATING: [5, 3, 5, 1, 5, 4],
            c.REVIEW_TEXT: [DUP, DUP, DUP, OTHER, DUP, None],
            c.DEVICE_ID: ["dA", "dA", "dB", "dA", None, "dB"],
        }
    )
    return {"users": users, "products": products, "orders": orders, "order_items": items, "reviews": reviews}


def _later_rows(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The same world plus rows at or after the cutoff, and a delivery that happens after it."""
    t = {name: frame.copy() for name, frame in tables.items()}
    t["users"].loc[len(t["users"])] = ["ue", "2024-05-02"]
    t["orders"].loc[len(t["orders"])] = ["o4", "ua", "2024-05-01 00:00", "paid", None]
    t["orders"].loc[t["orders"][c.ORDER_ID] == "o2", c.DELIVERED_AT] = "2024-05-02"
    t["order_items"].loc[len(t["order_items"])] = ["i4", "o4", "s1", 1, 10.0]
    t["reviews"].loc[len(t["reviews"])] = ["r7", "ua", "s1", "2024-05-01 00:00", 5, DUP, "dB"]
    t["reviews"].loc[len(t["reviews"])] = ["r8", "ue", "s1", "2024-05-03", 5, DUP, "dA"]
    return t


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> engine.LakeTables:
    return hand_made_lake(_world(), tmp_path_factory.mktemp("reviews"))


@pytest.fixture(scope="module")
def reviews(lake: engine.LakeTables) -> pd.DataFrame:
    return build.compute_frame(REVIEW_FEATURES, lake, CUTOFF).set_index(c.REVIEW_ID)


@pytest.fixture(scope="module")
def reviewers(lake: engine.LakeTables) -> pd.DataFrame:
    return build.compute_frame(REVIEWER_FEATURES, lake, CUTOFF).set_index(c.USER_ID)


def test_account_age_at_review_time(reviews: pd.DataFrame) -> None:
    assert reviews.loc["r1", "account_age_days"] == pytest.approx(2.0)
    assert reviews.loc["r2", "account_age_days"] == pytest.approx(32 + 10 / 24)
    assert np.isnan(reviews.loc["r6", "account_age_days"])  # signup unknown


def test_identical_texts_within_30_days_count_earlier_ones(reviews: pd.DataFrame) -> None:
    dup = reviews["near_duplicate_count_30d"]
    assert dup[["r1", "r2", "r3"]].tolist() == [0, 1, 2]
    assert dup["r5"] == 0  # same text again, but the others are more than 30 days older
    assert dup["r4"] == 0 and dup["r6"] == 0


def test_accounts_sharing_a_device(reviews: pd.DataFrame) -> None:
    shared = reviews["device_shared_accounts"]
    assert shared[["r1", "r2", "r4"]].tolist() == [1, 2, 3]  # dA: ua, then ub, then uc
    assert shared[["r3", "r6"]].tolist() == [1, 2]  # dB: ub, then ud
    assert shared["r5"] == 0  # device unknown


def test_verified_purchase_and_delivery(reviews: pd.DataFrame) -> None:
    assert reviews.loc["r2", "verified_purchase"] == 1  # ub bought s1 (o1) before reviewing it
    assert reviews.loc["r2", "days_from_delivery"] == pytest.approx(1.0)
    assert reviews.loc["r3", "verified_purchase"] == 0  # ub ordered s2 only after the review (o2)
    assert reviews.loc["r4", "verified_purchase"] == 0  # uc bought another SKU
    assert reviews["days_from_delivery"].drop("r2").isna().all()
    assert reviews["reviewer_orders_before"].to_dict() == {"r1": 0, "r2": 1, "r3": 1, "r4": 1, "r5": 2, "r6": 0}


def test_reviewer_and_product_history(reviews: pd.DataFrame) -> None:
    r = reviews
    assert r.loc["r3", ["reviewer_reviews_1d", "reviewer_reviews_7d", "reviewer_reviews_30d"]].tolist() == [1, 1, 1]
    assert r.loc["r5", ["reviewer_reviews_30d", "reviewer_reviews_before"]].tolist() == [0, 2]
    assert r.loc["r3", "reviewer_five_star_share"] == 0.0  # r2 had 3 stars
    assert r.loc["r5", "reviewer_five_star_share"] == 0.5
    assert np.isnan(r.loc["r1", "reviewer_five_star_share"])
    assert r["product_reviews_24h"][["r1", "r2", "r4"]].tolist() == [0, 0, 1]  # r2 -> r4: 23h59m
    assert r.loc["r2", "rating_deviation"] == -2.0  # 3 vs r1's 5
    assert r.loc["r4", "rating_deviation"] == -3.0  # 1 vs mean(5, 3)
    assert np.isnan(r.loc["r3", "rating_deviation"])  # first review of s2
    assert r.loc["r4", [c.SKU_ID, c.REVIEWER_ID, c.RATING]].tolist() == ["s1", "uc", 1]


def test_text_statistics_in_the_frame(reviews: pd.DataFrame) -> None:
    assert reviews.loc["r1", "text_length"] == len(DUP)
    assert reviews.loc["r1", "exclaim_share"] == pytest.approx(1 / len(DUP))
    assert reviews.loc["r6", "text_length"] == 0 and np.isnan(reviews.loc["r6", "punct_share"])


def test_text_statistics_exact() -> None:
    stats = text_statistics(pd.Series(["好好好!!！", "abc 12", "", None, "Ｈｉ１"]))
    assert stats["text_length"].tolist() == [6, 6, 0, 0, 3]
    assert stats["max_char_run"].tolist() == [3, 1, 0, 0, 1]
    assert stats.loc[0, ["punct_share", "exclaim_share"]].tolist() == [0.5, 0.5]
    assert stats.loc[1, ["latin_share", "digit_share", "punct_share"]].tolist() == [0.5, 2 / 6, 0.0]
    assert stats.loc[4, ["latin_share", "digit_share"]].tolist() == [2 / 3, 1 / 3]  # full-width counts
    assert stats.loc[2:3, "punct_share"].isna().all()


def test_near_duplicates_are_near_not_just_identical() -> None:
    texts = pd.Series(
        [
            "宝贝收到了，质量非常好，和描述的一模一样，物流也很快，五星好评！",
            "宝贝收到了，质量特别好，和描述的一模一样，物流也很快，五星好评！！👍",  # a templated edit: Jaccard 0.72
            "用了几天，收到的跟下单的不是一个东西，不算好也不算差。",  # unrelated
            "此用户没有填写评价。",  # platform default text: never a duplicate
            "此用户没有填写评价。",
            "好评",  # too short to judge
            "好评",
        ]
    )
    seconds = np.arange(len(texts)) * 3600
    assert near_duplicate_counts(texts, seconds, 30 * 86400).tolist() == [0, 1, 0, 0, 0, 0, 0]


def test_reviewer_snapshot(reviewers: pd.DataFrame) -> None:
    assert list(reviewers.index) == ["ua", "ub", "uc", "ud"]
    ub = reviewers.loc["ub"]
    assert ub[["reviews_total", "reviews_1d", "reviews_7d", "reviews_30d"]].tolist() == [3, 0, 0, 1]
    assert ub["five_star_share"] == pytest.approx(2 / 3)
    assert ub["verified_share"] == pytest.approx(1 / 3)
    assert ub["mean_near_duplicate_count"] == pytest.approx(1.0)  # (1 + 2 + 0) / 3
    assert ub[["distinct_devices", "max_device_accounts", "orders_total"]].tolist() == [2, 3, 2]
    assert reviewers.loc["ua", "account_age_days"] == pytest.approx(61.0)
    assert reviewers.loc["ud", ["max_device_accounts", "orders_total"]].tolist() == [2, 0]
    assert np.isnan(reviewers.loc["ud", "account_age_days"])


def test_a_review_never_changes_once_it_exists(lake: engine.LakeTables, reviews: pd.DataFrame) -> None:
    earlier = build.compute_frame(REVIEW_FEATURES, lake, pd.Timestamp("2024-04-01")).set_index(c.REVIEW_ID)
    assert list(earlier.index) == ["r1", "r2", "r3", "r4"]
    pd.testing.assert_frame_equal(earlier.drop(columns=c.AS_OF), reviews.loc[earlier.index].drop(columns=c.AS_OF))


@pytest.mark.parametrize("feature_set", [REVIEW_FEATURES, REVIEWER_FEATURES], ids=lambda s: s.name)
def test_rows_at_or_after_the_cutoff_change_nothing(feature_set, lake: engine.LakeTables, tmp_path: Path) -> None:
    later = hand_made_lake(_later_rows(_world()), tmp_path)
    expected = build.compute_frame(feature_set, lake, CUTOFF)
    pd.testing.assert_frame_equal(build.compute_frame(feature_set, later, CUTOFF), expected)


def test_without_orders_the_purchase_features_are_absent(tmp_path: Path) -> None:
    tables = {name: frame for name, frame in _world().items() if name not in ("orders", "order_items")}
    lake = hand_made_lake(tables, tmp_path)
    frame = build.compute_frame(REVIEW_FEATURES, lake, CUTOFF)
    assert "verified_purchase" not in frame and "reviewer_orders_before" not in frame
    assert frame["near_duplicate_count_30d"].tolist() == [0, 1, 2, 0, 0, 0]
    assert "orders_total" not in build.compute_frame(REVIEWER_FEATURES, lake, CUTOFF)
