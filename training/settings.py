"""Run-time configuration: one pydantic-settings object, env prefix ``SHOPSENSE_``, all paths derived here.

Nothing is read at import time; call :func:`get_settings` where a value is needed so tests can point the whole
project at a temporary directory with one environment variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class DatasetPaths:
    """Where one dataset's lake, quarantine, ground truth, features and Feast repo live."""

    name: str
    root: Path

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def truth(self) -> Path:
        return self.root / "truth"

    @property
    def features(self) -> Path:
        return self.root / "features"

    @property
    def feast(self) -> Path:
        return self.root / "feast"


class Settings(BaseSettings):
    """Every knob has a documented default that works on one machine with no services running."""

    model_config = SettingsConfigDict(env_prefix="SHOPSENSE_", extra="ignore")

    data_dir: Path = Field(PROJECT_ROOT / "data", description="Root of the lake, features, MLflow store.")
    shared_data: Path = Field(
        PROJECT_ROOT.parent / "shared" / "data",
        description="Public datasets (Online Retail, Complete Journey ...).",
    )
    engine: Literal["duckdb", "pyspark"] = Field("duckdb", description="Ibis backend for feature compute.")
    spark_master: str = Field("local[*]", description="Spark master URL when engine=pyspark.")
    mlflow_tracking_uri: str | None = Field(None, description="Defaults to SQLite under data_dir/mlflow.")
    online_store: Literal["sqlite", "redis"] = Field("sqlite", description="Feast online store type.")
    redis_connection: str = Field("localhost:6379", description="Feast Redis connection string.")
    seed: int = Field(42, description="Default random seed for generators and models.")
    default_dataset: str = Field("synthetic", description="Dataset used when a command is given none.")

    def dataset(self, name: str) -> DatasetPaths:
        """Paths of one dataset (synthetic, online_retail, ...): each source gets its own lake and features."""
        return DatasetPaths(name=name, root=self.data_dir / name)

    @property
    def mlflow_dir(self) -> Path:
        return self.data_dir / "mlflow"

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.mlflow_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> str:
        return (self.mlflow_dir / "artifacts").resolve().as_uri()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings()
