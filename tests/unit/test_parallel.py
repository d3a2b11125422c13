"""Side-by-side jobs (training/parallel.py): dependencies first, longest chains first, errors kept or raised."""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

import pytest

from training import parallel
from training.parallel import Job, run_jobs


class Expected(RuntimeError):
    """Stands for DecisionUnavailable: a job that cannot run here says so without stopping the others."""


def _write(path: Path, needs: tuple[Path, ...] = ()) -> int:
    """Fails unless every file in ``needs`` exists (its jobs have finished); returns the worker's pid."""
    missing = [p.name for p in needs if not p.exists()]
    if missing:
        raise AssertionError(f"started before {missing}")
    path.write_text("done")
    return os.getpid()


def _meet(mine: Path, other: Path, timeout: float = 60.0) -> int:
    """Returns only once the other job has also started: two jobs that meet ran at the same time."""
    mine.write_text("here")
    deadline = time.monotonic() + timeout
    while not other.exists():
        if time.monotonic() > deadline:
            raise AssertionError("the other job never ran beside this one")
        time.sleep(0.05)
    return os.getpid()


def _fail(kind: type[BaseException]) -> None:
    raise kind("cannot run here")


def test_two_workers_run_independent_jobs_at_once_and_dependants_after(tmp_path: Path) -> None:
    a, b, c = (tmp_path / n for n in "abc")
    jobs = [
        Job("a", partial(_meet, a, b)),
        Job("b", partial(_meet, b, a)),
        Job("c", partial(_write, c, (a, b)), after=("a", "b")),
    ]
    outcomes = run_jobs(jobs, workers=2)
    assert {name: o.error for name, o in outcomes.items()} == {"a": None, "b": None, "c": None}
    assert outcomes["a"].value != outcomes["b"].value != os.getpid()  # two worker processes, not this one
    assert c.read_text() == "done"


def test_one_worker_runs_in_this_process_longest_chain_first(tmp_path: Path) -> None:
    seen: list[str] = []
    jobs = [
        Job("short", partial(_write, tmp_path / "short"), seconds=5),
        Job("head", partial(_write, tmp_path / "head"), seconds=2),
        Job("tail", partial(_write, tmp_path / "tail", (tmp_path / "head",)), after=("head",), seconds=10),
    ]
    outcomes = run_jobs(jobs, workers=1, on_done=lambda o: seen.append(o.name))
    assert seen == ["head", "tail", "short"]  # head starts a 12 s chain, so it goes before the 5 s job
    assert {o.value for o in outcomes.values()} == {os.getpid()}


@pytest.mark.parametrize("workers", [1, 2])
def test_expected_errors_are_kept_and_dependants_still_run(tmp_path: Path, workers: int) -> None:
    jobs = [
        Job("upstream", partial(_fail, Expected)),
        Job("dependant", partial(_write, tmp_path / "d"), after=("upstream",)),
    ]
    outcomes = run_jobs(jobs, workers=workers, expected=(Expected,))
    assert isinstance(outcomes["upstream"].error, Expected)
    assert "cannot run here" in str(outcomes["upstream"].error)
    assert outcomes["dependant"].error is None and (tmp_path / "d").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_an_unexpected_error_stops_the_run_and_is_raised(tmp_path: Path, workers: int) -> None:
    jobs = [
        Job("broken", partial(_fail, ValueError), seconds=100),
        Job("later", partial(_write, tmp_path / "later"), after=("broken",)),
    ]
    with pytest.raises(ValueError, match="cannot run here"):
        run_jobs(jobs, workers=workers, expected=(Expected,))
    assert not (tmp_path / "later").exists()


def test_unknown_dependencies_and_cycles_are_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown jobs: ghost"):
        run_jobs([Job("a", partial(_write, tmp_path / "a"), after=("ghost",))], workers=1)
    with pytest.raises(ValueError, match="cycle among a, b"):
        run_jobs([Job("a", partial(_write, tmp_path / "a"), ("b",)), Job("b", partial(_write, tmp_path / "b"), ("a",))])
    assert not list(tmp_path.iterdir())


def test_default_workers_is_the_usable_cores_capped() -> None:
    assert 1 <= parallel.default_workers() <= parallel.MAX_DEFAULT_WORKERS
