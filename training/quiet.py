"""Library output the CLI user does not need, silenced by exact message, never by blanket level changes.

Each entry below names a message the stack prints on every run although nothing is wrong in this project, and why
it does not apply. Anything else a library logs at WARNING or above still shows, and ``--verbose`` turns every
filter off (and logs INFO), so a real problem is never hidden.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator
from typing import TextIO

# (exact logger name, message start) pairs dropped below ERROR. A logger's filters see only the records logged on
# that very logger (not its children's), so each entry names the module that logs it.
_QUIET_LOGS: tuple[tuple[str, str], ...] = (
    # Models pass explicit pinned requirements (training/pyfunc.requirements); MLflow still announces uv detection.
    ("mlflow.utils.environment", "Detected uv project"),
    # The venv is created by uv without pip; MLflow only wants pip's version for the conda.yaml it writes beside
    # the pip requirements, which we do not use (BentoML installs from the requirements).
    ("mlflow.utils.environment", "Failed to resolve installed pip version"),
    # Printed when a pyfunc logged by this same environment is re-loaded during the champion sync.
    ("mlflow.pyfunc", "The version of CloudPickle used to save the model could not be found"),
    # Every pyfunc is the one DecisionPyfunc class of this repo, pickled into our own registry and loaded only by
    # this project's serving; MLflow warns on each log_model that unpickling untrusted files is unsafe.
    ("mlflow.pyfunc", "Passing a Python object as `python_model`"),
)
# Warnings raised while importing libraries, about the libraries' own code (not ours); matched by message.
_QUIET_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    (r".*Pydantic V1 style `@validator` validators are deprecated", DeprecationWarning),
    (r".*Support for class-based `config` is deprecated", DeprecationWarning),
    (r".*`json_encoders` is deprecated", DeprecationWarning),
    (r".*pkg_resources is deprecated", UserWarning),
    (r".*pkg_resources is deprecated", DeprecationWarning),
    (r".*datetime\.datetime\.utcnow\(\) is deprecated", DeprecationWarning),
    # Our signatures come from made-up median rows; int columns there hold counts that the pyfunc adapter casts.
    (r"Hint: Inferred schema contains integer column", UserWarning),
)

# Lines MLflow prints straight to stderr (not through logging) as it registers a model version: the CLI's own line
# for each trained decision already names the registered model, its version and its alias.
_QUIET_REGISTRY_LINES: tuple[str, ...] = ("Successfully registered model '", "Created version '")

_VERBOSE_ENV = "SHOPSENSE_LOG_VERBOSE"


class _DropKnown(logging.Filter):
    """Drops the known, harmless records of :data:`_QUIET_LOGS` below ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        message = record.getMessage()
        return not any(record.name == name and message.startswith(start) for name, start in _QUIET_LOGS)


def configure(verbose: bool = False) -> None:
    """Logging for one CLI process: INFO with ``verbose`` (nothing filtered), else WARNING minus known chatter."""
    os.environ[_VERBOSE_ENV] = "1" if verbose else "0"  # what worker processes replay (:func:`replay`)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if verbose:  # nothing filtered, even if an earlier configure() in this process installed the filters
        for name in {name for name, _ in _QUIET_LOGS}:
            logger = logging.getLogger(name)
            logger.filters[:] = [f for f in logger.filters if not isinstance(f, _DropKnown)]
        if "mlflow" in logging.root.manager.loggerDict:
            logging.getLogger("mlflow").setLevel(logging.INFO)
        warnings.showwarning = getattr(warnings.showwarning, "_wrapped", warnings.showwarning)
        return
    # MLflow draws a progress bar per artifact download (the champion sync); our step lines report the sync.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow gives its loggers their own INFO level and handler (read from MLFLOW_LOGGING_LEVEL at import), so the
    # CLI's WARNING level above does not reach them: a few INFO lines per logged model (uv detection, input
    # example validation, database setup). Same level as every other library; --verbose leaves it at INFO.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    if "mlflow" in logging.root.manager.loggerDict:  # already imported and configured by MLflow itself
        logging.getLogger("mlflow").setLevel(os.environ["MLFLOW_LOGGING_LEVEL"].upper())
    for name in {name for name, _ in _QUIET_LOGS}:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropKnown) for f in logger.filters):
            logger.addFilter(_DropKnown())
    for message, category in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=_LIBRARIES)
    drop_library_deprecations()


class _DropLines:
    """A text stream forwarding whole lines to ``target`` except those starting with one of ``starts``."""

    def __init__(self, target: TextIO, starts: tuple[str, ...]) -> None:
        self.target, self.starts, self.pending = target, starts, ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if not line.startswith(self.starts):
                self.target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        if self.pending and not self.pending.startswith(self.starts):
            self.target.write(self.pending)
        self.pending = ""
        self.target.flush()

    def __getattr__(self, name: str):  # encoding, isatty, fileno...: the real stream's
        return getattr(self.target, name)


@contextlib.contextmanager
def registry_lines_dropped() -> Iterator[None]:
    """stderr without MLflow's "Successfully registered model" / "Created version" lines while a model is logged
    and registered (everything else passes, and ``--verbose`` keeps them too)."""
    if os.environ.get(_VERBOSE_ENV) == "1":
        yield
        return
    stream = _DropLines(sys.stderr, _QUIET_REGISTRY_LINES)
    try:
        with contextlib.redirect_stderr(stream):  # type: ignore[type-var]
            yield
    finally:
        stream.flush()


def replay() -> None:
    """In a worker process (parallel training), the set-up :func:`configure` gave the process that started it."""
    configure(os.environ.get(_VERBOSE_ENV) == "1")


def drop_library_deprecations() -> None:
    """Drop DeprecationWarnings raised inside :data:`_LIBRARIES` even after a library turned them all on.

    Feast's ``feature_store`` and ``feature_view`` modules call ``warnings.simplefilter("once", DeprecationWarning)``
    when imported, ahead of every filter set before, so pathspec's and BentoML's notices about their own code came
    back in ``shopsense serve`` and in its ``bentoml serve`` child. The last step that prints a warning is wrapped
    instead of fighting over the filter order; warnings raised from any other file are shown as before.
    """
    shown = warnings.showwarning
    if getattr(shown, "_drops_library_deprecations", False):
        return

    def showwarning(
        message: Warning | str, category: type[Warning], filename: str, lineno: int,
        file: TextIO | None = None, line: str | None = None,
    ) -> None:  # fmt: skip
        if issubclass(category, DeprecationWarning) and _LIBRARY_FILE.search(filename.replace(os.sep, "/")):
            return
        shown(message, category, filename, lineno, file, line)

    showwarning._drops_library_deprecations = True  # type: ignore[attr-defined]
    showwarning._wrapped = shown  # type: ignore[attr-defined]  (``--verbose`` puts it back)
    warnings.showwarning = showwarning


# DeprecationWarnings whose warning site is inside these packages are about their code, not ours.
_LIBRARY_NAMES = "|".join(
    re.escape(name)
    for name in ("pydantic", "bentoml", "_bentoml_impl", "_bentoml_sdk", "mlflow", "feast", "fs", "pathspec")
)
_LIBRARIES = rf"({_LIBRARY_NAMES})(\..*)?"  # a module name
_LIBRARY_FILE = re.compile(rf"/site-packages/({_LIBRARY_NAMES})/")  # a file inside one
