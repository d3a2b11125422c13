"""The service as it runs: ``bentoml serve`` on 127.0.0.1, real HTTP, the BentoML Python client, schemathesis."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from serving.schemas import EXAMPLE_CHURN_REQUEST, EXAMPLE_UNKNOWN_ID
from tests.serving.conftest import DEMO_KEY

pytestmark = pytest.mark.serving


@pytest.fixture(scope="module")
def http(live_url: str):
    with httpx.Client(base_url=live_url, timeout=30) as session:
        yield session


def test_ready_metrics_and_docs(http) -> None:
    assert http.get("/readyz").status_code == 200
    assert http.get("/livez").status_code == 200
    assert "paths" in http.get("/docs.json").json()
    assert http.get("/").status_code == 200
    assert http.get("/metrics").text.startswith("# HELP")


def test_auth_over_http(http) -> None:
    assert http.post("/churn/predict", json=EXAMPLE_CHURN_REQUEST).status_code == 401
    response = http.post("/churn/predict", json=EXAMPLE_CHURN_REQUEST, headers={"X-API-Key": DEMO_KEY})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == response.json()["request_id"]


def test_python_client_unknown_id_and_versions(live_url: str, world) -> None:
    import bentoml

    with bentoml.SyncHTTPClient(live_url, token=DEMO_KEY) as client:
        body = client.churn_predict({"user_ids": [world.known_ids[0], EXAMPLE_UNKNOWN_ID], "explain": True})
    assert [r["status"] for r in body["results"]] == ["ok", "unknown_user"]
    assert body["results"][0]["reasons"] and body["results"][1]["churn_probability"] is None
    assert body["models"]["churn"]["alias"] == "champion"
    assert body["models"]["tiering"]["version"] == "1"


def test_validation_over_http(http) -> None:
    response = http.post("/users/tier", json={"user_ids": ["no spaces"]}, headers={"X-API-Key": DEMO_KEY})
    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == ["user_ids", 0]


def test_no_input_makes_a_server_error(live_url: str) -> None:
    """Schemathesis: generated bodies (valid and not) for every operation in the OpenAPI spec, sent with the key,
    50 examples per operation: never a 5xx. (Driven directly: the pytest plugin's lazy fixtures do not load here.)"""
    api = schemathesis.openapi.from_url(f"{live_url}/docs.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert {op.path for op in operations} >= {"/churn/predict", "/users/tier", "/admin/reload"}
    headers = {"Authorization": f"Bearer {DEMO_KEY}"}
    for operation in operations:
        examples = 5 if operation.path == "/admin/reload" else 50  # no body to vary; each call re-syncs the models

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:
            response = case.call(base_url=live_url, headers=headers, timeout=30)
            case.validate_response(response, checks=[not_a_server_error])

        check()
