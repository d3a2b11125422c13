"""The audit log: one JSON line per API request, no personal data (counts, never user ids; key ids, never keys).

Lines are appended with a single ``os.write`` on an ``O_APPEND`` descriptor, so several worker processes can
share one file without interleaving lines. The file is rotated (``serving.jsonl`` -> ``.1`` -> ``.2`` ...) once it
passes a size; a lock file makes one process rotate, and every process reopens when the path names a new file.
The client address is the peer of the TCP connection (a proxy's address behind one), so an operator can tie a
line to a network source without the log holding any user id.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FIELDS = ("ts", "request_id", "endpoint", "key_id", "client", "entities", "unknown", "models", "latency_ms", "status")


class AuditLog:
    """Append-only JSON-lines file with size rotation; a failed write is logged, never raised into a request."""

    def __init__(self, path: Path, max_bytes: int = 50_000_000, backups: int = 5) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self._fd = self._open()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def write(self, **record: Any) -> None:
        """Write one line with :data:`FIELDS` (missing ones as null); extra keys are dropped on purpose."""
        line = {name: record.get(name) for name in FIELDS}
        line["ts"] = line["ts"] or time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
        try:
            self._follow()
            os.write(self._fd, (json.dumps(line, separators=(",", ":")) + "\n").encode("utf-8"))
        except OSError:
            logger.exception("audit log write failed: %s", self.path.name)

    def _follow(self) -> None:
        """Rotate when the file is too big; reopen when another process rotated it (the path is a new file)."""
        mine = os.fstat(self._fd)
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        if current is None or (current.st_ino, current.st_dev) != (mine.st_ino, mine.st_dev):
            self._reopen()
        elif mine.st_size >= self.max_bytes:
            self.rotate()

    def _reopen(self) -> None:
        os.close(self._fd)
        self._fd = self._open()

    def rotate(self) -> None:
        """Shift ``.N-1`` -> ``.N`` ... and the live file to ``.1``, under an exclusive lock (one rotator)."""
        lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o640)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.stat(self.path).st_size >= self.max_bytes:  # not already rotated by another process
                for n in range(self.backups - 1, 0, -1):
                    older = self.path.with_name(f"{self.path.name}.{n}")
                    if older.exists():
                        os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
                os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            os.close(lock)
        self._reopen()

    def close(self) -> None:
        os.close(self._fd)
