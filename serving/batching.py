"""Adaptive batching inside one worker: requests that arrive while a model call runs share the next call.

Why not ``@bentoml.api(batchable=True)``: a batchable BentoML API takes and returns a *list* (the HTTP body becomes
a JSON array that BentoML splits and merges), which would change the public request shape, and its dispatcher
waits up to ``max_latency_ms`` to fill a batch. Here the per-call cost is mostly fixed (pandas and LightGBM set-up,
~5 ms) and the per-user cost small, so the batch is simply whatever queued during the previous call: no added
wait when idle, fewer calls under load. :meth:`serving.runtime.Runtime.run` guarantees each job's answer equals
what it would get alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import anyio
import anyio.to_thread

logger = logging.getLogger(__name__)

J = TypeVar("J")
R = TypeVar("R")


class QueueFull(RuntimeError):
    """The queue already holds ``max_queue`` of work: the caller should answer 503 with ``Retry-After``."""


class Coalescer(Generic[J, R]):
    """Queue jobs from the event loop; one worker thread runs ``fn(jobs)`` on everything queued, call after call.

    Args:
        fn: scores a list of jobs, returning one result per job in order (called in a worker thread).
        size: the cost of a job (e.g. its id count), so one call never takes more than ``max_size``.
        max_size: upper bound on the summed size of one call (a single larger job still runs alone).
        enabled: False runs each job in its own call (the unbatched baseline, same code path).
        observe: called with the number of jobs of every call (a metrics histogram).
        max_queue: summed size of the jobs waiting (not running) beyond which :meth:`enqueue` raises
            :class:`QueueFull`; a job alone in an empty queue is always accepted. A job whose future was
            cancelled (deadline passed, client gone) is dropped before its call.
    """

    def __init__(
        self,
        fn: Callable[[list[J]], list[R]],
        size: Callable[[J], int],
        max_size: int,
        enabled: bool = True,
        observe: Callable[[int], None] | None = None,
        max_queue: int | None = None,
    ) -> None:
        self.max_queue = max_queue
        self.fn = fn
        self.observe = observe
        self.size = size
        self.max_size = max_size
        self.enabled = enabled
        self._queue: deque[tuple[J, asyncio.Future[R]]] = deque()
        self._running = False
        self._limiter: anyio.CapacityLimiter | None = None  # created on the event loop, at the first submit
        self.calls = 0
        self.jobs = 0

    async def submit(self, job: J) -> R:
        """The result of ``job``; raises what ``fn`` raised for its call, or :class:`QueueFull`."""
        return await self.enqueue(job)

    def queued(self) -> int:
        """Summed size of the jobs waiting for a call (cancelled ones excluded)."""
        return sum(self.size(job) for job, future in self._queue if not future.done())

    def enqueue(self, job: J) -> asyncio.Future[R]:
        """Queue ``job`` and return its future (cancel it to drop the job if its call has not started)."""
        if self.max_queue is not None and self._queue and self.queued() + self.size(job) > self.max_queue:
            raise QueueFull(f"queue holds {self.queued()} of {self.max_queue}")
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return future

    def _take(self) -> list[tuple[J, asyncio.Future[R]]]:
        while self._queue and self._queue[0][1].done():  # cancelled while waiting: never computed
            self._queue.popleft()
        if not self._queue:
            return []
        taken = [self._queue.popleft()]
        total = self.size(taken[0][0])
        while self.enabled and self._queue and total + self.size(self._queue[0][0]) <= self.max_size:
            job = self._queue.popleft()
            if job[1].done():
                continue
            total += self.size(job[0])
            taken.append(job)
        return taken

    async def _drain(self) -> None:
        try:
            while self._queue:
                taken = self._take()
                if not taken:
                    break
                jobs = [job for job, _ in taken]
                self.calls += 1
                self.jobs += len(jobs)
                if self.observe is not None:
                    self.observe(len(jobs))
                try:
                    results = await anyio.to_thread.run_sync(self.fn, jobs, limiter=self._limiter)
                except Exception as exc:  # every waiting request gets the error; the loop goes on
                    for _, future in taken:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(taken, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._running = False
