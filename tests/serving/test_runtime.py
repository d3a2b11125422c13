"""The serving parts without HTTP: batched jobs answer as alone, rows need every feature, keys, the batcher."""

from __future__ import annotations

import asyncio
import time

import pytest

from serving import model_store
from serving.auth import ApiKeys, hash_key, presented_key
from serving.batching import Coalescer
from serving.runtime import InvalidInput, Job, Runtime
from serving.schemas import EXAMPLE_FEATURE_ROW

pytestmark = pytest.mark.serving


@pytest.fixture(scope="module")
def runtime(world) -> Runtime:
    return Runtime(
        model_store.load_from_store("churn"),
        model_store.load_from_store("tiering"),
        Runtime.open_reader(world.settings),
    )


def test_jobs_batched_together_answer_as_alone(runtime, world) -> None:
    ids = world.known_ids
    jobs = [
        Job("churn", [ids[0], "nobody", ids[1]], explain=True, top_k=2),
        Job("tier", ids[2:7]),
        Job("churn", ids[3:5]),
        Job("churn", ["x"], frame=runtime.rows_frame([EXAMPLE_FEATURE_ROW["features"]]), explain=True, top_k=5),
        Job("tier", [ids[8], "ghost"]),
    ]
    together = runtime.run(jobs)
    for job, outcome in zip(jobs, together, strict=True):
        assert outcome.records == runtime.run([job])[0].records


def test_unknown_ids_have_no_predictions(runtime) -> None:
    (outcome,) = runtime.run([Job("churn", ["nobody-1", "nobody-2"])])
    assert outcome.records == [
        {"user_id": "nobody-1", "status": "unknown_user"},
        {"user_id": "nobody-2", "status": "unknown_user"},
    ]


def test_rows_must_hold_exactly_the_model_features(runtime) -> None:
    row = dict(EXAMPLE_FEATURE_ROW["features"])
    runtime.rows_frame([row])
    with pytest.raises(InvalidInput) as missing:
        runtime.rows_frame([row, {k: v for k, v in row.items() if k != "recency_days"}])
    assert missing.value.loc == ["rows", 1, "features", "recency_days"]
    with pytest.raises(InvalidInput) as unknown:
        runtime.rows_frame([row | {"shoe_size": 42.0}])
    assert unknown.value.loc[-1] == "shoe_size"


def test_api_keys() -> None:
    keys = ApiKeys.parse(f"a:one,b:{hash_key('two')}", "b")
    assert keys.identify("one") == "a" and keys.identify("two") == "b" and keys.identify("three") is None
    assert keys.is_admin("b") and not keys.is_admin("a") and not keys.is_admin(None)
    assert presented_key({"authorization": "Bearer one"}) == "one"
    assert presented_key({"x-api-key": "two"}) == "two"
    assert presented_key({"authorization": "Basic one"}) is None
    for bad in ("nocolonS3CRET", ":S3CRET", "a:S3CRET1,a:S3CRET2", "a:sha256:S3CRET"):
        with pytest.raises(ValueError) as error:
            ApiKeys.parse(bad)
        assert "S3CRET" not in str(error.value)  # errors name the entry, never the secret


def test_coalescer_batches_what_queues_during_a_call() -> None:
    calls: list[list[int]] = []

    def slow_double(jobs: list[int]) -> list[int]:
        calls.append(jobs)
        time.sleep(0.05)
        return [2 * j for j in jobs]

    async def scenario(enabled: bool) -> list[int]:
        batcher = Coalescer(slow_double, size=lambda j: 1, max_size=3, enabled=enabled)
        return await asyncio.gather(*(batcher.submit(j) for j in range(5)))

    assert asyncio.run(scenario(True)) == [0, 2, 4, 6, 8]
    assert calls == [[0, 1, 2], [3, 4]]  # what queued before the worker ran, at most max_size per call
    calls.clear()
    assert asyncio.run(scenario(False)) == [0, 2, 4, 6, 8]
    assert calls == [[0], [1], [2], [3], [4]]


def test_a_worker_that_cannot_load_is_not_ready_and_answers_503(world) -> None:
    from serving.middleware import RequestInfo
    from serving.schemas import TierRequest
    from serving.state import ServiceError, ServiceState

    def missing_models():
        raise FileNotFoundError("no shopsense-churn in the BentoML store")

    state = ServiceState.start(missing_models, world.settings)
    assert not state.ready
    with pytest.raises(ServiceError) as error:
        asyncio.run(state.tier(TierRequest(user_ids=["U1"]), RequestInfo("not-ready-0001", "/users/tier")))
    assert error.value.status == 503 and "no shopsense-churn" in error.value.detail
