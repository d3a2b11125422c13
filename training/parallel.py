"""Run training jobs side by side, each in its own process, every job after the jobs it depends on.

Why: every model here fits on one thread (so a seed reproduces it on any machine), so one decision at a time leaves
all cores but one idle: `shopsense train all` and the demo's training and feature steps take about half the time on
two cores and give the same models (each job is the same single-threaded work in a fresh process). The standard
library's process pool does the running; this module only decides the order (dependencies first, then the job that
starts the longest chain of work, so the last jobs to finish are short ones).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

MAX_DEFAULT_WORKERS = 4  # each decision holds its data in memory (up to ~2.5 GB on the default world)


@dataclass(frozen=True)
class Job:
    """One unit of work: ``work()`` must be picklable (a module-level function, or a ``functools.partial`` of one)."""

    name: str
    work: Callable[[], Any]
    after: tuple[str, ...] = ()
    seconds: float = 30.0  # typical duration; only the order depends on it


@dataclass
class Outcome:
    """What a job returned, or the expected error it raised (unexpected errors are raised by :func:`run_jobs`)."""

    name: str
    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0


def default_workers() -> int:
    """The cores this process may use, at most :data:`MAX_DEFAULT_WORKERS`."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(usable, MAX_DEFAULT_WORKERS))


def _chain_seconds(jobs: dict[str, Job]) -> dict[str, float]:
    """Each job's seconds plus the longest chain of jobs that wait for it: the critical-path priority."""
    below: dict[str, float] = {}

    def chain(name: str) -> float:
        if name not in below:
            waiting = [j for j in jobs.values() if name in j.after]
            below[name] = jobs[name].seconds + max((chain(j.name) for j in waiting), default=0.0)
        return below[name]

    for name in jobs:
        chain(name)
    return below


def _check(jobs: dict[str, Job]) -> None:
    missing = {dep for job in jobs.values() for dep in job.after if dep not in jobs}
    if missing:
        raise ValueError(f"jobs wait for unknown jobs: {', '.join(sorted(missing))}")
    done: set[str] = set()
    while len(done) < len(jobs):
        ready = [n for n, j in jobs.items() if n not in done and set(j.after) <= done]
        if not ready:
            raise ValueError(f"job dependency cycle among {', '.join(sorted(set(jobs) - done))}")
        done.update(ready)


def _timed(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    return work(), time.perf_counter() - started


def run_jobs(
    jobs: Iterable[Job],
    workers: int | None = None,
    expected: tuple[type[BaseException], ...] = (),
    on_done: Callable[[Outcome], None] | None = None,
    initializer: Callable[[], None] | None = None,
) -> dict[str, Outcome]:
    """Run every job once its ``after`` jobs have finished, up to ``workers`` at a time (1: in this process).

    A job that raises one of ``expected`` gets an :class:`Outcome` with the error and its dependants still run (they
    decide for themselves, e.g. a decision whose upstream champion is missing says so). Any other error stops the
    run: jobs not started are cancelled, running ones finish, and the error is raised here. ``on_done`` sees each
    outcome as it arrives; ``initializer`` runs once in every worker process (logging set-up).
    """
    pending = {job.name: job for job in jobs}
    _check(pending)
    priority = _chain_seconds(pending)
    workers = default_workers() if workers is None else workers
    outcomes: dict[str, Outcome] = {}

    def ready() -> list[Job]:
        found = [j for j in pending.values() if set(j.after) <= set(outcomes)]
        return sorted(found, key=lambda j: -priority[j.name])

    def finish(outcome: Outcome) -> None:
        outcomes[outcome.name] = outcome
        if on_done is not None:
            on_done(outcome)

    if workers <= 1 or len(pending) <= 1:
        while pending:
            job = pending.pop(ready()[0].name)
            started = time.perf_counter()
            try:
                value, seconds = _timed(job.work)
                finish(Outcome(job.name, value, seconds=seconds))
            except expected as err:
                finish(Outcome(job.name, error=err, seconds=time.perf_counter() - started))
        return outcomes

    # spawn, not fork: a forked child would inherit OpenMP and SQLite state from a parent that already used them
    context = multiprocessing.get_context("spawn")
    running: dict[Future, str] = {}
    with ProcessPoolExecutor(min(workers, len(pending)), mp_context=context, initializer=initializer) as pool:
        try:
            while pending or running:
                for job in ready()[: max(workers - len(running), 0)]:
                    running[pool.submit(_timed, pending.pop(job.name).work)] = job.name
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    error = future.exception()
                    if error is None:
                        value, seconds = future.result()
                        finish(Outcome(name, value, seconds=seconds))
                    elif isinstance(error, expected):
                        finish(Outcome(name, error=error))
                    else:
                        raise error
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return outcomes
