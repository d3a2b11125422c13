"""The Feast store: views generated from the declarations, online = offline at materialization, point-in-time
training joins, unknown ids reported as unknown, the SQLite fast path equal to the SDK, Redis by setting only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from features import build, engine, registry
from features import columns as c
from features.settings import DatasetPaths, Settings
from features.spec import Feature, FeatureSet
from features.store import FEATURE_SERVICES, OnlineFeatureReader, get_store, historical_features, materialize
from features.store.config import config_dict, write_config
from features.store.layout import KNOWN
from features.users import USER_FEATURES

pytestmark = pytest.mark.unit

CUTOFFS = [pd.Timestamp("2025-03-01"), pd.Timestamp("2025-06-01"), pd.Timestamp("2025-09-01")]
SQLITE = Settings(online_store="sqlite")


@pytest.fixture(scope="module")
def world(tiny_world, tmp_path_factory) -> DatasetPaths:
    """The session's tiny synthetic lake (linked, read-only) with this module's own features and Feast repo."""
    paths = DatasetPaths("synthetic", tmp_path_factory.mktemp("store") / "synthetic")
    paths.root.mkdir()
    paths.lake.symlink_to(tiny_world.lake.resolve(), target_is_directory=True)
    build.build(USER_FEATURES, engine.connect(engine="duckdb"), paths, CUTOFFS, progress=False)
    return paths


@pytest.fixture(scope="module")
def offline(world) -> pd.DataFrame:
    return build.load(world, USER_FEATURES)


def _latest(offline: pd.DataFrame, upto: pd.Timestamp) -> pd.DataFrame:
    rows = offline[offline[c.AS_OF] <= upto].sort_values(c.AS_OF).drop_duplicates(c.USER_ID, keep="last")
    return rows.set_index(c.USER_ID).drop(columns=c.AS_OF)


def _assert_online_matches(reader: OnlineFeatureReader, expected: pd.DataFrame) -> None:
    ids = sorted(expected.index)
    got = reader.get("churn_v1", ids).set_index(c.USER_ID)
    assert got[KNOWN].all()
    features = list(expected.columns)
    assert list(got.columns) == [*features, KNOWN]
    pd.testing.assert_frame_equal(
        got[features].astype("float64"), expected.loc[ids, features].astype("float64"), check_names=False
    )


def test_views_and_services_come_from_the_declarations(world, offline) -> None:
    store = get_store(world, SQLITE)
    assert [v.name for v in store.list_feature_views()] == ["user"]  # only sets whose Parquet was built
    view = store.get_feature_view("user")
    declared = [f for f in USER_FEATURES.features if f.name in offline.columns]
    assert [f.name for f in view.features] == [f.name for f in declared]
    assert [str(f.dtype).lower() for f in view.features] == [f.dtype for f in declared]
    assert [f.name for f in view.entity_columns] == [c.USER_ID]
    services = {s.name for s in store.list_feature_services()}
    assert services == {name for name, views in FEATURE_SERVICES.items() if views == ["user"]}
    config = yaml.safe_load((world.feast / "feature_store.yaml").read_text())
    assert config["project"] == "shopsense_synthetic"
    assert config["online_store"] == {"type": "sqlite", "path": str(world.feast.resolve() / "online.db")}
    assert get_store(world, SQLITE).list_feature_views() == store.list_feature_views()  # idempotent


def test_online_equals_offline_as_of_the_last_materialization(world, offline) -> None:
    end = CUTOFFS[1] + pd.Timedelta(seconds=1)
    summary = materialize(world, end=end, settings=SQLITE, progress=False)
    expected = _latest(offline, end)
    assert summary["views"]["user"] == {"keys": len(expected), "latest_as_of": str(CUTOFFS[1])}
    reader = OnlineFeatureReader(world, SQLITE)
    _assert_online_matches(reader, expected)
    later_only = sorted(set(offline[c.USER_ID]) - set(expected.index))
    if later_only:  # users who signed up after the second cutoff are not online yet
        assert not reader.get("churn_v1", later_only[:3])[KNOWN].any()

    summary = materialize(world, settings=SQLITE, progress=False)  # default end: the latest cutoff + 1 s
    assert summary["end"] == str(CUTOFFS[-1] + pd.Timedelta(seconds=1))
    _assert_online_matches(OnlineFeatureReader(world, SQLITE), _latest(offline, CUTOFFS[-1]))


def test_unknown_ids_are_reported_in_the_order_asked(world, offline) -> None:
    materialize(world, settings=SQLITE, progress=False)
    users = sorted(offline[c.USER_ID].unique())[:2]
    for fast in (False, True):
        got = OnlineFeatureReader(world, SQLITE, fast=fast).get("churn_v1", [users[1], "nobody", users[0]])
        assert got[c.USER_ID].tolist() == [users[1], "nobody", users[0]]
        assert got[KNOWN].tolist() == [True, False, True]
        assert got.drop(columns=[c.USER_ID, KNOWN]).iloc[1].isna().all()
        assert got["orders_total"].dtype == "Int64"


def test_fast_path_equals_the_sdk(world, offline) -> None:
    materialize(world, settings=SQLITE, progress=False)
    sdk, fast = OnlineFeatureReader(world, SQLITE), OnlineFeatureReader(world, SQLITE, fast=True)
    ids = [*sorted(offline[c.USER_ID].unique()), "nobody", "nobody"]
    pd.testing.assert_frame_equal(fast.get("tiering_v1", ids), sdk.get("tiering_v1", ids))
    for one in ids[:20]:
        pd.testing.assert_frame_equal(fast.get("churn_v1", [one]), sdk.get("churn_v1", [one]))


def test_historical_features_are_point_in_time(world, offline) -> None:
    rng = np.random.default_rng(0)
    users = rng.choice(offline[c.USER_ID].unique(), 200)
    days = rng.integers(-40, 300, 200)
    stamps = CUTOFFS[0] + pd.to_timedelta(days, unit="D")
    stamps = stamps.where(days % 7 != 0, CUTOFFS[1])  # some exactly on a cutoff: that cutoff's row applies
    entity_df = pd.DataFrame({c.USER_ID: users, "event_timestamp": stamps, "label": rng.integers(0, 2, 200)})
    got = historical_features(world, entity_df, "churn_v1", settings=SQLITE)

    pd.testing.assert_frame_equal(got[entity_df.columns], entity_df)
    order = entity_df.assign(row=range(len(entity_df))).sort_values("event_timestamp")
    table = offline.sort_values(c.AS_OF).assign(event_timestamp=lambda f: f[c.AS_OF].astype("datetime64[ns]"))
    expected = pd.merge_asof(order, table, on="event_timestamp", by=c.USER_ID, direction="backward")
    expected = expected.sort_values("row").reset_index(drop=True)
    features = [f for f in got.columns if f not in entity_df.columns]
    assert features == [f.name for f in USER_FEATURES.features if f.name in offline.columns]
    pd.testing.assert_frame_equal(got[features].astype("float64"), expected[features].astype("float64"))
    before_first = got["event_timestamp"] < CUTOFFS[0]
    assert before_first.any() and got.loc[before_first, features].isna().all().all()


def test_redis_is_chosen_by_setting_only(world, tmp_path: Path) -> None:
    from feast import RepoConfig

    redis = Settings(online_store="redis", redis_connection="redis.internal:6380,db=2")
    sqlite_cfg, redis_cfg = config_dict(world, SQLITE), config_dict(world, redis)
    assert redis_cfg["online_store"] == {"type": "redis", "connection_string": "redis.internal:6380,db=2"}
    assert {k: v for k, v in redis_cfg.items() if k != "online_store"} == {
        k: v for k, v in sqlite_cfg.items() if k != "online_store"
    }
    assert RepoConfig(**redis_cfg).online_store.type == "redis"  # Feast accepts it; no server needed to check
    other = DatasetPaths("other", tmp_path / "other")
    written = yaml.safe_load(write_config(other, redis).read_text())
    assert written["online_store"]["type"] == "redis" and written["project"] == "shopsense_other"


INTERACTIONS = FeatureSet(
    name="interactions",
    entity="user_sku",
    keys=(c.USER_ID, c.SKU_ID),
    description="Stand-in pair features (the real set is being written).",
    requires=("events",),
    features=(
        Feature("views_30d", "int64", "Views of the SKU by the user in 30 days."),
        Feature("affinity", "float64", "Some pair score."),
    ),
    compute=lambda lake, as_of: None,  # never computed here: the test writes its Parquet directly
)


def _stand_in(feature_set: FeatureSet, keys: pd.DataFrame, paths: DatasetPaths, rng: np.random.Generator) -> None:
    frames = []
    for as_of in CUTOFFS[:2]:
        frame = keys.assign(**{c.AS_OF: as_of})
        for feat in feature_set.features:
            frame[feat.name] = rng.integers(0, 9, len(keys)) if feat.dtype == "int64" else rng.random(len(keys))
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True).astype({c.AS_OF: "datetime64[us]"})
    out.to_parquet(build.combined_path(paths, feature_set), index=False)


def test_multi_view_service_is_picked_up_and_keyed_per_entity(world, tmp_path: Path, monkeypatch) -> None:
    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda name: INTERACTIONS if name == "interactions" else real_get(name))
    sku_set = real_get("sku")
    paths = DatasetPaths("multi", tmp_path / "multi")
    paths.features.mkdir(parents=True)
    rng = np.random.default_rng(5)
    users, skus = [f"u{i}" for i in range(6)], [f"s{i}" for i in range(4)]
    _stand_in(USER_FEATURES, pd.DataFrame({c.USER_ID: users}), paths, rng)
    _stand_in(sku_set, pd.DataFrame({c.SKU_ID: skus}), paths, rng)
    pairs = pd.DataFrame({c.USER_ID: ["u0", "u0", "u1"], c.SKU_ID: ["s0", "s1", "s0"]})
    _stand_in(INTERACTIONS, pairs, paths, rng)
    materialize(paths, settings=SQLITE, progress=False)

    rows = [
        {c.USER_ID: "u0", c.SKU_ID: "s1"},  # everything known
        {c.USER_ID: "u2", c.SKU_ID: "s3"},  # both known, never interacted: pair features stay null
        {c.USER_ID: "ghost", c.SKU_ID: "s0"},  # unknown user
    ]
    sdk = OnlineFeatureReader(paths, SQLITE).get("recommend_v1", rows)
    fast = OnlineFeatureReader(paths, SQLITE, fast=True).get("recommend_v1", rows)
    pd.testing.assert_frame_equal(fast, sdk)
    assert sdk[KNOWN].tolist() == [True, True, False]
    assert "interactions__views_30d" in sdk.columns and "user__orders_total" in sdk.columns
    assert sdk["interactions__views_30d"].isna().tolist() == [False, True, True]
    assert sdk["sku__" + sku_set.features[0].name].notna().all()

    build.combined_path(paths, INTERACTIONS).unlink()  # a set no longer built loses its view and services
    store = get_store(paths, SQLITE)
    assert sorted(v.name for v in store.list_feature_views()) == ["sku", "user"]
    assert "recommend_v1" not in {s.name for s in store.list_feature_services()}
