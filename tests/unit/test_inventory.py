"""Safety stock, reorder point, warnings and the policy replay: directions and hand-checked numbers."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from scipy import stats

from models.inventory import (
    GRID,
    PolicyParams,
    abc_classes,
    inventory_warnings,
    lead_time_demand,
    lead_time_demand_schedule,
    level_variance,
    normal_policy,
    order_quantity,
    sku_policy,
    sku_policy_schedule,
    xyz_classes,
)
from models.policy_backtest import replay

pytestmark = pytest.mark.unit


def _poisson_grid(mean: float, days: int = 28) -> np.ndarray:
    """A daily forecast grid: Poisson(mean) quantiles at the GRID levels, the same every day."""
    return np.tile(stats.poisson.ppf(GRID, mean), (days, 1))


def _rop(lead_times, sl: float = 0.95, mean: float = 3.0, seed: int = 3) -> float:
    params = PolicyParams(n_sims=4000, day_correlation=0.0)
    return sku_policy(_poisson_grid(mean), lead_times, sl, params, np.random.default_rng(seed))["reorder_point"]


def test_lead_time_quantile_is_not_the_sum_of_daily_quantiles() -> None:
    grid = _poisson_grid(4.0)
    samples = lead_time_demand(grid, [10], np.random.default_rng(0), n_sims=5000)
    q95 = np.quantile(samples, 0.95)
    summed = 10 * stats.poisson.ppf(0.95, 4.0)
    assert q95 < 0.8 * summed  # the per-day sum stacks ten bad days at once
    assert samples.mean() == pytest.approx(40, rel=0.05)
    assert q95 == pytest.approx(stats.poisson.ppf(0.95, 40), abs=3)  # a sum of Poissons is Poisson


def test_longer_lead_time_never_lowers_the_reorder_point() -> None:
    rops = [_rop([lt]) for lt in (2, 5, 10, 20, 40)]
    assert all(b >= a for a, b in pairwise(rops)), rops


def test_more_variable_lead_time_never_lowers_safety_stock() -> None:
    steady = _rop([10, 10, 10, 10])
    spread = _rop([6, 8, 12, 14])
    wild = _rop([2, 5, 15, 18])
    assert steady <= spread <= wild


def test_higher_service_level_never_lowers_it() -> None:
    rops = [_rop([7, 9, 12], sl=sl) for sl in (0.8, 0.9, 0.95, 0.98, 0.995)]
    assert all(b >= a for a, b in pairwise(rops)), rops


def test_normal_formula_by_hand() -> None:
    out = normal_policy(10.0, 3.0, 4.0, 1.0, 0.95, cycle_days=7)
    z = stats.norm.ppf(0.95)
    assert out["safety_stock"] == pytest.approx(z * np.sqrt(4 * 9 + 100 * 1))
    assert out["reorder_point"] == np.ceil(40 + out["safety_stock"])
    assert out["order_up_to"] == out["reorder_point"] + 70


def test_order_quantity_only_at_or_below_the_reorder_point() -> None:
    assert order_quantity(20, 50, on_hand=30, on_order=0) == 0
    assert order_quantity(20, 50, on_hand=12, on_order=8) == 30
    assert order_quantity(20, 50, on_hand=5, on_order=0) == 45


def test_abc_and_xyz_classes() -> None:
    import pandas as pd

    revenue = pd.Series({"a": 700.0, "b": 150.0, "c": 100.0, "d": 50.0})
    assert abc_classes(revenue).to_dict() == {"a": "A", "b": "A", "c": "B", "d": "C"}
    xyz = xyz_classes(pd.Series([10.0, 1.0, 0.1, 0.0]), pd.Series([5.0, 2.0, 0.5, 0.0]))
    assert list(xyz) == ["X", "Y", "Z", "Z"]


def test_warnings_carry_reasons_and_numbers() -> None:
    risky = inventory_warnings(
        on_hand=10, on_order=0, reorder_point=25, daily_mean=[5.0] * 28, lead_time_days=7, days_since_sale=0
    )
    assert [w["code"] for w in risky] == ["stockout_risk"]
    assert risky[0]["numbers"]["days_to_reorder_point"] == 0 and "再订货点" in risky[0]["reason_zh"]
    rotting = inventory_warnings(
        on_hand=500, on_order=0, reorder_point=5, daily_mean=[0.5] * 28, lead_time_days=7, days_since_sale=40
    )
    assert {w["code"] for w in rotting} == {"overstock", "slow_moving"}
    assert rotting[0]["numbers"]["days_of_cover"] == pytest.approx(1000)
    healthy = inventory_warnings(
        on_hand=60, on_order=0, reorder_point=20, daily_mean=[2.0] * 28, lead_time_days=7, days_since_sale=1
    )
    assert healthy == []


def test_monthly_forecasts_are_reported_in_days() -> None:
    """30 units a month is about one a day: 100 units is ~101 days of cover, and a month's lead time is 30 days."""
    monthly = inventory_warnings(
        on_hand=100, on_order=0, reorder_point=50, daily_mean=[30.0] * 12, lead_time_days=30.4, days_since_sale=3,
        period_days=30.4,
    )  # fmt: skip
    assert [w["code"] for w in monthly] == ["stockout_risk", "overstock"]
    assert monthly[0]["numbers"]["days_to_reorder_point"] == 30 and monthly[0]["numbers"]["lead_time_days"] == 30.4
    assert monthly[1]["numbers"]["days_of_cover"] == pytest.approx(101.33, abs=0.01)


