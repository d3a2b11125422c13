"""Run one customer decision end to end: dataset -> fit -> evaluate against baselines -> log -> register -> alias.

This is the shape every decision follows; the model code it calls is pure (``models/``), and everything with a
side effect (MLflow, files) happens here.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.types.schema import ColSpec, Schema

from features import columns as c
from features.settings import Settings, get_settings
from models import metrics
from models.churn import ChurnClassifier, RecencyBaseline, RfmLogisticBaseline, choose_risk_thresholds
from models.ltv import LtvRegressor
from models.tiering import TieringModel, tier_report
from training import plots, tracking
from training.customer_data import load_customer_dataset
from training.datasets import CHURNED, FUTURE_SPEND, CustomerDataset, LabelConfig
from training.pyfunc import TIER, ChurnDecisionModel, TieringDecisionModel

logger = logging.getLogger(__name__)

CHURN_SERVICE = "churn_v1"
TIERING_SERVICE = "tiering_v1"
OPTIONAL_INPUTS = (c.USER_ID, TIER)


@dataclass
class TrainResult:
    """What a training run produced and where to find it."""

    decision: str
    dataset: str
    run_id: str
    model_name: str
    version: str
    alias: str
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    tracking_uri: str = ""
    seconds: float = 0.0


def _signature(example: pd.DataFrame, output: pd.DataFrame, params: dict[str, Any] | None):
    """Inferred signature with ``user_id`` / ``tier`` optional, so callers without them are still valid."""
    signature = infer_signature(example, output, params)
    specs = [
        ColSpec(spec.type, spec.name, required=spec.name not in OPTIONAL_INPUTS) for spec in signature.inputs.inputs
    ]
    signature.inputs = Schema(specs)
    return signature


def _fit_ltv(data: CustomerDataset, seed: int) -> LtvRegressor:
    """Lifetime value (spend in the next 180 days) from the training and validation rows whose window is observed."""
    parts = [data.xy(role, FUTURE_SPEND) for role in ("train", "validation")]
    x = pd.concat([p[0] for p in parts], ignore_index=True)
    y = pd.concat([p[1] for p in parts], ignore_index=True)
    if len(x) == 0:
        raise ValueError("no training rows with a fully observed lifetime-value window: the history is too short")
    return LtvRegressor(random_state=seed).fit(x.astype("float64"), y)


def _log_common(data: CustomerDataset, horizon_days: int, seed: int) -> None:
    mlflow.log_params(
        {
            "horizon_days": horizon_days,
            "ltv_days": data.config.ltv_days,
            "seed": seed,
            "n_features": len(data.feature_names),
            **{f"rows_{role}": len(data.part(role)) for role in ("train", "validation", "test")},
        }
    )
    mlflow.log_dict({"features": data.feature_names, "lineage": data.lineage}, "dataset.json")
    test = data.part("test")
    source = str(data.lineage.get("lake", ""))
    mlflow.log_input(mlflow.data.from_pandas(test, source=source, name=f"{data.lineage['dataset']}-test"), "testing")


def _log_metrics(prefix: str, values: dict[str, float]) -> None:
    mlflow.log_metrics({f"{prefix}{k}": float(v) for k, v in values.items() if np.isfinite(v)})


def _score_churn_version(name: str, x_test: pd.DataFrame, y_test: pd.Series):
    def score(version: str) -> float:
        loaded = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        proba = loaded.predict(x_test.astype("float64"))["churn_probability"].to_numpy()
        return metrics.roc_auc(y_test.to_numpy(), proba)

    return score


def train_churn(
    dataset: str | None = None,
    horizon_days: int = 90,
    seed: int = 42,
    settings: Settings | None = None,
    classifier_params: dict[str, Any] | None = None,
) -> TrainResult:
    """Train, evaluate, log, register and gate the churn decision on one dataset.

    ``classifier_params`` override the LightGBM defaults (hyper-parameter trials from a notebook go through here,
    and through the same champion gate).
    """
    started = time.perf_counter()
    settings = settings or get_settings()
    paths = settings.dataset(dataset or settings.default_dataset)
    data = load_customer_dataset(paths, LabelConfig(horizon_days=horizon_days), settings)
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = (data.xy(r) for r in ("train", "validation", "test"))
    classifier = ChurnClassifier(random_state=seed, **(classifier_params or {})).fit(x_tr, y_tr, x_val, y_val)
    baselines = {"recency_rule": RecencyBaseline().fit(x_tr, y_tr), "rfm_logreg": RfmLogisticBaseline().fit(x_tr, y_tr)}
    ltv = _fit_ltv(data, seed)
    thresholds = choose_risk_thresholds(classifier.predict_proba(x_val)[:, 1], y_val.to_numpy())
    p_test = classifier.predict_proba(x_te)[:, 1]
    scores = {name: model.predict_proba(x_te)[:, 1] for name, model in baselines.items()}
    report = metrics.classification_report(y_te.to_numpy(), p_test)
    baseline_reports = {name: metrics.classification_report(y_te.to_numpy(), p) for name, p in scores.items()}
    decision = ChurnDecisionModel(classifier, ltv, thresholds, data.feature_names, CHURN_SERVICE)
    name = tracking.registered_name("churn", paths.name, settings)
    uri = tracking.configure(settings)
    tracking.experiment("churn", paths.name, settings)
    with mlflow.start_run(run_name=f"churn-{paths.name}-h{horizon_days}") as run:
        _log_common(data, horizon_days, seed)
        mlflow.log_params({f"model_{k}": v for k, v in classifier.get_params().items() if k != "monotone"})
        mlflow.log_dict({"monotone": classifier.monotone_, "risk_thresholds": asdict(thresholds)}, "model_config.json")
        _log_metrics("test_", report)
        for base, values in baseline_reports.items():
            _log_metrics(f"baseline_{base}_test_", values)
        mlflow.log_figure(plots.calibration_figure(y_te.to_numpy(), {"lightgbm": p_test, **scores}), "calibration.png")
        mlflow.log_figure(plots.shap_summary_figure(classifier.booster_, x_te, seed=seed), "shap_summary.png")
        example = x_te.head(5).astype("float64")
        output = decision.decide(example, explain=True)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=decision,
            signature=_signature(example, output, {"explain": False, "top_k": 3}),
            input_example=example,
            registered_model_name=name,
            tags={"feature_service": CHURN_SERVICE},
        )
        gate = tracking.gate_alias(
            name, str(info.registered_model_version), report["roc_auc"], _score_churn_version(name, x_te, y_te)
        )
        mlflow.set_tags({"alias": gate.alias, "registered_version": gate.version})
    return TrainResult(
        "churn", paths.name, run.info.run_id, name, gate.version, gate.alias, report, baseline_reports,
        {"gate": asdict(gate), "lineage": data.lineage}, uri, time.perf_counter() - started,
    )  # fmt: skip


TIERING_INPUTS = ["recency_days", "orders_365d", "spend_365d", "tenure_days", "predicted_ltv"]
# The handbooks' six tiers are the business range's floor: silhouette alone prefers 4 broad clusters here, which
# leaves "active" and "potential high value" empty; more than six clusters share tier names.
TIER_K_RANGE = (6, 8)


def _tier_frame(data: CustomerDataset, role: str, ltv: LtvRegressor) -> pd.DataFrame:
    part = data.part(role)
    x = part[data.feature_names].astype("float64")
    return x.assign(predicted_ltv=np.clip(ltv.predict(x), 0, None))


def _score_tiering_version(name: str, x_test: pd.DataFrame, seed: int):
    def score(version: str) -> float:
        loaded = mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model()
        frame = x_test.assign(predicted_ltv=np.clip(loaded.ltv.predict(x_test), 0, None))
        return loaded.tiering.holdout_silhouette(frame, random_state=seed)

    return score


def _previous_centroids(name: str) -> pd.DataFrame | None:
    """The champion's named centroids, so this retrain keeps each kind of cluster under the same tier name."""
    version = tracking.champion_version(name)
    if version is None:
        return None
    return mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model().tiering.centroids_


