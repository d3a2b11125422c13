"""What the docs pages say: ShopSense's own offline Swagger page and an OpenAPI spec that tells the whole truth.

BentoML's index page loads a third-party tag manager and external badges, and its spec has no security scheme (no
Authorize button) and no error responses. The middleware answers ``GET /`` with :func:`index_html` (the Swagger
UI bundle BentoML ships under ``/static_content``, nothing from the network) and rewrites ``/docs.json`` with
:func:`patch_spec`.
"""

from __future__ import annotations

import html
from importlib import metadata
from typing import Any

TITLE = "ShopSense decision service"
DESCRIPTION = (
    "Machine-learning decision support for e-commerce operations: every route answers with the model versions "
    "that produced it. Send your API key as `Authorization: Bearer <key>` (or `X-API-Key`). Errors share one body: "
    "`error`, `detail` (the offending fields for 400) and `request_id`."
)
ERROR_STATUSES = {
    "400": "Invalid body: `detail` lists each offending field (`loc`, `msg`, `type`).",
    "401": "Missing or invalid API key.",
    "403": "The key may not call this route (admin routes).",
    "413": "Body larger than SHOPSENSE_SERVING_MAX_BODY_BYTES.",
    "415": "Body is not application/json.",
    "500": "Unexpected server error; quote the request id.",
    "503": "Not ready, decision not served, or the queue is full (see Retry-After).",
    "504": "The request waited longer than SHOPSENSE_SERVING_REQUEST_TIMEOUT_S.",
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "detail": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "object", "additionalProperties": True}},
                {"type": "null"},
            ]
        },
        "request_id": {"type": ["string", "null"]},
    },
}


def version() -> str:
    try:
        return metadata.version("shopsense")
    except metadata.PackageNotFoundError:
        return "0.1.0"


def patch_spec(spec: dict[str, Any], protected: set[str]) -> dict[str, Any]:
    """Title, version, description, the bearer scheme on ``protected`` paths and every error response."""
    spec = dict(spec)
    spec["info"] = {**spec.get("info", {}), "title": TITLE, "version": version(), "description": DESCRIPTION}
    components = spec.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
    components.setdefault("schemas", {})["ErrorBody"] = ERROR_SCHEMA
    error_ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    for path, operations in spec.get("paths", {}).items():
        if path not in protected:
            continue
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            operation["security"] = [{"bearer": []}]
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses[status] = {"description": description, **error_ref}
    return spec


def index_html() -> str:
    """The Swagger UI page: ShopSense's title, version and description; every asset from this server."""
    title, description = html.escape(TITLE), html.escape(DESCRIPTION)
    return f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <meta name="description" content="{description}">
    <title>{title} {html.escape(version())}</title>
    <link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="./static_content/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="./static_content/swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
"""
