"""Route templates as the only ``endpoint`` label of BentoML's HTTP metrics (unknown paths share one label).

BentoML 1.4's ``RunnerTrafficMetricsMiddleware`` (``bentoml/_internal/server/http/instruments.py``) labels
``request_total``, ``request_duration_seconds`` and ``request_in_progress`` with the raw ``scope["path"]``, read
before any user middleware runs; with Prometheus multiprocess mode every label set is a new memory-mapped series,
so 5,000 random paths grew the worker by 130 MB and ``/metrics`` to 21 MB. That middleware is where the label is
made, so the fix lives there: :func:`install` replaces the class BentoML instantiates (looked up by name each time
the app is built) with a subclass that hands it a scope whose path is a known route or :data:`UNKNOWN_LABEL`. The
real path travels in ``scope[REAL_PATH]`` and the ShopSense middleware puts it back, so routing is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

UNKNOWN_LABEL = "/__unknown__"
REAL_PATH = "shopsense.real_path"
SYSTEM_PATHS = frozenset({"/", "/docs.json", "/schema.json", "/livez", "/healthz", "/readyz", "/metrics"})
STATIC_PREFIX = "/static_content/"

_KNOWN: set[str] = set(SYSTEM_PATHS)


def label(path: str) -> str:
    """The metrics label of a request path: the path of a known route, else :data:`UNKNOWN_LABEL`."""
    if path in _KNOWN:
        return path
    return "/static_content" if path.startswith(STATIC_PREFIX) else UNKNOWN_LABEL


def restore(scope: dict[str, Any]) -> None:
    """Put the real request path back (called by the first ShopSense middleware)."""
    real = scope.pop(REAL_PATH, None)
    if real is not None:
        scope["path"] = real


def install(paths: Iterable[str]) -> None:
    """Add the service's route paths to the known set and swap BentoML's metrics middleware for the templated one.

    Idempotent; must run before BentoML builds the ASGI app (``serving.service`` calls it at definition time).
    """
    from bentoml._internal.server.http import instruments

    _KNOWN.update(paths)
    base = instruments.RunnerTrafficMetricsMiddleware
    if getattr(base, "templated", False):
        return

    class TemplatedMetricsMiddleware(base):  # type: ignore[misc, valid-type]
        templated = True

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope.get("type") == "http" and label(scope["path"]) != scope["path"]:
                scope = {**scope, "path": label(scope["path"]), REAL_PATH: scope["path"]}
            await super().__call__(scope, receive, send)

    instruments.RunnerTrafficMetricsMiddleware = TemplatedMetricsMiddleware
