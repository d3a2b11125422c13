"""``POST /demand/forecast`` and ``POST /inventory/policy`` through HTTP (ASGI): quantiles, policy, 400s, unknown ids."""

from __future__ import annotations

import pandas as pd
import pytest

from serving.schemas.demand import EXAMPLE_UNKNOWN_SKU, MAX_HORIZON

pytestmark = pytest.mark.serving


def _skus(world, n: int = 2) -> list[str]:
    products = pd.read_parquet(world.root / "synthetic" / "lake" / "products.parquet", columns=["sku_id"])
    return sorted(products["sku_id"].astype(str))[:n]


def test_forecast_quantiles_per_sku_and_day(client, auth, world) -> None:
    skus = _skus(world)
    body = {"sku_ids": [*skus, EXAMPLE_UNKNOWN_SKU], "horizon": 7, "levels": [50, 90, 99]}
    response = client.post("/demand/forecast", json=body, headers=auth)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["counts"] == {"requested": 3, "ok": 2, "unknown_sku": 1, "not_forecast": 0}
    assert answer["models"]["demand"]["name"].startswith("shopsense-demand")
    assert [r["sku_id"] for r in answer["results"]] == [*skus, EXAMPLE_UNKNOWN_SKU]
    assert answer["results"][2]["status"] == "unknown_sku" and answer["results"][2]["periods"] == []
    for result in answer["results"][:2]:
        assert len(result["periods"]) == 7
        for period in result["periods"]:
            q = period["quantiles"]
            assert set(q) == {"p50", "p90", "p99"} and 0 <= q["p50"] <= q["p90"] <= q["p99"]


def test_policy_with_stock_override_orders_and_warns(client, auth, world) -> None:
    skus = _skus(world)
    body = {"sku_ids": [*skus, EXAMPLE_UNKNOWN_SKU], "stock": [{"sku_id": skus[0], "on_hand": 0, "on_order": 0}]}
    response = client.post("/inventory/policy", json=body, headers=auth)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    first = results[0]
    assert first["status"] == "ok" and first["abc_class"] in ("A", "B", "C")
    assert first["reorder_point"] >= first["safety_stock"] >= 0 and first["order_up_to"] >= first["reorder_point"]
    if first["reorder_point"] >= 0 and first["mean_daily_forecast"] > 0:
        assert first["order_quantity"] > 0
        assert any(w["code"] == "stockout_risk" and w["reason_zh"] and w["numbers"] for w in first["warnings"])
    assert results[2]["status"] == "unknown_sku"


def test_higher_service_level_never_lowers_the_reorder_point(client, auth, world) -> None:
    skus = _skus(world, 3)
    rops = []
    for level in (0.8, 0.95, 0.99):
        body = {"sku_ids": skus, "service_level": level}
        results = client.post("/inventory/policy", json=body, headers=auth).json()["results"]
        rops.append([r["reorder_point"] for r in results])
    for low, mid, high in zip(*rops, strict=True):
        assert low <= mid <= high


@pytest.mark.parametrize(
    ("route", "change", "field"),
    [
        ("/demand/forecast", {"horizon": 0}, ["horizon"]),
        ("/demand/forecast", {"horizon": MAX_HORIZON + 1}, ["horizon"]),
        ("/demand/forecast", {"levels": [50, 100]}, ["levels"]),
        ("/demand/forecast", {"levels": [-5]}, ["levels"]),
        ("/inventory/policy", {"service_level": 1.2}, ["service_level"]),
        ("/inventory/policy", {"service_level": 0.1}, ["service_level"]),
        ("/inventory/policy", {"stock": [{"sku_id": "SKU000001", "on_hand": -3}]}, ["stock", 0, "on_hand"]),
        ("/inventory/policy", {"sku_ids": []}, ["sku_ids"]),
    ],
)
def test_invalid_input_is_a_400_naming_the_field(client, auth, route, change, field) -> None:
    response = client.post(route, json={"sku_ids": ["SKU000001"], **change}, headers=auth)
    assert response.status_code == 400, response.text
    assert field in [d["loc"][: len(field)] for d in response.json()["detail"]], response.json()
