"""A throwaway Redis server on a free loopback port (Debian's ``redis-server``, installed by ``make install``).

No persistence, no config file, bound to 127.0.0.1 only, stopped (and its process reaped) when the block ends; used
by the Redis online-store tests and ``benchmarks/bench_feast_online.py --online-store redis``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def redis_server(timeout: float = 20.0) -> Iterator[str]:
    """Yield ``127.0.0.1:<port>`` of a fresh ``redis-server``; raises RuntimeError when it is not installed."""
    binary = redis_binary()
    if binary is None:
        raise RuntimeError("redis-server is not installed: run `make install` (apt-get install redis-server)")
    port = _free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
