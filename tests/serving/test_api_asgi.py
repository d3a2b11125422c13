"""The service in-process (ASGI): auth, validation naming the field, unknown ids, reasons, model refs, audit."""

from __future__ import annotations

import json

import pytest

from serving.schemas import (
    EXAMPLE_CHURN_REQUEST,
    EXAMPLE_CHURN_ROWS_REQUEST,
    EXAMPLE_TIER_REQUEST,
    EXAMPLE_UNKNOWN_ID,
    MAX_IDS,
)
from tests.serving.conftest import DEMO_KEY, OTHER_KEY

pytestmark = pytest.mark.serving

CHURN, TIER = "/churn/predict", "/users/tier"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Authorization": f"Basic {DEMO_KEY}"}],
    ids=["none", "bad-bearer", "bad-x-api-key", "wrong-scheme"],
)
def test_without_a_valid_key_401_json(client, headers) -> None:
    for path, body in ((CHURN, EXAMPLE_CHURN_REQUEST), (TIER, EXAMPLE_TIER_REQUEST), ("/admin/reload", {})):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 401, path
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["request_id"] == response.headers["x-request-id"]


def test_bearer_and_x_api_key_both_work(client) -> None:
    for headers in ({"Authorization": f"Bearer {DEMO_KEY}"}, {"X-API-Key": OTHER_KEY}):
        assert client.post(TIER, json=EXAMPLE_TIER_REQUEST, headers=headers).status_code == 200


def test_reload_needs_an_admin_key(client) -> None:
    response = client.post("/admin/reload", headers={"X-API-Key": OTHER_KEY})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_ids": ["bad id!"]}, ["user_ids", 0]),
        ({"user_ids": ["x" * 65]}, ["user_ids", 0]),
        ({"user_ids": [f"u{i}" for i in range(MAX_IDS + 1)]}, ["user_ids"]),
        ({"user_ids": []}, ["user_ids"]),
        ({"user_ids": ["U000001"], "top_k": 0}, ["top_k"]),
        ({"user_ids": ["U000001"], "top_k": 11}, ["top_k"]),
        ({"user_ids": ["U000001"], "explain": "maybe"}, ["explain"]),
        ({"user_ids": ["U000001"], "extra": 1}, ["extra"]),
        ({"rows": [{"features": {"recency_days": "x"}}]}, ["rows", 0, "features", "recency_days"]),
    ],
)
def test_invalid_input_is_a_400_naming_the_field(client, auth, body, field) -> None:
    response = client.post(CHURN, json=body, headers=auth)
    assert response.status_code == 400
    locs = [d["loc"][: len(field)] for d in response.json()["detail"]]
    assert field in locs, response.json()


def test_both_or_neither_source_is_a_400(client, auth) -> None:
    for body in ({"explain": True}, {"user_ids": ["U1"], "rows": EXAMPLE_CHURN_ROWS_REQUEST["rows"]}):
        response = client.post(CHURN, json=body, headers=auth)
        assert response.status_code == 400
        assert "exactly one of user_ids or rows" in json.dumps(response.json())


def test_feature_row_missing_a_feature_names_it(client, auth) -> None:
    row = json.loads(json.dumps(EXAMPLE_CHURN_ROWS_REQUEST["rows"][0]))
    del row["features"]["tenure_days"]
    response = client.post(CHURN, json={"rows": [row]}, headers=auth)
    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == ["rows", 0, "features", "tenure_days"]


def test_body_limits(client, auth) -> None:
    big = client.post(
        CHURN, content=b"{" + b" " * 1_100_000 + b"}", headers=auth | {"Content-Type": "application/json"}
    )
    assert big.status_code == 413
    text = client.post(CHURN, content=b"user_ids=U1", headers=auth | {"Content-Type": "text/plain"})
    assert text.status_code == 415
    broken = client.post(CHURN, content=b"{not json", headers=auth | {"Content-Type": "application/json"})
    assert broken.status_code == 400


def test_unknown_ids_are_flagged_never_guessed(client, auth, world) -> None:
    ids = [world.known_ids[0], EXAMPLE_UNKNOWN_ID, world.known_ids[1]]
    body = client.post(CHURN, json={"user_ids": ids}, headers=auth).json()
    assert [r["user_id"] for r in body["results"]] == ids
    assert [r["status"] for r in body["results"]] == ["ok", "unknown_user", "ok"]
    unknown = body["results"][1]
    assert all(unknown[k] is None for k in ("churn_probability", "risk_band", "predicted_ltv", "recall_action"))
    assert body["counts"] == {"requested": 3, "ok": 2, "unknown_user": 1}
    tier = client.post(TIER, json={"user_ids": [EXAMPLE_UNKNOWN_ID]}, headers=auth).json()
    assert tier["results"][0]["status"] == "unknown_user" and tier["results"][0]["tier"] is None


