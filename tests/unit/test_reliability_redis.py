"""The Feast online store on a real Redis server (issue 13, item 10): online = offline at materialization, unknown
ids reported, exactly as on SQLite. The server is Debian's redis-server on a free loopback port, stopped after."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from features import columns as c
from features.settings import Settings
from features.store import OnlineFeatureReader, materialize
from features.store.layout import KNOWN
from tests.redis_server import redis_binary, redis_server
from tests.unit.test_feature_store import CUTOFFS, _assert_online_matches, _latest

pytestmark = [pytest.mark.unit, pytest.mark.integration]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if redis_binary() is None and not os.environ.get("CI"):
        pytest.skip("redis-server not installed (`make install` installs it; CI always has it)")
    with redis_server() as url:
        yield url


@pytest.fixture(scope="module")
def world(tiny_world, tmp_path_factory):
    from features import build, engine
    from features.settings import DatasetPaths
    from features.users import USER_FEATURES

    paths = DatasetPaths("synthetic", tmp_path_factory.mktemp("redis_store") / "synthetic")
    paths.root.mkdir()
    paths.lake.symlink_to(tiny_world.lake.resolve(), target_is_directory=True)
    build.build(USER_FEATURES, engine.connect(engine="duckdb"), paths, CUTOFFS, progress=False)
    return paths, build.load(paths, USER_FEATURES)


def test_online_equals_offline_on_redis(world, redis_url: str) -> None:
    paths, offline = world
    redis = Settings(online_store="redis", redis_connection=redis_url)
    summary = materialize(paths, settings=redis, progress=False)
    expected = _latest(offline, CUTOFFS[-1])
    assert summary["views"]["user"]["keys"] == len(expected)
    reader = OnlineFeatureReader(paths, redis)
    assert not reader.fast  # the SQLite fast path never applies to Redis
    _assert_online_matches(reader, expected)
    users = sorted(expected.index)[:2]
    got = reader.get("churn_v1", [users[1], "nobody", users[0]])
    assert got[c.USER_ID].tolist() == [users[1], "nobody", users[0]]
    assert got[KNOWN].tolist() == [True, False, True]
