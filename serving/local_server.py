"""Start, wait for and stop ``bentoml serve``: the environment it needs, shared by ``shopsense serve``, the live-HTTP
tests and the benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from features.settings import PROJECT_ROOT, Settings

SERVICE = "serving.service:ShopSense"
SERVED_DECISIONS_ENV = "SHOPSENSE_SERVED_DECISIONS"  # which decisions a Bento declares (set by `serve --build`)


def bentoml_env(settings: Settings, workers: int | None = None) -> dict[str, str]:
    """Environment for a ``bentoml`` subprocess: our store, one OpenMP thread per worker, no usage tracking."""
    env = dict(os.environ)
    env["BENTOML_HOME"] = str(settings.bentoml_home)
    env["BENTOML_DO_NOT_TRACK"] = "True"
    env.setdefault("OMP_NUM_THREADS", "1")
    env["SHOPSENSE_DATA_DIR"] = str(settings.data_dir.resolve())
    if workers:
        options = env.get("BENTOML_CONFIG_OPTIONS", "")
        env["BENTOML_CONFIG_OPTIONS"] = f"{options} services.shopsense.workers={workers}".strip()
    return env


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen | None, timeout: float) -> None:
    """Poll ``/readyz`` until 200; fail fast if the server process has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"bentoml serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready within {timeout} s")


def start(
    settings: Settings,
    port: int,
    log: Path,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.Popen:
    """``bentoml serve`` in its own process group (so :func:`stop` ends its workers too), ready when returned."""
    env = bentoml_env(settings, workers) | (extra_env or {})
    command = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as handle:
        proc = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, timeout)
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the whole process group, SIGKILL if it does not exit in time."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
