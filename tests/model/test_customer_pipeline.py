"""The customer decisions end to end: train, log, register, gate the alias, load back by alias."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.settings import Settings, get_settings
from models import metrics
from training import pipeline, tracking
from training.customer_data import load_customer_dataset
from training.datasets import LabelConfig

pytestmark = [pytest.mark.model, pytest.mark.integration]


@pytest.fixture(scope="module")
def trained(tiny_world, tmp_path_factory) -> dict:
    """A private copy of the tiny world with churn and tiering trained once (v1 of each is champion)."""
    import os
    import shutil

    root = tmp_path_factory.mktemp("trained")
    shutil.copytree(tiny_world.lake, root / "synthetic" / "lake")
    old = os.environ.get("SHOPSENSE_DATA_DIR")
    os.environ["SHOPSENSE_DATA_DIR"] = str(root)
    get_settings.cache_clear()
    settings = get_settings()
    churn = pipeline.train_churn(settings=settings)
    tiering = pipeline.train_tiering(settings=settings)
    yield {"settings": settings, "churn": churn, "tiering": tiering, "root": root}
    if old is None:
        os.environ.pop("SHOPSENSE_DATA_DIR", None)
    else:
        os.environ["SHOPSENSE_DATA_DIR"] = old
    get_settings.cache_clear()


def _test_features(settings: Settings) -> tuple[pd.DataFrame, pd.Series]:
    data = load_customer_dataset(settings.dataset("synthetic"), LabelConfig(), settings)
    x, y = data.xy("test")
    return x.astype("float64"), y


def test_first_versions_are_champions_and_beat_baselines(trained) -> None:
    churn = trained["churn"]
    assert (churn.version, churn.alias) == ("1", "champion")
    assert trained["tiering"].alias == "champion"
    for baseline in churn.baselines.values():
        assert churn.metrics["roc_auc"] > baseline["roc_auc"]
        assert churn.metrics["log_loss"] < baseline["log_loss"]
    assert churn.metrics["ece"] < 0.06


def test_champion_round_trip_predicts_identically(trained) -> None:
    settings = trained["settings"]
    tracking.configure(settings)
    x, _ = _test_features(settings)
    loaded = mlflow.pyfunc.load_model(tracking.model_uri("churn"))
    in_memory = loaded.unwrap_python_model().decide(x, explain=True)
    served = loaded.predict(x, params={"explain": True, "top_k": 3})
    pd.testing.assert_frame_equal(served.reset_index(drop=True), in_memory.reset_index(drop=True))
    run = mlflow.get_run(trained["churn"].run_id)
    assert run.data.tags["alias"] == "champion"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(trained["churn"].run_id)}
    assert {"calibration.png", "shap_summary.png", "dataset.json"} <= artifacts
    assert "baseline_rfm_logreg_test_roc_auc" in run.data.metrics


def test_worse_model_does_not_become_champion(trained) -> None:
    settings = trained["settings"]
    worse = pipeline.train_churn(
        settings=settings, classifier_params={"n_estimators": 2, "num_leaves": 2, "early_stopping_rounds": None}
    )
    assert worse.metrics["roc_auc"] < trained["churn"].metrics["roc_auc"]
    assert worse.alias == "challenger"
    assert tracking.champion_version(tracking.registered_name("churn")) == trained["churn"].version
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias("shopsense-churn", "challenger").version) == worse.version


def test_decision_output_is_complete(trained) -> None:
    settings = trained["settings"]
    tracking.configure(settings)
    x, y = _test_features(settings)
    out = mlflow.pyfunc.load_model(tracking.model_uri("churn")).predict(x, params={"explain": True})
    assert set(out["risk_band"]) <= {"low", "medium", "high", "critical"}
    np.testing.assert_allclose(out["value_at_risk"], out["predicted_ltv"] * out["churn_probability"])
    assert out["recall_label_zh"].str.len().min() > 0
    assert metrics.roc_auc(y.to_numpy(), out["churn_probability"].to_numpy()) > 0.8


def test_retrain_keeps_tier_names(trained) -> None:
    """The second tiering run starts from the champion's named centroids: the same users keep their tier."""
    settings = trained["settings"]
    tracking.configure(settings)
    x, _ = _test_features(settings)
    first = mlflow.pyfunc.load_model("models:/shopsense-tiering/1").predict(x)
    again = pipeline.train_tiering(settings=settings, seed=7)
    second = mlflow.pyfunc.load_model(f"models:/shopsense-tiering/{again.version}").predict(x)
    agreement = (first["tier"] == second["tier"]).mean()
    print(f"ARI {metrics.adjusted_rand(first['tier'], second['tier']):.3f}, same tier {agreement:.3f}")
    assert agreement > 0.7
    spend = x["spend_365d"]
    by_tier = spend.groupby(second["tier"].to_numpy()).mean()
    assert by_tier.idxmax() == "high_value"


def test_unused_path_is_not_created(trained) -> None:
    assert not Path("mlruns").exists()
