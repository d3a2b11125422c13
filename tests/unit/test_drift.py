"""PSI (models/drift.py) against hand-computed values and its reading rules; the prediction log's output filter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import drift
from serving.prediction_log import output_of

pytestmark = pytest.mark.unit


def test_identical_samples_have_zero_psi() -> None:
    x = np.random.default_rng(0).normal(size=5000)
    assert drift.psi(x, x) == pytest.approx(0.0, abs=1e-12)


def test_psi_matches_hand_computation_on_two_bins() -> None:
    ref = np.array([0.0] * 50 + [1.0] * 50)  # one inner edge at the median: bins {0} and {1}
    cur = np.array([0.0] * 20 + [1.0] * 80)
    expected = (0.2 - 0.5) * np.log(0.2 / 0.5) + (0.8 - 0.5) * np.log(0.8 / 0.5)
    assert drift.psi(ref, cur, bins=2) == pytest.approx(expected, rel=1e-9)


def test_shift_raises_psi_and_levels_follow_the_rule_of_thumb() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(size=20_000)
    small, large = drift.psi(ref, rng.normal(0.05, 1, 20_000)), drift.psi(ref, rng.normal(1.0, 1, 20_000))
    assert small < drift.MODERATE < drift.MAJOR < large
    assert drift.level(small) == "stable" and drift.level(large) == "major" and drift.level(np.nan) == "unknown"


def test_missing_values_are_their_own_bin() -> None:
    ref = np.arange(1000, dtype=float)
    cur = ref.copy()
    cur[:300] = np.nan  # the same values, but 30% now arrive empty: that is drift
    assert drift.psi(ref, cur) > drift.MAJOR


def test_psi_table_sorts_by_psi() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000)})
    cur = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(2, 1, size=3000)})
    table = drift.psi_table(ref, cur, ["a", "b"])
    assert table["feature"].tolist() == ["b", "a"] and table.loc[0, "level"] == "major"


def test_prediction_log_keeps_flat_outputs_only() -> None:
    record = {"_id": "u1", "status": "ok", "churn_probability": 0.7, "risk_band": "high", "phone_hash": "x",
              "reasons": [{"feature": "recency_days"}], "recall_action": {"code": "coupon"}}  # fmt: skip
    assert output_of(record) == {"churn_probability": 0.7, "risk_band": "high"}
