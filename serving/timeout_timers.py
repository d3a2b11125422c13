"""BentoML's request timeout without one live timer per finished request.

Why: BentoML 1.4's ``TimeoutMiddleware`` schedules ``loop.call_later(timeout, ...)`` for every request and never
cancels it, so each answered request leaves a timer, its future and the request's closure alive for the whole
timeout (60 s here). Under load that is hundreds of thousands of objects the garbage collector walks again and again:
measured in the worker with a ``gc.callbacks`` probe, the oldest generation grew by ~3,500 objects a second at
~800 requests/s and full collections took 13 → 77 ms within 40 s, each stalling every request in flight (the
``/recommend/user`` p99 at concurrency 8 doubled after the other routes' load). :func:`install` gives the middleware
the same behaviour — a 504 after ``timeout`` seconds without a response start — with the timer cancelled as soon as
the request is answered. Remove it once BentoML cancels the timer itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import JSONResponse


async def _call(self: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``TimeoutMiddleware.__call__`` of BentoML 1.4 with its timer cancelled once the response has started."""
    if scope["type"] not in ("http", "websocket"):
        await self.app(scope, receive, send)
        return
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

    async def _send(message: dict[str, Any]) -> None:
        if not waiter.done():
            waiter.set_result(None)
        await send(message)

    task = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
    try:
        await waiter
    except TimeoutError:
        if task.cancel():
            body = {"error": f"Not able to process the request in {self.timeout} seconds"}
            await JSONResponse(body, status_code=504)(scope, receive, send)
    else:
        await task
    finally:
        timer.cancel()


def install() -> None:
    """Patch BentoML's ``TimeoutMiddleware`` (its app imports the class when it builds the middleware stack)."""
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    TimeoutMiddleware.__call__ = _call  # type: ignore[method-assign]
