"""The recommend decision through the shared runner on the tiny world: trained, gated, loaded back, answering."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from features import columns as c
from features.settings import get_settings
from training import runner, tracking

pytestmark = [pytest.mark.model, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def trained(tiny_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("recommend")
    shutil.copytree(tiny_world.lake, root / "synthetic" / "lake")
    old = os.environ.get("SHOPSENSE_DATA_DIR")
    os.environ["SHOPSENSE_DATA_DIR"] = str(root)
    get_settings.cache_clear()
    settings = get_settings()
    yield runner.run_decision("recommend", settings=settings), settings
    if old is None:
        os.environ.pop("SHOPSENSE_DATA_DIR", None)
    else:
        os.environ["SHOPSENSE_DATA_DIR"] = old
    get_settings.cache_clear()


def test_first_version_is_champion_with_every_generator_as_a_baseline(trained) -> None:
    result, _ = trained
    assert (result.version, result.alias) == ("1", "champion")
    assert {"popularity", "repeat", "knn_purchase", "knn_view", "ease", "als"} <= set(result.baselines)
    assert 0 < result.metrics["ndcg_at_10"] <= 1 and result.metrics["coverage_at_10"] > 0
    assert result.metrics["ndcg_at_10"] > result.baselines["popularity"]["ndcg_at_10"]


def test_training_gates_the_compiled_ranker_the_service_loads(trained) -> None:
    """Training compiled the ranker into the cache before scoring (the gate scored what the service answers with),
    so the served model's preparation finds that object code and compiles nothing again."""
    result, settings = trained
    compiled = sorted(settings.cache_dir.glob("forest-*.o"))
    assert compiled, "training left no compiled ranker in the cache"
    tracking.configure(settings)
    model = tracking.load_model(result.model_name, result.version)
    assert model.ranker.forest_ is None  # never pickled with the model
    model.prepare_serving(settings.cache_dir)
    assert model.ranker.forest_ is not None
    assert sorted(settings.cache_dir.glob("forest-*.o")) == compiled


def test_the_registered_model_answers_users_similar_and_popular(trained) -> None:
    result, settings = trained
    tracking.configure(settings)
    model = tracking.load_model(result.model_name, result.version)
    user = str(model.m.user_ids[0])
    answers = model.decide(pd.DataFrame(), mode="user", user_ids=[user, "U-NEW"], k=5)
    assert [a["status"] for a in answers] == ["ok", "cold_start"]
    assert all(len(a["items"]) == 5 for a in answers)
    sku = str(model.m.item_ids[0])
    similar = model.decide(pd.DataFrame(), mode="similar", sku_ids=[sku, "NOPE"], k=5)
    assert [s["status"] for s in similar] == ["ok", "unknown_sku"] and similar[0]["items"]
    popular = model.decide(pd.DataFrame(), mode="popular", k=3, stock=[{c.SKU_ID: sku, "on_hand": 0}])[0]
    assert len(popular["items"]) == 3 and sku not in {i[c.SKU_ID] for i in popular["items"]}
