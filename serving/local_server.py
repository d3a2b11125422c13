"""Start, wait for and stop ``bentoml serve``: the environment it needs, shared by ``shopsense serve``, the live-HTTP
tests and the benchmark.

Stopping is graceful and complete: ``bentoml serve`` runs in its own process group; :func:`stop` first creates the
drain file (every worker's ``/readyz`` turns 503, so a balancer stops sending), waits ``unready_s``, then sends
SIGTERM to the whole group (each worker refuses new connections on the shared socket, see ``serving/graceful.py``,
and uvicorn finishes the requests in flight) and SIGKILLs whatever is left after the grace period, so no
``bentoml serve`` is ever orphaned.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from features.settings import PROJECT_ROOT, Settings
from serving.config import ConfigError
from serving.middleware import DRAIN_FILE_ENV

logger = logging.getLogger(__name__)

SERVICE = "serving.service:ShopSense"
SERVED_DECISIONS_ENV = "SHOPSENSE_SERVED_DECISIONS"  # which decisions a Bento declares (set by `serve --build`)
CONFIG_OVERRIDES_ENV = "BENTOML_CONFIG_OVERRIDES"  # BentoML 1.4: JSON deep-merged into its configuration


def bentoml_env(settings: Settings, workers: int | None = None) -> dict[str, str]:
    """Environment for a ``bentoml`` subprocess: our store, one OpenMP thread per worker, no usage tracking."""
    env = dict(os.environ)
    env["BENTOML_HOME"] = str(settings.bentoml_home)
    env["BENTOML_DO_NOT_TRACK"] = "True"
    env.setdefault("OMP_NUM_THREADS", "1")
    env["SHOPSENSE_DATA_DIR"] = str(settings.data_dir.resolve())
    env.setdefault(DRAIN_FILE_ENV, str(drain_file(settings)))
    if workers:  # BentoML 1.4's JSON overrides (BENTOML_CONFIG_OPTIONS is deprecated), merged with the caller's
        try:
            overrides = json.loads(env.get(CONFIG_OVERRIDES_ENV) or "{}")
        except ValueError:
            raise ConfigError(f"{CONFIG_OVERRIDES_ENV} is not valid JSON") from None
        overrides.setdefault("services", {}).setdefault("shopsense", {})["workers"] = workers
        env[CONFIG_OVERRIDES_ENV] = json.dumps(overrides)
    return env


def drain_file(settings: Settings) -> Path:
    """The flag file whose existence turns this server's /readyz to 503 (one per ``shopsense serve`` process)."""
    return settings.data_dir.resolve() / "serving" / f"draining-{os.getpid()}"


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


def stop(proc: subprocess.Popen, drain: Path | None = None, unready_s: float = 0.0, grace_s: float = 30.0) -> int:
    """Not ready first (``drain`` file), then SIGTERM to the whole process group, SIGKILL after ``grace_s``."""
    if drain is not None and proc.poll() is None:
        drain.parent.mkdir(parents=True, exist_ok=True)
        drain.touch()
        time.sleep(unready_s)
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        logger.warning("bentoml serve did not stop within %.0f s: killing its process group", grace_s)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
    with contextlib.suppress(ProcessLookupError):  # the arbiter is gone; nothing of its group may outlive it
        os.killpg(proc.pid, signal.SIGKILL)
    if drain is not None:
        drain.unlink(missing_ok=True)
    return proc.returncode if proc.returncode is not None else 0


def watch_workers(proc: subprocess.Popen, stopped: threading.Event, period_s: float = 0.5) -> threading.Thread:
    """Log every worker process of ``proc`` that dies (BentoML restarts it silently) and when a new one appears."""
    import psutil

    def children() -> dict[int, psutil.Process]:
        try:
            return {c.pid: c for c in psutil.Process(proc.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            return {}

    def loop() -> None:
        known = children()
        while not stopped.wait(period_s) and proc.poll() is None:
            now = children()
            for pid in set(known) - set(now):
                logger.error("service worker pid %d died; BentoML starts a new one (it loads the models first)", pid)
            for pid in set(now) - set(known):
                if known:
                    logger.warning("service process pid %d started", pid)
            known = now

    thread = threading.Thread(target=loop, name="shopsense-worker-watch", daemon=True)
    thread.start()
    return thread


def run_foreground(command: list[str], env: dict[str, str], settings: Settings) -> int:
    """Run ``bentoml serve`` until it exits or this process gets SIGTERM/SIGINT, then :func:`stop` it gracefully.

    The signal is forwarded to the server's whole process group (never just the arbiter), so stopping
    ``shopsense serve`` never leaves a ``bentoml serve`` holding the port.
    """
    drain = Path(env[DRAIN_FILE_ENV])
    drain.unlink(missing_ok=True)
    proc = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, start_new_session=True)
    stopping = threading.Event()
    signalled: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def on_signal(signum: int, _frame: object) -> None:
        # No lock in a handler: ``Event.set`` here deadlocked when a second signal (make and its child both get the
        # group's SIGTERM) landed inside the first handler's ``set``, which holds the event's lock.
        signalled.append(signum)

    for sig in previous:
        signal.signal(sig, on_signal)
    watch_workers(proc, stopping)
    try:
        while proc.poll() is None and not signalled:
            time.sleep(0.2)
        stopping.set()
        if proc.poll() is not None:
            return proc.returncode
        logger.warning("stopping: /readyz -> 503, draining requests in flight (up to %.0f s)", settings.serving_drain_s)
        return stop(proc, drain, settings.serving_unready_s, settings.serving_drain_s)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:
            stop(proc)