def test_replay_by_hand() -> None:
    demand = np.array([[3.0], [3.0], [3.0], [3.0], [3.0], [3.0]])
    rop = np.full((6, 1), 4.0)
    big_s = np.full((6, 1), 10.0)
    result = replay(demand, rop, big_s, [[2.0]], initial_on_hand=np.array([10.0]), seed=0)
    # day0: 10-3=7; day1: 4 -> order 6, due day3; day2: 4-3=1;
    # day3: +6 -> 7-3=4 -> order 6 due day5; day4: 1; day5: +6 -> 4 -> order (still in transit at the end)
    assert result.served[0] == pytest.approx(18) and result.stockout_days[0] == 0
    assert result.summary()["fill_rate"] == pytest.approx(1.0)
    assert result.cycles[0] == 2 and result.cycles_ok[0] == 2  # receipts on days 3 and 5: [0, 3), [3, 5)
    short = replay(demand, np.zeros((6, 1)), np.full((6, 1), 3.0), [[3.0]], np.array([3.0]), seed=0)
    assert short.summary()["fill_rate"] < 1.0 and short.stockout_days[0] > 0


def test_schedule_raises_the_reorder_point_before_a_demand_peak() -> None:
    """A festival two weeks out lifts the reorder point of the days whose lead time reaches it, not of today."""
    grid = _poisson_grid(2.0, days=40)
    grid[20:24] = stats.poisson.ppf(GRID, 20.0)  # four peak days
    params = PolicyParams(n_sims=3000, day_correlation=0.0)
    pol = sku_policy_schedule(grid, [5], 0.95, params, np.random.default_rng(0), days=28)
    rop = pol["reorder_point"]
    assert rop[0] < rop[17] and rop[17] > rop[25]  # quiet now, high while the peak lies within 5 days ahead
    assert (pol["order_up_to"] >= rop).all()
    first = lead_time_demand_schedule(grid, [5], np.random.default_rng(1), [0], n_sims=3000)[0]
    assert first.mean() == pytest.approx(10, rel=0.08)  # the schedule's day-0 window is the plain lead time


def test_review_period_never_lowers_the_reorder_point() -> None:
    continuous = PolicyParams(n_sims=4000, day_correlation=0.0, review_days=0.0)
    daily = PolicyParams(n_sims=4000, day_correlation=0.0, review_days=1.0)
    rops = [sku_policy(_poisson_grid(3.0), [7, 9], 0.95, p, np.random.default_rng(3))["reorder_point"]
            for p in (continuous, daily)]  # fmt: skip
    assert rops[0] < rops[1]


