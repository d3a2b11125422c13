"""The review context's per-key timeline: window counts and sums equal a plain pass over the merged history."""

from __future__ import annotations

import numpy as np

from models.review_online import _Timeline

DAY = 86_400.0


def _plain(keys: list[int], times: list[float], values: list[float], key: int, t: float, within: float | None):
    """The definition: entries of ``key`` with ``floor(t) - within <= floor(time) < floor(t)``."""
    picked = [(tm, v) for k, tm, v in zip(keys, times, values, strict=True) if k == key]
    floors = [np.floor(tm) for tm, _ in picked]
    end = np.floor(t)
    start = -np.inf if within is None else end - within
    chosen = [v for f, (_, v) in zip(floors, picked, strict=True) if start <= f < end]
    return len(chosen), float(sum(chosen))


def test_windows_over_arrays_and_waiting_entries_match_the_definition() -> None:
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 5, 3000).astype(np.uint64)
    times = rng.uniform(0, 60 * DAY, 3000).round(1)
    values = rng.integers(0, 6, 3000).astype(float)
    timeline = _Timeline(keys[:2000], times[:2000], values[:2000])
    for k, tm, v in zip(keys[2000:], times[2000:], values[2000:], strict=True):  # one review at a time: side lists
        timeline.add(np.array([k]), np.array([tm]), np.array([v]))
    assert timeline._recent  # some entries still wait beside the arrays
    all_keys, all_times, all_values = keys.tolist(), times.tolist(), values.tolist()
    for key in range(5):
        for t in rng.uniform(0, 61 * DAY, 40):
            for within in (None, DAY, 7 * DAY, 30 * DAY):
                got = timeline.window(np.uint64(key), float(t), within)
                assert got == _plain(all_keys, all_times, all_values, key, float(t), within)
