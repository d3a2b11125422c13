"""The ShopSense BentoML service: churn and tiering decisions over HTTP, on the champions in the BentoML store.

Run ``shopsense serve`` (syncs the MLflow ``@champion`` of each decision into the BentoML store, then starts this
service) or ``bentoml serve serving.service:ShopSense`` after a sync. Routes: ``POST /churn/predict``,
``POST /users/tier``, ``POST /admin/reload``; BentoML adds ``/livez``, ``/readyz``, ``/metrics`` and the Swagger
UI at ``/``. See serving/README.md.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import bentoml
from starlette.responses import JSONResponse

from serving import state as st
from serving.middleware import ShopSenseMiddleware, request_info
from serving.schemas import ChurnRequest, ChurnResponse, ReloadResponse, TierRequest, TierResponse

logger = logging.getLogger(__name__)

CHURN_ROUTE, TIER_ROUTE, RELOAD_ROUTE = "/churn/predict", "/users/tier", "/admin/reload"


@attrs.define
class UvLockImage(bentoml.images.Image):
    """The Bento's Python packages are uv.lock's (``uv export``; ``UV_NO_DEV=1`` leaves the dev group out).

    ``Image().uv_lock()`` sets a private flag that BentoML 1.4 drops when it merges bentofile options into the
    image (``attrs.evolve`` keeps init fields only), so the flag is set again on every copy.
    """

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.uv_lock()


@bentoml.service(
    name="shopsense",
    image=UvLockImage(python_version="3.11"),
    envs=[{"name": "OMP_NUM_THREADS", "value": "1"}],
    workers=1,
    traffic={"timeout": 60, "max_concurrency": 512},
    logging={"access": {"enabled": False}},  # serving/audit.py writes one line per API request instead
)
class ShopSense:
    """Churn risk with reasons and recall actions, and user tiers, for batches of user ids."""

    churn_model = bentoml.models.BentoModel("shopsense-churn:latest")
    tiering_model = bentoml.models.BentoModel("shopsense-tiering:latest")

    def __init__(self) -> None:
        self.state = st.ServiceState.start(lambda: (self.churn_model, self.tiering_model))

    def __is_ready__(self) -> bool:
        """Ready only once both models and the online store are loaded."""
        return self.state.ready

    @bentoml.api(route=CHURN_ROUTE)
    async def churn_predict(self, request: ChurnRequest, /, ctx: bentoml.Context) -> ChurnResponse:
        """Churn probability, risk band, value at risk, recall action (and reasons when ``explain``) per user.

        Unknown ids get ``status: "unknown_user"`` and null predictions; the tier (from the tiering model) picks
        the recall action. The response names the model version and alias of each decision.
        """
        return await self._answer(ctx, lambda: self.state.churn(request, _info(ctx)))

    @bentoml.api(route=TIER_ROUTE)
    async def users_tier(self, request: TierRequest, /, ctx: bentoml.Context) -> TierResponse:
        """Tier (with Chinese label), RFM scores and predicted lifetime value per user; unknown ids flagged."""
        return await self._answer(ctx, lambda: self.state.tier(request, _info(ctx)))

    @bentoml.api(route=RELOAD_ROUTE)
    async def admin_reload(self, ctx: bentoml.Context) -> ReloadResponse:
        """Admin key only: sync the current ``@champion`` from MLflow into the store and swap it in (this worker)."""
        return await self._answer(ctx, lambda: self.state.reload(_info(ctx)))

    async def _answer(self, ctx: bentoml.Context, call: Any) -> Any:
        try:
            return await call()
        except st.ServiceError as exc:
            ctx.response.status_code = exc.status  # BentoML copies the context's status onto the response
            return JSONResponse(exc.body(_info(ctx).request_id), status_code=exc.status)


def _info(ctx: bentoml.Context) -> Any:
    return request_info(ctx.request.scope) or st.detached_info(ctx.request.url.path)


ShopSense.add_asgi_middleware(
    ShopSenseMiddleware,
    configure=st.middleware_config,
    api_paths={CHURN_ROUTE: ChurnRequest, TIER_ROUTE: TierRequest},
    admin_paths=(RELOAD_ROUTE,),
)