def test_measured_day_correlation_recovers_a_shared_level_error() -> None:
    """Paths whose days share a level shock show a positive correlation; independent days show about none."""
    from models.demand import path_correlation

    rng = np.random.default_rng(0)
    n_skus, days, mu = 400, 28, 5.0
    ids = np.repeat(np.arange(n_skus), days)
    independent = rng.poisson(mu, n_skus * days).astype(float)
    level = np.repeat(rng.lognormal(0.0, 0.5, n_skus), days)
    shared = rng.poisson(mu * level).astype(float)
    mus = np.full(n_skus * days, mu)
    alpha = np.full(n_skus * days, 1e-6)
    assert path_correlation(independent, mus, alpha, ids) < 0.05
    assert path_correlation(shared, mus, alpha, ids) > 0.2


def _lumpy_grid(rate: float, size: int, days: int = 28) -> np.ndarray:
    """Daily grid of a demand that is ``size`` units on a share ``rate`` of days and 0 otherwise."""
    return np.tile(np.where(np.asarray(GRID) > 1 - rate, float(size), 0.0), (days, 1))


def test_undershoot_raises_the_reorder_point_of_lumpy_demand_only() -> None:
    """Lumps take the position below s before the order goes out; unit demand crosses s exactly."""
    plain = PolicyParams(n_sims=4000, day_correlation=0.0, undershoot=False)
    under = PolicyParams(n_sims=4000, day_correlation=0.0, undershoot=True)

    def rop(grid, params):
        return sku_policy(grid, [7], 0.9, params, np.random.default_rng(5))["reorder_point"]

    assert rop(_lumpy_grid(0.1, 6), under) > rop(_lumpy_grid(0.1, 6), plain)
    assert rop(_lumpy_grid(0.3, 1), under) == rop(_lumpy_grid(0.3, 1), plain)


def test_level_variance_by_hand() -> None:
    assert level_variance(2.0, 4.0, 16) == pytest.approx(0.25)  # (4 / 2)^2 / 16
    assert level_variance(0.0, 0.0, 91) == 1.0  # no recent sales: the level is unknown
    assert level_variance(0.1, 10.0, 2) == 1.0  # capped


def test_level_uncertainty_widens_lead_time_demand_around_the_same_mean() -> None:
    grid = _poisson_grid(0.5)
    known = lead_time_demand_schedule(grid, [10], np.random.default_rng(2), [0], n_sims=20000)[0]
    unsure = lead_time_demand_schedule(grid, [10], np.random.default_rng(2), [0], n_sims=20000, level_var=0.3)[0]
    assert unsure.mean() == pytest.approx(known.mean(), rel=0.05)
    assert np.quantile(unsure, 0.95) > np.quantile(known, 0.95)


def test_replay_draws_each_skus_lead_times_apart_from_the_others() -> None:
    """Common random numbers: SKU 0's replay is the same whether SKU 1 orders daily or never."""
    rng = np.random.default_rng(3)
    demand = rng.poisson(4.0, size=(60, 2)).astype(float)
    leads = [[1.0, 4.0, 9.0], [2.0, 3.0, 7.0]]
    big_s = np.full((60, 2), 40.0)
    runs = []
    for rop_1 in (0.0, 39.0):  # SKU 1: hardly ever orders / orders nearly every day
        rop = np.column_stack([np.full(60, 20.0), np.full(60, rop_1)])
        runs.append(replay(demand, rop, big_s, leads, initial_on_hand=np.array([40.0, 40.0]), seed=7))
    assert runs[0].cycles[1] != runs[1].cycles[1]
    for field in ("cycles", "cycles_ok", "served", "mean_on_hand", "stockout_days"):
        assert getattr(runs[0], field)[0] == getattr(runs[1], field)[0], field
