"""MLflow pyfunc models that carry their pre- and post-processing, so one artifact answers a whole decision.

A loaded ``models:/shopsense-churn@champion`` takes user feature rows and returns probability, risk band, value at
risk, reasons and the recall action; the BentoML service and batch scoring call the same object.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from features import columns as c
from models.churn import ChurnClassifier, RiskThresholds, risk_band, top_reasons
from models.ltv import LtvRegressor
from models.recall import DEFAULT_RULES, RecallRule, recall_action
from models.tiering import TIER_LABELS_ZH, TieringModel

TIER = "tier"
DEFAULT_TOP_K = 3


def _features(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The model's columns in training order as float (nullable ints become NaN, which LightGBM handles)."""
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"input lacks feature column(s): {', '.join(missing)}")
    return frame[names].astype("float64")


def _ids(frame: pd.DataFrame) -> pd.Series:
    if c.USER_ID in frame.columns:
        return frame[c.USER_ID].astype(str).reset_index(drop=True)
    return pd.Series([None] * len(frame), dtype=object)


class ChurnDecisionModel(mlflow.pyfunc.PythonModel):
    """Calibrated churn classifier + lifetime-value regressor + risk bands + recall rules, as one predict call.

    Input: user feature rows (``feature_names``), optionally ``user_id`` and ``tier`` (from the tiering model; when
    absent the tier-agnostic recall rule applies). Params: ``explain`` (bool) adds TreeSHAP reasons, ``top_k``.
    """

    def __init__(
        self,
        classifier: ChurnClassifier,
        ltv: LtvRegressor,
        thresholds: RiskThresholds,
        feature_names: list[str],
        feature_service: str,
        rules: tuple[RecallRule, ...] = DEFAULT_RULES,
    ) -> None:
        self.classifier = classifier
        self.ltv = ltv
        self.thresholds = thresholds
        self.feature_names = list(feature_names)
        self.feature_service = feature_service
        self.rules = rules

    def decide(self, frame: pd.DataFrame, explain: bool = False, top_k: int = DEFAULT_TOP_K) -> pd.DataFrame:
        """The decision per row (pure pandas, also used by batch scoring without MLflow)."""
        x = _features(frame, self.feature_names)
        proba = self.classifier.predict_proba(x)[:, 1]
        ltv = np.clip(self.ltv.predict(x), 0.0, None)
        bands = risk_band(proba, self.thresholds)
        tiers = frame[TIER].astype(str).tolist() if TIER in frame.columns else ["*"] * len(frame)
        actions = [recall_action(tier, band, self.rules) for tier, band in zip(tiers, bands, strict=True)]
        out = pd.DataFrame(
            {
                c.USER_ID: _ids(frame),
                "churn_probability": proba,
                "risk_band": bands,
                "predicted_ltv": ltv,
                "value_at_risk": ltv * proba,
                "recall_action": [a.action for a in actions],
                "recall_label_zh": [a.label_zh for a in actions],
                "recall_label_en": [a.label_en for a in actions],
                "recall_channel": [a.channel for a in actions],
            }
        )
        if explain:
            reasons = top_reasons(self.classifier.contributions(x), x, top_k=top_k)
            out["reasons"] = [
                json.dumps([asdict(r) for r in row], ensure_ascii=False, default=float) for row in reasons
            ]
        return out

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        params = params or {}
        return self.decide(model_input, bool(params.get("explain", False)), int(params.get("top_k", DEFAULT_TOP_K)))


class TieringDecisionModel(mlflow.pyfunc.PythonModel):
    """RFM scores + K-means tiers on log-RFM and predicted lifetime value, as one predict call."""

    def __init__(
        self, tiering: TieringModel, ltv: LtvRegressor, feature_names: list[str], feature_service: str
    ) -> None:
        self.tiering = tiering
        self.ltv = ltv
        self.feature_names = list(feature_names)
        self.feature_service = feature_service

    def decide(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = _features(frame, self.feature_names)
        ltv = np.clip(self.ltv.predict(x), 0.0, None)
        scored = x.assign(predicted_ltv=ltv)
        tiers = self.tiering.predict(scored)
        rfm = self.tiering.rfm(x).reset_index(drop=True)
        return pd.DataFrame(
            {
                c.USER_ID: _ids(frame),
                TIER: tiers,
                "tier_zh": [TIER_LABELS_ZH[t] for t in tiers],
                "r_score": rfm["r_score"].astype(int),
                "f_score": rfm["f_score"].astype(int),
                "m_score": rfm["m_score"].astype(int),
                "predicted_ltv": ltv,
            }
        )

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.decide(model_input)
