"""CLI quieting drops only the known harmless library messages; real warnings and errors still show."""

from __future__ import annotations

import logging
import os
import warnings

import pytest

from training import quiet

pytestmark = pytest.mark.unit


@pytest.fixture
def env_logger(monkeypatch):
    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    logger = logging.getLogger("mlflow.utils.environment")
    before, level = list(logger.filters), logging.getLogger("mlflow").level
    yield logger
    logger.filters[:] = before
    logging.getLogger("mlflow").setLevel(level)


def test_known_chatter_is_dropped_and_the_rest_kept(env_logger, caplog, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        quiet.configure(verbose=False)
        warnings.warn(
            "Hint: Inferred schema contains integer column(s). Integer columns ...", UserWarning, stacklevel=1
        )
        warnings.warn("something our code did wrong", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something our code did wrong"]
    with caplog.at_level(logging.INFO, logger=env_logger.name):
        env_logger.info("Detected uv project at /x. Attempting to export requirements via 'uv export'.")
        env_logger.warning("Failed to resolve installed pip version. ``pip`` will be added")
        env_logger.warning("a warning nobody has vetted")
        env_logger.error("Detected uv project, and it failed")
    assert [r.getMessage() for r in caplog.records] == [
        "a warning nobody has vetted",
        "Detected uv project, and it failed",
    ]
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"
    # MLflow's own INFO chatter (its loggers carry their own level) is held to the CLI's WARNING level
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING"
    assert logging.getLogger("mlflow").getEffectiveLevel() == logging.WARNING
    pyfunc_logger = logging.getLogger("mlflow.pyfunc")
    with caplog.at_level(logging.WARNING, logger=pyfunc_logger.name):
        pyfunc_logger.warning("Passing a Python object as `python_model` causes it to be serialized using CloudPickle")
        pyfunc_logger.warning("a pyfunc warning nobody has vetted")
    assert caplog.records[-1].getMessage() == "a pyfunc warning nobody has vetted"
    assert not any("CloudPickle" in r.getMessage() for r in caplog.records)


def test_verbose_filters_nothing(env_logger, caplog) -> None:
    quiet.configure(verbose=True)
    with caplog.at_level(logging.INFO, logger=env_logger.name):
        env_logger.info("Detected uv project at /x.")
    assert [r.getMessage() for r in caplog.records] == ["Detected uv project at /x."]


def test_library_deprecations_stay_dropped_when_a_library_turns_them_on() -> None:
    """Feast's import calls ``simplefilter("once", DeprecationWarning)`` ahead of ours: library ones stay silent."""
    shown: list[str] = []
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_, **__: shown.append(str(message))
        quiet.drop_library_deprecations()
        warnings.simplefilter("once", DeprecationWarning)  # what importing feast.feature_store does
        warnings.warn_explicit(
            "gitwildmatch is deprecated", DeprecationWarning, "/v/lib/site-packages/pathspec/pathspec.py", 326
        )
        warnings.warn_explicit("our helper is deprecated", DeprecationWarning, "/repo/models/mine.py", 1)
    assert shown == ["our helper is deprecated"]


def test_registry_lines_are_dropped_only_while_registering(capfd, monkeypatch) -> None:
    """MLflow prints them with its own ``eprint`` (not logging); other lines, and the same lines after, pass."""
    from mlflow.utils.logging_utils import eprint

    monkeypatch.setenv("SHOPSENSE_LOG_VERBOSE", "0")
    with quiet.registry_lines_dropped():
        eprint("Successfully registered model 'shopsense-churn'.")
        eprint("a registry problem nobody has vetted")
        eprint("Created version '3' of model 'shopsense-churn'.")
        eprint("no newline yet", end="")
    eprint("Created version '4' of model 'shopsense-churn'.")
    assert capfd.readouterr().err == (
        "a registry problem nobody has vetted\nno newline yetCreated version '4' of model 'shopsense-churn'.\n"
    )
    monkeypatch.setenv("SHOPSENSE_LOG_VERBOSE", "1")
    with quiet.registry_lines_dropped():
        eprint("Created version '5' of model 'shopsense-churn'.")
    assert capfd.readouterr().err == "Created version '5' of model 'shopsense-churn'.\n"
