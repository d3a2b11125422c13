"""Fixtures shared by all test kinds: where the public datasets are, and settings pointed at a temp folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from features.settings import Settings, get_settings


def _missing_data(reason: str) -> None:
    """Skip on a laptop without the datasets; fail in CI, where missing data must never pass silently."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: missing data is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the public datasets (``get_settings().shared_data``, env SHOPSENSE_SHARED_DATA)."""
    root = get_settings().shared_data
    if not root.is_dir():
        _missing_data(f"public datasets not found at {root}; set SHOPSENSE_SHARED_DATA to their folder")
    return root


@pytest.fixture(scope="session")
def shared_dataset(shared_data: Path) -> Callable[[str], Path]:
    """``shared_dataset("complete_journey")`` -> that dataset's folder, with the same skip-or-fail rule."""

    def locate(folder: str) -> Path:
        path = shared_data / folder
        if not path.is_dir():
            _missing_data(f"dataset folder {path} not found under SHOPSENSE_SHARED_DATA={shared_data}")
        return path

    return locate


@pytest.fixture
def tmp_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings whose data_dir is ``tmp_path``; the settings cache is cleared before and after."""
    monkeypatch.setenv("SHOPSENSE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory):
    """The tiny synthetic world, generated and ingested once per test session (read-only for tests)."""
    from tests.worlds import build_tiny_world

    return build_tiny_world(tmp_path_factory.mktemp("tiny_world"))
