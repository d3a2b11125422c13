"""Reliability and security through HTTP (issue 13): bounded metrics labels, readiness that checks the online
views, back-pressure, strict types, honest docs, fail-fast configuration, a model store that /admin/reload repairs
and the same answers on a real Redis. SIGTERM and a killed worker: test_reliability_stop.py."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from features.settings import PROJECT_ROOT
from serving import local_server
from serving import state as st
from serving.batching import QueueFull

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


def test_reload_repairs_a_corrupted_model_store(client, auth, world) -> None:
    from serving import model_store

    stored = model_store.load_stored("churn")
    files = [p for p in Path(stored.path).rglob("*") if p.is_file() and p.name != "model.yaml"]
    victim = max(files, key=lambda p: p.stat().st_size)  # the pickled model itself
    victim.write_bytes(b"\x00" * 16)
    name = victim.relative_to(stored.path).as_posix()
    assert model_store.integrity_problems(stored, world.settings) == [f"{name} changed"]
    reloaded = client.post("/admin/reload", headers=auth)  # the demo key is an admin
    assert reloaded.status_code == 200, reloaded.text
    repaired = model_store.load_stored("churn")
    assert repaired.tag != stored.tag and not model_store.integrity_problems(repaired, world.settings)
    response = client.post("/churn/predict", json={"user_ids": world.known_ids[:3]}, headers=auth)
    assert response.status_code == 200 and response.json()["counts"]["ok"] == 3


def test_serving_on_a_real_redis(client, auth, world, tmp_path, monkeypatch) -> None:
    """The same HTTP answers when the online lookups go to a real redis-server instead of SQLite (item 10), and an
    erasure removes a user's Redis entries (item 11)."""
    from features.settings import DatasetPaths
    from features.store import OnlineFeatureReader, materialize
    from features.store.config import project_name
    from serving.runtime import Runtime
    from tests.redis_server import redis_binary, redis_server
    from training import cli_privacy

    if redis_binary() is None and not os.environ.get("CI"):
        pytest.skip("redis-server not installed (`make install` installs it; CI always has it)")
    settings = world.settings
    source = settings.dataset(settings.serving_dataset or settings.default_dataset)
    body = {"user_ids": [*world.known_ids[:8], "U_NOBODY_1"], "explain": True, "top_k": 3}

    def answer() -> dict:
        response = client.post("/churn/predict", json=body, headers=auth)
        assert response.status_code == 200, response.text
        return {k: v for k, v in response.json().items() if k != "request_id"}

    on_sqlite = answer()
    with redis_server() as url:
        redis = settings.model_copy(update={"online_store": "redis", "redis_connection": url})
        paths = DatasetPaths(source.name, tmp_path / source.name)
        paths.root.mkdir()
        for part in ("lake", "features"):
            getattr(paths, part).symlink_to(getattr(source, part).resolve(), target_is_directory=True)
        materialize(paths, settings=redis, progress=False)
        state = st._PUBLISHED[0]
        runtime = Runtime(state.runtime.models(), OnlineFeatureReader(paths, redis))
        monkeypatch.setattr(state, "runtime", runtime)
        monkeypatch.setattr(state, "batchers", state._batchers(runtime, state.settings))
        on_redis = answer()
        erased = cli_privacy.erase_online_redis(redis, project_name(paths), body["user_ids"][0])  # item 11 on Redis
        after = client.post("/churn/predict", json={"user_ids": body["user_ids"][:2]}, headers=auth).json()
        monkeypatch.undo()
    assert on_redis == on_sqlite
    assert on_redis["counts"]["unknown_user"] == 1 and on_redis["counts"]["ok"] == 8
    assert erased > 0 and [r["status"] for r in after["results"]] == ["unknown_user", "ok"]


def test_model_artifacts_hold_no_absolute_paths(world) -> None:
    """The champion's JSON artifacts (dataset.json's lineage, the model card) name files relative to the data dir."""
    import mlflow

    from training import tracking

    tracking.configure(world.settings)
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias(tracking.registered_name("churn"), "champion")
    names = [a.path for a in client.list_artifacts(version.run_id) if a.path.endswith(".json")]
    assert "dataset.json" in names
    for name in names:
        text = Path(mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=name)).read_text()
        assert str(world.root) not in text and str(world.root.resolve()) not in text, name


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
