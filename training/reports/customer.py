"""Report and monitoring hooks of the three customer decisions (lifetime value, tiering, churn).

"Latest" rows are the user features as of the end of the data (built once, shared by the three decisions), so
the action lists are about the users as they are now, not as they were at the training holdout. Realised churn
is measured on the last cutoff whose horizon has fully passed: what the champion would have said then, against
who really came back.

The models, their metrics and the feature builder are imported inside the hooks that use them: the decision specs
hold these hooks, and the service's BentoML arbiter imports the specs for their routes alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import columns as c
from features.settings import DatasetPaths, Settings
from models.decision import feature_block, join_upstream
from training.datasets import CHURNED, LabelConfig, labels_at
from training.reports.hooks import ReportContext, ReportHooks

ACTIVE = "orders_365d"  # the customer models' population: users with an order in the year before the cutoff
# Grow with calendar time for every surviving user (the training window stacks older cutoffs than the latest one),
# so their PSI is large by construction; monitoring shows it but does not call it a retrain reason.
AGEING = ("tenure_days", "first_order_days", "orders_total", "spend_total", "tickets_total", "reviews_written")


def latest_users(paths: DatasetPaths, settings: Settings) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Active users' features as of the day after the last order (the partition is built once if missing).

    Only users with an order in the past year, the population the customer models are trained on (see
    :func:`training.datasets.labels_at`): long-gone users are neither recall targets nor drift.
    """
    from training.customer_data import ensure_user_features, lake_order_values, training_cutoffs

    _, data_end = training_cutoffs(lake_order_values(paths))
    frame = ensure_user_features(paths, [data_end], settings)
    return frame[frame[ACTIVE].fillna(0) > 0].reset_index(drop=True), data_end


def churn_contributions(model, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    x = feature_block(frame, model.feature_names)
    return model.classifier.contributions(x), model.classifier.model_frame(x)


def churn_score(model, frame: pd.DataFrame) -> np.ndarray:
    return model.classifier.predict_proba(feature_block(frame, model.feature_names))[:, 1]


def ltv_contributions(model, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TreeSHAP of the Tweedie booster on its log link (``LtvRegressor`` has no public contributions method)."""
    regressor = model.regressor
    matrix = regressor._matrix(feature_block(frame, model.feature_names))
    phi = regressor.booster_.predict(matrix, pred_contrib=True)
    return pd.DataFrame(phi, columns=[*regressor.model_features_, "bias"], index=frame.index), matrix


def ltv_score(model, frame: pd.DataFrame) -> np.ndarray:
    return model.predict(frame)


def tier_score(model, frame: pd.DataFrame) -> np.ndarray:
    """Tier as its position in :data:`models.tiering.TIERS` (so PSI sees a shift of users between tiers)."""
    from models.tiering import TIERS

    tiers = model.tiering.predict(model.tier_frame(frame))
    return np.array([TIERS.index(str(t)) for t in tiers], dtype="float64")


def _horizon(ctx: ReportContext) -> int:
    return int(ctx.spec.horizon_days or 90)


def realised_churn(ctx: ReportContext) -> dict[str, object]:
    """The champion's metrics on the last cutoff whose ``H``-day outcome is known (predicted H days ago)."""
    from models import metrics
    from training.customer_data import ensure_user_features, lake_order_values, training_cutoffs

    horizon = _horizon(ctx)
    ov = lake_order_values(ctx.paths)
    _, data_end = training_cutoffs(ov)
    cutoff = (data_end - pd.Timedelta(days=horizon)).normalize()
    frame = ensure_user_features(ctx.paths, [cutoff], ctx.settings)
    labels = labels_at(ov, cutoff, LabelConfig(horizon_days=horizon), data_end)
    frame = frame.merge(labels[[c.USER_ID, CHURNED]], on=c.USER_ID, how="inner")
    if frame.empty or frame[CHURNED].nunique() < 2:
        return {"note": f"no matured outcomes at {cutoff:%Y-%m-%d}"}
    from training import runner

    frame = join_upstream(frame, runner.upstream_models(ctx.spec, ctx.paths.name, ctx.settings))
    p = churn_score(ctx.model, frame)
    report = metrics.classification_report(frame[CHURNED].to_numpy(), p)
    return {"as_of": f"{cutoff:%Y-%m-%d}", "rows": len(frame), "metrics": report, "primary": "roc_auc"}


def realised_ltv(ctx: ReportContext) -> dict[str, object]:
    """Predicted spend at the last cutoff whose LTV window is over, against what those users really spent."""
    from models import metrics
    from training.customer_data import ensure_user_features, lake_order_values, training_cutoffs

    days = int(getattr(ctx.model, "window_days", 180))
    ov = lake_order_values(ctx.paths)
    _, data_end = training_cutoffs(ov)
    cutoff = (data_end - pd.Timedelta(days=days)).normalize()
    frame = ensure_user_features(ctx.paths, [cutoff], ctx.settings)
    labels = labels_at(ov, cutoff, LabelConfig(horizon_days=days, ltv_days=days), data_end)
    frame = frame.merge(labels[[c.USER_ID, "future_spend"]], on=c.USER_ID, how="inner").dropna(subset=["future_spend"])
    if frame.empty:
        return {"note": f"no matured outcomes at {cutoff:%Y-%m-%d}"}
    report = metrics.regression_report(frame["future_spend"].to_numpy(), ltv_score(ctx.model, frame))
    return {"as_of": f"{cutoff:%Y-%m-%d}", "rows": len(frame), "metrics": report, "primary": "rmse"}


def _actions(name: str):
    def call(ctx: ReportContext):
        from training.reports import customer_actions

        return getattr(customer_actions, name)(ctx)

    call.__name__ = name
    return call


LTV_REPORT = ReportHooks(
    id_column=c.USER_ID,
    latest=latest_users,
    contributions=ltv_contributions,
    score=ltv_score,
    actions=_actions("ltv_actions"),
    realised=realised_ltv,
    score_label=("预测未来消费", "predicted future spend"),
    log_field="predicted_ltv",
    ageing=AGEING,
)
TIERING_REPORT = ReportHooks(
    id_column=c.USER_ID,
    latest=latest_users,
    score=tier_score,
    actions=_actions("tiering_actions"),
    score_label=("分层", "tier"),
    ageing=AGEING,
)
CHURN_REPORT = ReportHooks(
    id_column=c.USER_ID,
    latest=latest_users,
    contributions=churn_contributions,
    score=churn_score,
    actions=_actions("churn_actions"),
    realised=realised_churn,
    score_label=("流失风险", "churn risk"),
    log_field="churn_probability",
    ageing=AGEING,
)