def test_churn_answers_name_their_models(client, auth, world) -> None:
    body = client.post(CHURN, json={"user_ids": world.known_ids[:3]}, headers=auth).json()
    assert body["models"]["churn"] == {"name": "shopsense-churn", "version": "1", "alias": "champion"}
    assert body["models"]["tiering"]["name"] == "shopsense-tiering"
    result = body["results"][0]
    assert 0 < result["churn_probability"] < 1
    assert result["risk_band"] in {"low", "medium", "high", "critical"}
    assert result["value_at_risk"] == pytest.approx(result["predicted_ltv"] * result["churn_probability"])
    assert set(result["recall_action"]) == {"code", "label_zh", "label_en", "channel"}
    assert result["reasons"] == []


def test_explain_adds_at_most_top_k_reasons(client, auth, world) -> None:
    body = client.post(CHURN, json={"user_ids": world.known_ids[:4], "explain": True, "top_k": 2}, headers=auth).json()
    for result in body["results"]:
        assert 1 <= len(result["reasons"]) <= 2
        reason = result["reasons"][0]
        assert reason["direction"] in {"raises", "lowers"} and reason["label_zh"] and reason["label_en"]
        assert (reason["contribution"] > 0) == (reason["direction"] == "raises")


def test_feature_rows_are_scored_without_lookup(client, auth) -> None:
    body = client.post(CHURN, json=EXAMPLE_CHURN_ROWS_REQUEST, headers=auth).json()
    assert body["results"][0]["status"] == "ok"
    assert body["results"][0]["user_id"] == EXAMPLE_CHURN_ROWS_REQUEST["rows"][0]["user_id"]


def test_tier_answer(client, auth, world) -> None:
    body = client.post(TIER, json={"user_ids": world.known_ids[:10]}, headers=auth).json()
    assert set(body["models"]) == {"tiering", "ltv"}
    for result in body["results"]:
        assert result["tier_zh"] and 1 <= result["r_score"] <= 5 and result["predicted_ltv"] >= 0


def test_audit_line_per_request_without_ids_or_keys(client, auth, world) -> None:
    path = world.settings.audit_log
    before = path.read_text().count("\n") if path.exists() else 0
    marker = "AUDITPROBE00001"
    client.post(CHURN, json={"user_ids": [world.known_ids[0], marker]}, headers=auth | {"X-Request-ID": marker})
    client.post(CHURN, json={"user_ids": [marker]})  # 401
    text = path.read_text()
    lines = [json.loads(line) for line in text.splitlines()[before:]]
    assert len(lines) == 2
    ok, denied = lines
    assert ok["request_id"] == marker and ok["key_id"] == "demo" and ok["status"] == 200
    assert ok["entities"] == 2 and ok["unknown"] == 1 and ok["models"]["churn"] == "shopsense-churn:1@champion"
    assert ok["latency_ms"] > 0 and denied["status"] == 401 and denied["key_id"] is None
    new_text = "\n".join(text.splitlines()[before:])
    assert world.known_ids[0] not in new_text and DEMO_KEY not in new_text
    assert new_text.count(marker) == 1  # only as the caller's request id, never as a user id


def test_health_metrics_and_docs(client, auth) -> None:
    assert client.get("/readyz").status_code == 200
    assert client.get("/livez").status_code == 200
    client.post(TIER, json=EXAMPLE_TIER_REQUEST, headers=auth)
    assert "bentoml_service_request" in client.get("/metrics").text
    spec = client.get("/docs.json").json()
    assert {"/churn/predict", "/users/tier", "/admin/reload"} <= set(spec["paths"])
    assert client.get("/").status_code == 200  # Swagger UI


def test_api_routes_skip_unsampled_tracing(monkeypatch) -> None:
    """Unless route tracing is asked for, the API routes bypass OpenTelemetry (it samples nothing by default)."""
    from features.settings import get_settings
    from serving import service

    excluded = set(service.ShopSense.config["tracing"]["excluded_urls"])
    assert {"/churn/predict", "/users/tier"} <= excluded
    assert "/admin/reload" not in excluded
    monkeypatch.setenv("SHOPSENSE_SERVING_TRACE_ROUTES", "true")
    get_settings.cache_clear()
    try:
        assert service._tracing({"/churn/predict": None}) == {}
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
