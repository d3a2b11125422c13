"""Fixtures of the serving tests: one trained, materialized world for the package, the ASGI app and a live server.

The world (tiny synthetic lake, churn and tiering trained and registered, user features materialized into the
Feast SQLite store, champions synced into a BentoML store) is built once for ``tests/serving`` and removed from the
environment when the package is done, so the rest of the suite never sees it.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from features.settings import Settings, get_settings
from serving import local_server


@pytest.fixture(autouse=True)
def _unfreeze_after_in_process_services() -> Iterator[None]:
    """A service started in this process freezes what it loaded (serving/state.py ``freeze_loaded``); the test
    session's later garbage must stay collectable."""
    yield
    gc.unfreeze()


DEMO_KEY = "shopsense-demo-key"
OTHER_KEY = "reader-secret-key"
API_KEYS = f"demo:{DEMO_KEY},reader:{OTHER_KEY}"  # "reader" is not an admin
READY_TIMEOUT_S = 600  # a worker loads six decisions; on a busy 2-core machine that took ~2 minutes


@dataclass
class World:
    settings: Settings
    root: Path
    known_ids: list[str]


def _build(root: Path) -> list[str]:
    """Lake, every decision's models (churn v1 champion, v2 registered without alias), features, online store."""
    import mlflow
    import pandas as pd

    from features import columns as c
    from tests.worlds import build_tiny_world
    from training import decisions, runner, tracking
    from training.demo import champion_store_jobs, online_store_jobs

    settings = get_settings()
    paths = build_tiny_world(root)
    jobs = online_store_jobs(settings) + champion_store_jobs(settings)  # as the demo runs them
    outcomes = runner.train_many(decisions.DECISION_NAMES, settings=settings, also=jobs)
    for name in decisions.DECISION_NAMES:  # every registered decision the tiny world supports, upstream first
        if outcomes[name].error is not None:
            print(f"serving world: {name} not trained: {outcomes[name].error}")
    churn = outcomes["churn"].value
    tracking.configure(settings)
    # A second churn version (same artifacts), to move the champion alias to in the new-champion tests.
    mlflow.register_model(f"runs:/{churn.run_id}/model", tracking.registered_name("churn"))
    ids = pd.read_parquet(paths.features / "user.parquet", columns=[c.USER_ID])[c.USER_ID]
    return sorted(ids.astype(str).unique().tolist())[:50]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every serving test needs the trained, materialized world: slow, so `make test-fast` leaves them out."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from serving import model_store

    root = tmp_path_factory.mktemp("serving_world")
    env = {"SHOPSENSE_DATA_DIR": str(root), "SHOPSENSE_API_KEYS": API_KEYS, "BENTOML_DO_NOT_TRACK": "True"}
    saved = {name: os.environ.get(name) for name in [*env, "BENTOML_HOME"]}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        known = _build(root)
        settings = get_settings()
        model_store.use_bentoml_home(settings)
        model_store.sync_champions(settings)
        yield World(settings, root, known)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


@pytest.fixture(scope="package")
def client(world: World) -> Iterator:
    """The service's ASGI app in-process (lifespan run, so the models are loaded)."""
    from starlette.testclient import TestClient

    from serving.service import ShopSense

    with TestClient(ShopSense.to_asgi()) as test_client:
        yield test_client


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {DEMO_KEY}"}


@pytest.fixture(scope="package")
def live_url(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``bentoml serve`` on a free port of 127.0.0.1, started once; always terminated (its whole process group)."""
    port = local_server.free_port()
    proc = local_server.start(
        world.settings, port, tmp_path_factory.mktemp("live") / "serve.log", timeout=READY_TIMEOUT_S
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        local_server.stop(proc)
