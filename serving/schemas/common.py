"""Pieces every decision's request and response share: id limits, model references, counts, reload.

Limits live here as constants so the docs, the validation and the tests read the same numbers.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

MAX_IDS = 1000
MAX_ID_LENGTH = 64
ID_PATTERN = r"^[A-Za-z0-9_.:\-]+$"

UserId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN),
    Field(description=f"User id: 1-{MAX_ID_LENGTH} characters from A-Z a-z 0-9 _ . : -", examples=["U000001"]),
]
FeatureName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
FeatureValue = Annotated[float, Field(allow_inf_nan=False)] | None
Status = Literal["ok", "unknown_user"]
SkuId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN),
    Field(description=f"SKU id: 1-{MAX_ID_LENGTH} characters from A-Z a-z 0-9 _ . : -", examples=["S00001"]),
]


class ModelRef(BaseModel):
    """The registered model that produced a decision: MLflow registry name, version and the alias it was served as."""

    name: str = Field(..., examples=["shopsense-churn"])
    version: str = Field(..., description="MLflow registry version.", examples=["3"])
    alias: str = Field(..., examples=["champion"])


class Counts(BaseModel):
    """How many entities a request named and how many got an answer; each route adds its unknown-status count."""

    requested: int
    ok: int


class ReloadResponse(BaseModel):
    request_id: str
    models: dict[str, ModelRef]
    changed: bool = Field(..., description="Whether a model version changed.")


class ErrorBody(BaseModel):
    """Every 4xx/5xx body: a short error, details naming the offending field, and the request id."""

    error: str
    detail: list[dict] | str | None = None
    request_id: str | None = None
