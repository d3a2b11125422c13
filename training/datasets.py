"""Labels and point-in-time training sets per decision.

Features come from the feature layer as of each cutoff; labels look only at what happens after it. Splits are by
time, never random: the test cutoff is the last one whose label window is fully observed, and every training or
validation row's label window ends on or before the test cutoff, so nothing the test measures leaks into fitting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import columns as c

logger = logging.getLogger(__name__)

CHURNED = "churned"
FUTURE_SPEND = "future_spend"


@dataclass(frozen=True)
class LabelConfig:
    """Churn = no order in the ``horizon_days`` after the cutoff, among users with an order in the year before.

    Lifetime value = spend in the ``ltv_days`` after the cutoff.
    """

    horizon_days: int = 90
    ltv_days: int = 180
    active_window_days: int = 365


def order_values(orders: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """One row per non-guest, non-cancelled order: user, time and value (the only facts labels need)."""
    value = (items[c.QUANTITY] * items[c.UNIT_PRICE]).groupby(items[c.ORDER_ID]).sum().rename("value")
    kept = orders[orders[c.USER_ID].notna() & (orders[c.STATUS] != "cancelled")]
    out = kept[[c.ORDER_ID, c.USER_ID, c.ORDER_TS]].merge(value, left_on=c.ORDER_ID, right_index=True, how="left")
    return out.fillna({"value": 0.0}).drop(columns=[c.ORDER_ID])


def _window_stats(ov: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    inside = ov[(ov[c.ORDER_TS] >= start) & (ov[c.ORDER_TS] < end)]
    return inside.groupby(c.USER_ID).agg(n=("value", "size"), spend=("value", "sum"))


def labels_at(ov: pd.DataFrame, as_of: pd.Timestamp, config: LabelConfig, data_end: pd.Timestamp) -> pd.DataFrame:
    """Churn and lifetime-value labels for the users active in the year before ``as_of``.

    ``future_spend`` is NaN where the LTV window is not fully observed before ``data_end``.
    """
    day = pd.Timedelta(days=1)
    active = _window_stats(ov, as_of - config.active_window_days * day, as_of)
    future = _window_stats(ov, as_of, as_of + config.horizon_days * day)
    ltv = _window_stats(ov, as_of, as_of + config.ltv_days * day)
    out = pd.DataFrame({c.USER_ID: active.index.astype(str)})
    out[c.AS_OF] = as_of
    out[CHURNED] = (~out[c.USER_ID].isin(future.index)).astype(int)
    spend = out[c.USER_ID].map(ltv["spend"]).fillna(0.0)
    ltv_observed = as_of + config.ltv_days * day <= data_end
    out[FUTURE_SPEND] = spend if ltv_observed else np.nan
    return out


@dataclass(frozen=True)
class TimeSplit:
    """Cutoffs per role; label windows of train and validation rows end on or before the test cutoff."""

    train: tuple[pd.Timestamp, ...]
    validation: pd.Timestamp
    test: pd.Timestamp

    def role(self, as_of: pd.Timestamp) -> str:
        if as_of == self.test:
            return "test"
        if as_of == self.validation:
            return "validation"
        return "train" if as_of in self.train else "unused"


def time_split(cutoffs: list[pd.Timestamp], horizon_days: int, data_end: pd.Timestamp, min_train: int = 2) -> TimeSplit:
    """Choose test, validation and training cutoffs from monthly candidates (see module docstring)."""
    horizon = pd.Timedelta(days=horizon_days)
    observable = sorted(t for t in cutoffs if t + horizon <= data_end)
    if len(observable) < min_train + 2:
        raise ValueError(
            f"need at least {min_train + 2} cutoffs with a fully observed {horizon_days}-day label window before "
            f"{data_end:%Y-%m-%d}; have {len(observable)} (a longer history or a shorter horizon is needed)"
        )
    test = observable[-1]
    before_test = [t for t in observable if t + horizon <= test]
    if len(before_test) < min_train + 1:
        raise ValueError(
            f"only {len(before_test)} cutoffs end their label window before the test cutoff {test:%Y-%m-%d}"
        )
    return TimeSplit(train=tuple(before_test[:-1]), validation=before_test[-1], test=test)


@dataclass
class CustomerDataset:
    """User features joined to labels, with the split that says which rows train, validate and test."""

    frame: pd.DataFrame
    feature_names: list[str]
    split: TimeSplit
    config: LabelConfig
    lineage: dict[str, object] = field(default_factory=dict)

    def part(self, role: str) -> pd.DataFrame:
        roles = self.frame[c.AS_OF].map(self.split.role)
        return self.frame[roles == role].reset_index(drop=True)

    def xy(self, role: str, target: str = CHURNED) -> tuple[pd.DataFrame, pd.Series]:
        part = self.part(role)
        if target == FUTURE_SPEND:
            part = part[part[FUTURE_SPEND].notna()]
        return part[self.feature_names], part[target]


def customer_dataset(
    features: pd.DataFrame,
    feature_names: list[str],
    ov: pd.DataFrame,
    config: LabelConfig,
    data_end: pd.Timestamp,
) -> CustomerDataset:
    """Join user features (built at monthly cutoffs) to churn/LTV labels and split by time."""
    cutoffs = sorted(pd.Timestamp(t) for t in features[c.AS_OF].unique())
    split = time_split(cutoffs, config.horizon_days, data_end)
    used = [*split.train, split.validation, split.test]
    labels = pd.concat([labels_at(ov, t, config, data_end) for t in used], ignore_index=True)
    feats = features.assign(**{c.AS_OF: pd.to_datetime(features[c.AS_OF]).astype("datetime64[ns]")})
    labels[c.AS_OF] = labels[c.AS_OF].astype("datetime64[ns]")
    frame = labels.merge(feats, on=[c.USER_ID, c.AS_OF], how="inner", validate="one_to_one")
    lost = len(labels) - len(frame)
    if lost:
        logger.warning("%d labelled users had no feature row (signed up after the cutoff?)", lost)
    counts = frame.groupby(c.AS_OF)[CHURNED].agg(["size", "mean"])
    logger.info("customer dataset per cutoff:\n%s", counts)
    lineage = {
        "cutoffs_train": [str(t.date()) for t in split.train],
        "cutoff_validation": str(split.validation.date()),
        "cutoff_test": str(split.test.date()),
        "data_end": str(pd.Timestamp(data_end)),
        "rows": len(frame),
        "churn_rate_test": float(frame.loc[frame[c.AS_OF] == split.test, CHURNED].mean()),
    }
    return CustomerDataset(frame, feature_names, split, config, lineage)
