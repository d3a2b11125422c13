"""``POST /reviews/score`` through HTTP (ASGI): stored ids and raw reviews, unknown ids, 400s naming the field."""

from __future__ import annotations

import pandas as pd
import pytest

from serving.schemas.reviews import EXAMPLE_RAW_REVIEW, EXAMPLE_RAW_REVIEW_EN, MAX_TEXT_CHARS

pytestmark = pytest.mark.serving

ROUTE = "/reviews/score"


def test_stored_and_raw_reviews_are_scored_with_evidence_and_action(client, auth, world) -> None:
    stored = pd.read_parquet(world.root / "synthetic" / "lake" / "reviews.parquet")["review_id"].head(2).tolist()
    body = {"review_ids": [*stored, "R999999"], "reviews": [EXAMPLE_RAW_REVIEW, EXAMPLE_RAW_REVIEW_EN], "top_k": 3}
    response = client.post(ROUTE, json=body, headers=auth)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["counts"] == {"requested": 5, "ok": 4, "unknown_review": 1}
    assert [r["review_id"] for r in answer["results"]] == [*stored, "R999999", "NEW-1", "NEW-2"]
    assert answer["results"][2]["status"] == "unknown_review" and answer["results"][2]["probability"] is None
    for result in answer["results"][:2] + answer["results"][3:]:
        assert 0 <= result["probability"] <= 1 and result["action"] in ("publish", "hold", "hide")
        assert len(result["evidence"]) <= 3 and all(e["zh"] and e["en"] for e in result["evidence"])
    assert answer["models"]["reviews"]["name"].startswith("shopsense-reviews")


def test_a_burst_of_one_text_from_one_device_is_held_or_hidden(client, auth) -> None:
    burst = [
        {**EXAMPLE_RAW_REVIEW, "review_id": f"BURST-{i}", "user_id": f"U-RING-{i}", "device_id": "D-RING",
         "review_ts": f"2025-12-30T10:{i:02d}:00"}
        for i in range(10)
    ]  # fmt: skip
    results = client.post(ROUTE, json={"reviews": burst}, headers=auth).json()["results"]
    assert results[-1]["probability"] > results[0]["probability"]
    assert results[-1]["action"] in ("hold", "hide")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"text": ""}, ["reviews", 0, "text"]),
        ({"text": "   "}, ["reviews", 0, "text"]),
        ({"text": "好" * (MAX_TEXT_CHARS + 1)}, ["reviews", 0, "text"]),
        ({"text": "bad\x00text"}, ["reviews", 0, "text"]),
        ({"rating": 6}, ["reviews", 0, "rating"]),
        ({"rating": 0}, ["reviews", 0, "rating"]),
        ({"review_ts": "yesterday"}, ["reviews", 0, "review_ts"]),
        ({"user_id": "bad id!"}, ["reviews", 0, "user_id"]),
    ],
)
def test_malformed_raw_reviews_are_a_400_naming_the_field(client, auth, change, field) -> None:
    response = client.post(ROUTE, json={"reviews": [{**EXAMPLE_RAW_REVIEW, **change}]}, headers=auth)
    assert response.status_code == 400
    assert field in [d["loc"][: len(field)] for d in response.json()["detail"]], response.json()


def test_neither_ids_nor_reviews_is_a_400(client, auth) -> None:
    assert client.post(ROUTE, json={"top_k": 2}, headers=auth).status_code == 400
