"""``POST /recommend/user``, ``/recommend/similar`` and ``/recommend/popular`` through HTTP (ASGI)."""

from __future__ import annotations

import numpy as np
import pytest

from models import reco_rules
from models.reco_rules import STOCK_SERVICE
from serving.schemas.recommend import EXAMPLE_POPULAR_REQUEST, MAX_K

pytestmark = pytest.mark.serving


def _user(client, auth, body: dict) -> dict:
    response = client.post("/recommend/user", json=body, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_known_user_gets_reasoned_items_and_an_unknown_one_a_flagged_popular_list(client, auth, world) -> None:
    known = _user(client, auth, {"user_id": world.known_ids[0], "k": 8})
    assert known["counts"] == {"requested": 1, "ok": 1, "cold_start": 0}
    result = known["results"][0]
    assert result["user_id"] == world.known_ids[0] and result["status"] == "ok" and len(result["items"]) == 8
    assert all(i["reason_zh"] and i["reason_en"] and i["source"] for i in result["items"])
    assert known["models"]["recommend"]["name"].startswith("shopsense-recommend")
    cold = _user(client, auth, {"user_id": "U-NEVER-SEEN", "k": 5})
    assert cold["counts"]["cold_start"] == 1 and cold["results"][0]["cold_start"] is True
    assert len(cold["results"][0]["items"]) == 5


def test_stock_and_filters_from_the_request_are_respected(client, auth, world) -> None:
    first = _user(client, auth, {"user_id": world.known_ids[1], "k": 10})["results"][0]["items"]
    gone = [{"sku_id": i["sku_id"], "on_hand": 0} for i in first[:3]]
    exclude = [i["sku_id"] for i in first[3:5]]
    body = {"user_id": world.known_ids[1], "k": 10, "stock": gone, "filters": {"exclude": exclude, "max_price": 300}}
    again = _user(client, auth, body)["results"][0]
    returned = {i["sku_id"] for i in again["items"]}
    assert not returned & ({g["sku_id"] for g in gone} | set(exclude))
    assert all(i["price"] <= 300 for i in again["items"]) and again["rules"]["filters"] >= 2


def test_similar_items_and_popular_lists(client, auth, world) -> None:
    sku = _user(client, auth, {"user_id": world.known_ids[0], "k": 1})["results"][0]["items"][0]["sku_id"]
    body = {"sku_id": sku, "k": 5}
    similar = client.post("/recommend/similar", json=body, headers=auth).json()
    assert similar["results"][0]["status"] == "ok" and len(similar["results"][0]["items"]) == 5
    unknown = client.post("/recommend/similar", json={"sku_id": "SKU-NOPE"}, headers=auth).json()
    assert unknown["counts"]["unknown_sku"] == 1 and unknown["results"][0]["status"] == "unknown_sku"
    popular = client.post("/recommend/popular", json=EXAMPLE_POPULAR_REQUEST, headers=auth).json()
    items = popular["results"][0]["items"]
    assert items and all(i["category"] == EXAMPLE_POPULAR_REQUEST["category"] for i in items)


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/recommend/user", {"user_id": "U1", "k": 0}, ["k"]),
        ("/recommend/user", {"user_id": "U1", "k": MAX_K + 1}, ["k"]),
        ("/recommend/user", {"user_id": "bad id!"}, ["user_id"]),
        ("/recommend/user", {"user_id": "U1", "filters": {"min_price": 9, "max_price": 1}}, ["filters"]),
        ("/recommend/similar", {"sku_id": "S1", "stock": [{"sku_id": "S1", "on_hand": -1}]}, ["stock", 0, "on_hand"]),
        ("/recommend/popular", {"k": 1000}, ["k"]),
    ],
)
def test_invalid_requests_are_a_400_naming_the_field(client, auth, route, body, field) -> None:
    response = client.post(route, json=body, headers=auth)
    assert response.status_code == 400, response.text
    assert field in [d["loc"][: len(field)] for d in response.json()["detail"]], response.json()


def test_the_same_request_twice_gives_the_same_list(client, auth, world) -> None:
    body = {"user_id": world.known_ids[2], "k": 10, "promo_slot": True}
    assert _user(client, auth, body)["results"] == _user(client, auth, body)["results"]


