"""What one service worker holds and does per request, apart from HTTP: the runtime, the batcher, the answers.

Loading happens once at start-up; when it fails (no model in the store, no online store) the worker stays up but
not ready, and every API call answers 503 with the reason, so an orchestrator sees why instead of a crash loop.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from features.settings import Settings, get_settings
from serving import model_store, prediction_log
from serving.audit import AuditLog
from serving.auth import ApiKeys
from serving.batching import Coalescer, QueueFull
from serving.middleware import CLIENT_CLOSED, Policy, RequestInfo
from serving.runtime import OK, InvalidInput, Job, Outcome, Runtime
from serving.schemas import MAX_IDS, ModelRef, ReloadResponse
from training.decisions.spec import Route

logger = logging.getLogger(__name__)

EXPLAIN_WEIGHT = 8  # an explained row costs ~100 plain rows; weigh it so explained batches stay small
PROBE_ID = "__shopsense_readiness_probe__"  # an id no store holds: the lookup must answer "unknown", not fail
PROBE_TTL_S = 5.0  # /readyz re-checks the online views at most this often
RETRY_AFTER_S = 1
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])(?:/[^\s'\":,;()\[\]]+)+/([^\s'\":,;()\[\]/]*)")


def public(message: str) -> str:
    """An error message without absolute file paths (only the file name is kept): 503 bodies are public."""
    return _ABSOLUTE_PATH.sub(r"\1", message)


class ServiceError(Exception):
    """An answer other than 200 from a handler: status, short error and detail (naming the field when one is bad)."""

    def __init__(self, status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error = status, error
        self.detail = public(detail) if isinstance(detail, str) else detail
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        return {"error": self.error, "detail": self.detail, "request_id": request_id}


def detached_info(path: str) -> RequestInfo:
    """Request facts when the middleware is absent (a direct call in tests): a fresh id, no key."""
    import uuid

    return RequestInfo(uuid.uuid4().hex, path)


def middleware_config(settings: Settings | None = None) -> tuple[Policy, ApiKeys, AuditLog]:
    """Auth policy, keys and audit log from settings (checked by serving/config.py; a bad one raises ConfigError)."""
    from serving import config

    settings = settings or config.load_settings()
    keys, audit = config.parse_keys(settings), config.open_audit(settings)
    if not keys.digests:
        logger.warning("SHOPSENSE_API_KEYS is empty: every protected endpoint answers 401")
    policy_args = {"auth_health": settings.auth_health, "auth_docs": settings.auth_docs}
    return Policy(max_body_bytes=settings.serving_max_body_bytes, **policy_args), keys, audit


def _one_openmp_thread() -> None:
    """One OpenMP/BLAS thread per worker process, even without OMP_NUM_THREADS=1 in the environment.

    LightGBM predicts with every core by default; on a few rows the thread start-up costs more than the trees
    (measured: 1 user, 32 ms per request with two OpenMP threads, 9 ms with one). Concurrency comes from batching
    and worker processes instead.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def freeze_loaded() -> None:
    """Put everything loaded so far out of the cyclic garbage collector's reach (``gc.freeze``).

    The served models, their indices and Feast's registry are ~520k tracked objects (default world); a full
    collection walks them all in ~330 ms, and under load one fell every few seconds: every request in flight waited
    for it (``/recommend/user`` at concurrency 32: all 32 requests of two moments in 10 s took ~400 ms, the route's
    whole p99). Frozen objects are still freed by reference counting; a reload unfreezes them first, so cycles of
    the replaced models are collected.
    """
    gc.collect()
    gc.freeze()


@functools.cache
def _batch_histogram() -> Callable[[int], None]:
    """Requests per model call, in /metrics as ``shopsense_requests_per_model_call`` (one histogram per process)."""
    import bentoml

    histogram = bentoml.metrics.Histogram(
        name="shopsense_requests_per_model_call",
        documentation="Requests answered by one model call (request batching)",
        buckets=(1, 2, 4, 8, 16, 32, 64),
    )
    return histogram.observe


def _ref(served: model_store.ServedModel) -> ModelRef:
    return ModelRef(name=served.name, version=served.version, alias=served.alias)


def _counts(records: list[dict[str, Any]], unknown_status: str) -> dict[str, int]:
    """Records per status: ``ok``, the route's unknown status (0 when none), and any other status by its name."""
    tally = Counter(r["status"] for r in records)
    return {"requested": len(records), "ok": tally.pop(OK, 0), unknown_status: tally.pop(unknown_status, 0), **tally}


def _weight(job: Job) -> int:
    return job.size * (EXPLAIN_WEIGHT if job.params.get("explain") else 1)


