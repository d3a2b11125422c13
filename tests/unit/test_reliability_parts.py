"""Reliability and security, the pure parts (issue 13): configuration fails fast with one sentence naming the
setting, no request hangs, bounded metrics labels and queues, no key printed, rotated audit log, honest docs."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from features.settings import Settings, get_settings
from serving import config, metrics_labels, openapi
from serving.audit import AuditLog
from serving.auth import ApiKeys
from serving.batching import Coalescer, QueueFull
from serving.middleware import Policy, ShopSenseMiddleware
from serving.schemas import ChurnRequest
from serving.state import ServiceError, ServiceState, public

pytestmark = pytest.mark.unit


def _settings(tmp_path: Path, **overrides) -> Settings:
    return Settings(data_dir=tmp_path, **overrides)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"api_keys": "plainsecret"}, "SHOPSENSE_API_KEYS"),
        ({"api_keys": "a:x", "admin_key_ids": "root"}, "SHOPSENSE_ADMIN_KEY_IDS"),
        ({"audit_log_file": Path("/proc/forbidden/audit.jsonl")}, "SHOPSENSE_AUDIT_LOG_FILE"),
        ({"online_store": "redis", "redis_connection": "nohost"}, "SHOPSENSE_REDIS_CONNECTION"),
    ],
)
def test_bad_setting_is_one_sentence_naming_it(tmp_path: Path, overrides: dict, named: str) -> None:
    with pytest.raises(config.ConfigError) as err:
        config.check(_settings(tmp_path, **overrides))
    message = str(err.value)
    assert message.startswith(named) and "\n" not in message and "plainsecret" not in message


def test_mistyped_data_dir_is_refused_and_nothing_created(tmp_path: Path) -> None:
    missing = tmp_path / "dta"
    with pytest.raises(config.ConfigError, match="SHOPSENSE_DATA_DIR"):
        config.check(Settings(data_dir=missing))
    assert not missing.exists()


def test_invalid_env_value_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSENSE_SERVING_WORKERS", "many")
    get_settings.cache_clear()
    try:
        with pytest.raises(config.ConfigError, match=r"^SHOPSENSE_SERVING_WORKERS is invalid"):
            config.load_settings()
    finally:
        monkeypatch.delenv("SHOPSENSE_SERVING_WORKERS")
        get_settings.cache_clear()


async def _ok_app(scope, receive, send) -> None:
    if scope["path"] == "/boom":
        raise RuntimeError("handler bug")
    await send({"type": "http.response.start", "status": 307, "headers": [(b"location", b"http://evil.example/x/")]})
    await send({"type": "http.response.body", "body": b""})


def _app(configure) -> TestClient:
    app = ShopSenseMiddleware(_ok_app, configure=configure, api_paths={"/churn/predict": ChurnRequest})
    return TestClient(app, raise_server_exceptions=False)


def test_failing_configuration_or_handler_is_a_json_500_not_a_hang() -> None:
    def broken():
        raise ValueError("api key entry #0 must be 'keyid:secret'")

    for client, path in ((_app(broken), "/livez"), (_app(lambda: (Policy(), ApiKeys({}, frozenset()), None)), "/boom")):
        response = client.get(path)
        assert response.status_code == 500
        assert response.json()["request_id"] == response.headers["x-request-id"]


def test_redirect_never_echoes_the_host_header() -> None:
    client = _app(lambda: (Policy(), ApiKeys({}, frozenset()), None))
    response = client.get("/x/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.headers["location"] == "/x/"


def test_strict_types_at_the_edge() -> None:
    keys = ApiKeys.parse("k:secret")
    client = _app(lambda: (Policy(), keys, None))
    headers = {"Authorization": "Bearer secret"}
    for body in ({"user_ids": ["U1"], "explain": "yes"}, {"user_ids": ["U1"], "top_k": "3"}):
        response = client.post("/churn/predict", json=body, headers=headers)
        assert response.status_code == 400, body
        assert response.json()["detail"][0]["loc"][0] in ("explain", "top_k")


def test_unknown_paths_share_one_metrics_label() -> None:
    metrics_labels.install(["/churn/predict"])
    assert metrics_labels.label("/churn/predict") == "/churn/predict"
    assert metrics_labels.label("/static_content/swagger-ui.css") == "/static_content"
    labels = {metrics_labels.label(f"/nope/{i}") for i in range(1000)}
    assert labels == {metrics_labels.UNKNOWN_LABEL}


def test_queue_is_bounded_and_dropped_jobs_never_run() -> None:
    ran: list[int] = []

    def slow(jobs: list[int]) -> list[int]:
        import time

        time.sleep(0.05)
        ran.extend(jobs)
        return jobs

    async def scenario() -> None:
        batcher = Coalescer(slow, lambda j: 1, max_size=1, max_queue=2)
        first = batcher.enqueue(1)  # running
        await asyncio.sleep(0.01)
        waiting = [batcher.enqueue(2), batcher.enqueue(3)]
        with pytest.raises(QueueFull):
            batcher.enqueue(4)
        waiting[0].cancel()  # deadline passed or client gone: never computed
        assert await first == 1 and await waiting[1] == 3

    asyncio.run(scenario())
    assert ran == [1, 3]


def test_deadline_and_disconnect_become_504_and_499(tmp_path: Path) -> None:
    from serving.middleware import RequestInfo

    state = ServiceState(None, None, {}, _settings(tmp_path, serving_request_timeout_s=0.2))

    async def scenario(disconnect: bool) -> int:
        batcher = Coalescer(lambda jobs: [__import__("time").sleep(1) or j for j in jobs], lambda j: 1, 8)
        info = RequestInfo("rid", "/churn/predict", disconnected=asyncio.Event())
        if disconnect:
            asyncio.get_running_loop().call_later(0.05, info.disconnected.set)
        try:
            await state._submit(batcher, "job", info)
        except ServiceError as exc:
            return exc.status
        return 200

    assert asyncio.run(scenario(disconnect=False)) == 504
    assert asyncio.run(scenario(disconnect=True)) == 499


def test_banner_never_prints_a_real_key(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from training import cli_serve

    cli_serve.print_usage(_settings(tmp_path, api_keys="ops:very-real-secret-123"), "0.0.0.0", 3000)
    cli_serve.print_usage(_settings(tmp_path), "127.0.0.1", 3000)
    out = capsys.readouterr().out
    assert "very-real-secret-123" not in out and "<your key>" in out and "shopsense-demo-key" in out


def test_audit_log_rotates_and_records_the_client(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "serving.jsonl"
    log, other = AuditLog(path, max_bytes=10_000, backups=2), AuditLog(path, max_bytes=10_000, backups=2)
    for i in range(300):
        (log if i % 2 else other).write(request_id=f"r{i}", endpoint="/churn/predict", client="10.0.0.7:5123")
    files = sorted(p.name for p in path.parent.glob("serving.jsonl*") if not p.name.endswith(".lock"))
    assert files == ["serving.jsonl", "serving.jsonl.1", "serving.jsonl.2"]
    assert all(os.path.getsize(path.parent / f) < 12_000 for f in files)
    lines = [json.loads(x) for f in files for x in (path.parent / f).read_text().splitlines()]
    assert {x["client"] for x in lines} == {"10.0.0.7:5123"} and lines[-1]["request_id"].startswith("r")


def test_public_errors_hold_no_absolute_paths() -> None:
    message = public("OperationalError: no such table: /home/ops/data/synthetic/feast/online.db")
    assert "/home" not in message and "online.db" in message


def test_openapi_declares_bearer_and_errors_and_page_is_offline() -> None:
    spec = {"paths": {"/churn/predict": {"post": {"responses": {"200": {}}}}, "/livez": {"get": {}}}}
    patched = openapi.patch_spec(spec, {"/churn/predict"})
    operation = patched["paths"]["/churn/predict"]["post"]
    assert patched["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert operation["security"] == [{"bearer": []}]
    assert {"400", "401", "403", "413", "415", "503"} <= set(operation["responses"])
    assert "security" not in patched["paths"]["/livez"]["get"] and patched["info"]["title"] == openapi.TITLE
    page = openapi.index_html()
    assert "googletagmanager" not in page and "https://" not in page and openapi.TITLE in page
