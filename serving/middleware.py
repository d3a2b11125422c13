"""One ASGI middleware for what every request needs before and after the handler: a request id, the API key
check, body size, media type and strict type checks, the audit line, and a JSON 500 (with the request id and a
logged traceback) for any exception, so a request never hangs without an answer.

It runs inside BentoML's own middlewares (metrics, tracing), so rejected requests still show in ``/metrics``.
Handlers read what it learned (request id, key id) from ``scope["shopsense"]`` and write back what the audit line
needs (entity counts, model versions); the middleware writes the line once the response status is known.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ValidationError

from serving import metrics_labels, openapi
from serving.audit import AuditLog
from serving.auth import ApiKeys, presented_key

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SCOPE_KEY = "shopsense"
REQUEST_ID_HEADER = "x-request-id"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
HEALTH_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})
DOC_PATHS = frozenset({"/", "/docs.json"})
CLIENT_CLOSED = 499  # nginx's code for "the client went away before the answer": what the audit line records
DRAIN_FILE_ENV = "SHOPSENSE_DRAIN_FILE"  # set by `shopsense serve`; while it exists /readyz answers 503


@dataclass
class RequestInfo:
    """Per-request facts shared between the middleware and the handler (no user ids, no keys)."""

    request_id: str
    endpoint: str
    key_id: str | None = None
    entities: int | None = None
    unknown: int | None = None
    models: dict[str, str] = field(default_factory=dict)
    client: str | None = None
    disconnected: asyncio.Event | None = None  # set when the client goes away before its answer

    @property
    def gone(self) -> bool:
        return self.disconnected is not None and self.disconnected.is_set()


@dataclass(frozen=True)
class Policy:
    """Which paths need a key, which need an admin key, and the body limit (the paths are set by the service)."""

    api_paths: frozenset[str] = frozenset()
    admin_paths: frozenset[str] = frozenset()
    auth_health: bool = False
    auth_docs: bool = False
    max_body_bytes: int = 1_048_576

    def needs_key(self, path: str) -> bool:
        if path in self.api_paths or path in self.admin_paths:
            return True
        if path in HEALTH_PATHS:
            return self.auth_health
        return self.auth_docs

    def audited(self, path: str) -> bool:
        return path in self.api_paths or path in self.admin_paths


def request_info(scope: Scope) -> RequestInfo | None:
    """What the middleware recorded for this request (None when the app runs without it)."""
    return scope.get(SCOPE_KEY)


def _request_id(headers: dict[str, str]) -> str:
    """The caller's ``X-Request-ID`` when it is a plain token (for tracing across systems), else a new one."""
    given = headers.get(REQUEST_ID_HEADER, "")
    return given if _CLIENT_ID.match(given) else uuid.uuid4().hex


async def _error(send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] = ()) -> None:
    await _send_bytes(send, status, json.dumps(body).encode("utf-8"), b"application/json", extra)


