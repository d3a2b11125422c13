"""The Feast repository configuration, derived from settings: one project per dataset, SQLite or Redis online.

The same dictionary is written to ``<dataset>/feast/feature_store.yaml`` (so the ``feast`` CLI works on the repo)
and turned into an in-memory ``RepoConfig`` for readers, which therefore never need to write to disk.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml

from features.settings import DatasetPaths, Settings, get_settings

logger = logging.getLogger(__name__)

CONFIG_FILE = "feature_store.yaml"
REGISTRY_FILE = "registry.db"
ONLINE_FILE = "online.db"
# Readers re-read the file registry at most this often; schema changes come from `get_store`, not at serve time.
REGISTRY_CACHE_TTL_SECONDS = 60


def project_name(paths: DatasetPaths) -> str:
    """``shopsense_<dataset>``: Feast project names allow only letters, digits and underscores."""
    return "shopsense_" + re.sub(r"[^A-Za-z0-9_]", "_", paths.name)


def online_db_path(paths: DatasetPaths) -> Path:
    return paths.feast.resolve() / ONLINE_FILE


def _online_store(paths: DatasetPaths, settings: Settings) -> dict[str, Any]:
    if settings.online_store == "redis":
        return {"type": "redis", "connection_string": settings.redis_connection}
    if settings.online_store == "sqlite":
        return {"type": "sqlite", "path": str(online_db_path(paths))}
    raise ValueError(f"unknown online store {settings.online_store!r}; choose sqlite or redis")


def config_dict(paths: DatasetPaths, settings: Settings | None = None) -> dict[str, Any]:
    """The ``feature_store.yaml`` content for one dataset (absolute paths, so the repo works from any cwd)."""
    settings = settings or get_settings()
    return {
        "project": project_name(paths),
        "provider": "local",
        "registry": {
            "registry_type": "file",
            "path": str(paths.feast.resolve() / REGISTRY_FILE),
            "cache_ttl_seconds": REGISTRY_CACHE_TTL_SECONDS,
        },
        # DuckDB rather than "file" (Dask): Dask's point-in-time join drops entity rows that have no earlier
        # feature row and collapses duplicate (key, timestamp) rows; DuckDB keeps every training row.
        "offline_store": {"type": "duckdb"},
        "online_store": _online_store(paths, settings),
        "entity_key_serialization_version": 3,
    }


def write_config(paths: DatasetPaths, settings: Settings | None = None) -> Path:
    """Write ``feature_store.yaml`` into ``paths.feast``; untouched when the content is already current."""
    target = paths.feast / CONFIG_FILE
    text = yaml.safe_dump(config_dict(paths, settings), sort_keys=False, allow_unicode=True)
    if not target.exists() or target.read_text() != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        logger.info("wrote %s", target)
    return target
