"""Lifetime value as its own decision: spend in the 180 days after a cutoff, shared by tiering and churn.

Leakage rule: the split is chosen with the LTV window as the horizon, so the test cutoff is the last one whose
180-day window is fully observed and every training or validation row's window ends on or before it.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.settings import DatasetPaths, Settings
from models import metrics
from models.customer_decisions import LtvDecision
from models.decision import feature_block
from models.ltv import LtvRegressor
from training.datasets import FUTURE_SPEND, LabelConfig
from training.decisions import customer_base as cb
from training.reports.customer import LTV_REPORT
from training.decisions.spec import DecisionData, DecisionSpec, Evaluation, TrainOptions

logger = logging.getLogger(__name__)

FEATURE_SERVICE = "churn_v1"  # the user view: LTV reads the same online features as churn
LTV_DAYS = 180


SHORTER_WINDOWS = (120, 90, 60)  # tried in turn when the history cannot hold a leakage-free 180-day split


def load(paths: DatasetPaths, settings: Settings, options: TrainOptions) -> DecisionData:
    """The user dataset split with the LTV window as horizon; a short history falls back to a shorter window.

    The fallback is logged and recorded (``ltv_days`` in the lineage and the run's params), never silent.
    """
    windows = (options.horizon_days,) if options.horizon_days else (LTV_DAYS, *SHORTER_WINDOWS)
    for i, days in enumerate(windows):
        try:
            data = cb.customer_data(paths, settings, LabelConfig(horizon_days=days, ltv_days=days))
        except ValueError as err:
            if i == len(windows) - 1:
                raise
            logger.warning(
                "history too short for a %d-day lifetime-value window (%s); trying %d days", days, err, windows[i + 1]
            )
            continue
        data.lineage["ltv_days"] = days
        return data
    raise AssertionError("unreachable")


def _labelled(data: DecisionData, roles: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.concat([data.part(r) for r in roles], ignore_index=True)
    frame = frame[frame[FUTURE_SPEND].notna()]
    return feature_block(frame, data.feature_names), frame[FUTURE_SPEND].to_numpy(dtype="float64")


def fit(data: DecisionData, options: TrainOptions, champion: object = None) -> LtvDecision:
    """Tweedie LightGBM on the train and validation cutoffs (their windows all end by the test cutoff)."""
    x, y = _labelled(data, ("train", "validation"))
    if len(x) == 0:
        raise ValueError("no rows with a fully observed lifetime-value window before the test cutoff")
    regressor = LtvRegressor(random_state=options.seed, **dict(options.params)).fit(x, y)
    days = int(data.lineage.get("ltv_days", LTV_DAYS))
    return LtvDecision(regressor, data.feature_names, FEATURE_SERVICE, days)


def carried_forward(x: pd.DataFrame) -> np.ndarray:
    """Baseline: the spend of the last 180 days carried forward as the next 180 days' spend."""
    return np.nan_to_num(x["spend_180d"].to_numpy(dtype="float64"))


def evaluate(model: LtvDecision, data: DecisionData, options: TrainOptions) -> Evaluation:
    x, y = _labelled(data, ("test",))
    report = metrics.regression_report(y, model.predict(x))
    baselines = {"carried_forward": metrics.regression_report(y, carried_forward(x))}
    params = {k: v for k, v in model.regressor.get_params().items()}
    return Evaluation(report, baselines, params=params)


def score(model: LtvDecision, data: DecisionData) -> float:
    x, y = _labelled(data, ("test",))
    return metrics.regression_report(y, model.predict(x))["rmse"]


SPEC = DecisionSpec(
    name="ltv",
    entity="user",
    feature_service=FEATURE_SERVICE,
    description="Lifetime value: expected spend per user in the next 180 days (used by tiering and churn).",
    load=load,
    fit=fit,
    evaluate=evaluate,
    score=score,
    primary=("rmse", "lower"),
    provides=("predicted_ltv",),
    horizon_days=LTV_DAYS,
    requires=cb.USER_TABLES,
    report=LTV_REPORT,
)
