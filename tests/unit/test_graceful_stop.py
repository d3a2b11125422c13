"""The pure parts of a lossless stop and a self-repairing model store (issue 13): the socket filter that refuses new
connections while accepted ones go on, and the digests that tell a damaged stored model from an intact one."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from features.settings import Settings
from serving import graceful, model_store

pytestmark = pytest.mark.unit


def test_listening_fd_comes_from_the_worker_command_line() -> None:
    assert graceful.listening_fd(["-m", "_bentoml_impl.worker.service", "svc", "--fd", "7", "--worker-id", "1"]) == 7
    assert graceful.listening_fd(["pytest", "-q"]) is None
    assert not graceful.install(["pytest"])  # in-process (no shared socket): uvicorn's handler stays


@pytest.mark.skipif(sys.platform != "linux", reason="SO_ATTACH_FILTER is Linux's")
def test_filter_refuses_new_connections_and_keeps_accepted_ones() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as before:
            accepted, _ = server.accept()
            with accepted:
                assert graceful.refuse_new_connections(server.fileno())
                before.sendall(b"ping")
                assert accepted.recv(4) == b"ping"  # a connection accepted earlier still talks
                accepted.sendall(b"pong")
                assert before.recv(4) == b"pong"
                with pytest.raises(TimeoutError):  # a new one never completes its handshake
                    socket.create_connection(("127.0.0.1", port), timeout=1.5)


def test_integrity_record_tells_a_damaged_model_from_an_intact_one(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    root = tmp_path / "store" / "shopsense-churn" / "abc"
    (root / "data" / "__pycache__").mkdir(parents=True)
    (root / "model.yaml").write_text("name: shopsense-churn\n")
    (root / "data" / "model.pkl").write_bytes(b"weights")
    stored = SimpleNamespace(tag=SimpleNamespace(name="shopsense-churn", version="abc"), path=str(root))
    assert model_store.integrity_problems(stored, settings) == ["no integrity record"]
    model_store.record_integrity(stored, settings)
    (root / "data" / "__pycache__" / "x.pyc").write_bytes(b"bytecode")  # loading writes bytecode: not damage
    assert model_store.integrity_problems(stored, settings) == []
    (root / "data" / "model.pkl").write_bytes(b"weightz")
    (root / "extra.bin").write_bytes(b"?")
    assert model_store.integrity_problems(stored, settings) == ["data/model.pkl changed", "extra.bin unexpected"]
    (root / "model.yaml").unlink()
    assert "model.yaml missing" in model_store.integrity_problems(stored, settings)


def test_a_second_signal_during_the_first_still_stops_the_foreground_server(tmp_path: Path) -> None:
    """``make demo`` and ``shopsense demo`` both get the group's SIGTERM, so a second signal can land while the first
    is being handled. Simulated exactly: every ``Event.set`` runs the SIGTERM handler again while it holds the
    event's lock (a handler that itself took that lock deadlocked there, and the demo never stopped)."""
    import signal
    import subprocess
    import time

    script = f"""
import os, signal, sys, threading
from types import SimpleNamespace
from serving.local_server import run_foreground
from serving.middleware import DRAIN_FILE_ENV

plain_set = threading.Event.set
def set_with_a_signal_inside(self):
    with self._cond:
        handler = signal.getsignal(signal.SIGTERM)
        if callable(handler):
            handler(signal.SIGTERM, None)
    plain_set(self)
threading.Event.set = set_with_a_signal_inside
settings = SimpleNamespace(serving_unready_s=0.0, serving_drain_s=5.0)
print("ready", flush=True)
sys.exit(run_foreground(["sleep", "120"], {{**os.environ, DRAIN_FILE_ENV: {str(tmp_path / "drain")!r}}}, settings))
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # the handlers are installed right after the server starts
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            pytest.fail("the server did not stop: the signal handler deadlocked")
