"""The demand decision through the runner on the tiny world: train, evaluate vs baselines, register, serve records."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from features.settings import get_settings
from training import runner, tracking

pytestmark = [pytest.mark.model, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def trained(tiny_world, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("demand")
    shutil.copytree(tiny_world.lake, root / "synthetic" / "lake")
    old = os.environ.get("SHOPSENSE_DATA_DIR")
    os.environ["SHOPSENSE_DATA_DIR"] = str(root)
    get_settings.cache_clear()
    settings = get_settings()
    result = runner.run_decision("demand", settings=settings)
    tracking.configure(settings)
    yield {"result": result, "model": tracking.champion_model(result.model_name)}
    if old is None:
        os.environ.pop("SHOPSENSE_DATA_DIR", None)
    else:
        os.environ["SHOPSENSE_DATA_DIR"] = old
    get_settings.cache_clear()


def test_registered_as_champion_and_beats_baselines_on_wql(trained) -> None:
    result = trained["result"]
    assert (result.version, result.alias) == ("1", "champion")
    assert set(result.baselines) >= {"SeasonalNaive", "AutoETS", "CrostonSBA", "TSB", "ADIDA", "IMAPA", "Zero"}
    for name, base in result.baselines.items():
        assert result.metrics["wql"] < base["wql"], name
    assert 0.5 <= result.metrics["coverage_q10_q90"] <= 1.0


def test_champion_answers_forecasts_and_policies_by_id(trained) -> None:
    model = trained["model"]
    ids = sorted(model.forecaster.history_len_.index)[:2]
    records = model.decide(pd.DataFrame(), sku_ids=[*ids, "NOPE"], horizon=5, levels=[50, 95])
    assert [r["status"] for r in records] == ["ok", "ok", "unknown_sku"]
    assert len(records[0]["periods"]) == 5
    first_day = pd.Timestamp(records[0]["periods"][0]["ds"])
    assert first_day == model.forecaster.last_ds_ + pd.Timedelta(days=1)  # served from the latest day
    policies = model.decide(pd.DataFrame(), sku_ids=ids, action="policy", stock=[{"sku_id": ids[0], "on_hand": 0}])
    assert policies[0]["on_hand"] == 0 and policies[0]["reorder_point"] >= 0
    assert all(p["abc_class"] in ("A", "B", "C") and p["xyz_class"] in ("X", "Y", "Z") for p in policies)


def test_policy_reads_current_stock_from_the_online_store(trained) -> None:
    """The online store's on-hand beats the training snapshot; an id the store lacks keeps its snapshot value."""
    model = trained["model"]
    ids = sorted(model.forecaster.history_len_.index)[:2]

    def lookup(service: str, wanted: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"on_hand": [12345.0, 1.0], "units_in_transit": [7.0, 1.0], "known": [True, False]})

    current = model._stock(ids, None, lookup)
    assert current[ids[0]]["on_hand"] == 12345.0 and current[ids[0]]["on_order"] == 7.0
    assert current[ids[1]]["on_hand"] != 1.0 or model.snapshot.loc[ids[1], "on_hand"] == 1.0


def test_a_policy_does_not_depend_on_the_other_skus_of_the_request(trained) -> None:
    """Each SKU simulates from its own seeded stream, and the stock-free part is computed once per SKU."""
    import pickle

    model = pickle.loads(pickle.dumps(trained["model"]))  # a fresh copy: no cached plans
    ids = sorted(model.forecaster.history_len_.index)[:3]
    stored = model.decide(pd.DataFrame(), sku_ids=[ids[2]], action="policy")[0]
    assert not model.__dict__.get("_plan_cache")  # the default service levels were planned at training
    model.plans_ = {}  # now computed per request instead
    alone = model.decide(pd.DataFrame(), sku_ids=[ids[2]], action="policy")[0]
    together = model.decide(pd.DataFrame(), sku_ids=ids[::-1], action="policy")[0]
    assert stored == alone == together
    assert len(model._plan_cache) == 3 and "_plan_cache" not in pickle.loads(pickle.dumps(model)).__dict__
    stocked = model.decide(pd.DataFrame(), sku_ids=[ids[2]], action="policy", stock=[{"sku_id": ids[2], "on_hand": 0}])
    assert stocked[0]["reorder_point"] == alone["reorder_point"] and stocked[0]["on_hand"] == 0
    assert stocked[0]["order_quantity"] is not None and stocked[0]["order_quantity"] >= 0


