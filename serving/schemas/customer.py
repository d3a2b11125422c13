"""Request and response bodies of the customer routes (churn, tiering); shared pieces live in ``common``.

The ``EXAMPLE_*`` constants are the documented examples (OpenAPI, README) and the bodies the tests send, so the
docs cannot drift from what the service accepts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.reasons import Reason  # the model's own record type: one definition for model and API
from serving.schemas.common import MAX_IDS, Counts, FeatureName, FeatureValue, ModelRef, Status, UserId

MAX_TOP_K = 10
DEFAULT_TOP_K = 3
MAX_ROW_FIELDS = 64

EXAMPLE_USER_IDS = ["U000001", "U000002"]
EXAMPLE_UNKNOWN_ID = "U999999"
EXAMPLE_CHURN_REQUEST: dict = {"user_ids": [*EXAMPLE_USER_IDS, EXAMPLE_UNKNOWN_ID], "explain": True, "top_k": 3}
EXAMPLE_TIER_REQUEST: dict = {"user_ids": [*EXAMPLE_USER_IDS, EXAMPLE_UNKNOWN_ID]}
EXAMPLE_FEATURE_ROW: dict = {
    "user_id": "caller-row-1",
    "features": {
        "recency_days": 12.0, "tenure_days": 400.0, "first_order_days": 380.0, "orders_total": 9.0, "spend_total": 1480.0, "orders_30d": 1.0,
        "spend_30d": 120.0, "orders_90d": 2.0, "spend_90d": 300.0, "orders_180d": 4.0, "spend_180d": 650.0,
        "orders_365d": 7.0, "spend_365d": 1150.0, "avg_order_value": 164.0, "order_trend_90d": 0.0,
        "distinct_categories": 4.0, "discount_share": 0.1, "coupon_order_share": 0.2, "return_rate": 0.0,
        "refund_rate": 0.0, "tickets_total": 1.0, "tickets_unresolved": 0.0, "late_deliveries": 0.0,
        "mean_delivery_delay_days": 0.5, "reviews_written": 2.0, "mean_rating_given": 4.5, "views_7d": 6.0,
        "views_30d": 20.0, "carts_7d": 1.0, "carts_30d": 3.0, "days_since_last_event": 2.0,
    },
}  # fmt: skip
EXAMPLE_CHURN_ROWS_REQUEST: dict = {"rows": [EXAMPLE_FEATURE_ROW], "explain": False}


class FeatureRow(BaseModel):
    """One user's features, for callers that already hold them (no online lookup; always ``status: ok``)."""

    model_config = ConfigDict(extra="forbid")

    user_id: UserId | None = Field(None, description="Echoed back; optional.")
    features: dict[FeatureName, FeatureValue] = Field(
        ...,
        max_length=MAX_ROW_FIELDS,
        description="Every feature of the model's feature service (user view); null for a missing value.",
    )


class ChurnRequest(BaseModel):
    """Score a batch of users for churn: by id (features from the online store) or by feature rows."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_CHURN_REQUEST})

    user_ids: list[UserId] | None = Field(
        None, min_length=1, max_length=MAX_IDS, description=f"1-{MAX_IDS} user ids (give these or rows)."
    )
    rows: list[FeatureRow] | None = Field(
        None, min_length=1, max_length=MAX_IDS, description=f"1-{MAX_IDS} feature rows (give these or user_ids)."
    )
    explain: bool = Field(False, description="Add the top reasons (TreeSHAP contributions); costs ~1 ms per user.")
    top_k: int = Field(DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="Reasons per user when explain is true.")

    @model_validator(mode="after")
    def _one_source(self) -> ChurnRequest:
        if (self.user_ids is None) == (self.rows is None):
            raise ValueError("give exactly one of user_ids or rows")
        return self


class TierRequest(BaseModel):
    """Tier a batch of users by id."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_TIER_REQUEST})

    user_ids: list[UserId] = Field(..., min_length=1, max_length=MAX_IDS, description=f"1-{MAX_IDS} user ids.")


class RecallAction(BaseModel):
    """What operations should do for this user (召回 playbook: tier x risk band)."""

    code: str = Field(..., examples=["retention_coupon"])
    label_zh: str = Field(..., examples=["挽留优惠券"])
    label_en: str = Field(..., examples=["retention coupon"])
    channel: str = Field(..., examples=["sms"])


class ChurnResult(BaseModel):
    """The churn decision for one requested user, in request order; null predictions when status is unknown_user."""

    user_id: str | None
    status: Status = Field(..., description="unknown_user: the online store holds no features for this id.")
    churn_probability: float | None = Field(None, description="Calibrated P(no order in the churn horizon).")
    risk_band: Literal["low", "medium", "high", "critical"] | None = None
    predicted_ltv: float | None = Field(None, description="Predicted spend in the lifetime-value window.")
    value_at_risk: float | None = Field(None, description="predicted_ltv x churn_probability.")
    tier: str | None = Field(None, description="Tier from the tiering model, used to pick the recall action.")
    recall_action: RecallAction | None = None
    rule: str | None = Field(
        None,
        description="Why this band and action, in one line: the band cut points vs the shop's churn rate, and "
        "the tier x band rule that chose the action.",
    )
    reasons: list[Reason] = Field(
        default_factory=list, description="Empty unless explain is true (and the user is known); strongest first."
    )


class TierResult(BaseModel):
    """The tier of one requested user, in request order; null predictions when status is unknown_user."""

    user_id: str
    status: Status
    tier: str | None = None
    tier_zh: str | None = None
    tier_en: str | None = None
    r_score: int | None = Field(
        None, description="Recency score 1-5 (5 best): quintile against the users the tiering model was fitted on."
    )
    f_score: int | None = Field(
        None, description="Frequency score 1-5: quintile against the tiering model's training population."
    )
    m_score: int | None = Field(
        None, description="Monetary score 1-5: quintile against the tiering model's training population."
    )
    predicted_ltv: float | None = None


class UserCounts(Counts):
    unknown_user: int = Field(..., description="Ids the online store holds no features for.")


class ChurnResponse(BaseModel):
    request_id: str
    models: dict[str, ModelRef] = Field(..., description="Per decision (churn, tiering): the model that produced it.")
    counts: UserCounts
    results: list[ChurnResult]


class TierResponse(BaseModel):
    request_id: str
    models: dict[str, ModelRef]
    counts: UserCounts
    results: list[TierResult]
