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
    user = summary["views"]["user"]
    assert (user["keys"], user["latest_as_of"]) == (len(expected), str(CUTOFFS[1]))
    assert summary["writer"] == "bulk" and "offline_keys" not in user  # users are not limited
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


def test_fast_path_answers_what_a_new_materialization_wrote(world, offline) -> None:
    """The fast path keeps decoded values of named columns between calls; a materialization after them (another
    connection's commit) must be what the next call answers, for those columns and for keys only the new write holds."""
    materialize(world, end=CUTOFFS[1] + pd.Timedelta(seconds=1), settings=SQLITE, progress=False)
    fast = OnlineFeatureReader(world, SQLITE, fast=True)
    ids, columns = [*sorted(offline[c.USER_ID].unique()), "nobody"], ["orders_total", "recency_days"]
    before = fast.get("tiering_v1", ids, columns)
    assert fast.get("tiering_v1", ids, columns).equals(before)  # the second read is served from the kept values
    assert fast._fast._values  # (they are kept)
    materialize(world, settings=SQLITE, progress=False)
    after = fast.get("tiering_v1", ids, columns)
    pd.testing.assert_frame_equal(after, OnlineFeatureReader(world, SQLITE).get("tiering_v1", ids, columns))
    assert not after.equals(before) and after[KNOWN].sum() > before[KNOWN].sum()


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


PAIRS = FeatureSet(
    name="interactions",
    entity="user_sku",
    keys=(c.USER_ID, c.SKU_ID),
    description="Stand-in pair features with the ranking column the online limit reads.",
    requires=("events",),
    features=(
        Feature("weight", "float64", "Pair strength (NaN allowed)."),
        Feature("purchases", "int64", "A count (null allowed)."),
    ),
    compute=lambda lake, as_of: None,
)
REVIEWS = FeatureSet(
    name="review",
    entity="review",
    keys=("review_id",),
    description="Stand-in review features: an integer key, text, large ints.",
    requires=("reviews",),
    features=(
        Feature("text", "string", "Review text (null allowed)."),
        Feature("stars", "int64", "Any int64."),
        Feature("score", "float64", "Any double."),
    ),
    compute=lambda lake, as_of: None,
)


def _edge_case_features(root: Path, world: DatasetPaths) -> DatasetPaths:
    """The world's real user features plus stand-ins holding NaN, nulls, -0.0, inf, negative and large ints, Chinese."""
    paths = DatasetPaths("bulk", root / "bulk")
    paths.features.mkdir(parents=True)
    user_file = build.combined_path(world, USER_FEATURES)
    build.combined_path(paths, USER_FEATURES).write_bytes(user_file.read_bytes())
    when = [CUTOFFS[0], CUTOFFS[1], CUTOFFS[1], CUTOFFS[1], CUTOFFS[2]]
    pairs = pd.DataFrame(
        {c.USER_ID: ["u1", "u1", "u1", "u2", "u1"], c.SKU_ID: ["s1", "s1", "s2", "s1", "s3"], c.AS_OF: when}
    )
    pairs["weight"] = [1.0, np.nan, 2.5, -0.0, 1e-310]
    pairs["purchases"] = pd.array([1, None, 3, 0, -7], dtype="Int64")
    reviews = pd.DataFrame({"review_id": [1, -(2**40), 2**40, 1], c.AS_OF: when[:4]})
    reviews["text"] = ["好评 👍", None, "", "naïve"]
    reviews["stars"] = pd.array([5, -(2**40), 2**40, None], dtype="Int64")
    reviews["score"] = [0.1, np.inf, -np.inf, 1 / 3]
    for feature_set, frame in ((PAIRS, pairs), (REVIEWS, reviews)):
        frame.astype({c.AS_OF: "datetime64[us]"}).to_parquet(build.combined_path(paths, feature_set), index=False)
    return paths


def _user_features(offline: pd.DataFrame) -> list[str]:
    return [f.name for f in USER_FEATURES.features if f.name in offline.columns]


def _online_rows(paths: DatasetPaths) -> dict[str, list[tuple]]:
    import sqlite3

    with sqlite3.connect(paths.feast / "online.db") as conn:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables}


def _schema(paths: DatasetPaths) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(paths.feast / "online.db") as conn:
        return sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall())


def test_bulk_writer_writes_what_feast_materialize_writes(world, offline, tmp_path: Path, monkeypatch) -> None:
    real_get = registry.get
    stand_ins = {"interactions": PAIRS, "review": REVIEWS}
    monkeypatch.setattr(registry, "get", lambda name: stand_ins.get(name) or real_get(name))
    every_row = Settings(online_store="sqlite", online_top_n=0)
    sdk, fast = _edge_case_features(tmp_path / "sdk", world), _edge_case_features(tmp_path / "fast", world)
    end = CUTOFFS[1] + pd.Timedelta(seconds=1)
    assert materialize(sdk, end=end, settings=every_row, progress=False, bulk=False)["writer"] == "feast"
    summary = materialize(fast, end=end, settings=every_row, progress=False)
    assert summary["writer"] == "bulk"
    users = len(_latest(offline, end))
    assert {v: info["keys"] for v, info in summary["views"].items()} == {"user": users, "interactions": 3, "review": 3}
    sdk_rows, fast_rows = _online_rows(sdk), _online_rows(fast)
    assert sum(len(rows) for rows in fast_rows.values()) == users * len(_user_features(offline)) + 3 * 2 + 3 * 3
    assert fast_rows == sdk_rows  # byte for byte: keys, value protos, value_text, event_ts, created_ts
    assert _schema(fast) == _schema(sdk)  # Feast's entity_key index, dropped for the load, is back as Feast made it

    materialize(fast, settings=every_row, progress=False)  # a later window replaces each view's rows
    materialize(sdk, settings=every_row, progress=False, bulk=False)
    assert _online_rows(fast) == _online_rows(sdk)
    got = OnlineFeatureReader(fast, every_row, fast=True).get("churn_v1", sorted(offline[c.USER_ID].unique()))
    pd.testing.assert_frame_equal(got, OnlineFeatureReader(sdk, every_row).get("churn_v1", list(got[c.USER_ID])))


def test_online_keeps_each_users_strongest_pairs(world, tmp_path: Path, monkeypatch) -> None:
    real_get = registry.get
    stand_ins = {"interactions": PAIRS, "review": REVIEWS}
    monkeypatch.setattr(registry, "get", lambda name: stand_ins.get(name) or real_get(name))
    paths = _edge_case_features(tmp_path, world)
    summary = materialize(paths, settings=Settings(online_store="sqlite", online_top_n=1), progress=False)
    pairs = summary["views"]["interactions"]
    assert (pairs["keys"], pairs["offline_keys"], pairs["latest_as_of"]) == (2, 4, str(CUTOFFS[1]))
    store = get_store(paths, SQLITE)
    rows = [{c.USER_ID: "u1", c.SKU_ID: sku} for sku in ("s1", "s2", "s3")] + [{c.USER_ID: "u2", c.SKU_ID: "s1"}]
    got = store.get_online_features(features=["interactions:weight"], entity_rows=rows).to_dict()
    assert got["weight"] == [None, 2.5, None, -0.0]  # u1's latest s1 row is NaN, s3's 1e-310 < 2.5: not online