def test_the_served_in_stock_rule_reads_current_on_hand_from_the_online_store(world, monkeypatch, tmp_path) -> None:
    """The runtime hands ``decide`` its online lookup: SKUs the online store now holds at zero never come back."""
    from features.store.layout import KNOWN
    from serving import model_store
    from serving.runtime import Job, Runtime

    reader = Runtime.open_reader(world.settings)
    runtime = Runtime({"recommend": model_store.load_from_store("recommend")}, reader, tmp_path)
    assert runtime.plan("recommend").served.model.ranker.forest_ is not None  # compiled when planned, not later
    params = {"mode": "user", "user_ids": [world.known_ids[0]], "k": 10}
    first = runtime.run("recommend", [Job(params=params)])[0].records[0]["items"]
    gone = {i["sku_id"] for i in first[:3]}
    real_get, services = reader.get_columns, []

    def sold_out(service: str, ids: list[str], columns: list[str] | None = None):
        services.append(service)
        got = real_get(service, ids, columns=columns)
        if service == STOCK_SERVICE:
            out = np.isin(got["sku_id"], list(gone))
            got["on_hand"], got[KNOWN] = np.where(out, 0.0, got["on_hand"]), got[KNOWN] | out
        return got

    monkeypatch.setattr(reader, "get_columns", sold_out)
    now = runtime.run("recommend", [Job(params=params)])[0].records[0]
    assert services == [STOCK_SERVICE] and KNOWN == reco_rules.KNOWN
    assert len(now["items"]) == 10 and not {i["sku_id"] for i in now["items"]} & gone
    assert now["rules"]["in_stock"] >= len(gone)


def test_the_stock_read_of_on_hand_alone_equals_the_full_sku_view_read(world) -> None:
    """The in-stock rule's read (on-hand only) gives the full read's on-hand and known flags, on the SQLite fast path
    and through the Feast SDK, for stored and unknown SKUs; a column the service lacks is refused by name."""
    import pandas as pd

    from features import columns as c
    from features.store import OnlineFeatureReader
    from features.store.layout import KNOWN

    settings = world.settings
    paths = settings.dataset(settings.serving_dataset or settings.default_dataset)
    stored = pd.read_parquet(paths.features / "sku.parquet", columns=[c.SKU_ID])[c.SKU_ID].astype(str).unique()
    skus = [*sorted(stored)[:40], "SKU-NOPE", str(sorted(stored)[3])]
    for fast in (True, False):
        reader = OnlineFeatureReader(paths, settings, fast=fast)
        full = reader.get(STOCK_SERVICE, skus)
        only = reader.get(STOCK_SERVICE, skus, columns=[c.ON_HAND])
        assert list(only.columns) == [c.SKU_ID, c.ON_HAND, KNOWN] and len(full.columns) > len(only.columns)
        pd.testing.assert_frame_equal(only, full[only.columns])
        assert only[KNOWN].tolist() == [True] * 40 + [False, True]
        assert reader.get(STOCK_SERVICE, [], columns=[c.ON_HAND]).columns.tolist() == list(only.columns)
        with pytest.raises(KeyError, match="no_such_column"):
            reader.get(STOCK_SERVICE, skus[:2], columns=[c.ON_HAND, "no_such_column"])


def test_concurrent_user_requests_share_one_ranking_call_and_answer_as_alone(world, monkeypatch) -> None:
    """``/recommend/user`` requests are entity jobs: those with equal params are ranked in one call (what the
    batcher gives concurrent requests), and each answer is what the request gets alone."""
    from models.recommend import Recommender
    from serving import model_store
    from serving.runtime import Job, Runtime
    from training import decisions

    runtime = Runtime({"recommend": model_store.load_from_store("recommend")}, Runtime.open_reader(world.settings))
    route = next(r for r in decisions.get("recommend").routes if r.path == "/recommend/user")

    def job(user: str, **extra) -> Job:
        call = route.call(route.request.model_validate({"user_id": user, "k": 5, **extra}))
        return Job(ids=call.ids, params=dict(call.params), unknown_status=route.unknown_status)

    users = [*world.known_ids[:3], "U-NEVER-SEEN"]
    jobs = [job(u) for u in users] + [job(world.known_ids[0], filters={"max_price": 300})]
    alone = [runtime.run("recommend", [j])[0].records for j in jobs]
    ranked: list[int] = []
    original = Recommender.recommend_users
    monkeypatch.setattr(
        Recommender,
        "recommend_users",
        lambda self, ids, *a, **k: ranked.append(len(ids)) or original(self, ids, *a, **k),
    )
    together = runtime.run("recommend", jobs)
    assert [o.records for o in together] == alone
    assert sorted(ranked) == [1, 4]  # the four plain requests in one call, the filtered one in its own
    assert together[3].records[0]["status"] == "cold_start" and together[0].records[0]["status"] == "ok"