@dataclass
class ServiceState:
    """The runtime (or why it is missing) and one batcher per served decision, for one worker."""

    runtime: Runtime | None
    error: str | None
    batchers: dict[str, Coalescer[Job, Outcome]]
    settings: Settings
    missing: dict[str, str] = field(default_factory=dict)
    probed: tuple[float, dict[str, str]] | None = None  # (when, decision -> why its online views failed)

    @classmethod
    def start(cls, stored_models: Callable[[], dict[str, Any]], settings: Settings | None = None) -> ServiceState:
        """Load every decision found in the BentoML store (``stored_models`` resolves each) and the online store.

        A decision whose model cannot be loaded is reported in ``missing`` and answers 503; the others serve.
        """
        settings = settings or get_settings()
        started = time.perf_counter()
        _one_openmp_thread()
        served, missing = {}, {}
        for decision, resolve in stored_models().items():
            try:
                served[decision] = model_store.served_from_stored(decision, resolve())
            except Exception as exc:  # reported per decision, never a crash of the others
                missing[decision] = f"{type(exc).__name__}: {exc}"
        try:
            runtime = Runtime(served, Runtime.open_reader(settings), settings.cache_dir) if served else None
        except Exception as exc:  # not ready, with the reason, rather than a crash loop
            logger.exception("service not ready")
            return cls(None, f"{type(exc).__name__}: {exc}", {}, settings, missing)
        if runtime is None:
            return cls(None, "no decision model could be loaded: " + "; ".join(missing.values()), {}, settings, missing)
        missing |= runtime.unavailable
        freeze_loaded()
        logger.info(
            "loaded %s in %.1f s; not served: %s", sorted(runtime.plans), time.perf_counter() - started, missing
        )
        return cls(runtime, None, cls._batchers(runtime, settings), settings, missing)

    @staticmethod
    def _batchers(runtime: Runtime, settings: Settings) -> dict[str, Coalescer[Job, Outcome]]:
        return {
            decision: Coalescer(
                functools.partial(runtime.run, decision), _weight, MAX_IDS, enabled=settings.serving_batching,
                observe=_batch_histogram(), max_queue=settings.serving_max_queue,
            )
            for decision in runtime.plans
        }  # fmt: skip

    @property
    def ready(self) -> bool:
        """Loaded, and the online views of every loaded decision answer a lookup."""
        return self.runtime is not None and not self.broken()

    def broken(self) -> dict[str, str]:
        """Loaded decisions whose online views fail a lookup (an empty or missing online store), re-checked at
        most every :data:`PROBE_TTL_S` seconds."""
        if self.runtime is None:
            return {}
        now = time.monotonic()
        if self.probed is not None and now - self.probed[0] < PROBE_TTL_S:
            return self.probed[1]
        broken: dict[str, str] = {}
        for decision, plan in list(self.runtime.plans.items()):
            for service in plan.lookups:
                try:
                    self.runtime.reader.get(service, [PROBE_ID])
                except Exception as exc:  # any failure of the store means this decision cannot answer
                    broken[decision] = public(f"online features {service} do not answer: {type(exc).__name__}: {exc}")
                    break
        if broken:
            logger.warning("online views failing: %s", broken)
        self.probed = (now, broken)
        return broken

    def status(self) -> dict[str, Any]:
        """Which decisions serve (with model versions) and which do not (with the reason): /readyz's body."""
        broken = self.broken()
        models = {} if self.runtime is None else self.runtime.models()
        served = {k: _ref(m).model_dump() for k, m in models.items() if k not in broken}
        not_served = {k: public(v) for k, v in {**self.missing, **broken}.items()}
        error = public(self.error) if self.error else None
        return {"ready": self.ready, "error": error, "served": served, "not_served": not_served}

    def _require(self, decision: str) -> tuple[Runtime, Coalescer[Job, Outcome]]:
        if self.runtime is None:
            raise ServiceError(503, "service not ready", self.error)
        batcher = self.batchers.get(decision)
        if batcher is None:
            reason = self.missing.get(decision, "no champion loaded")
            raise ServiceError(503, f"decision {decision} not served", reason)
        reason = self.broken().get(decision)
        if reason is not None:
            raise ServiceError(503, f"decision {decision} not served", reason)
        return self.runtime, batcher

    async def _submit(self, batcher: Coalescer[Job, Outcome], job: Job, info: RequestInfo) -> Outcome:
        """The job's outcome within the request deadline; 503 + Retry-After when the queue is full, 504 past the
        deadline, 499 when the client left. A dropped job that has not started is never computed."""
        try:
            future = batcher.enqueue(job)
        except QueueFull as exc:
            headers = {"Retry-After": str(RETRY_AFTER_S)}
            raise ServiceError(503, "overloaded: request queue full", str(exc), headers) from None
        waiters: set[asyncio.Future[Any]] = {future}
        gone = None if info.disconnected is None else asyncio.ensure_future(info.disconnected.wait())
        if gone is not None:
            waiters.add(gone)
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=self.settings.serving_request_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if gone is not None:
                gone.cancel()
            if not future.done():
                future.cancel()  # dropped from the queue; a call already running finishes, its answer discarded
        if future in done and not future.cancelled():
            return future.result()
        if info.gone:
            raise ServiceError(CLIENT_CLOSED, "client closed request")
        limit = self.settings.serving_request_timeout_s
        raise ServiceError(504, "deadline exceeded", f"no answer within {limit} s", {"Retry-After": "1"})

    async def answer(self, decision: str, route: Route, request: Any, info: RequestInfo) -> Any:
        """Any decision route: request -> call -> one batched ``decide`` -> the route's response model."""
        runtime, batcher = self._require(decision)
        call = route.call(request)
        job = Job(ids=call.ids, params=dict(call.params), unknown_status=route.unknown_status)
        if call.rows is not None:
            try:
                frame = runtime.rows_frame(decision, call.rows)
            except InvalidInput as exc:
                detail = [{"loc": exc.loc, "msg": exc.msg, "type": "value_error"}]
                raise ServiceError(400, f"1 validation error for {route.request.__name__}", detail) from None
            job = Job(frame=frame, row_ids=call.row_ids, params=dict(call.params), unknown_status=route.unknown_status)
        outcome = await self._submit(batcher, job, info)
        prediction_log.record(self.settings, decision, outcome)
        counts = self._record(info, outcome, route.unknown_status)
        results = [{route.id_field: r.pop("_id"), **r} for r in outcome.records]
        models = {name: _ref(served) for name, served in outcome.models.items()}
        body = {"request_id": info.request_id, "models": models, "counts": counts, "results": results}
        return route.response.model_validate(body)

    @staticmethod
    def _record(info: RequestInfo, outcome: Outcome, unknown_status: str) -> dict[str, int]:
        """Counts for the response and the audit line (never the ids themselves)."""
        counts = _counts(outcome.records, unknown_status)
        info.entities, info.unknown = counts["requested"], counts[unknown_status]
        info.models = {k: f"{m.name}:{m.version}@{m.alias}" for k, m in outcome.models.items()}
        return counts

    async def reload(self, info: RequestInfo) -> ReloadResponse:
        """Sync the champions from MLflow into the BentoML store, load them and swap them in (this worker only)."""
        import anyio.to_thread

        before = {} if self.runtime is None else self.runtime.models()
        gc.unfreeze()  # the models being replaced become collectable again
        try:
            served, missing = await anyio.to_thread.run_sync(self._load_champions)
            if not served:
                raise RuntimeError("no decision has a champion: " + "; ".join(missing.values()))
            # planning may compile a model's trees (seconds): off the event loop
            if self.runtime is None:  # a worker that could not start retries here
                reader = Runtime.open_reader(self.settings)
                self.runtime = await anyio.to_thread.run_sync(Runtime, served, reader, self.settings.cache_dir)
            else:
                await anyio.to_thread.run_sync(self.runtime.swap, served)
            self.batchers, self.error = self._batchers(self.runtime, self.settings), None
            self.missing = missing | self.runtime.unavailable
        except Exception as exc:  # the models in service stay as they were
            logger.exception("reload failed")
            raise ServiceError(503, "reload failed", f"{type(exc).__name__}: {exc}") from None
        finally:
            await anyio.to_thread.run_sync(freeze_loaded)
        after = self.runtime.models()
        changed = set(before) != set(after) or any(before[k].version != after[k].version for k in after)
        info.models = {k: f"{m.name}:{m.version}@{m.alias}" for k, m in after.items()}
        return ReloadResponse(
            request_id=info.request_id, models={k: _ref(m) for k, m in after.items()}, changed=changed
        )

    def _load_champions(self) -> tuple[dict[str, model_store.ServedModel], dict[str, str]]:
        results = model_store.sync_champions(self.settings)
        missing = {r["decision"]: r["missing"] for r in results if "missing" in r}
        served = {r["decision"]: model_store.load_from_store(r["decision"]) for r in results if "missing" not in r}
        return served, missing


_PUBLISHED: list[ServiceState] = []


def publish(state: ServiceState) -> None:
    """Make this worker's state visible to the middleware's /readyz answer (one state per worker process)."""
    _PUBLISHED[:] = [state]


def published_status() -> dict[str, Any] | None:
    """The published state's status, or None before the service has started."""
    return _PUBLISHED[0].status() if _PUBLISHED else None


__all__ = ["ServiceError", "ServiceState", "detached_info", "middleware_config", "publish", "published_status"]