async def _send_bytes(
    send: Send, status: int, payload: bytes, media: bytes, extra: list[tuple[bytes, bytes]] = ()
) -> None:
    headers = [(b"content-type", media), (b"content-length", str(len(payload)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def draining() -> bool:
    """Whether ``shopsense serve`` is stopping this server (its drain file exists): /readyz then answers 503."""
    flag = os.environ.get(DRAIN_FILE_ENV)
    return bool(flag) and os.path.exists(flag)


def _client(scope: Scope) -> str | None:
    peer = scope.get("client")
    return f"{peer[0]}:{peer[1]}" if peer else None


def _relative_location(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A redirect's ``Location`` as a path: Starlette builds it from the request's ``Host`` header, which a client
    controls (an open redirect and cache-poisoning vector)."""
    out = []
    for name, value in headers:
        if name.lower() == b"location" and b"://" in value:
            rest = value.split(b"://", 1)[1]
            value = b"/" + rest.split(b"/", 1)[1] if b"/" in rest else b"/"
        out.append((name, value))
    return out


class ShopSenseMiddleware:
    """Request id, auth, limits, docs and audit for one ASGI app (see module docstring)."""

    def __init__(
        self,
        app: Any,
        configure: Callable[[], tuple[Policy, ApiKeys, AuditLog | None]],
        api_paths: dict[str, type[BaseModel]] | None = None,
        admin_paths: tuple[str, ...] = (),
        status: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        self.app = app
        self._status = status
        self._configure = configure
        self._models = dict(api_paths or {})
        self._paths = {"api_paths": frozenset(self._models), "admin_paths": frozenset(admin_paths)}
        self.policy: Policy | None = None
        self.keys = ApiKeys({}, frozenset())
        self.audit: AuditLog | None = None

    def _setup(self) -> Policy:
        """Settings are read once per worker (the service checked them at start, see serving/config.py)."""
        if self.policy is None:
            policy, self.keys, self.audit = self._configure()
            self.policy = replace(policy, **self._paths)
        return self.policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics_labels.restore(scope)
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        info = RequestInfo(_request_id(headers), path, client=_client(scope))
        scope[SCOPE_KEY] = info
        status = {"code": None}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                extra = [(b"x-request-id", info.request_id.encode())]
                if draining():  # stopping: the client reconnects (to another replica) instead of reusing this one
                    extra.append((b"connection", b"close"))
                message["headers"] = [*_relative_location(list(message.get("headers", []))), *extra]
            await send(message)

        try:
            await self._handle(scope, receive, send_with_id, headers, info)
        except Exception:  # never a hang: a JSON 500 naming the request, the traceback in the worker log
            logger.exception("unhandled error in %s (request %s)", path, info.request_id)
            if status["code"] is None and not info.gone:
                body = {"error": "internal server error", "detail": None, "request_id": info.request_id}
                await _error(send_with_id, 500, body)
        finally:
            self._audit(path, info, status["code"], started)

    def _audit(self, path: str, info: RequestInfo, code: int | None, started: float) -> None:
        if self.audit is None or self.policy is None or not self.policy.audited(path):
            return
        if code is None:
            code = CLIENT_CLOSED if info.gone else 500
        self.audit.write(
            request_id=info.request_id, endpoint=path, key_id=info.key_id, client=info.client,
            entities=info.entities, unknown=info.unknown, models=info.models or None, status=code,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        )  # fmt: skip

    async def _handle(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], info: RequestInfo):
        policy = self._setup()
        path, rid, method = scope.get("path", ""), info.request_id, scope.get("method")
        if policy.needs_key(path):
            info.key_id = self.keys.identify(presented_key(headers))
            if info.key_id is None:
                detail = "missing or invalid API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
                body = {"error": "unauthorized", "detail": detail, "request_id": rid}
                await _error(send, 401, body, [(b"www-authenticate", b'Bearer realm="shopsense"')])
                return
            if path in policy.admin_paths and not self.keys.is_admin(info.key_id):
                await _error(send, 403, {"error": "forbidden", "detail": "admin key required", "request_id": rid})
                return
        if method == "GET" and (path in DOC_PATHS or path == "/readyz") and await self._system(scope, receive, send):
            return
        if method == "POST" and policy.audited(path):
            receive = await self._checked_body(receive, send, headers, info)
            if receive is None:
                return
        await self.app(scope, receive, send)

    async def _system(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """/readyz (JSON per decision; 503 while draining), the offline Swagger page and the patched spec."""
        path, rid = scope["path"], scope[SCOPE_KEY].request_id
        if path == "/readyz" and self._status is not None:
            status = self._status()
            if status is None:
                return False
            if draining():
                status = {**status, "ready": False, "error": "shutting down"}
            await _error(send, 200 if status["ready"] else 503, {**status, "request_id": rid})
            return True
        if path == "/":
            await _send_bytes(send, 200, openapi.index_html().encode("utf-8"), b"text/html; charset=utf-8")
            return True
        if path == "/docs.json":
            captured = await _capture(self.app, scope, receive)
            if captured is None:
                return False
            protected = set(self._models) | set(self.policy.admin_paths)
            spec = openapi.patch_spec(captured, protected)
            await _send_bytes(send, 200, json.dumps(spec).encode("utf-8"), b"application/json")
            return True
        return False

    async def _checked_body(
        self, receive: Receive, send: Send, headers: dict[str, str], info: RequestInfo
    ) -> Receive | None:
        """The validated body replayed to the app (and a watch for the client leaving), or None once answered."""
        rid = info.request_id
        rejected = self._reject_body(headers, rid)
        if rejected is not None:
            await _error(send, *rejected)
            return None
        body = await self._read_body(receive)
        if body is None:
            limit = self.policy.max_body_bytes
            await _error(send, 413, {"error": "payload too large", "detail": f"limit {limit} bytes", "request_id": rid})
            return None
        invalid = self._invalid(info.endpoint, body)
        if invalid is not None:
            await _error(send, 400, {**invalid, "request_id": rid})
            return None
        info.disconnected = asyncio.Event()
        return _replay(body, receive, info.disconnected)

    def _invalid(self, path: str, body: bytes) -> dict[str, Any] | None:
        """Validate the body here so a bad one is answered with the field named but never logged with its input
        (BentoML's own handler logs a traceback holding the offending values, which may be user ids)."""
        model = self._models.get(path)
        if model is None:
            return None
        try:
            model.model_validate_json(body or b"{}", strict=True)  # "explain": "yes" is a 400, not True
        except ValidationError as exc:
            detail = exc.errors(include_url=False, include_context=False, include_input=False)
            return {"error": f"{exc.error_count()} validation error(s) for {model.__name__}", "detail": detail}
        return None

    def _reject_body(self, headers: dict[str, str], rid: str) -> tuple[int, dict[str, Any]] | None:
        """413 on a declared oversize body, 415 on a media type other than JSON."""
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.policy.max_body_bytes:
            limit = self.policy.max_body_bytes
            return 413, {"error": "payload too large", "detail": f"limit {limit} bytes", "request_id": rid}
        media = headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if media not in ("application/json", ""):
            return 415, {"error": "unsupported media type", "detail": "send application/json", "request_id": rid}
        return None

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it exceeds the limit (chunked bodies have no declared length)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.policy.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive, disconnected: asyncio.Event) -> Receive:
    """A receive that yields the already-read body once, then the server's next message (the disconnect).

    The body has been read whole, so the next message from the server can only be ``http.disconnect``; a task
    waits for it from the start and sets ``disconnected``, so a handler can drop work whose client has gone.
    """
    sent = False
    watch: asyncio.Task[Message] | None = None

    async def listen() -> Message:
        message = await receive()
        if message["type"] == "http.disconnect":
            disconnected.set()
        return message

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await asyncio.shield(watcher())

    def watcher() -> asyncio.Task[Message]:
        nonlocal watch
        if watch is None:
            watch = asyncio.get_running_loop().create_task(listen())
        return watch

    watcher()
    return replay


async def _capture(app: Any, scope: Scope, receive: Receive) -> dict[str, Any] | None:
    """Call the app and return its JSON body (200 only), for rewriting the OpenAPI spec."""
    parts: list[bytes] = []
    status = {"code": 0}

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            status["code"] = message["status"]
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app(scope, receive, keep)
    return json.loads(b"".join(parts)) if status["code"] == 200 else None
