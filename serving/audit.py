"""The audit log: one JSON line per API request, no personal data (counts, never user ids; key ids, never keys).

Lines are appended with a single ``os.write`` on an ``O_APPEND`` descriptor, so several worker processes can
share one file without interleaving lines.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FIELDS = ("ts", "request_id", "endpoint", "key_id", "entities", "unknown", "models", "latency_ms", "status")


class AuditLog:
    """Append-only JSON-lines file; a failed write is logged, never raised into a request."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def write(self, **record: Any) -> None:
        """Write one line with :data:`FIELDS` (missing ones as null); extra keys are dropped on purpose."""
        line = {name: record.get(name) for name in FIELDS}
        line["ts"] = line["ts"] or time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
        try:
            os.write(self._fd, (json.dumps(line, separators=(",", ":")) + "\n").encode("utf-8"))
        except OSError:
            logger.exception("audit log write failed: %s", self.path)

    def close(self) -> None:
        os.close(self._fd)
