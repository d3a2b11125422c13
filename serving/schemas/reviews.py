"""Request and response bodies of ``POST /reviews/score``: stored reviews by id and raw reviews at submission time.

The ``EXAMPLE_*`` constants are the documented examples and the bodies the tests send. Review text is data the
service never logs (the audit line keeps counts, not content).
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from serving.schemas.common import ID_PATTERN, MAX_ID_LENGTH, MAX_IDS, Counts, ModelRef, SkuId, UserId

MAX_RAW_REVIEWS = 100
MAX_TEXT_CHARS = 2000
MAX_TOP_K = 8
DEFAULT_TOP_K = 4

ReviewId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN),
    Field(description=f"Review id: 1-{MAX_ID_LENGTH} characters from A-Z a-z 0-9 _ . : -", examples=["R000001"]),
]
OptionalId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)] | None

EXAMPLE_REVIEW_IDS = ["R000001", "R000002"]
EXAMPLE_UNKNOWN_REVIEW = "R999999"
EXAMPLE_RAW_REVIEW: dict = {
    "review_id": "NEW-1",
    "text": "宝贝收到了，质量非常好，和描述的一模一样，物流也很快，五星好评！",
    "rating": 5,
    "user_id": "U000123",
    "sku_id": "SKU000042",
    "review_ts": "2025-12-30T10:15:00",
    "device_id": "D-abc123",
    "order_id": None,
}
EXAMPLE_RAW_REVIEW_EN: dict = {**EXAMPLE_RAW_REVIEW, "review_id": "NEW-2",
                               "text": "Great value, arrived quickly and works as described."}  # fmt: skip
EXAMPLE_REVIEWS_REQUEST: dict = {
    "review_ids": [*EXAMPLE_REVIEW_IDS, EXAMPLE_UNKNOWN_REVIEW],
    "reviews": [EXAMPLE_RAW_REVIEW, EXAMPLE_RAW_REVIEW_EN],
}


class RawReview(BaseModel):
    """A review as submitted, before it is published: scored on the reviewer's, product's and device's history."""

    model_config = ConfigDict(extra="forbid")

    review_id: ReviewId = Field(..., description="The id the platform gave the submission.")
    text: str = Field(..., min_length=1, max_length=MAX_TEXT_CHARS, description="Review text, Chinese or English.")
    rating: int = Field(..., ge=1, le=5, description="Stars, 1 to 5.")
    user_id: UserId
    sku_id: SkuId
    review_ts: datetime = Field(..., description="Submission time (naive, UTC).")
    device_id: OptionalId = Field(None, description="Device fingerprint (used only to count accounts per device).")
    order_id: OptionalId = Field(None, description="Order the review is attached to, if any.")

    @field_validator("text")
    @classmethod
    def _readable(cls, value: str) -> str:
        """Blank text, or control characters other than line breaks and tabs, is malformed."""
        if not value.strip():
            raise ValueError("text must not be blank")
        if any(unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in "\n\r\t" for ch in value):
            raise ValueError("text contains control or unassigned characters")
        return value

    @field_validator("review_ts")
    @classmethod
    def _naive(cls, value: datetime) -> datetime:
        """Naive UTC, between 1970 and tomorrow: a review cannot be posted in the future (nor past pandas' range)."""
        value = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
        latest = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)
        if not datetime(1970, 1, 1) <= value <= latest:
            raise ValueError(f"review_ts must lie between 1970-01-01 and {latest:%Y-%m-%d} (UTC)")
        return value


class ReviewScoreRequest(BaseModel):
    """Score stored reviews by id and/or raw reviews at submission time (give at least one of the two)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_REVIEWS_REQUEST})

    review_ids: list[ReviewId] | None = Field(
        None, min_length=1, max_length=MAX_IDS, description=f"1-{MAX_IDS} ids of reviews already in the store."
    )
    reviews: list[RawReview] | None = Field(
        None, min_length=1, max_length=MAX_RAW_REVIEWS, description=f"1-{MAX_RAW_REVIEWS} raw reviews, in order."
    )
    top_k: int = Field(DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="Evidence items per review.")

    @model_validator(mode="after")
    def _something(self) -> ReviewScoreRequest:
        if self.review_ids is None and self.reviews is None:
            raise ValueError("give review_ids, reviews or both")
        return self


class Evidence(BaseModel):
    """One fact behind the verdict, in Chinese and English, with its number."""

    feature: str = Field(..., examples=["device_shared_accounts"])
    value: float = Field(..., examples=[7.0])
    zh: str = Field(..., examples=["设备被7个账号共用"])
    en: str = Field(..., examples=["device shared by 7 accounts"])


class ReviewResult(BaseModel):
    """The verdict on one review (stored ids first, then raw reviews, each in request order)."""

    review_id: str | None
    status: Literal["ok", "unknown_review"] = Field(..., description="unknown_review: no stored review has this id.")
    probability: float | None = Field(None, description="Calibrated P(fake).")
    label: Literal["genuine", "suspicious", "fake"] | None = None
    action: Literal["publish", "hold", "hide"] | None = Field(None, description="From the moderation rules table.")
    text_only: bool | None = Field(None, description="True when the model had no behaviour features to use.")
    evidence: list[Evidence] = Field(
        default_factory=list, description="Strongest first; empty when nothing stands out."
    )
    campaign_id: str | None = Field(None, description="Suspected campaign among the reviews of this request.")
    campaign_size: int | None = None


class ReviewCounts(Counts):
    unknown_review: int = Field(..., description="Ids no stored review has.")


class ReviewScoreResponse(BaseModel):
    request_id: str
    models: dict[str, ModelRef]
    counts: ReviewCounts
    results: list[ReviewResult]
