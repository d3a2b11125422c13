"""Data tests of the synthetic world: determinism, the contract, keys, and the realism the handbooks describe.

The realism checks run on a small world built once per session. ``SHOPSENSE_SYNTH_TEST_PRESET=default`` runs the
same checks on a named preset instead (slower; used to confirm the default preset is realistic too).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from features import columns as c
from features.contract import TABLE_NAMES, TABLES, pandera_schema
from features.sources.base import SourceBatch
from features.sources.synthetic import SPRING_FESTIVAL, SynthConfig, generate
from features.sources.synthetic import truth_columns as tc

pytestmark = pytest.mark.data

REVENUE = "revenue"  # derived in these tests, not a contract column

# Big enough for every realism statistic to be stable, small enough to build in a few seconds: September start
# so the window holds two 双11, a Spring Festival and a 618.
WORLD = SynthConfig(seed=11, users=4_000, products=400, days=500, start_date="2024-09-01")
if os.environ.get("SHOPSENSE_SYNTH_TEST_PRESET"):
    WORLD = SynthConfig.preset(os.environ["SHOPSENSE_SYNTH_TEST_PRESET"])  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def world() -> SourceBatch:
    return generate(WORLD, progress=False)


@pytest.fixture(scope="session")
def tiny() -> SourceBatch:
    return generate(SynthConfig.preset("tiny"), progress=False)


def test_presets_have_the_promised_sizes() -> None:
    default, large, tiny = (SynthConfig.preset(n) for n in ("default", "large", "tiny"))
    assert (default.users, default.products, default.days) == (20_000, 2_000, 730)
    assert large.users >= 200_000 and large.days == 730
    assert SynthConfig.preset("tiny", seed=3, users=None).seed == 3  # None overrides are ignored
    first, last = tiny.start, tiny.end
    assert any(first <= pd.Timestamp(f"{y}-11-11") < last for y in (first.year, last.year))
    assert any(first <= pd.Timestamp(d) < last for d in SPRING_FESTIVAL.values())
    with pytest.raises(ValueError):
        SynthConfig.preset("huge")  # type: ignore[arg-type]


def test_same_seed_same_world_other_seed_other_world(tiny: SourceBatch) -> None:
    again = generate(SynthConfig.preset("tiny"), progress=False)
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(tiny.tables[name], again.tables[name])
    for name, frame in tiny.truth.items():
        pd.testing.assert_frame_equal(frame, again.truth[name])
    other = generate(SynthConfig.preset("tiny", seed=43), progress=False)
    assert not tiny.tables["orders"].equals(other.tables["orders"])
    assert not tiny.tables["users"].equals(other.tables["users"])


def test_batch_shape(world: SourceBatch) -> None:
    assert world.name == "synthetic"
    assert world.opened_at == pd.Timestamp(WORLD.start_date)
    assert set(world.tables) == set(TABLE_NAMES)
    assert world.lineage["seed"] == WORLD.seed
    assert {"users", "churn_hazard", "reviews", "demand"} <= set(world.truth)


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_every_table_passes_the_contract(world: SourceBatch, name: str) -> None:
    frame = world.tables[name]
    assert len(frame) > 0
    pandera_schema(name).validate(frame, lazy=True)


def test_keys_are_unique_and_foreign_keys_hold(world: SourceBatch) -> None:
    for spec in TABLES:
        frame = world.tables[spec.name]
        assert not frame.duplicated(list(spec.primary_key)).any(), spec.name
        for fk in spec.foreign_keys:
            values = frame[fk.column].dropna()
            assert values.isin(world.tables[fk.ref_table][fk.ref_column]).all(), f"{spec.name}.{fk.column}"


def test_times_stay_inside_the_window_and_in_order(world: SourceBatch) -> None:
    start, end = pd.Timestamp(WORLD.start_date), WORLD.end
    for spec in TABLES:
        frame = world.tables[spec.name]
        for col in spec.columns:
            if col.in_platform_time:
                values = frame[col.name].dropna()
                assert ((values >= start) & (values < end)).all(), f"{spec.name}.{col.name}"
        for rule in spec.not_before:
            later, earlier = frame[rule.later], frame[rule.earlier]
            assert not (later < earlier).any(), f"{spec.name}: {rule.later} < {rule.earlier}"
    users = world.tables["users"].set_index(c.USER_ID)[c.SIGNUP_AT]
    for name, col in (("orders", c.ORDER_TS), ("events", c.EVENT_TS), ("reviews", c.REVIEW_TS)):
        frame = world.tables[name]
        assert (frame[col] >= users.loc[frame[c.USER_ID]].to_numpy()).all(), f"{name} before signup"


def _revenue(batch: SourceBatch) -> pd.DataFrame:
    items = batch.tables["order_items"].merge(batch.tables["orders"], on=c.ORDER_ID)
    items = items[items[c.STATUS] != "cancelled"]
    return items.assign(**{REVENUE: items[c.QUANTITY] * items[c.UNIT_PRICE]})


def test_revenue_is_concentrated_in_the_top_buyers(world: SourceBatch) -> None:
    per_user = _revenue(world).groupby(c.USER_ID)[REVENUE].sum().sort_values(ascending=False)
    top = per_user.iloc[: int(np.ceil(0.2 * len(per_user)))].sum()
    assert top / per_user.sum() >= 0.6


def test_double_eleven_dwarfs_an_ordinary_day(world: SourceBatch) -> None:
    units = _revenue(world).groupby(pd.Grouper(key=c.ORDER_TS, freq="D"))[c.QUANTITY].sum()
    peaks = [d for d in units.index if (d.month, d.day) == (11, 11)]
    assert peaks
    for day in peaks:
        assert units.loc[day] >= 3 * units.median(), day


def test_a_long_intermittent_tail(world: SourceBatch) -> None:
    demand = world.truth["demand"]
    selling_share = (demand[tc.OBSERVED_UNITS] > 0).groupby(demand[c.SKU_ID]).mean()
    assert (selling_share < 0.5).mean() >= 0.2


def test_stockouts_happen_and_censor_sales(world: SourceBatch) -> None:
    inventory, demand = world.tables["inventory"], world.truth["demand"]
    assert (inventory[c.ON_HAND] == 0).sum() > 0
    joined = demand.merge(inventory, on=[c.SKU_ID, c.DATE])
    lost = joined[joined[tc.LOST_UNITS] > 0]
    assert len(lost) > 0
    assert (lost[c.ON_HAND] == 0).all()  # demand is only lost when the shelf ended empty
    assert (lost[tc.OBSERVED_UNITS] < lost[tc.TRUE_DEMAND]).all()
    assert demand[tc.OBSERVED_UNITS].sum() < demand[tc.TRUE_DEMAND].sum()


def test_sold_units_match_the_order_lines(world: SourceBatch) -> None:
    brushing = world.truth["brushing_orders"][c.ORDER_ID]
    lines = _revenue(world)
    lines = lines[~lines[c.ORDER_ID].isin(brushing)]
    assert lines[c.QUANTITY].sum() == world.truth["demand"][tc.OBSERVED_UNITS].sum()


def test_fake_reviews_are_a_few_percent_and_come_in_bursts(world: SourceBatch) -> None:
    reviews = world.tables["reviews"].merge(world.truth["reviews"], on=c.REVIEW_ID)
    share = reviews[tc.IS_FAKE].mean()
    assert 0.03 <= share <= 0.10

    def median_gap_hours(frame: pd.DataFrame) -> float:
        frame = frame.sort_values([c.SKU_ID, c.REVIEW_TS])
        gap = frame.groupby(c.SKU_ID)[c.REVIEW_TS].diff().dt.total_seconds() / 3600
        back = frame.groupby(c.SKU_ID)[c.REVIEW_TS].diff(-1).abs().dt.total_seconds() / 3600
        return float(np.fmin(gap, back).median())

    fake_gap = median_gap_hours(reviews[reviews[tc.IS_FAKE]])
    genuine_gap = median_gap_hours(reviews[~reviews[tc.IS_FAKE]])
    assert fake_gap * 5 < genuine_gap


def test_fake_accounts_are_young_and_share_devices(world: SourceBatch) -> None:
    reviews = world.tables["reviews"].merge(world.truth["reviews"], on=c.REVIEW_ID)
    users = world.tables["users"].set_index(c.USER_ID)
    age_days = (reviews[c.REVIEW_TS] - users.loc[reviews[c.USER_ID], c.SIGNUP_AT].to_numpy()).dt.days
    fake_age, genuine_age = age_days[reviews[tc.IS_FAKE]].median(), age_days[~reviews[tc.IS_FAKE]].median()
    assert fake_age <= 30 and fake_age < 0.4 * genuine_age
    accounts_per_device = reviews.groupby(c.DEVICE_ID)[c.USER_ID].nunique()
    fake_devices = reviews.loc[reviews[tc.IS_FAKE], c.DEVICE_ID].unique()
    assert accounts_per_device.loc[fake_devices].median() >= 3
    assert accounts_per_device.drop(fake_devices, errors="ignore").median() == 1


def test_rating_falls_with_delivery_delay(world: SourceBatch) -> None:
    reviews = world.tables["reviews"].merge(world.truth["reviews"], on=c.REVIEW_ID)
    genuine = reviews[~reviews[tc.IS_FAKE]]
    by_delay = genuine.groupby(genuine[tc.LATE_DAYS].clip(upper=4))[c.RATING].mean()
    assert by_delay.loc[0] - genuine.loc[genuine[tc.LATE_DAYS] >= 3, c.RATING].mean() >= 0.5
    assert (np.diff(by_delay.to_numpy()) <= 0.1).all()  # monotone-ish decreasing


def test_some_users_churn_every_quarter(world: SourceBatch) -> None:
    users = world.tables["users"].set_index(c.USER_ID)[c.SIGNUP_AT]
    events = world.truth["churn_events"]
    first_churn = events[events[tc.EVENT] == "churn"].groupby(c.USER_ID)[tc.AT].min()
    genuine = world.truth["users"].loc[~world.truth["users"][tc.IS_FAKE], c.USER_ID]
    churn_at = first_churn.reindex(genuine).to_numpy()
    signup = users.loc[genuine].to_numpy()
    for q_start in pd.date_range(WORLD.start + pd.Timedelta(days=91), WORLD.end - pd.Timedelta(days=91), freq="91D"):
        q_end = q_start + pd.Timedelta(days=91)
        at_risk = (signup < q_start) & ~(churn_at < q_start)
        churned = at_risk & (churn_at >= q_start) & (churn_at < q_end)
        assert 0.03 <= churned.sum() / at_risk.sum() <= 0.30, q_start


def _months(stamps: pd.Series) -> pd.Series:
    return stamps.dt.to_period("M").dt.to_timestamp()


def test_bad_experiences_raise_churn(world: SourceBatch) -> None:
    """Per user and month at risk: users hit by a bad experience that month or the month before churn more.

    Compared month by month, not user by user, because heavy buyers both meet more bad experiences and stay
    longer, which would hide the effect in a plain per-user comparison.
    """
    at_risk = world.truth["churn_hazard"][[c.USER_ID, tc.MONTH, tc.HAZARD]]
    exp = world.truth["experiences"]
    hit = _months(exp[tc.AT])
    recent = pd.concat(
        [pd.DataFrame({c.USER_ID: exp[c.USER_ID], tc.MONTH: m}) for m in (hit, hit + pd.DateOffset(months=1))]
    )
    events = world.truth["churn_events"]
    churns = events[events[tc.EVENT] == "churn"]
    churned = pd.DataFrame({c.USER_ID: churns[c.USER_ID], tc.MONTH: _months(churns[tc.AT])})
    frame = at_risk.merge(recent.drop_duplicates().assign(bad=True), on=[c.USER_ID, tc.MONTH], how="left").merge(
        churned.drop_duplicates().assign(left=True), on=[c.USER_ID, tc.MONTH], how="left"
    )
    bad, left = frame["bad"].eq(True), frame["left"].eq(True)
    assert left[bad].mean() > 1.3 * left[~bad].mean()
    assert frame.loc[bad, tc.HAZARD].mean() > 1.3 * frame.loc[~bad, tc.HAZARD].mean()


def test_festivals_and_promotions_are_in_the_calendar(world: SourceBatch) -> None:
    promos = world.tables["promotions"]
    festivals = promos[promos[c.PROMO_TYPE] == "festival"]
    assert festivals[c.SKU_ID].isna().all()
    assert festivals[c.PROMOTION_NAME].str.contains("双11").any()
    assert festivals[c.PROMOTION_NAME].str.contains("618").any()
    assert promos.loc[promos[c.PROMO_TYPE] != "festival", c.SKU_ID].notna().all()


def test_spring_festival_slows_deliveries(world: SourceBatch) -> None:
    orders = world.tables["orders"].dropna(subset=[c.DELIVERED_AT])
    took = (orders[c.DELIVERED_AT] - orders[c.ORDER_TS]).dt.total_seconds() / 86_400
    sf = next(pd.Timestamp(d) for d in SPRING_FESTIVAL.values() if WORLD.start < pd.Timestamp(d) < WORLD.end)
    near = (orders[c.ORDER_TS] > sf - pd.Timedelta(days=7)) & (orders[c.ORDER_TS] < sf + pd.Timedelta(days=5))
    assert took[near].mean() > took[~near].mean() + 1.5


def test_personal_data_looks_chinese(world: SourceBatch) -> None:
    users = world.tables["users"]
    assert users[c.PHONE].str.fullmatch(r"1[3-9]\d{9}").all()
    assert users[c.CITY].isin(["上海", "北京", "广州", "深圳", "杭州", "成都"]).mean() > 0.2
    assert users[c.BIRTH_YEAR].isna().any() and users[c.BIRTH_YEAR].dtype == "Int64"
    assert world.tables["reviews"][c.REVIEW_TEXT].dropna().str.contains(r"[\u4e00-\u9fff]").all()


def test_promotions_raise_demand(world: SourceBatch) -> None:
    promos = world.tables["promotions"]
    promos = promos[promos[c.PROMO_TYPE] != "festival"]
    spans = zip(promos[c.START_AT], promos[c.END_AT], strict=True)
    days = [pd.date_range(start, end, freq="D", normalize=True) for start, end in spans]
    on_promo = pd.DataFrame(
        {c.SKU_ID: promos[c.SKU_ID].repeat([len(d) for d in days]).to_numpy(), c.DATE: np.concatenate(days)}
    ).drop_duplicates()
    demand = world.truth["demand"].merge(on_promo.assign(promo=True), on=[c.SKU_ID, c.DATE], how="left")
    demand = demand[demand[c.SKU_ID].isin(on_promo[c.SKU_ID])]
    on = demand["promo"].eq(True)
    lift = demand[on].groupby(c.SKU_ID)[tc.TRUE_DEMAND].mean() / demand[~on].groupby(c.SKU_ID)[tc.TRUE_DEMAND].mean()
    assert lift.replace(np.inf, np.nan).dropna().median() > 1.3


def test_a_minimal_world_over_spring_festival_still_validates() -> None:
    batch = generate(SynthConfig(seed=3, users=50, products=20, days=45, start_date="2025-01-15"), progress=False)
    for name in TABLE_NAMES:
        pandera_schema(name).validate(batch.tables[name])
