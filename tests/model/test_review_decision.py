"""The reviews decision through the shared runner: synthetic tiny world (time split) and the Ott corpus (text only)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.settings import get_settings
from serving.schemas.reviews import EXAMPLE_RAW_REVIEW, EXAMPLE_RAW_REVIEW_EN
from training import runner, tracking

pytestmark = [pytest.mark.model, pytest.mark.integration, pytest.mark.slow]


def _in_data_dir(root: Path) -> Iterator[None]:
    old = os.environ.get("SHOPSENSE_DATA_DIR")
    os.environ["SHOPSENSE_DATA_DIR"] = str(root)
    get_settings.cache_clear()
    yield
    if old is None:
        os.environ.pop("SHOPSENSE_DATA_DIR", None)
    else:
        os.environ["SHOPSENSE_DATA_DIR"] = old
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def trained(tiny_world, tmp_path_factory) -> Iterator[runner.TrainResult]:
    root = tmp_path_factory.mktemp("reviews_trained")
    shutil.copytree(tiny_world.lake, root / "synthetic" / "lake")
    env = _in_data_dir(root)
    next(env)
    yield runner.run_decision("reviews", settings=get_settings())
    next(env, None)


def test_train_reviews_registers_a_champion_with_its_baselines(trained: runner.TrainResult) -> None:
    assert (trained.version, trained.alias) == ("1", "champion")
    assert trained.extra["lineage"]["split"].startswith("time")
    assert {"behaviour_rules", "text_only", "word_tfidf_logreg"} <= set(trained.baselines)
    assert trained.metrics["pr_auc"] > trained.baselines["behaviour_rules"]["pr_auc"]
    assert trained.metrics["precision_at_fake"] >= 0.9  # against the (noisy) verdicts of the test period


def test_the_champion_scores_stored_ids_and_raw_reviews_after_a_round_trip(trained: runner.TrainResult) -> None:
    tracking.configure(get_settings())
    loaded = mlflow.pyfunc.load_model(tracking.model_uri("reviews"))
    model = loaded.unwrap_python_model().model
    stored = model.stored.index[:3].tolist()
    records = model.decide(pd.DataFrame(), review_ids=[*stored, "R999999"])
    assert [r["status"] for r in records] == ["ok", "ok", "ok", "unknown_review"]
    assert all(0 <= r["probability"] <= 1 and r["action"] in ("publish", "hold", "hide") for r in records[:3])
    raw = pd.DataFrame([EXAMPLE_RAW_REVIEW, EXAMPLE_RAW_REVIEW_EN]).assign(review_ts=pd.Timestamp("2025-10-30"))
    served = loaded.predict(raw, params={"top_k": 2}).to_dict("records")
    assert [r["review_id"] for r in served] == ["NEW-1", "NEW-2"] and all(r["status"] == "ok" for r in served)


def test_stored_ids_scored_from_columns_give_the_frame_paths_records(trained: runner.TrainResult) -> None:
    """Stored reviews are sliced from per-column arrays; campaigns, evidence and ids match the frame path."""
    import json

    tracking.configure(get_settings())
    model = mlflow.pyfunc.load_model(tracking.model_uri("reviews")).unwrap_python_model().model
    p = model.model.predict_proba(model.stored.reset_index(drop=True))[:, 1]
    suspects = model.stored.index[np.argsort(-p)].tolist()[:60]  # the likeliest fakes: rings among them
    for ids in (suspects[:1], suspects[:2], model.stored.index[::7].tolist(), suspects):
        frame_path = model.model.decide(model.stored.loc[ids].reset_index(drop=True), top_k=3)
        served = model.decide(pd.DataFrame(), review_ids=ids, top_k=3)
        expected = [{"review_id": r["review_id"], "status": "ok", **r} for r in frame_path]
        assert json.dumps(served, default=str) == json.dumps(expected, default=str)
    assert any(r["campaign_id"] for r in model.decide(pd.DataFrame(), review_ids=suspects))


@pytest.mark.realdata
def test_train_reviews_on_the_ott_corpus_is_text_only(shared_dataset: Callable[[str], Path], tmp_path: Path) -> None:
    from features.lake import ingest
    from features.sources import ott

    env = _in_data_dir(tmp_path)
    next(env)
    try:
        settings = get_settings()
        ingest(ott.load(shared_dataset(ott.FOLDER)), settings.dataset("ott"), progress=False)
        result = runner.run_decision("reviews", dataset="ott", settings=settings)
    finally:
        next(env, None)
    assert result.alias == "champion" and result.extra["lineage"]["split"].startswith("stratified")
    assert set(result.baselines) == {"word_tfidf_logreg"}  # no behaviour: no rules or ablation baselines
    assert result.metrics["roc_auc"] > 0.9
