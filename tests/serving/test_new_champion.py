"""How a new champion reaches the service: a restart after a sync, or POST /admin/reload on a running server."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from mlflow import MlflowClient

from serving import model_store
from serving.middleware import RequestInfo
from serving.schemas import ChurnRequest
from serving.state import ServiceState
from tests.serving.conftest import DEMO_KEY, OTHER_KEY
from training import tracking

pytestmark = pytest.mark.serving

CHURN = tracking.registered_name("churn")


@contextmanager
def champion_is(version: str, world) -> Iterator[None]:
    """Point @champion of the churn model at ``version``; put it back to v1 (and the store with it) afterwards."""
    tracking.configure(world.settings)
    client = MlflowClient()
    client.set_registered_model_alias(CHURN, tracking.CHAMPION, version)
    try:
        yield
    finally:
        client.set_registered_model_alias(CHURN, tracking.CHAMPION, "1")
        model_store.sync_champions(world.settings)


def _restarted_worker_answer(world) -> dict:
    """What a freshly started worker serves: the store's latest models, as the service's BentoModel refs resolve."""
    from training.decisions.churn import CHURN_ROUTE

    stored = {name: (lambda n=name: model_store.load_stored(n)) for name in ("ltv", "tiering", "churn")}
    state = ServiceState.start(lambda: stored, world.settings)
    assert gc.get_freeze_count() > 10_000  # the loaded models are out of the cyclic collector's reach
    request = ChurnRequest(user_ids=world.known_ids[:2])
    info = RequestInfo("restart-test-0001", "/churn/predict")
    return asyncio.run(state.answer("churn", CHURN_ROUTE, request, info)).model_dump()


def test_restart_after_sync_serves_the_new_champion(world) -> None:
    assert _restarted_worker_answer(world)["models"]["churn"]["version"] == "1"
    with champion_is("2", world):
        synced = {r["name"]: r for r in model_store.sync_champions(world.settings)}
        assert synced[CHURN]["imported"] and synced[CHURN]["version"] == "2"
        assert not synced[tracking.registered_name("tiering")]["imported"]  # unchanged champion: no new import
        body = _restarted_worker_answer(world)
        assert body["models"]["churn"] == {"name": CHURN, "version": "2", "alias": "champion"}
    assert _restarted_worker_answer(world)["models"]["churn"]["version"] == "1"  # rollback re-imported v1


def test_prepare_champion_syncs_once_and_compiles_into_the_cache(world) -> None:
    """The demo's per-decision job (run by the world fixture too): the store and the compiled ranker are ready."""
    prepared = model_store.prepare_champion("recommend", world.settings)
    assert prepared["imported"] is False and prepared["prepared"] is True  # the world's job already did both
    assert [p.suffix for p in world.settings.cache_dir.rglob("forest-*")] == [".o"]
    assert model_store.prepare_champion("churn", world.settings)["prepared"] is False  # nothing to prepare
    elsewhere = world.settings.model_copy(update={"serving_dataset": "no_such_shop"})
    assert "shopsense train churn --dataset no_such_shop" in model_store.prepare_champion("churn", elsewhere)["missing"]


def test_reload_on_a_running_server(live_url: str, world) -> None:
    admin, reader = {"X-API-Key": DEMO_KEY}, {"X-API-Key": OTHER_KEY}
    body = {"user_ids": world.known_ids[:1]}
    with httpx.Client(base_url=live_url, timeout=60) as http:
        assert http.post("/churn/predict", json=body, headers=reader).json()["models"]["churn"]["version"] == "1"
        with champion_is("2", world):
            assert http.post("/admin/reload", headers=reader).status_code == 403
            reloaded = http.post("/admin/reload", headers=admin).json()
            assert reloaded["changed"] and reloaded["models"]["churn"]["version"] == "2"
            assert http.post("/churn/predict", json=body, headers=reader).json()["models"]["churn"]["version"] == "2"
        back = http.post("/admin/reload", headers=admin).json()
        assert back["models"]["churn"]["version"] == "1"
