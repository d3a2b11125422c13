"""The ShopSense BentoML service: one HTTP route per route of every registered decision, on the champions.

Run ``shopsense serve`` (syncs the MLflow ``@champion`` of each decision into the BentoML store, then starts this
service) or ``bentoml serve serving.service:ShopSense`` after a sync. The routes come from the decision registry
(``training/decisions``): today ``POST /churn/predict`` and ``POST /users/tier``; plus ``POST /admin/reload``.
BentoML adds ``/livez``, ``/readyz`` (JSON: which decisions serve and why the others do not), ``/metrics`` and the
Swagger UI at ``/``. See serving/README.md.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import attrs
import bentoml
from starlette.responses import JSONResponse

from serving import config, graceful, metrics_labels, timeout_timers
from serving import state as st
from serving.local_server import SERVED_DECISIONS_ENV
from serving.middleware import ShopSenseMiddleware, request_info
from serving.model_store import store_tag
from serving.reports import PREFIX as REPORTS_PATH
from serving.reports import ReportsApp
from serving.schemas import ReloadResponse
from training import decisions, quiet
from training.decisions.spec import DecisionSpec, Route

logger = logging.getLogger(__name__)
quiet.drop_library_deprecations()  # the worker imports Feast, which turns every library's deprecation notice on
timeout_timers.install()  # BentoML's per-request timeout timer, cancelled once the request is answered

RELOAD_ROUTE = "/admin/reload"


@attrs.define
class UvLockImage(bentoml.images.Image):
    """The Bento's Python packages are uv.lock's (``uv export``; ``UV_NO_DEV=1`` leaves the dev group out).

    ``Image().uv_lock()`` sets a private flag that BentoML 1.4 drops when it merges bentofile options into the
    image (``attrs.evolve`` keeps init fields only), so the flag is set again on every copy.
    """

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.uv_lock()


def served_specs() -> list[DecisionSpec]:
    """The decisions this service declares models and routes for.

    ``SHOPSENSE_SERVED_DECISIONS`` (set by ``shopsense serve`` to the decisions it synced, and by ``--build``) names
    them; without it, every registered decision whose model is in the BentoML store. ``bentoml serve`` resolves
    every declared model at start-up, so a decision without a champion must not be declared at all: it is reported
    by the sync instead.
    """
    named = [n for n in os.environ.get(SERVED_DECISIONS_ENV, "").split(",") if n]
    if named:
        return [decisions.get(name) for name in named]
    return [spec for spec in decisions.all_specs() if _in_store(spec.name)]


def _in_store(decision: str) -> bool:
    from bentoml.exceptions import NotFound

    try:
        bentoml.models.get(f"{store_tag(decision)}:latest")
    except NotFound:
        return False
    return True


def _model_attribute(decision: str) -> str:
    return f"model_{decision}"


def _route_handler(decision: str, route: Route) -> Any:
    """A ``bentoml.api`` method for one route; BentoML reads the request and response types from its annotations."""

    async def handler(self, request, /, ctx):
        return await self._answer(ctx, lambda: self.state.answer(decision, route, request, _info(ctx)))

    handler.__name__ = handler.__qualname__ = route.path.strip("/").replace("/", "_")
    handler.__doc__ = route.summary
    handler.__annotations__ = {"request": route.request, "ctx": bentoml.Context, "return": route.response}
    return bentoml.api(route=route.path)(handler)


class _ShopSenseBase:
    """Decisions over HTTP: every response names the model versions that produced it."""

    def __init__(self) -> None:
        try:  # a bad setting stops the worker here, in one sentence, instead of hanging every request later
            config.check()
        except config.ConfigError as exc:
            logger.error("refusing to start: %s", exc)
            raise
        graceful.install()  # SIGTERM while draining: refuse new connections, then finish those accepted
        specs = served_specs()
        resolvers = {s.name: (lambda n=s.name: getattr(self, _model_attribute(n))) for s in specs}
        self.state = st.ServiceState.start(lambda: resolvers)
        st.publish(self.state)

    def __is_ready__(self) -> bool:
        """Ready once at least one decision and the online store are loaded (see /readyz's body for each)."""
        return self.state.ready

    @bentoml.api(route=RELOAD_ROUTE)
    async def admin_reload(self, ctx: bentoml.Context) -> ReloadResponse:
        """Admin key only: sync the current ``@champion``s from MLflow into the store and swap them in (this worker)."""
        return await self._answer(ctx, lambda: self.state.reload(_info(ctx)))

    async def _answer(self, ctx: bentoml.Context, call: Any) -> Any:
        try:
            return await call()
        except st.ServiceError as exc:
            ctx.response.status_code = exc.status  # BentoML copies the context's status onto the response
            return JSONResponse(exc.body(_info(ctx).request_id), status_code=exc.status, headers=exc.headers)
        except Exception:  # a JSON 500 naming the request (BentoML's own would not), the traceback in the log
            info = _info(ctx)
            logger.exception("%s failed (request %s)", info.endpoint, info.request_id)
            ctx.response.status_code = 500
            body = {"error": "internal server error", "detail": None, "request_id": info.request_id}
            return JSONResponse(body, status_code=500)


def _info(ctx: bentoml.Context) -> Any:
    return request_info(ctx.request.scope) or st.detached_info(ctx.request.url.path)


def _tracing(api_paths: dict[str, Any]) -> dict[str, Any]:
    """BentoML's tracing options: the API routes skip OpenTelemetry unless ``serving_trace_routes`` is on.

    BentoML samples no span by default, yet its middleware still builds a span per request and per ASGI message
    (≈ 0.45 ms of the worker's ≈ 2.5 ms per raw review, serving/README.md). A bad setting is left to ``config.check`` at start-up, which
    names it in one sentence.
    """
    try:
        traced = config.load_settings().serving_trace_routes
    except config.ConfigError:
        traced = False
    return {} if traced else {"excluded_urls": sorted(api_paths)}


def build_service(specs: list[DecisionSpec]) -> Any:
    """The service class with one model declaration per decision and one API method per route, from the registry."""
    namespace: dict[str, Any] = {
        "__doc__": "ShopSense decisions: " + "; ".join(f"{s.name}: {s.description}" for s in specs),
        "__module__": __name__,
        "__qualname__": "ShopSense",
    }
    for spec in specs:
        namespace[_model_attribute(spec.name)] = bentoml.models.BentoModel(f"{store_tag(spec.name)}:latest")
        for route in spec.routes:
            namespace[route.path.strip("/").replace("/", "_")] = _route_handler(spec.name, route)
    service_class = type("ShopSense", (_ShopSenseBase,), namespace)
    api_paths = {route.path: route.request for spec in specs for route in spec.routes}
    service = bentoml.service(
        name="shopsense",
        image=UvLockImage(python_version="3.11"),
        envs=[{"name": "OMP_NUM_THREADS", "value": "1"}],
        workers=1,
        traffic={"timeout": 60, "max_concurrency": 512},
        logging={"access": {"enabled": False}},  # serving/audit.py writes one line per API request instead
        tracing=_tracing(api_paths),
    )(service_class)
    metrics_labels.install([*api_paths, RELOAD_ROUTE])  # /metrics labels: these templates, else one "unknown"
    service.add_asgi_middleware(
        ShopSenseMiddleware,
        configure=st.middleware_config,
        api_paths=api_paths,
        admin_paths=(RELOAD_ROUTE,),
        status=st.published_status,
    )
    service.mount_asgi_app(ReportsApp(), path=REPORTS_PATH)  # ops reports, same API keys
    return service


ShopSense = build_service(served_specs())