def test_stored_paths_answer_what_the_recursive_forecast_would(trained) -> None:
    """Mean paths are stored at training and sliced per request; past their horizon the forecaster runs again."""
    import pickle

    model = pickle.loads(pickle.dumps(trained["model"]))
    stored_h = model.paths_["mean"].shape[1]
    ids = sorted(model.forecaster.history_len_.index)[:4]
    ask = {"sku_ids": ids, "horizon": 7, "levels": [10, 50, 97.5]}
    model.prepare_serving(None)  # what the runtime does at load: the stored rows resolved before any request
    sliced = model.decide(pd.DataFrame(), **ask)
    longer = model.decide(pd.DataFrame(), sku_ids=ids[:1], horizon=stored_h + 3)
    one = model.decide(pd.DataFrame(), sku_ids=ids[2:3], horizon=7)  # default levels: kept per SKU once computed
    every = model.decide(pd.DataFrame(), sku_ids=ids, horizon=7)  # one SKU from the kept table, three new
    assert every[2] == one[0] and model._default_quantiles_cache[1].sum() == len(ids)
    model.paths_ = None
    assert model.decide(pd.DataFrame(), **ask) == sliced
    assert model.decide(pd.DataFrame(), sku_ids=ids, horizon=7) == every
    assert len(longer[0]["periods"]) == stored_h + 3


def test_catalogue_skus_outside_the_panel_rule_say_so(trained) -> None:
    """A big catalogue forecasts its best sellers: the rest answer not_forecast with the rule, not unknown_sku."""
    import pickle

    from models.demand_decision import DemandDecision

    model = pickle.loads(pickle.dumps(trained["model"]))
    known = sorted(model.forecaster.history_len_.index)[0]
    rebuilt = DemandDecision(model.forecaster, model.lead_times, model.snapshot, catalogue=[known, "TAIL-1"],
                             sku_rule="top 1 SKUs by revenue")  # fmt: skip
    records = rebuilt.decide(pd.DataFrame(), sku_ids=[known, "TAIL-1", "NOPE"], action="policy")
    assert [r["status"] for r in records] == ["ok", "not_forecast", "unknown_sku"]
    assert "top 1 SKUs by revenue" in records[1]["reason"]


def test_a_restrictive_sku_rule_picks_the_skus_known_at_the_holdout_origin(tiny_world, tmp_path, monkeypatch) -> None:
    """With fewer SKUs kept than the catalogue holds, the gate's SKUs are the top sellers before the holdout, not
    SKUs chosen partly by the holdout's own sales (checked against the lake with pandas)."""
    from features import columns as c
    from features.settings import DatasetPaths
    from training.decisions import demand
    from training.decisions.spec import TrainOptions

    shutil.copytree(tiny_world.lake, tmp_path / "synthetic" / "lake")
    monkeypatch.setenv("SHOPSENSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPSENSE_DEMAND_MAX_SKUS", "5")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        paths = DatasetPaths("synthetic", tmp_path / "synthetic")
        data = demand.load(paths, settings, TrainOptions())
    finally:
        get_settings.cache_clear()
    origin = pd.Timestamp(data.lineage["holdout_start"])
    orders = pd.read_parquet(paths.lake / "orders.parquet", columns=[c.ORDER_ID, c.ORDER_TS, c.STATUS])
    orders[c.ORDER_TS] = orders[c.ORDER_TS].dt.tz_localize(None) if orders[c.ORDER_TS].dt.tz else orders[c.ORDER_TS]
    recent = orders[(orders[c.STATUS] != "cancelled") & (orders[c.ORDER_TS] < origin)
                    & (orders[c.ORDER_TS] >= origin - pd.Timedelta(days=91))]  # fmt: skip
    lines = pd.read_parquet(paths.lake / "order_items.parquet").merge(recent[[c.ORDER_ID]], on=c.ORDER_ID)
    revenue = (lines[c.QUANTITY] * lines[c.UNIT_PRICE]).groupby(lines[c.SKU_ID]).sum()
    expected = sorted(revenue.sort_values(ascending=False, kind="stable").index.astype(str)[:5])
    assert sorted(data.part("train")[c.UNIQUE_ID].astype(str).unique()) == expected
    assert str(origin.date()) in data.lineage["sku_rule"]
