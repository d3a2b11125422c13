"""Request and response bodies of ``POST /recommend/user``, ``/recommend/similar`` and ``/recommend/popular``.

``k``, filters and stock overrides are bounded here, so an invalid one is a 400 that names the field before any
model runs. The ``EXAMPLE_*`` constants are the documented examples and the bodies the tests send.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.schemas.common import MAX_IDS, Counts, ModelRef, SkuId, UserId

MAX_K = 100
MAX_EXCLUDE = 200
MAX_CATEGORIES = 20
Label = str  # category, channel or city: free text, bounded below

EXAMPLE_USER = "U000001"
EXAMPLE_SKU = "SKU000001"
EXAMPLE_USER_REQUEST: dict = {
    "user_id": EXAMPLE_USER,
    "k": 10,
    "context": {"channel": "app", "city": None, "category": None},
    "filters": {"categories": None, "min_price": None, "max_price": 500.0, "exclude": []},
    "stock": [{"sku_id": EXAMPLE_SKU, "on_hand": 0}],
    "promo_slot": True,
}
EXAMPLE_SIMILAR_REQUEST: dict = {"sku_id": EXAMPLE_SKU, "k": 10}
EXAMPLE_POPULAR_REQUEST: dict = {"category": "美妆", "channel": None, "k": 10}


class Filters(BaseModel):
    """Caller filters, always respected: allowed categories, a price band, SKUs never to show."""

    model_config = ConfigDict(extra="forbid")

    categories: list[str] | None = Field(None, min_length=1, max_length=MAX_CATEGORIES)
    min_price: float | None = Field(None, ge=0)
    max_price: float | None = Field(None, ge=0)
    exclude: list[SkuId] = Field(default_factory=list, max_length=MAX_EXCLUDE)

    @model_validator(mode="after")
    def _band(self) -> Filters:
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise ValueError("min_price must not exceed max_price")
        return self


class Context(BaseModel):
    """Where the shopper is: used for cold start (an unknown user gets what this segment buys now)."""

    model_config = ConfigDict(extra="forbid")

    channel: str | None = Field(None, max_length=64, examples=["app"])
    city: str | None = Field(None, max_length=64, examples=["杭州"])
    category: str | None = Field(None, max_length=64, examples=["美妆"])


class Stock(BaseModel):
    """Current on-hand units of a SKU (the online store's view), overriding the model's cutoff snapshot."""

    model_config = ConfigDict(extra="forbid")

    sku_id: SkuId
    on_hand: float = Field(..., ge=0)


class _Common(BaseModel):
    k: int = Field(10, ge=1, le=MAX_K, description=f"Items to return, 1-{MAX_K}.")
    filters: Filters | None = None
    stock: list[Stock] | None = Field(None, max_length=MAX_IDS, description="Current stock overrides.")


class UserRequest(_Common):
    """Personal recommendations for one shopper."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_USER_REQUEST})

    user_id: UserId
    context: Context | None = None
    promo_slot: bool = Field(False, description="Reserve one slot for a promoted or new item.")


class SimilarRequest(_Common):
    """Items similar to one SKU (co-purchase, co-view and content: works for new SKUs too)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_SIMILAR_REQUEST})

    sku_id: SkuId


class PopularRequest(_Common):
    """Recent best sellers, optionally in one category and for a channel or city."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_POPULAR_REQUEST})

    category: str | None = Field(None, max_length=64)
    channel: str | None = Field(None, max_length=64)
    city: str | None = Field(None, max_length=64)


class Item(BaseModel):
    sku_id: str
    rank: int
    score: float
    source: str = Field(..., description="Generator or rule that put the item here (repeat, ease, popularity ...).")
    reason_zh: str
    reason_en: str
    category: str
    price: float
    badges: list[str] = Field(default_factory=list, description="slot, stock_unknown ...")


class Rules(BaseModel):
    """What each business rule did to this answer (removed, deferred or inserted items)."""

    filters: int = 0
    in_stock: int = 0
    just_bought_durable: int = 0
    diversity_deferred: int = 0
    slot: str | None = None


class UserResult(BaseModel):
    user_id: str
    status: Literal["ok", "cold_start"] = Field(..., description="cold_start: unknown user, popular list answered.")
    cold_start: bool
    context: str
    items: list[Item]
    rules: Rules


class SimilarResult(BaseModel):
    sku_id: str
    status: Literal["ok", "unknown_sku"]
    items: list[Item] = Field(default_factory=list)
    rules: Rules | None = None


class PopularResult(BaseModel):
    status: Literal["ok"]
    context: str
    items: list[Item]
    rules: Rules


class UserCounts(Counts):
    cold_start: int


class SkuCounts(Counts):
    unknown_sku: int


class PopularCounts(Counts):
    none: int = 0


class UserResponse(BaseModel):
    request_id: str
    models: dict[str, ModelRef]
    counts: UserCounts
    results: list[UserResult]


class SimilarResponse(BaseModel):
    request_id: str
    models: dict[str, ModelRef]
    counts: SkuCounts
    results: list[SimilarResult]


class PopularResponse(BaseModel):
    request_id: str
    models: dict[str, ModelRef]
    counts: PopularCounts
    results: list[PopularResult]
