"""User tiering (用户分层) as a decision: RFM + K-means on log-RFM, tenure and predicted lifetime value.

Honest gate: the model is fitted at the validation cutoff and judged on the test cutoff's users, whom no version
was fitted on, so the champion and a new version are compared on the same unseen rows. Stability is the adjusted
Rand index between this model and one fitted a cutoff earlier, on the same test users.
"""

from __future__ import annotations

import json

import numpy as np

from features.settings import DatasetPaths, Settings
from models import metrics
from models.customer_decisions import TieringDecision
from models.tiering import FEATURES, TIERS, TieringModel, tier_report
from serving.schemas.customer import TierRequest, TierResponse
from training.datasets import CHURNED, FUTURE_SPEND, LabelConfig
from training.decisions import customer_base as cb
from training.reports.customer import TIERING_REPORT
from training.decisions.spec import Call, DecisionData, DecisionSpec, Evaluation, Route, TrainOptions

FEATURE_SERVICE = "tiering_v1"
# The handbooks' six tiers are the business range's floor: silhouette alone prefers 4 broad clusters here, which
# leaves "active" and "potential high value" empty; more than six clusters share tier names.
K_RANGE = (6, 8)


def load(paths: DatasetPaths, settings: Settings, options: TrainOptions) -> DecisionData:
    return cb.customer_data(paths, settings, LabelConfig())


def _tiering(data: DecisionData, role: str, options: TrainOptions, reference=None) -> TieringModel:
    frame = TieringDecision(None, data.feature_names, FEATURE_SERVICE).tier_frame(data.part(role))
    k_min, k_max = K_RANGE
    params = {"k_min": k_min, "k_max": k_max, "random_state": options.seed} | dict(options.params)
    return TieringModel(reference_centroids=reference, **params).fit(frame)


def fit(data: DecisionData, options: TrainOptions, champion: TieringDecision | None = None) -> TieringDecision:
    """K-means at the validation cutoff; clusters take the champion's tier names when there is one."""
    reference = getattr(getattr(champion, "tiering", None), "centroids_", None)
    return TieringDecision(_tiering(data, "validation", options, reference), data.feature_names, FEATURE_SERVICE)


def _test_frame(model: TieringDecision, data: DecisionData):
    return model.tier_frame(data.part("test"))


def evaluate(model: TieringDecision, data: DecisionData, options: TrainOptions) -> Evaluation:
    """Silhouette, stability, tier and revenue shares on the unseen test users."""
    later = _test_frame(model, data)
    earlier_cutoffs = sorted(data.part("train")["as_of"].unique())
    earlier = _tiering(data, "train", options, model.tiering.centroids_) if earlier_cutoffs else None
    tiers = model.tiering.predict(later)
    test = data.part("test")
    revenue = test[FUTURE_SPEND].fillna(test["spend_365d"]).to_numpy(dtype="float64")
    table = tier_report(tiers, revenue)
    summary = {
        "k": float(model.tiering.k_),
        "silhouette": model.tiering.holdout_silhouette(later, random_state=options.seed),
        "stability_ari": metrics.adjusted_rand(earlier.predict(later), tiers) if earlier is not None else np.nan,
        "empty_tiers": float(sum(t not in set(tiers) for t in TIERS)),
        "high_value_user_share": float(np.mean(tiers == "high_value")),
        "high_value_revenue_share": float(revenue[tiers == "high_value"].sum() / max(revenue.sum(), 1e-9)),
        "churn_rate_test": float(test[CHURNED].mean()),
    }
    figure = _profile_figure(model)
    return Evaluation(
        summary,
        params={"k_min": model.tiering.k_min, "k_max": model.tiering.k_max},
        tables={"tier_report.json": table.reset_index()},
        figures={"tier_profile.png": figure},
        documents={"tier_report_by_tier.json": json.loads(table.to_json(orient="index"))},
    )


def _profile_figure(model: TieringDecision):
    from training import plots

    return plots.tier_profile_figure(model.tiering.centroids_.set_index("tier"), list(FEATURES))


def score(model: TieringDecision, data: DecisionData) -> float:
    return model.tiering.holdout_silhouette(_test_frame(model, data), random_state=0)


def tier_call(request: TierRequest) -> Call:
    return Call(ids=list(request.user_ids))


TIER_ROUTE = Route(
    "/users/tier",
    TierRequest,
    TierResponse,
    "Tier (with Chinese label), RFM scores and predicted lifetime value per user; unknown ids flagged.",
    tier_call,
)

SPEC = DecisionSpec(
    name="tiering",
    entity="user",
    feature_service=FEATURE_SERVICE,
    description="User tiers (high value, potential high value, active, new, at risk, lost) with RFM scores.",
    load=load,
    fit=fit,
    evaluate=evaluate,
    score=score,
    primary=("silhouette", "higher"),
    depends_on=("ltv",),
    provides=("tier",),
    routes=(TIER_ROUTE,),
    requires=cb.USER_TABLES,
    report=TIERING_REPORT,
)
