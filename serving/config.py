"""Fail fast on bad configuration: every serving setting is checked once, before any request is accepted.

A bad setting used to surface inside the first request (the middleware read the settings lazily), so every
request hung with nothing in the log. :func:`check` runs in ``shopsense serve`` before ``bentoml serve`` starts and
again in each worker; it raises :class:`ConfigError` whose message is one sentence naming the setting.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from features.settings import Settings, get_settings
from serving.audit import AuditLog
from serving.auth import ApiKeys

ENV_PREFIX = "SHOPSENSE_"


class ConfigError(ValueError):
    """A setting the service cannot start with; the message names it (never a secret value)."""


def _env(name: str) -> str:
    return ENV_PREFIX + name.upper()


def load_settings() -> Settings:
    """``get_settings()``, with a validation error turned into one sentence naming the first bad setting."""
    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        name = _env(str(first["loc"][0])) if first.get("loc") else "a SHOPSENSE_ setting"
        raise ConfigError(f"{name} is invalid: {first['msg']}") from None


def _writable_dir(path: Path, setting: str) -> None:
    """The directory exists (or can be made) and this process may write files in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot create {path.name!r} ({exc.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{setting}: the directory {path.name!r} is not writable by this user")


def parse_keys(settings: Settings) -> ApiKeys:
    """The API keys, or a ConfigError naming ``SHOPSENSE_API_KEYS`` / ``SHOPSENSE_ADMIN_KEY_IDS``."""
    try:
        keys = ApiKeys.parse(settings.api_keys, settings.admin_key_ids)
    except ValueError as exc:
        raise ConfigError(f"{_env('api_keys')}: {exc}") from None
    unknown = sorted(keys.admins - set(keys.digests))
    if unknown:
        raise ConfigError(f"{_env('admin_key_ids')} names {unknown[0]!r}, which is not a key id in {_env('api_keys')}")
    return keys


def open_audit(settings: Settings) -> AuditLog:
    """The audit log, opened for appending, or a ConfigError naming ``SHOPSENSE_AUDIT_LOG_FILE``."""
    setting = _env("audit_log_file")
    try:
        return AuditLog(settings.audit_log, settings.audit_log_max_bytes, settings.audit_log_backups)
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot append to {settings.audit_log.name!r} ({exc.strerror})") from None


def check(settings: Settings | None = None, require_data: bool = True) -> dict[str, Any]:
    """Check every serving setting; returns the parsed pieces (keys, audit log) for the caller to reuse.

    ``require_data``: the data directory must already exist, so a mistyped ``SHOPSENSE_DATA_DIR`` is refused
    instead of silently creating empty stores there.

    Raises:
        ConfigError: the first bad setting, in one sentence that names it.
    """
    settings = settings or load_settings()
    if require_data and not settings.data_dir.is_dir():
        raise ConfigError(
            f"{_env('data_dir')}: the directory {settings.data_dir.name!r} does not exist (a typo? run `shopsense "
            "demo` or point it at your data)"
        )
    keys = parse_keys(settings)
    _writable_dir(settings.audit_log.parent, _env("audit_log_file"))
    audit = open_audit(settings)
    if settings.online_store == "redis":
        host, _, port = settings.redis_connection.split(",")[0].rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"{_env('redis_connection')} must be 'host:port[,options]'")
    return {"settings": settings, "keys": keys, "audit": audit}