def train_tiering(dataset: str | None = None, seed: int = 42, settings: Settings | None = None) -> TrainResult:
    """Fit RFM + K-means tiers at the validation cutoff, refit at the test cutoff, report stability, register."""
    started = time.perf_counter()
    settings = settings or get_settings()
    paths = settings.dataset(dataset or settings.default_dataset)
    data = load_customer_dataset(paths, LabelConfig(), settings)
    ltv = _fit_ltv(data, seed)
    name = tracking.registered_name("tiering", paths.name, settings)
    uri = tracking.configure(settings)
    reference = _previous_centroids(name)
    earlier, later = _tier_frame(data, "validation", ltv), _tier_frame(data, "test", ltv)
    k_min, k_max = TIER_K_RANGE
    first = TieringModel(k_min=k_min, k_max=k_max, random_state=seed, reference_centroids=reference).fit(earlier)
    model = TieringModel(k_min=k_min, k_max=k_max, random_state=seed, reference_centroids=first.centroids_).fit(later)
    stability = metrics.adjusted_rand(first.predict(later), model.predict(later))
    test = data.part("test")
    tiers = model.predict(later)
    revenue = test[FUTURE_SPEND].fillna(test["spend_365d"]).to_numpy()
    table = tier_report(tiers, revenue)
    silhouette = model.holdout_silhouette(later, random_state=seed)
    summary = {
        "k": float(model.k_),
        "silhouette": silhouette,
        "stability_ari": stability,
        "high_value_user_share": float(np.mean(tiers == "high_value")),
        "high_value_revenue_share": float(revenue[tiers == "high_value"].sum() / max(revenue.sum(), 1e-9)),
        "churn_rate_test": float(test[CHURNED].mean()),
    }
    decision = TieringDecisionModel(model, ltv, data.feature_names, TIERING_SERVICE)
    tracking.experiment("tiering", paths.name, settings)
    with mlflow.start_run(run_name=f"tiering-{paths.name}") as run:
        _log_common(data, data.config.horizon_days, seed)
        mlflow.log_params({"k_min": model.k_min, "k_max": model.k_max, "renamed_from_champion": reference is not None})
        _log_metrics("", summary)
        mlflow.log_table(table.reset_index(), "tier_report.json")
        mlflow.log_figure(
            plots.tier_profile_figure(model.centroids_.set_index("tier"), TIERING_INPUTS), "tier_profile.png"
        )
        example = data.part("test")[data.feature_names].head(5).astype("float64")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=decision,
            signature=_signature(example, decision.decide(example), None),
            input_example=example,
            registered_model_name=name,
            tags={"feature_service": TIERING_SERVICE},
        )
        score = _score_tiering_version(name, later.drop(columns=["predicted_ltv"]), seed)
        gate = tracking.gate_alias(name, str(info.registered_model_version), silhouette, score)
        mlflow.set_tags({"alias": gate.alias, "registered_version": gate.version})
    return TrainResult(
        "tiering", paths.name, run.info.run_id, name, gate.version, gate.alias, summary, {},
        {"gate": asdict(gate), "tier_report": json.loads(table.to_json(orient="index"))}, uri,
        time.perf_counter() - started,
    )  # fmt: skip
