"""What one service worker holds and does per request, apart from HTTP: the runtime, the batcher, the answers.

Loading happens once at start-up; when it fails (no model in the store, no online store) the worker stays up but
not ready, and every API call answers 503 with the reason, so an orchestrator sees why instead of a crash loop.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from features.settings import Settings, get_settings
from serving import model_store
from serving.audit import AuditLog
from serving.auth import ApiKeys
from serving.batching import Coalescer
from serving.middleware import Policy, RequestInfo
from serving.runtime import OK, UNKNOWN, InvalidInput, Job, Outcome, Runtime
from serving.schemas import (
    MAX_IDS,
    ChurnRequest,
    ChurnResponse,
    Counts,
    ModelRef,
    ReloadResponse,
    TierRequest,
    TierResponse,
)

logger = logging.getLogger(__name__)

EXPLAIN_WEIGHT = 8  # an explained row costs ~100 plain rows; weigh it so explained batches stay small


class ServiceError(Exception):
    """An answer other than 200 from a handler: status, short error and detail (naming the field when one is bad)."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail

    def body(self, request_id: str) -> dict[str, Any]:
        return {"error": self.error, "detail": self.detail, "request_id": request_id}


def detached_info(path: str) -> RequestInfo:
    """Request facts when the middleware is absent (a direct call in tests): a fresh id, no key."""
    import uuid

    return RequestInfo(uuid.uuid4().hex, path)


def middleware_config(settings: Settings | None = None) -> tuple[Policy, ApiKeys, AuditLog]:
    """Auth policy, keys and audit log from settings; read on the first request, not at import."""
    settings = settings or get_settings()
    keys = ApiKeys.parse(settings.api_keys, settings.admin_key_ids)
    if not keys.digests:
        logger.warning("SHOPSENSE_API_KEYS is empty: every protected endpoint answers 401")
    policy_args = {"auth_health": settings.auth_health, "auth_docs": settings.auth_docs}
    return Policy(max_body_bytes=settings.serving_max_body_bytes, **policy_args), keys, AuditLog(settings.audit_log)


