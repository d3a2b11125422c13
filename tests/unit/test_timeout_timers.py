"""BentoML's request timeout as patched by serving/timeout_timers.py: answered requests leave no live timer, a slow
one still gets its 504."""

from __future__ import annotations

import asyncio
import json

from bentoml._internal.server.http.traffic import TimeoutMiddleware

from serving import timeout_timers


def _run(app, timeout: float) -> tuple[list[dict], list[asyncio.TimerHandle]]:
    timeout_timers.install()
    sent: list[dict] = []
    timers: list[asyncio.TimerHandle] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        real = loop.call_later

        def recorded(delay, callback, *args):
            timers.append(real(delay, callback, *args))
            return timers[-1]

        loop.call_later = recorded  # type: ignore[method-assign]

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await TimeoutMiddleware(app, timeout=timeout)({"type": "http", "method": "POST", "path": "/x"}, receive, send)

    asyncio.run(scenario())
    return sent, timers


async def _fast(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}", "more_body": False})


async def _slow(scope, receive, send) -> None:
    await asyncio.sleep(5)


def test_an_answered_request_cancels_its_timeout_timer() -> None:
    sent, timers = _run(_fast, timeout=60)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"] and sent[0]["status"] == 200
    assert len(timers) == 1 and timers[0].cancelled()  # BentoML 1.4 left it alive for the whole 60 s


def test_a_request_past_the_timeout_still_gets_a_504() -> None:
    sent, _ = _run(_slow, timeout=0.05)
    assert sent[0]["status"] == 504
    assert "0.05 seconds" in json.loads(sent[1]["body"])["error"]
