"""User tiering (用户分层) as a decision: RFM + K-means on log-RFM, tenure and predicted lifetime value.

Honest gate: the model is fitted at the validation cutoff and judged on the test cutoff's users, whom no version
was fitted on, so the champion and a new version are compared on the same unseen rows. Stability is the adjusted
Rand index between this model and one fitted at the last training cutoff, on the same test users; the handbooks'
RFM rules are scored the same way beside it, and the model falls back to them (``fallback_``) when K-means is less
stable or leaves more tiers empty on its training users.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd

from features import columns as c
from features.settings import DatasetPaths, Settings
from serving.schemas.customer import TierRequest, TierResponse
from training.datasets import HORIZON_SPEND, LabelConfig
from training.decisions import customer_base as cb
from training.decisions.spec import Call, DecisionData, DecisionSpec, Evaluation, Route, TrainOptions
from training.reports.customer import TIERING_REPORT

if TYPE_CHECKING:
    from models.customer_decisions import TieringDecision
    from models.tiering import TieringModel

FEATURE_SERVICE = "tiering_v1"
# The handbooks' six tiers are the business range's floor: silhouette alone prefers 4 broad clusters here, which
# leaves "active" and "potential high value" empty; more than six clusters share tier names.
K_RANGE = (6, 8)


def load(paths: DatasetPaths, settings: Settings, options: TrainOptions) -> DecisionData:
    return cb.customer_data(paths, settings, LabelConfig())


def _params(options: TrainOptions) -> dict:
    k_min, k_max = K_RANGE
    return {"k_min": k_min, "k_max": k_max, "random_state": options.seed} | dict(options.params)


def _tiering(data: DecisionData, role: str, options: TrainOptions, reference=None) -> TieringModel:
    from models.customer_decisions import TieringDecision
    from models.tiering import TieringModel

    frame = TieringDecision(None, data.feature_names, FEATURE_SERVICE).tier_frame(data.part(role))
    return TieringModel(reference_centroids=reference, **_params(options)).fit(frame)


def fit(data: DecisionData, options: TrainOptions, champion: TieringDecision | None = None) -> TieringDecision:
    """K-means at the validation cutoff; clusters take the champion's tier names when there is one."""
    from models.customer_decisions import TieringDecision

    reference = getattr(getattr(champion, "tiering", None), "centroids_", None)
    return TieringDecision(_tiering(data, "validation", options, reference), data.feature_names, FEATURE_SERVICE)


def _test_frame(model: TieringDecision, data: DecisionData) -> pd.DataFrame:
    return model.tier_frame(data.part("test"))


def _last_train_frame(data: DecisionData) -> pd.DataFrame:
    """The users at the last training cutoff: one retrain before the model, for stability."""
    train = data.part("train")
    return train[train[c.AS_OF] == train[c.AS_OF].max()]


def evaluate(model: TieringDecision, data: DecisionData, options: TrainOptions) -> Evaluation:
    """Model and the handbooks' RFM rules on the same unseen test users: shares, revenue, stability, empty tiers."""
    from models.rfm import RfmRuleTiering
    from models.tiering import TieringModel
    from models.tiering_eval import evaluate_tiering

    later = _test_frame(model, data)
    earlier = model.tier_frame(_last_train_frame(data))
    revenue = data.part("test")[HORIZON_SPEND].to_numpy(dtype="float64")
    previous = TieringModel(reference_centroids=model.tiering.centroids_, **_params(options)).fit(earlier)
    own = evaluate_tiering(model.tiering, later, revenue, previous=previous, random_state=options.seed)
    rules = RfmRuleTiering().fit(model.tier_frame(data.part("validation")))
    rules_previous = RfmRuleTiering().fit(earlier)
    baseline = evaluate_tiering(rules, later, revenue, previous=rules_previous, random_state=options.seed)
    summary = own.summary | {"k": float(model.tiering.k_), "fell_back_to_rules": float(model.tiering.fallback_)}
    return Evaluation(
        summary,
        {"rfm_rules": baseline.summary},
        params={"method": model.tiering.method_, **_params(options)},
        tables={"tier_report.json": own.table.reset_index(), "tier_report_rules.json": baseline.table.reset_index()},
        figures={"tier_profile.png": _profile_figure(model)},
        documents={"tier_report_by_tier.json": json.loads(own.table.to_json(orient="index"))},
    )


def _profile_figure(model: TieringDecision):
    from models.tiering import FEATURES
    from training import plots

    return plots.tier_profile_figure(model.tiering.centroids_.set_index("tier"), list(FEATURES))


def score(model: TieringDecision, data: DecisionData) -> float:
    """Silhouette of the served tiers (K-means or rules) on the unseen test users: like for like across versions."""
    from models.tiering_eval import tier_silhouette

    later = _test_frame(model, data)
    return tier_silhouette(later, model.tiering.predict(later), random_state=0)


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
    typical_seconds=14,
)