def _one_openmp_thread() -> None:
    """One OpenMP/BLAS thread per worker process, even without OMP_NUM_THREADS=1 in the environment.

    LightGBM predicts with every core by default; on a few rows the thread start-up costs more than the trees
    (measured: 1 user, 32 ms per request with two OpenMP threads, 9 ms with one). Concurrency comes from batching
    and worker processes instead.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


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


def _counts(records: list[dict[str, Any]]) -> Counts:
    ok = sum(1 for r in records if r["status"] == OK)
    return Counts(requested=len(records), ok=ok, unknown_user=len(records) - ok)


@dataclass
class ServiceState:
    """The runtime (or why it is missing) and the batcher of one worker."""

    runtime: Runtime | None
    error: str | None
    batcher: Coalescer[Job, Outcome] | None
    settings: Settings

    @classmethod
    def start(cls, stored_models: Callable[[], tuple[Any, Any]], settings: Settings | None = None) -> ServiceState:
        """Load both models from the BentoML store (``stored_models`` resolves them) and open the online store."""
        settings = settings or get_settings()
        started = time.perf_counter()
        _one_openmp_thread()
        try:
            churn_stored, tiering_stored = stored_models()
            runtime = cls._runtime(
                model_store.served_from_stored("churn", churn_stored),
                model_store.served_from_stored("tiering", tiering_stored),
                settings,
            )
        except Exception as exc:  # not ready, with the reason, rather than a crash loop
            logger.exception("service not ready")
            return cls(None, f"{type(exc).__name__}: {exc}", None, settings)
        logger.info("models and online store loaded in %.1f s", time.perf_counter() - started)
        return cls(runtime, None, cls._batcher(runtime, settings), settings)

    @staticmethod
    def _runtime(churn: model_store.ServedModel, tiering: model_store.ServedModel, settings: Settings) -> Runtime:
        return Runtime(churn, tiering, Runtime.open_reader(settings))

    @staticmethod
    def _batcher(runtime: Runtime, settings: Settings) -> Coalescer[Job, Outcome]:
        weight = lambda job: job.size * (EXPLAIN_WEIGHT if job.explain else 1)  # noqa: E731
        return Coalescer(runtime.run, weight, MAX_IDS, enabled=settings.serving_batching, observe=_batch_histogram())

    @property
    def ready(self) -> bool:
        return self.runtime is not None

    def _require(self) -> tuple[Runtime, Coalescer[Job, Outcome]]:
        if self.runtime is None or self.batcher is None:
            raise ServiceError(503, "service not ready", self.error)
        return self.runtime, self.batcher

    async def churn(self, request: ChurnRequest, info: RequestInfo) -> ChurnResponse:
        runtime, batcher = self._require()
        if request.rows is not None:
            try:
                frame = runtime.rows_frame([row.features for row in request.rows])
            except InvalidInput as exc:
                detail = [{"loc": exc.loc, "msg": exc.msg, "type": "value_error"}]
                raise ServiceError(400, "1 validation error for ChurnRequest", detail) from None
            ids = [row.user_id for row in request.rows]
            job = Job("churn", ids, frame=frame, explain=request.explain, top_k=request.top_k)
        else:
            job = Job("churn", list(request.user_ids or []), explain=request.explain, top_k=request.top_k)
        outcome = await batcher.submit(job)
        counts = self._record(info, outcome)
        models = {name: _ref(served) for name, served in outcome.models.items()}
        return ChurnResponse.model_validate(
            {"request_id": info.request_id, "models": models, "counts": counts, "results": outcome.records}
        )

    async def tier(self, request: TierRequest, info: RequestInfo) -> TierResponse:
        _, batcher = self._require()
        outcome = await batcher.submit(Job("tier", list(request.user_ids)))
        counts = self._record(info, outcome)
        models = {name: _ref(served) for name, served in outcome.models.items()}
        return TierResponse.model_validate(
            {"request_id": info.request_id, "models": models, "counts": counts, "results": outcome.records}
        )

    @staticmethod
    def _record(info: RequestInfo, outcome: Outcome) -> Counts:
        """Counts for the response and the audit line (never the ids themselves)."""
        counts = _counts(outcome.records)
        info.entities, info.unknown = counts.requested, counts.unknown_user
        info.models = {k: f"{m.name}:{m.version}@{m.alias}" for k, m in outcome.models.items()}
        return counts

    async def reload(self, info: RequestInfo) -> ReloadResponse:
        """Sync the champions from MLflow into the BentoML store, load them and swap them in (this worker only)."""
        import anyio.to_thread

        before = None if self.runtime is None else self.runtime.models()
        try:
            churn, tiering = await anyio.to_thread.run_sync(self._load_champions)
            if self.runtime is None:  # a worker that could not start retries here
                self.runtime = self._runtime(churn, tiering, self.settings)
                self.batcher, self.error = self._batcher(self.runtime, self.settings), None
            else:
                self.runtime.swap(churn, tiering)
        except Exception as exc:  # the models in service stay as they were
            logger.exception("reload failed")
            raise ServiceError(503, "reload failed", f"{type(exc).__name__}: {exc}") from None
        after = self.runtime.models()
        changed = before is None or any(before[k].version != after[k].version for k in after)
        info.models = {k: f"{m.name}:{m.version}@{m.alias}" for k, m in after.items()}
        models = {k: _ref(m) for k, m in after.items()}
        return ReloadResponse(request_id=info.request_id, models=models, changed=changed)

    def _load_champions(self) -> tuple[model_store.ServedModel, model_store.ServedModel]:
        model_store.sync_champions(self.settings)
        return model_store.load_from_store("churn"), model_store.load_from_store("tiering")


__all__ = ["UNKNOWN", "ServiceError", "ServiceState", "detached_info", "middleware_config"]
