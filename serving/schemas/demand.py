"""Request and response bodies of ``POST /demand/forecast`` and ``POST /inventory/policy``.

Horizon, quantile levels and service levels are bounded here, so an invalid one is a 400 that names the field
before any model runs. The ``EXAMPLE_*`` constants are the documented examples and the bodies the tests send.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serving.schemas.common import MAX_IDS, Counts, ModelRef, SkuId

MAX_HORIZON = 91
MAX_LEVELS = 9
MIN_SERVICE_LEVEL, MAX_SERVICE_LEVEL = 0.5, 0.999

EXAMPLE_SKU_IDS = ["SKU000001", "SKU000002"]
EXAMPLE_UNKNOWN_SKU = "SKU999999"
EXAMPLE_FORECAST_REQUEST: dict = {
    "sku_ids": [*EXAMPLE_SKU_IDS, EXAMPLE_UNKNOWN_SKU],
    "horizon": 14,
    "levels": [50, 90, 99],
}
EXAMPLE_POLICY_REQUEST: dict = {
    "sku_ids": [*EXAMPLE_SKU_IDS, EXAMPLE_UNKNOWN_SKU],
    "service_level": None,
    "stock": [{"sku_id": EXAMPLE_SKU_IDS[0], "on_hand": 12, "on_order": 0}],
}


class ForecastRequest(BaseModel):
    """Quantile forecasts of SKUs for the next ``horizon`` days after the model's last day of data."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_FORECAST_REQUEST})

    sku_ids: list[SkuId] = Field(..., min_length=1, max_length=MAX_IDS, description=f"1-{MAX_IDS} SKU ids.")
    horizon: int = Field(28, ge=1, le=MAX_HORIZON, description=f"Periods to forecast, 1-{MAX_HORIZON}.")
    levels: list[float] = Field(
        [50, 80, 90, 95, 99],
        min_length=1,
        max_length=MAX_LEVELS,
        description="Quantile levels in percent, each strictly between 0 and 100 (50 = median).",
    )

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[float]) -> list[float]:
        if any(not 0 < v < 100 for v in value):
            raise ValueError("every level must lie strictly between 0 and 100")
        return sorted(set(value))


class Period(BaseModel):
    ds: str = Field(..., description="Day (YYYY-MM-DD) or period start.", examples=["2026-01-01"])
    mean: float = Field(..., description="Expected demand.")
    quantiles: dict[str, float] = Field(..., description="Demand quantile per level, keyed p<level>.")


class ForecastResult(BaseModel):
    sku_id: str
    status: Literal["ok", "unknown_sku", "not_forecast"] = Field(
        ...,
        description="unknown_sku: the model has no such SKU; not_forecast: a catalogue SKU the panel rule left out.",
    )
    reason: str | None = Field(None, description="Why a not_forecast SKU has no forecast (the panel rule).")
    cold_start: bool | None = Field(None, description="True: too little history, forecast from category peers.")
    periods: list[Period] = Field(default_factory=list)


class DemandCounts(Counts):
    unknown_sku: int = Field(..., description="Ids the model does not know.")
    not_forecast: int = Field(0, description="Catalogue SKUs outside the demand panel's rule.")


class ForecastResponse(BaseModel):
    request_id: str
    models: dict[str, ModelRef]
    counts: DemandCounts
    results: list[ForecastResult]


class StockLevel(BaseModel):
    """Current stock of one SKU, overriding what the service knows."""

    model_config = ConfigDict(extra="forbid")

    sku_id: SkuId
    on_hand: float | None = Field(None, ge=0, description="Units on hand now.")
    on_order: float | None = Field(None, ge=0, description="Units ordered and not yet received.")


class PolicyRequest(BaseModel):
    """Safety stock, reorder point, order quantity and warnings per SKU."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_POLICY_REQUEST})

    sku_ids: list[SkuId] = Field(..., min_length=1, max_length=MAX_IDS, description=f"1-{MAX_IDS} SKU ids.")
    service_level: float | None = Field(
        None,
        ge=MIN_SERVICE_LEVEL,
        le=MAX_SERVICE_LEVEL,
        description="Target cycle service level for every SKU (default by ABC class: A 0.98, B 0.95, C 0.90).",
    )
    stock: list[StockLevel] | None = Field(None, max_length=MAX_IDS, description="Current stock overrides.")


class Warning_(BaseModel):
    code: Literal["stockout_risk", "overstock", "slow_moving"]
    reason_en: str
    reason_zh: str
    numbers: dict[str, float]


class PolicyResult(BaseModel):
    sku_id: str
    status: Literal["ok", "unknown_sku", "not_forecast"]
    reason: str | None = Field(None, description="Why a not_forecast SKU has no policy (the panel rule).")
    cold_start: bool | None = None
    abc_class: Literal["A", "B", "C"] | None = None
    xyz_class: Literal["X", "Y", "Z"] | None = None
    service_level: float | None = None
    lead_time_mean_days: float | None = None
    lead_time_std_days: float | None = None
    mean_daily_forecast: float | None = None
    safety_stock: float | None = Field(None, description="Reorder point minus mean lead-time demand.")
    reorder_point: float | None = Field(None, description="Service-level quantile of lead-time demand.")
    order_up_to: float | None = None
    normal_formula_reorder_point: float | None = Field(None, description="Textbook z-formula, for comparison.")
    on_hand: float | None = None
    on_order: float | None = None
    order_quantity: float | None = Field(None, description="Units to order now (null: on-hand unknown).")
    turnover_days: float | None = Field(None, description="Days the stock lasts at the recent sales rate.")
    warnings: list[Warning_] = Field(default_factory=list)


class PolicyResponse(BaseModel):
    request_id: str
    models: dict[str, ModelRef]
    counts: DemandCounts
    results: list[PolicyResult]
