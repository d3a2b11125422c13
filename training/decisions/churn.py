"""Churn as a decision: calibrated monotone LightGBM, judged against recency, RFM-logistic and BG/NBD baselines.

Served at ``POST /churn/predict`` beside its upstream decisions: the tier picks the recall action and the lifetime
value turns a probability into value at risk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from features.settings import DatasetPaths, Settings
from serving.schemas.customer import ChurnRequest, ChurnResponse
from training.datasets import CHURNED, LabelConfig
from training.decisions import customer_base as cb
from training.decisions.spec import Call, DecisionData, DecisionSpec, Evaluation, Route, TrainOptions
from training.reports.customer import CHURN_REPORT

if TYPE_CHECKING:
    from models.customer_decisions import ChurnDecision

FEATURE_SERVICE = "churn_v1"
HORIZON_DAYS = 90
SHAP_ROWS = 2000  # TreeSHAP costs ~1 ms per row: a seeded sample of the holdout is enough for global importance


def load(paths: DatasetPaths, settings: Settings, options: TrainOptions) -> DecisionData:
    data = cb.customer_data(paths, settings, LabelConfig(horizon_days=options.horizon_days or HORIZON_DAYS))
    data.lineage["horizon_days"] = options.horizon_days or HORIZON_DAYS
    return data


def fit(data: DecisionData, options: TrainOptions, champion: object = None) -> ChurnDecision:
    """Boost on the training cutoffs, calibrate and choose risk bands on the validation cutoff."""
    from models.churn import ChurnClassifier, choose_risk_thresholds
    from models.customer_decisions import ChurnDecision

    x_tr, y_tr = cb.features(data, "train"), cb.column(data, "train", CHURNED)
    x_val, y_val = cb.features(data, "validation"), cb.column(data, "validation", CHURNED)
    horizon = int(data.lineage.get("horizon_days", HORIZON_DAYS))
    params = {"random_state": options.seed, "btyd_horizon_days": horizon} | dict(options.params)
    classifier = ChurnClassifier(**params).fit(x_tr, y_tr, x_val, y_val)
    thresholds = choose_risk_thresholds(classifier.predict_proba(x_val)[:, 1], y_val)
    return ChurnDecision(classifier, thresholds, data.feature_names, FEATURE_SERVICE)


def _baselines(data: DecisionData, seed: int) -> dict[str, object]:
    from models.churn_baselines import BgNbdChurnBaseline, RecencyBaseline, RfmLogisticBaseline

    x_tr, y_tr = cb.features(data, "train"), cb.column(data, "train", CHURNED)
    horizon = int(data.lineage.get("horizon_days", HORIZON_DAYS))
    return {
        "recency_rule": RecencyBaseline().fit(x_tr, y_tr),
        "rfm_logreg": RfmLogisticBaseline(random_state=seed).fit(x_tr, y_tr),
        "bgnbd_p_alive": BgNbdChurnBaseline(horizon_days=horizon).fit(x_tr, y_tr),
    }


def evaluate(model: ChurnDecision, data: DecisionData, options: TrainOptions) -> Evaluation:
    """Every probability metric for the model and each baseline on the test cutoff, with calibration and SHAP."""
    from models import metrics
    from models.btyd import order_value_param
    from training import plots

    x_te, y_te = cb.features(data, "test"), cb.column(data, "test", CHURNED)
    p_test = model.classifier.predict_proba(x_te)[:, 1]
    scores = {name: b.predict_proba(x_te)[:, 1] for name, b in _baselines(data, options.seed).items()}
    sample = x_te.sample(min(SHAP_ROWS, len(x_te)), random_state=options.seed)
    importance = plots.shap_importance(model.classifier.contributions(sample), model.classifier.model_frame(sample))
    classifier_params = {k: v for k, v in model.classifier.get_params().items() if k != "monotone"}
    classifier_params |= order_value_param(model.classifier.btyd_)
    return Evaluation(
        metrics.classification_report(y_te, p_test),
        {name: metrics.classification_report(y_te, p) for name, p in scores.items()},
        params=classifier_params,
        tables={"shap_importance.json": importance},
        figures={
            "calibration.png": plots.calibration_figure(y_te, {"lightgbm": p_test, **scores}),
            "shap_importance.png": plots.shap_importance_figure(importance),
        },
        documents={
            "model_config.json": {
                "monotone": model.classifier.monotone_,
                "risk_thresholds": vars(model.thresholds),
                "horizon_days": data.lineage.get("horizon_days"),
            }
        },
    )


def score(model: ChurnDecision, data: DecisionData) -> float:
    from models import metrics

    x_te, y_te = cb.features(data, "test"), cb.column(data, "test", CHURNED)
    return metrics.roc_auc(y_te, model.classifier.predict_proba(x_te)[:, 1])


def churn_call(request: ChurnRequest) -> Call:
    params = {"explain": request.explain, "top_k": request.top_k}
    if request.rows is not None:
        return Call(rows=[r.features for r in request.rows], row_ids=[r.user_id for r in request.rows], params=params)
    return Call(ids=list(request.user_ids or []), params=params)


CHURN_ROUTE = Route(
    "/churn/predict",
    ChurnRequest,
    ChurnResponse,
    "Churn probability, risk band, value at risk, recall action (and reasons when explain) per user.",
    churn_call,
)

SPEC = DecisionSpec(
    name="churn",
    entity="user",
    feature_service=FEATURE_SERVICE,
    description="Churn: who is about to stop buying, why, the value at risk and the recall action.",
    load=load,
    fit=fit,
    evaluate=evaluate,
    score=score,
    primary=("roc_auc", "higher"),
    depends_on=("ltv", "tiering"),
    routes=(CHURN_ROUTE,),
    horizon_days=HORIZON_DAYS,
    requires=cb.USER_TABLES,
    decide_params={"explain": False, "top_k": 3},
    report=CHURN_REPORT,
    typical_seconds=27,
)
