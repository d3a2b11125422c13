"""The served shape of the three customer decisions: lifetime value, tiering and churn, as pure ``decide`` objects.

Each wraps fitted estimators from :mod:`models.ltv`, :mod:`models.tiering` and :mod:`models.churn` and returns typed
records. Dependencies are explicit: tiering reads ``predicted_ltv`` and churn reads ``predicted_ltv`` and ``tier``
as columns that the caller (the serving runtime, the training runner) fills from the upstream decisions, so
``/churn/predict`` and ``/users/tier`` always report the lifetime value of the one LTV model.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from models.churn import ChurnClassifier, RiskThresholds, risk_band
from models.decision import Record, Upstream, feature_block, optional_column, optional_values, reorder
from models.recall import DEFAULT_RULES, RecallRule, explain_action, recall_action
from models.tiering import FEATURES, SCORES, TIER_LABELS_EN, TIER_LABELS_ZH

PREDICTED_LTV = "predicted_ltv"
TIER = "tier"
DEFAULT_TOP_K = 3


class LtvDecision:
    """Expected spend in the lifetime-value window per user (never negative)."""

    provides = (PREDICTED_LTV,)

    def __init__(self, regressor: Any, feature_names: list[str], feature_service: str, window_days: int) -> None:
        self.regressor = regressor
        self.feature_names = list(feature_names)
        self.feature_service = feature_service
        self.window_days = window_days

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The raw predictions (what tiering and the gate use), clipped at 0."""
        return np.clip(self.regressor.predict(feature_block(frame, self.feature_names)), 0.0, None)

    def decide(self, frame: pd.DataFrame, **_: Any) -> list[Record]:
        return [{PREDICTED_LTV: float(v)} for v in self.predict(frame)]

    def decide_array(self, x: np.ndarray, upstream: Upstream, **_: Any) -> list[Record]:
        """:meth:`decide` on a float64 array of ``feature_names`` (no frame built)."""
        pred = self.regressor.predict_array(reorder(x, self.feature_names, self.regressor.feature_names_))
        return [{PREDICTED_LTV: v} for v in pred.tolist()]  # predict_array clips at 0 already


