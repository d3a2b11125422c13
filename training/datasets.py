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
HORIZON_SPEND = "horizon_spend"  # spend in the churn window: what a tier's users really bring next (tier reports)


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
    out[HORIZON_SPEND] = out[c.USER_ID].map(future["spend"]).fillna(0.0)
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


#: Lifetime-value windows tried, longest first, when the history is too short for the one asked for.
LTV_DAYS_CANDIDATES: tuple[int, ...] = (365, 180, 120, 90, 60)


def ltv_days_for(cutoffs: list[pd.Timestamp], data_end: pd.Timestamp, preferred: int = 180, min_train: int = 2) -> int:
    """The longest lifetime-value window, at most ``preferred`` days, that still allows a leakage-free time split.

    A split needs a test cutoff whose window is observed and, before it, a validation and ``min_train`` training
    cutoffs whose windows end by the test cutoff. A year of history (UCI Online Retail) cannot give that for 180
    days; rather than let training windows run into the test period, the window shrinks and says so.

    Raises:
        ValueError: not even the shortest candidate window fits.
    """
    candidates = sorted({preferred, *(d for d in LTV_DAYS_CANDIDATES if d < preferred)}, reverse=True)
    for days in candidates:
        try:
            time_split(cutoffs, days, data_end, min_train)
        except ValueError:
            continue
        if days != preferred:
            logger.warning("history too short for a %d-day lifetime value; using %d days", preferred, days)
        return days
    raise ValueError(
        f"history too short for any lifetime-value window of {candidates[-1]}-{preferred} days with {min_train + 2} "
        f"monthly cutoffs before {data_end:%Y-%m-%d}; ingest a longer history"
    )


def customer_dataset(
    features: pd.DataFrame,
    feature_names: list[str],
    ov: pd.DataFrame,
    config: LabelConfig,
    data_end: pd.Timestamp,
    split_days: int | None = None,
) -> CustomerDataset:
    """Join user features (built at monthly cutoffs) to churn/LTV labels and split by time.

    ``split_days`` is the label window the split protects (default ``config.horizon_days``, the churn window);
    a lifetime-value dataset passes ``config.ltv_days`` so every training window ends by its test cutoff.
    """
    cutoffs = sorted(pd.Timestamp(t) for t in features[c.AS_OF].unique())
    split = time_split(cutoffs, split_days or config.horizon_days, data_end)
    used = [*split.train, split.validation, split.test]
    labels = pd.concat([labels_at(ov, t, config, data_end) for t in used], ignore_index=True)
    # A training or validation row's future spend is a label only if its window ends by the test cutoff.
    ltv_end = labels[c.AS_OF] + pd.Timedelta(days=config.ltv_days)
    labels.loc[(labels[c.AS_OF] != split.test) & (ltv_end > split.test), FUTURE_SPEND] = np.nan
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
        "split_days": split_days or config.horizon_days,
        "horizon_days": config.horizon_days,
        "ltv_days": config.ltv_days,
        "rows": len(frame),
        "churn_rate_test": float(frame.loc[frame[c.AS_OF] == split.test, CHURNED].mean()),
    }
    return CustomerDataset(frame, feature_names, split, config, lineage)
