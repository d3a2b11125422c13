"""Request and response bodies per decision (one module each) and the pieces they share (``common``)."""

from serving.schemas.common import ID_PATTERN, MAX_ID_LENGTH, MAX_IDS, Counts, ModelRef, ReloadResponse
from serving.schemas.customer import (
    DEFAULT_TOP_K,
    EXAMPLE_CHURN_REQUEST,
    EXAMPLE_CHURN_ROWS_REQUEST,
    EXAMPLE_FEATURE_ROW,
    EXAMPLE_TIER_REQUEST,
    EXAMPLE_UNKNOWN_ID,
    EXAMPLE_USER_IDS,
    MAX_ROW_FIELDS,
    MAX_TOP_K,
    ChurnRequest,
    ChurnResponse,
    ChurnResult,
    FeatureRow,
    TierRequest,
    TierResponse,
    TierResult,
    UserCounts,
)

__all__ = [
    "DEFAULT_TOP_K", "EXAMPLE_CHURN_REQUEST", "EXAMPLE_CHURN_ROWS_REQUEST", "EXAMPLE_FEATURE_ROW",
    "EXAMPLE_TIER_REQUEST", "EXAMPLE_UNKNOWN_ID", "EXAMPLE_USER_IDS", "ID_PATTERN", "MAX_IDS", "MAX_ID_LENGTH",
    "MAX_ROW_FIELDS", "MAX_TOP_K", "ChurnRequest", "ChurnResponse", "ChurnResult", "Counts", "FeatureRow",
    "ModelRef", "ReloadResponse", "TierRequest", "TierResponse", "TierResult", "UserCounts",
]  # fmt: skip