class TieringDecision:
    """RFM scores against the fitted cut points and the K-means (or rules) tier, per user.

    ``predicted_ltv`` comes from the LTV decision as a column; without it the tiering model sees 0 value.
    """

    def __init__(self, tiering: Any, feature_names: list[str], feature_service: str) -> None:
        self.tiering = tiering
        self.feature_names = list(feature_names)
        self.feature_service = feature_service

    def tier_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model columns plus ``predicted_ltv`` (0 where the upstream value is missing)."""
        x = feature_block(frame, self.feature_names)
        ltv = frame[PREDICTED_LTV].astype("float64") if PREDICTED_LTV in frame.columns else 0.0
        return x.assign(**{PREDICTED_LTV: np.nan_to_num(np.asarray(ltv, dtype="float64") * np.ones(len(x)))})

    def decide(self, frame: pd.DataFrame, **_: Any) -> list[Record]:
        scored = self.tier_frame(frame)
        tiers = self.tiering.predict(scored)
        rfm = self.tiering.rfm(scored)[list(SCORES)].to_numpy()
        return self._records(tiers, rfm, scored[PREDICTED_LTV].to_numpy())

    def decide_array(self, x: np.ndarray, upstream: Upstream, **_: Any) -> list[Record]:
        """:meth:`decide` on a float64 array of ``feature_names``, ``predicted_ltv`` from ``upstream``."""
        ltv = upstream.get(PREDICTED_LTV)
        ltv = np.zeros(len(x)) if ltv is None else np.asarray(ltv, dtype=np.float64)
        ltv = np.where(np.isnan(ltv), 0.0, ltv)  # as np.nan_to_num on these finite values, at a third of the cost
        block = np.empty((len(x), len(FEATURES)), dtype=np.float64)
        block[:, :-1] = reorder(x, self.feature_names, FEATURES[:-1])
        block[:, -1] = ltv
        scores = self.tiering.rfm_array(block)
        return self._records(self.tiering.predict_array(block, scores), scores, ltv)

    @staticmethod
    def _records(tiers: np.ndarray, rfm: np.ndarray, ltv: np.ndarray) -> list[Record]:
        """One record per user; ``rfm``: scores (n, 3), columns :data:`SCORES`."""
        return [
            {
                TIER: str(tier),
                "tier_zh": TIER_LABELS_ZH.get(str(tier), str(tier)),
                "tier_en": TIER_LABELS_EN.get(str(tier), str(tier)),
                "r_score": int(r),
                "f_score": int(f),
                "m_score": int(m),
                PREDICTED_LTV: float(v),
            }
            for tier, (r, f, m), v in zip(np.asarray(tiers).tolist(), rfm.tolist(), ltv.tolist(), strict=True)
        ]  # fmt: skip


class ChurnDecision:
    """Calibrated churn probability, risk band, value at risk, recall action and (on request) TreeSHAP reasons.

    Reads ``tier`` (picks the recall rule; tier-agnostic rules apply without it) and ``predicted_ltv`` (value at
    risk) as upstream columns. Params: ``explain`` adds reasons, ``top_k`` bounds them.
    """

    def __init__(
        self,
        classifier: ChurnClassifier,
        thresholds: RiskThresholds,
        feature_names: list[str],
        feature_service: str,
        rules: tuple[RecallRule, ...] = DEFAULT_RULES,
    ) -> None:
        self.classifier = classifier
        self.thresholds = thresholds
        self.feature_names = list(feature_names)
        self.feature_service = feature_service
        self.rules = rules

    def decide(self, frame: pd.DataFrame, explain: bool = False, top_k: int = DEFAULT_TOP_K, **_: Any) -> list[Record]:
        x = feature_block(frame, self.feature_names)
        proba = self.classifier.predict_proba(x)[:, 1]
        reasons = self.classifier.reasons(x, top_k=top_k) if explain else None
        return self._records(proba, optional_column(frame, TIER), optional_column(frame, PREDICTED_LTV), reasons)

    def decide_array(
        self, x: np.ndarray, upstream: Upstream, explain: bool = False, top_k: int = DEFAULT_TOP_K, **_: Any
    ) -> list[Record]:
        """:meth:`decide` on a float64 array of ``feature_names``; ``tier`` and ``predicted_ltv`` from ``upstream``."""
        matrix = self.classifier.model_array(reorder(x, self.feature_names, self.classifier.feature_names_))
        proba = self.classifier.churn_probability(matrix)
        reasons = self.classifier.reasons_array(matrix, top_k=top_k) if explain else None
        tiers = optional_values(upstream.get(TIER), len(x))
        return self._records(proba, tiers, optional_values(upstream.get(PREDICTED_LTV), len(x)), reasons)

    def _records(
        self, proba: np.ndarray, tiers: list[Any], values: list[Any], reasons: list[list[Any]] | None
    ) -> list[Record]:
        bands = risk_band(proba, self.thresholds)
        records = []
        for i, (p, band, tier, ltv) in enumerate(zip(proba.tolist(), bands.tolist(), tiers, values, strict=True)):
            action = recall_action(str(tier) if tier is not None else "*", band, self.rules)
            rule = explain_action(p, band, str(tier) if tier is not None else "*", action, self.thresholds)
            records.append(
                {
                    "churn_probability": p,
                    "risk_band": band,
                    PREDICTED_LTV: None if ltv is None else float(ltv),
                    "value_at_risk": None if ltv is None else float(ltv) * p,
                    TIER: tier,
                    "recall_action": {
                        "code": action.action,
                        "label_zh": action.label_zh,
                        "label_en": action.label_en,
                        "channel": action.channel,
                    },
                    "rule": rule,
                    "reasons": [] if reasons is None else [asdict(r) for r in reasons[i]],
                }
            )
        return records
