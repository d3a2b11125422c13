"""Lifetime value as its own decision: spend in the 180 days after a cutoff, shared by tiering and churn.

Leakage rule: the split is chosen with the LTV window as the horizon, so the test cutoff is the last one whose
180-day window is fully observed and every training or validation row's window ends on or before it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.settings import DatasetPaths, Settings
from models.decision import feature_block
from training.datasets import FUTURE_SPEND
from training.decisions import customer_base as cb
from training.decisions.spec import DecisionData, DecisionSpec, Evaluation, TrainOptions
from training.reports.customer import LTV_REPORT

if TYPE_CHECKING:
    from models.customer_decisions import LtvDecision

logger = logging.getLogger(__name__)

FEATURE_SERVICE = "churn_v1"  # the user view: LTV reads the same online features as churn
LTV_DAYS = 180
PRIMARY_METRIC = ("normalized_gini", "higher")


def load(paths: DatasetPaths, settings: Settings, options: TrainOptions) -> DecisionData:
    """The user dataset split on the LTV window; a short history falls back to the longest window that fits.

    The window used is recorded (``ltv_days`` in the lineage and the run's params), never silently changed.
    """
    from training.customer_data import load_ltv_dataset

    dataset = load_ltv_dataset(paths, settings, options.horizon_days or LTV_DAYS)
    data = cb.wrap(dataset)
    data.lineage["ltv_days"] = dataset.config.ltv_days
    return data


def _labelled(data: DecisionData, roles: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.concat([data.part(r) for r in roles], ignore_index=True)
    frame = frame[frame[FUTURE_SPEND].notna()]
    return feature_block(frame, data.feature_names), frame[FUTURE_SPEND].to_numpy(dtype="float64")


def fit(data: DecisionData, options: TrainOptions, champion: object = None) -> LtvDecision:
    """Tweedie LightGBM on the train and validation cutoffs (their windows all end by the test cutoff)."""
    from models.customer_decisions import LtvDecision
    from models.ltv import LtvRegressor

    x, y = _labelled(data, ("train", "validation"))
    if len(x) == 0:
        raise ValueError("no rows with a fully observed lifetime-value window before the test cutoff")
    days = int(data.lineage.get("ltv_days", LTV_DAYS))
    params = {"random_state": options.seed, "btyd_horizon_days": days} | dict(options.params)
    regressor = LtvRegressor(**params).fit(x, y)
    return LtvDecision(regressor, data.feature_names, FEATURE_SERVICE, days)


def evaluate(model: LtvDecision, data: DecisionData, options: TrainOptions) -> Evaluation:
    from models.btyd import order_value_param
    from models.ltv import BgNbdLtv, CarriedForwardLtv, ltv_report

    x, y = _labelled(data, ("test",))
    x_fit, _ = _labelled(data, ("train", "validation"))
    days = model.window_days
    baselines = {
        "carried_forward": CarriedForwardLtv(days).fit(x_fit),
        "bgnbd_gamma_gamma": BgNbdLtv(days, random_state=options.seed).fit(x_fit),
    }
    scored = {name: ltv_report(y, b.predict(x)) for name, b in baselines.items()}
    params = dict(model.regressor.get_params()) | order_value_param(model.regressor.btyd_)
    return Evaluation(ltv_report(y, model.predict(x)), scored, params=params)


def score(model: LtvDecision, data: DecisionData) -> float:
    from models.ltv import ltv_report

    x, y = _labelled(data, ("test",))
    return ltv_report(y, model.predict(x))[PRIMARY_METRIC[0]]


SPEC = DecisionSpec(
    name="ltv",
    entity="user",
    feature_service=FEATURE_SERVICE,
    description="Lifetime value: expected spend per user in the next 180 days (used by tiering and churn).",
    load=load,
    fit=fit,
    evaluate=evaluate,
    score=score,
    primary=PRIMARY_METRIC,
    provides=("predicted_ltv",),
    horizon_days=LTV_DAYS,
    requires=cb.USER_TABLES,
    report=LTV_REPORT,
    typical_seconds=34,
)
