"""Review authenticity on the tiny world: behaviour (direction, invariance, minimum functionality), leakage, parity
between batch features and the submission-time context, thresholds, campaigns and the text-only path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import columns as c
from features.reviews import REVIEW_FEATURES
from features.settings import DatasetPaths
from models import review_online, review_text_model
from models.review_campaigns import group_campaigns
from models.review_decision import ReviewDecision
from models.review_online import ReviewContext
from models.review_text_model import C_GRID, ReviewTextModel, script_tokens
from models.review_thresholds import choose_thresholds
from models.reviews import ReviewAuthenticityModel
from training.review_dataset import LABEL, ReviewData, load_review_data

pytestmark = pytest.mark.model

SCRIPT = "这款面霜真的太好用了，保湿效果一流，包装高档，强烈推荐给所有姐妹们！"


@pytest.fixture(scope="module")
def data(tiny_world: DatasetPaths) -> ReviewData:
    return load_review_data(tiny_world)


@pytest.fixture(scope="module")
def model(data: ReviewData) -> ReviewAuthenticityModel:
    train, _, _ = data.time_split()
    return ReviewAuthenticityModel(n_estimators=150, random_state=3).fit(train, train[LABEL])


@pytest.fixture(scope="module")
def context(tiny_world: DatasetPaths) -> ReviewContext:
    lake = {n: pd.read_parquet(tiny_world.lake / f"{n}.parquet") for n in ("reviews", "users", "orders", "order_items")}
    return ReviewContext.from_frames(lake["reviews"], lake["users"], lake["orders"], lake["order_items"])


def _genuine_buyers(tiny_world: DatasetPaths, n: int) -> pd.DataFrame:
    """(user, sku, order, time) of ``n`` delivered purchases by distinct genuine users, late in the window."""
    truth = pd.read_parquet(tiny_world.truth / "users.parquet")
    orders = pd.read_parquet(tiny_world.lake / "orders.parquet")
    items = pd.read_parquet(tiny_world.lake / "order_items.parquet")
    bought = items.merge(orders[orders[c.DELIVERED_AT].notna()], on=c.ORDER_ID)
    bought = bought[bought[c.USER_ID].isin(truth.loc[~truth["is_fake"], c.USER_ID])]
    bought = bought.sort_values(c.DELIVERED_AT).drop_duplicates(c.USER_ID, keep="last").tail(n)
    return bought[[c.USER_ID, c.SKU_ID, c.ORDER_ID, c.DELIVERED_AT]].reset_index(drop=True)


def _raw(buyers: pd.DataFrame, texts: list[str], device: list[str], t0: pd.Timestamp, step: str) -> pd.DataFrame:
    n = len(buyers)
    return pd.DataFrame(
        {
            c.REVIEW_ID: [f"NEW{i}" for i in range(n)], c.USER_ID: buyers[c.USER_ID], c.SKU_ID: buyers[c.SKU_ID].iloc[0],
            c.REVIEW_TS: [t0 + i * pd.Timedelta(step) for i in range(n)], c.RATING: 5, c.REVIEW_TEXT: texts,
            c.DEVICE_ID: device,
        }
    )  # fmt: skip


def _score_in_turn(ctx: ReviewContext, model: ReviewAuthenticityModel, raw: pd.DataFrame) -> list[dict]:
    """Score reviews one by one as they arrive, each seeing the ones before it (then forget them again)."""
    out = []
    for i in range(len(raw)):
        out += model.decide(ctx.features(raw.iloc[[i]]))
        ctx.add(raw.iloc[[i]])
    return out


def test_same_text_from_ten_accounts_on_one_device_within_an_hour_scores_higher(tiny_world, model, context) -> None:
    buyers = _genuine_buyers(tiny_world, 10)
    t0 = buyers[c.DELIVERED_AT].max() + pd.Timedelta(days=2)
    alone = model.decide(context.features(_raw(buyers.head(1), [SCRIPT], ["DEV-ALONE"], t0, "5min")))[0]
    ring = ReviewContext.from_frames(*(pd.read_parquet(tiny_world.lake / f"{n}.parquet")
                                       for n in ("reviews", "users", "orders", "order_items")))  # fmt: skip
    burst = _score_in_turn(ring, model, _raw(buyers, [SCRIPT] * 10, ["DEV-RING"] * 10, t0, "5min"))
    assert burst[-1]["probability"] > alone["probability"]
    # one verified buyer with a marketing-sounding text may be held for a moderator, never hidden
    assert burst[-1]["label"] != "genuine" and alone["label"] != "fake"
    facts = {e["feature"] for e in burst[-1]["evidence"]}
    assert facts & {"device_shared_accounts", "near_duplicate_count_30d"}
    device = next(e for e in burst[-1]["evidence"] + [{"feature": "device_shared_accounts", "en": ""}]
                  if e["feature"] == "device_shared_accounts")  # fmt: skip
    assert device["en"] in ("", "device shared by 10 accounts")


def test_swapping_review_ids_changes_nothing(data: ReviewData, model: ReviewAuthenticityModel) -> None:
    _, test, _ = data.time_split()
    batch = test.head(200).reset_index(drop=True)
    shuffled = batch.assign(**{c.REVIEW_ID: batch[c.REVIEW_ID].sample(frac=1.0, random_state=1).to_numpy()})
    a, b = model.decide(batch), model.decide(shuffled)
    strip = [{k: v for k, v in r.items() if k not in (c.REVIEW_ID, "campaign_id")} for r in a]
    assert strip == [{k: v for k, v in r.items() if k not in (c.REVIEW_ID, "campaign_id")} for r in b]


def test_english_and_chinese_reviews_both_score(tiny_world, model, context) -> None:
    buyers = _genuine_buyers(tiny_world, 2)
    t0 = buyers[c.DELIVERED_AT].max() + pd.Timedelta(days=1)
    raw = _raw(buyers, ["Great jacket, warm and well made. Delivery was quick.", "衣服很暖和，做工不错，物流也快。"],
               ["D-EN", "D-ZH"], t0, "1h")  # fmt: skip
    records = model.decide(context.features(raw))
    assert len(records) == 2 and all(0.0 <= r["probability"] <= 1.0 for r in records)
    assert script_tokens("Great hotel 很好!") == ["great", "hotel", "很", "好"]


def test_a_verified_purchase_with_unique_text_is_not_marked_fake(tiny_world, model, context) -> None:
    buyers = _genuine_buyers(tiny_world, 1)
    t0 = buyers[c.DELIVERED_AT].iloc[0] + pd.Timedelta(days=1)
    features = context.features(
        _raw(buyers, ["尺码合适，颜色比图片稍深一点，面料摸起来挺厚实的。"], ["D-OWN"], t0, "1h")
    )
    assert features["verified_purchase"].iloc[0] == 1
    assert model.decide(features)[0]["label"] != "fake"


def test_submission_time_features_equal_the_batch_features(
    data: ReviewData, context: ReviewContext, tiny_world: DatasetPaths
) -> None:
    """Serving/training parity: a stored review's context features (as of its own time) equal the batch ones."""
    sample = data.frame.sample(150, random_state=0).reset_index(drop=True)
    raw = pd.read_parquet(tiny_world.lake / "reviews.parquet").set_index(c.REVIEW_ID)
    online = context.features(raw.loc[sample[c.REVIEW_ID]].reset_index())
    for feat in REVIEW_FEATURES.features:
        if feat.dtype != "string":
            np.testing.assert_allclose(online[feat.name].astype(float), sample[feat.name].astype(float),
                                       atol=1e-6, err_msg=feat.name)  # fmt: skip


