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
    served = {name: model_store.load_from_store(name) for name in ("ltv", "tiering", "churn")}
    return Runtime(served, Runtime.open_reader(world.settings))


def _job(ids, **params) -> Job:
    return Job(ids=list(ids), params=params, unknown_status="unknown_user")


def test_jobs_batched_together_answer_as_alone(runtime, world) -> None:
    ids = world.known_ids
    rows = runtime.rows_frame("churn", [EXAMPLE_FEATURE_ROW["features"]])
    churn_jobs = [
        _job([ids[0], "nobody", ids[1]], explain=True, top_k=2),
        _job(ids[3:5], explain=False, top_k=3),
        Job(frame=rows, row_ids=["x"], params={"explain": True, "top_k": 5}),
    ]
    together = runtime.run("churn", churn_jobs)
    for job, outcome in zip(churn_jobs, together, strict=True):
        assert outcome.records == runtime.run("churn", [job])[0].records
    tier_jobs = [_job(ids[2:7]), _job([ids[8], "ghost"])]
    for job, outcome in zip(tier_jobs, runtime.run("tiering", tier_jobs), strict=True):
        assert outcome.records == runtime.run("tiering", [job])[0].records


def _same(a, b) -> bool:
    """Records equal, floats to 1e-9 relative (the array and frame paths sum in different orders)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12)
    return a == b and type(a) is type(b)


def test_array_path_answers_as_the_frame_path_for_every_user(runtime, world) -> None:
    """Per request the customer models take a NumPy block (no frame); the frame path, which the MLflow pyfunc and
    training use, gives the same records for every user of the world, batched or one by one."""
    import pandas as pd

    from features import columns as c

    settings = world.settings
    paths = settings.dataset(settings.serving_dataset or settings.default_dataset)
    users = pd.read_parquet(paths.features / "user.parquet", columns=[c.USER_ID])[c.USER_ID]
    ids = [*sorted(users.astype(str).unique()), "nobody"]
    frames = Runtime(runtime.models(), runtime.reader)
    for plan in frames.plans.values():
        plan.arrays = False
    cases = [("tiering", {}), ("churn", {"explain": False, "top_k": 3}), ("churn", {"explain": True, "top_k": 2})]
    assert runtime._raw is not None  # the store's rows go straight into the block (the reader's own fast path)
    for decision, params in cases:
        assert runtime.plans[decision].arrays
        (fast,) = runtime.run(decision, [_job(ids, **params)])
        (slow,) = frames.run(decision, [_job(ids, **params)])
        assert len(fast.records) == len(ids) > 100
        assert _same(fast.records, slow.records), decision
        one = [runtime.run(decision, [_job([i], **params)])[0].records[0] for i in ids[:20]]
        assert _same(one, fast.records[:20])


def test_upstream_decisions_are_joined_and_reported(runtime, world) -> None:
    (churn,) = runtime.run("churn", [_job(world.known_ids[:3])])
    (tiers,) = runtime.run("tiering", [_job(world.known_ids[:3])])
    assert set(churn.models) == {"churn", "tiering", "ltv"}
    for c, t in zip(churn.records, tiers.records, strict=True):
        assert c["tier"] == t["tier"] and c["predicted_ltv"] == pytest.approx(t["predicted_ltv"])


def test_unknown_ids_have_no_predictions(runtime) -> None:
    (outcome,) = runtime.run("churn", [_job(["nobody-1", "nobody-2"])])
    assert outcome.records == [
        {"_id": "nobody-1", "status": "unknown_user"},
        {"_id": "nobody-2", "status": "unknown_user"},
    ]


def test_rows_must_hold_exactly_the_model_features(runtime) -> None:
    row = dict(EXAMPLE_FEATURE_ROW["features"])
    runtime.rows_frame("churn", [row])
    with pytest.raises(InvalidInput) as missing:
        runtime.rows_frame("churn", [row, {k: v for k, v in row.items() if k != "recency_days"}])
    assert missing.value.loc == ["rows", 1, "features", "recency_days"]
    with pytest.raises(InvalidInput) as unknown:
        runtime.rows_frame("churn", [row | {"shoe_size": 42.0}])
    assert unknown.value.loc[-1] == "shoe_size"


def test_a_decision_without_its_upstream_is_reported_not_fatal(world) -> None:
    served = {name: model_store.load_from_store(name) for name in ("tiering", "churn")}
    partial = Runtime(served, Runtime.open_reader(world.settings))
    assert partial.plans == {}
    assert "needs the decision(s) ltv" in partial.unavailable["churn"]
    assert "needs the decision(s) ltv" in partial.unavailable["tiering"]


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
    from training.decisions import tiering

    def missing_model():
        raise FileNotFoundError("no shopsense-tiering in the BentoML store")

    state = ServiceState.start(lambda: {"tiering": missing_model}, world.settings)
    assert not state.ready
    assert "no shopsense-tiering" in state.status()["not_served"]["tiering"]
    request, info = TierRequest(user_ids=["U1"]), RequestInfo("not-ready-0001", "/users/tier")
    with pytest.raises(ServiceError) as error:
        asyncio.run(state.answer("tiering", tiering.TIER_ROUTE, request, info))
    assert error.value.status == 503 and "no shopsense-tiering" in error.value.detail
