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
    duckdb_threads: int = Field(
        1,
        ge=0,
        description="DuckDB threads for feature builds. 1: sums of money add up in one order, so features (and the "
        "models trained on them) are the same bit for bit on every run; 0 = every core (faster on large lakes, "
        "last-bit differences between runs, e.g. 4.7e-10 in a spend total).",
    )
    mlflow_tracking_uri: str | None = Field(None, description="Defaults to SQLite under data_dir/mlflow.")
    online_store: Literal["sqlite", "redis"] = Field("sqlite", description="Feast online store type.")
    redis_connection: str = Field("localhost:6379", description="Feast Redis connection string.")
    online_top_n: int = Field(
        20,
        ge=0,
        description="Online store: keep only each user's N strongest rows of per-pair views (interactions); 0 = all.",
    )
    seed: int = Field(42, description="Default random seed for generators and models.")
    default_dataset: str = Field("synthetic", description="Dataset used when a command is given none.")
    ingest_chunk_rows: int = Field(
        250_000, ge=1, description="Rows read and validated at a time by ingest: bounds its memory, not the file."
    )
    ingest_max_rejected: float = Field(
        0.5, ge=0, le=1, description="An ingest fails, keeping the previous lake, when a table rejects more than this."
    )
    demand_max_skus: int = Field(
        5000,
        ge=0,
        description="Demand panel (sku_daily): the SKUs with the most revenue in the 91 days before the cutoff, at "
        "most this many (SKUs without sales there rank last); 0 = every SKU on sale. Bounds its SKUs x days grid.",
    )
    train_workers: int = Field(
        0,
        ge=0,
        le=64,
        description="Decisions trained side by side by `shopsense train all` and the demo, each in its own process "
        "(every model fits on one thread, so the models are the same); 0 = one per core, at most 4; 1 = one at a "
        "time in the calling process.",
    )
    # Serving (serving/, `shopsense serve`). The default key is for the local demo only: set your own in production.
    api_keys: str = Field(
        "demo:shopsense-demo-key",
        description="API keys as 'keyid:secret,keyid2:secret2'; a secret may be 'sha256:<hex>' (hash of the key).",
    )
    admin_key_ids: str = Field("demo", description="Comma-separated key ids allowed to call POST /admin/reload.")
    auth_health: bool = Field(False, description="Require an API key for /livez, /readyz, /healthz and /metrics.")
    auth_docs: bool = Field(False, description="Require an API key for the Swagger UI and the OpenAPI spec.")
    audit_log_file: Path | None = Field(None, description="Serving audit log (JSON lines); default data_dir/audit/.")
    bentoml_home_dir: Path | None = Field(
        None, description="BENTOML_HOME (model and Bento store); default data_dir/bentoml."
    )
    serving_dataset: str | None = Field(
        None, description="Dataset whose online store the service reads (default_dataset)."
    )
    serving_fast_reader: bool = Field(True, description="Read Feast's SQLite online table directly (SQLite only).")
    serving_batching: bool = Field(True, description="Coalesce concurrent requests into one model call per worker.")
    serving_workers: int = Field(1, ge=1, le=16, description="Service worker processes for `shopsense serve`.")
    serving_trace_routes: bool = Field(
        False,
        description="OpenTelemetry spans for the API routes (export them with BentoML's `tracing` config); off, the "
        "routes skip the tracing middleware, which builds three unsampled spans a request.",
    )
    serving_max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies get 413.")
    serving_max_queue: int = Field(
        4000, ge=1, description="Queued work per decision and worker (ids; explained ids weigh 8) before 503."
    )
    serving_request_timeout_s: float = Field(
        30.0, gt=0, description="A request still waiting for its model call after this long gets 504."
    )
    serving_drain_s: float = Field(
        20.0, ge=0, description="On SIGTERM: seconds in-flight requests get to finish before the workers are killed."
    )
    serving_unready_s: float = Field(
        2.0, ge=0, description="On SIGTERM: seconds /readyz answers 503 before the listener closes (for balancers)."
    )
    audit_log_max_bytes: int = Field(
        50_000_000, ge=10_000, description="The audit log is rotated (to .1, .2 ...) when it grows past this."
    )
    audit_log_backups: int = Field(5, ge=1, le=100, description="Rotated audit logs kept.")
    prediction_log: bool = Field(
        True, description="Log served outputs (decision, version, entity id, output) for `shopsense monitor`."
    )

    def registered_model_name(self, decision: str, dataset: str | None = None) -> str:
        """Registry name of a decision's model: ``shopsense-churn`` for the default dataset, else ``...-<dataset>``.

        Models trained on other datasets (benchmarks on public data, a second shop) get a suffix so they never
        compete with, or replace, the default dataset's champion in a shared registry.
        """
        if dataset is None or dataset == self.default_dataset:
            return f"shopsense-{decision}"
        return f"shopsense-{decision}-{dataset}"

    @property
    def served_dataset(self) -> str:
        """The dataset whose champions and online store the service uses."""
        return self.serving_dataset or self.default_dataset

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

    @property
    def audit_log(self) -> Path:
        return self.audit_log_file or self.data_dir / "audit" / "serving.jsonl"

    @property
    def bentoml_home(self) -> Path:
        return (self.bentoml_home_dir or self.data_dir / "bentoml").resolve()

    @property
    def cache_dir(self) -> Path:
        """What the service derives from its models and keeps across restarts (compiled trees)."""
        return self.data_dir / "cache"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings()