def test_a_review_reads_nothing_posted_after_it(data: ReviewData, tiny_world: DatasetPaths) -> None:
    """Leakage: later reviews (same user, product, device, text) leave an earlier review's features unchanged."""
    lake = {n: pd.read_parquet(tiny_world.lake / f"{n}.parquet") for n in ("reviews", "users", "orders", "order_items")}
    target = lake["reviews"].sort_values(c.REVIEW_TS).iloc[[len(lake["reviews"]) // 2]]
    t = target[c.REVIEW_TS].iloc[0]
    before = lake["reviews"][lake["reviews"][c.REVIEW_TS] <= t]
    later = pd.concat([target.assign(**{c.REVIEW_ID: f"L{i}", c.REVIEW_TS: t + pd.Timedelta(hours=i + 1)})
                       for i in range(5)])  # fmt: skip
    small = ReviewContext.from_frames(before, lake["users"], lake["orders"], lake["order_items"])
    grown = ReviewContext.from_frames(pd.concat([before, later]), lake["users"], lake["orders"], lake["order_items"])
    pd.testing.assert_frame_equal(small.features(target), grown.features(target))
    batch = data.frame.set_index(c.REVIEW_ID).loc[target[c.REVIEW_ID]]
    assert small.features(target)["near_duplicate_count_30d"].iloc[0] == batch["near_duplicate_count_30d"].iloc[0]


def test_fake_threshold_reaches_the_stated_precision_on_validation() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(2000) < 0.1
    p = np.clip(np.where(y, rng.normal(0.8, 0.15, 2000), rng.normal(0.2, 0.15, 2000)), 0, 1)
    th = choose_thresholds(y, p, target_precision=0.95)
    assert y[p >= th.fake].mean() >= 0.95 and th.suspicious <= th.fake
    band = (p >= th.suspicious) & (p < th.fake)
    assert not band.any() or y[band].mean() >= 0.5
    assert th.fake == float("inf") or choose_thresholds(y, p, target_precision=0.99).fake >= th.fake


def test_campaigns_split_bursts_by_product_and_time() -> None:
    t0 = pd.Timestamp("2025-03-01")
    frame = pd.DataFrame(
        {
            c.REVIEW_ID: [f"r{i}" for i in range(9)],
            c.USER_ID: [f"u{i}" for i in range(9)],
            c.SKU_ID: ["A"] * 4 + ["B"] * 3 + ["A"] * 2,
            c.REVIEW_TS: [t0 + pd.Timedelta(hours=h) for h in (0, 1, 2, 3, 0, 1, 2, 200, 201)],
            c.DEVICE_ID: ["d1"] * 9,
            c.REVIEW_TEXT: [SCRIPT] * 9,
        }
    )
    out = group_campaigns(frame)
    assert out[c.REVIEW_ID].tolist() == frame[c.REVIEW_ID].tolist()
    assert out["campaign_id"].tolist()[:7] == ["CMP-r0"] * 4 + ["CMP-r4"] * 3
    assert out["campaign_size"].tolist() == [4] * 4 + [3] * 3 + [0, 0]  # two reviews a week later: below min_size


def test_a_dataset_without_behaviour_is_scored_by_text_alone() -> None:
    rng = np.random.default_rng(1)
    fake = ["超级好用，强烈推荐，五星好评！", "质量超级好，完全是正品，下次还来！"]
    real = ["尺码偏大一号，换了小码刚好。", "物流慢了两天，东西还行。", "颜色比图片暗一些，面料一般。"]
    y = rng.random(300) < 0.4
    texts = [fake[i % 2] if f else real[i % 3] for i, f in enumerate(y)]
    frame = pd.DataFrame({c.REVIEW_ID: [f"r{i}" for i in range(300)], c.REVIEW_TEXT: texts, c.RATING: 5})
    fitted = ReviewAuthenticityModel().fit(frame, y.astype(int))
    assert fitted.text_only_ and fitted.split_.startswith("stratified")
    records = fitted.decide(frame.head(4))
    assert all(r["text_only"] for r in records)
    assert [r["label"] == "fake" for r in records] == list(y[:4])


def test_the_text_model_chooses_its_settings_by_inner_cv_and_scores_rows_out_of_fold() -> None:
    rng = np.random.default_rng(2)
    words = np.array(["great", "stay", "room", "staff", "clean", "location", "breakfast", "view", "bed", "lobby"])
    y = (rng.random(200) < 0.5).astype(int)
    texts = [" ".join(rng.choice(words, 12)) + (" luxury experience" if f and rng.random() < 0.7 else "") for f in y]
    model = ReviewTextModel().fit(texts, y)
    assert set(model.chosen_C_) == {"words", "chars", "chars_plain"} and set(model.chosen_C_.values()) <= set(C_GRID)
    assert model.stacker_ is not None and len(model.oof_log_odds_) == 200
    # out of fold: a row's own (memorisable) noise words cannot help it, so in-sample scores separate better
    in_sample = np.mean((model.log_odds(texts) > 0) == y)
    assert np.mean((model.oof_log_odds_ > 0) == y) <= in_sample
    assert np.mean((model.oof_log_odds_ > 0) == y) >= 0.75
    few = ReviewTextModel().fit(texts[:10], [1] + [0] * 9)  # one fake: no inner folds, fixed C, views averaged
    assert few.stacker_ is None and set(few.chosen_C_.values()) == {4.0}


def _lake_context(tiny_world: DatasetPaths) -> ReviewContext:
    return ReviewContext.from_frames(*(pd.read_parquet(tiny_world.lake / f"{n}.parquet")
                                       for n in ("reviews", "users", "orders", "order_items")))  # fmt: skip


def test_the_submission_path_gives_exactly_the_frame_paths_records(
    tiny_world: DatasetPaths, data: ReviewData, model: ReviewAuthenticityModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Serving scores raw reviews without frames (``ReviewContext.submit``, columns, one text at a time, timeline
    side lists): the same probability, label, evidence, action and campaign, to the last bit, as the frame path
    (features -> ``decide`` -> ``add`` per review, sklearn's batch text transform, every entry inserted at once)."""
    buyers = _genuine_buyers(tiny_world, 8)
    t0 = buyers[c.DELIVERED_AT].max() + pd.Timedelta(days=1)
    texts = [SCRIPT] * 5 + ["Great jacket, warm and well made.", "尺码合适，颜色比图片稍深一点。", "好"]
    raw = _raw(buyers, texts, ["DEV-RING"] * 5 + ["D-1", None, "D-2"], t0, "3min")
    raw = pd.concat([raw, raw.iloc[[2]]], ignore_index=True)  # the same review submitted again
    batches = [raw.iloc[[i]] for i in range(len(raw))]  # one per request, then all of them in one request
    batches.append(raw.assign(**{c.REVIEW_ID: [f"B{i}" for i in range(len(raw))]}))

    monkeypatch.setattr(review_text_model, "ONE_BY_ONE", 0)
    monkeypatch.setattr(review_online, "FOLD_AT", 1)
    slow, expected = _lake_context(tiny_world), []
    for batch in batches:
        parts = []
        for i in range(len(batch)):
            parts.append(slow.features(batch.iloc[[i]]))
            slow.add(batch.iloc[[i]])
        expected.append(model.decide(pd.concat(parts, ignore_index=True)))
    monkeypatch.undo()

    monkeypatch.setattr(review_online, "FOLD_AT", 3)  # side lists fold into the arrays during the test
    decision = ReviewDecision(model, data.frame.head(20), _lake_context(tiny_world))
    for batch, want in zip(batches, expected, strict=True):
        got = decision.decide(pd.DataFrame(), reviews=batch.to_dict("records"))
        assert [{k: v for k, v in r.items() if k != "status"} for r in got] == want
    assert any(r["campaign_size"] >= 3 for r in got)  # the ring in one request forms a campaign through columns


def test_a_context_pickled_with_one_index_entry_per_review_is_regrouped_at_load(tiny_world: DatasetPaths) -> None:
    ctx = _lake_context(tiny_world)
    legacy = {k: v for k, v in ctx.__dict__.items() if k not in ("_same_text", "_by_key", "_device_seconds")}
    loaded = ReviewContext.__new__(ReviewContext)
    loaded.__setstate__(legacy)
    sample = pd.read_parquet(tiny_world.lake / "reviews.parquet").sample(100, random_state=3)
    pd.testing.assert_frame_equal(loaded.features(sample), ctx.features(sample))
    assert len(loaded._by_key) == len(ctx._by_key) <= len(ctx.texts)
