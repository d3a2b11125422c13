"""The latest ops reports over HTTP, behind the same API keys: ``GET /reports/<lang>/<page>.html``.

``shopsense report`` writes self-contained pages to ``<data_dir>/<served dataset>/reports/<lang>/``; this small
ASGI app serves them (``/reports/`` opens the Chinese index) so an ops person opens a URL instead of a file path.
Only ``.html`` files directly under a language folder are served; anything else (``..``, other suffixes) is 404.
A browser cannot send a bearer header from the address bar, so the key may also come as ``?key=`` on this path.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from serving.auth import ApiKeys, presented_key

logger = logging.getLogger(__name__)

PREFIX = "/reports"
_PAGE = re.compile(r"^/(zh|en)/([A-Za-z0-9_\-]+\.html)$")


class ReportsApp:
    """ASGI app for the report pages; settings and keys are read on the first request, not at import."""

    def __init__(self) -> None:
        self._keys: ApiKeys | None = None
        self._root: Path | None = None

    def _setup(self) -> tuple[ApiKeys, Path]:
        if self._keys is None or self._root is None:
            from features.settings import get_settings

            settings = get_settings()
            self._keys = ApiKeys.parse(settings.api_keys, settings.admin_key_ids)
            self._root = settings.dataset(settings.served_dataset).root / "reports"
        return self._keys, self._root

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        keys, root = self._setup()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        key = presented_key(headers) or (query.get("key") or [None])[0]
        if keys.identify(key) is None:
            await _send(send, 401, b"missing or invalid API key", "text/plain; charset=utf-8")
            return
        path = relative_path(scope)
        if path in ("", "/"):
            path = "/zh/index.html"
        match = _PAGE.match(path)
        file = root / match.group(1) / match.group(2) if match else None
        if scope.get("method") not in ("GET", "HEAD") or file is None or not file.is_file():
            await _send(send, 404, b"no such report: run `shopsense report all`", "text/plain; charset=utf-8")
            return
        await _send(send, 200, file.read_bytes(), "text/html; charset=utf-8")


def relative_path(scope: dict[str, Any]) -> str:
    """The path below ``/reports`` whether the mount strips its prefix (root_path) or not."""
    path = scope.get("path", "")
    for prefix in (scope.get("root_path", ""), PREFIX):
        if prefix and path.startswith(prefix):
            path = path[len(prefix) :]
    return path


async def _send(send: Any, status: int, body: bytes, media: str) -> None:
    headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
