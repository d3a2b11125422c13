"""Stop a worker without losing an accepted request: refuse new connections first, then finish the ones accepted.

Why this exists: BentoML's arbiter and every worker share one listening socket. When uvicorn gets SIGTERM it closes
only its own copy, so the kernel goes on completing handshakes into the backlog until the arbiter closes the last
copy, after the workers have drained, and then resets them all: those clients had already sent their request and
read a reset (the ``ReadError`` under SIGTERM of issue 13, item 6). So, when ``shopsense serve`` is stopping the
server (its drain file exists), a worker's SIGTERM first attaches a socket filter that drops new SYNs on the shared
socket (a client's connect retries its SYN and, once the port is closed, gets "connection refused", which it can
retry elsewhere), keeps accepting what already completed its handshake for :data:`SETTLE_S`, and only then hands the
signal to uvicorn, which closes the socket and finishes every request in flight.

Without the drain file (a bare ``bentoml serve``, or one worker signalled alone) SIGTERM goes to uvicorn at once:
the filter acts on the socket every worker shares, so it is only attached when the whole server is stopping.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import os
import signal
import socket
import struct
import sys
import threading
from collections.abc import Sequence

from serving.middleware import draining

logger = logging.getLogger(__name__)

SETTLE_S = 1.0  # accept what already sits in the backlog before uvicorn closes the listening socket
SO_ATTACH_FILTER = 26  # Linux <asm-generic/socket.h>; Python's socket module does not export it


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


# Classic BPF on a TCP socket sees the TCP header at offset 0: drop a segment whose flags are SYN without ACK (a new
# connection); accept everything else, so handshakes already under way and accepted connections are untouched.
_DROP_NEW_SYN = b"".join(
    (
        _insn(0x30, 0, 0, 13),  # ldb [13]          TCP flags
        _insn(0x54, 0, 0, 0x12),  # and #(SYN|ACK)
        _insn(0x15, 0, 1, 0x02),  # jeq #SYN        -> drop, else accept
        _insn(0x06, 0, 0, 0),  # ret #0             drop
        _insn(0x06, 0, 0, 0xFFFFFFFF),  # ret #-1   accept whole segment
    )
)


def refuse_new_connections(fd: int) -> bool:
    """Attach the drop-new-SYN filter to the listening socket ``fd`` (shared by every process that holds it)."""
    program = ctypes.create_string_buffer(_DROP_NEW_SYN, len(_DROP_NEW_SYN))
    fprog = struct.pack("HP", len(_DROP_NEW_SYN) // 8, ctypes.addressof(program))
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError as exc:  # not Linux, or not a socket: uvicorn's own shutdown still runs
        logger.warning("cannot stop new connections on fd %d before draining (%s)", fd, exc)
        return False
    return True


def listening_fd(argv: Sequence[str]) -> int | None:
    """The shared listening socket BentoML hands a worker (``--fd N`` on its command line), if any."""
    for flag, value in itertools.pairwise(argv):
        if flag == "--fd" and value.isdigit():
            return int(value)
    return None


def install(argv: Sequence[str] | None = None, settle_s: float = SETTLE_S) -> bool:
    """Wrap uvicorn's SIGTERM handler in this worker (call it from the service's start, on the main thread).

    Returns whether it was installed (not in-process, e.g. the tests' ASGI client, which has no ``--fd``).
    """
    fd = listening_fd(argv if argv is not None else sys.argv)
    if fd is None or threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return False
    started = threading.Event()

    def on_sigterm(signum: int, frame: object) -> None:
        if started.is_set():  # the group's SIGTERM and the arbiter's own: one drain
            return
        if not draining():
            previous(signum, frame)
            return
        started.set()
        refused = refuse_new_connections(fd)
        logger.warning("SIGTERM while draining: new connections refused=%s; finishing the requests in flight", refused)
        timer = threading.Timer(settle_s if refused else 0.0, previous, (signum, frame))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, on_sigterm)
    return True
