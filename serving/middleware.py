"""One ASGI middleware for what every request needs before and after the handler: a request id, the API key
check, body size and media type limits, and the audit line.

It runs inside BentoML's own middlewares (metrics, tracing), so rejected requests still show in ``/metrics``.
Handlers read what it learned (request id, key id) from ``scope["shopsense"]`` and write back what the audit line
needs (entity counts, model versions); the middleware writes the line once the response status is known.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ValidationError

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


@dataclass
class RequestInfo:
    """Per-request facts shared between the middleware and the handler (no user ids, no keys)."""

    request_id: str
    endpoint: str
    key_id: str | None = None
    entities: int | None = None
    unknown: int | None = None
    models: dict[str, str] = field(default_factory=dict)


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
    payload = json.dumps(body).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class ShopSenseMiddleware:
    """Request id, auth, limits and audit for one ASGI app (see module docstring)."""

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
        """Settings are read on the first request, not when the service module is imported."""
        if self.policy is None:
            policy, self.keys, self.audit = self._configure()
            self.policy = replace(policy, **self._paths)
        return self.policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        policy = self._setup()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        info = RequestInfo(_request_id(headers), path)
        scope[SCOPE_KEY] = info
        status = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", info.request_id.encode())]
            await send(message)

        try:
            await self._handle(scope, receive, send_with_id, headers, info)
        finally:
            if self.audit is not None and policy.audited(path):
                self.audit.write(
                    request_id=info.request_id, endpoint=path, key_id=info.key_id, entities=info.entities,
                    unknown=info.unknown, models=info.models or None, status=status["code"],
                    latency_ms=round((time.perf_counter() - started) * 1000, 3),
                )  # fmt: skip

    async def _handle(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], info: RequestInfo):
        path, rid = scope.get("path", ""), info.request_id
        if self.policy.needs_key(path):
            info.key_id = self.keys.identify(presented_key(headers))
            if info.key_id is None:
                detail = "missing or invalid API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
                body = {"error": "unauthorized", "detail": detail, "request_id": rid}
                await _error(send, 401, body, [(b"www-authenticate", b'Bearer realm="shopsense"')])
                return
            if path in self.policy.admin_paths and not self.keys.is_admin(info.key_id):
                await _error(send, 403, {"error": "forbidden", "detail": "admin key required", "request_id": rid})
                return
        if path == "/readyz" and scope.get("method") == "GET" and self._status is not None:
            status = self._status()
            if status is not None:  # which decisions serve, and why the others do not
                await _error(send, 200 if status["ready"] else 503, {**status, "request_id": rid})
                return
        if scope.get("method") == "POST" and self.policy.audited(path):
            rejected = self._reject_body(headers, rid)
            if rejected is not None:
                await _error(send, *rejected)
                return
            body = await self._read_body(receive)
            if body is None:
                limit = self.policy.max_body_bytes
                await _error(
                    send, 413, {"error": "payload too large", "detail": f"limit {limit} bytes", "request_id": rid}
                )
                return
            invalid = self._invalid(path, body)
            if invalid is not None:
                await _error(send, 400, {**invalid, "request_id": rid})
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _invalid(self, path: str, body: bytes) -> dict[str, Any] | None:
        """Validate the body here so a bad one is answered with the field named but never logged with its input
        (BentoML's own handler logs a traceback holding the offending values, which may be user ids)."""
        model = self._models.get(path)
        if model is None:
            return None
        try:
            model.model_validate_json(body or b"{}")
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


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that yields the already-read body once, then defers to the server (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
