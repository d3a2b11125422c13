"""``shopsense serve``: put the MLflow champions behind the BentoML service, or build them into a Bento.

The registry stays the source of truth: on every start the current ``@champion`` of each decision is synced into
the BentoML model store (under ``SHOPSENSE_DATA_DIR/bentoml`` unless ``SHOPSENSE_BENTOML_HOME_DIR`` says
otherwise), so restarting the service is how a newly promoted champion reaches it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import typer
from rich.console import Console

from features.settings import PROJECT_ROOT, Settings, get_settings
from serving.local_server import SERVED_DECISIONS_ENV, SERVICE, bentoml_env, run_foreground

console = Console()

DEMO_KEY_NOTE = "demo key from SHOPSENSE_API_KEYS (default demo:shopsense-demo-key; set your own outside a demo)"
DEMO_SECRET = "shopsense-demo-key"


def sync(settings: Settings) -> list[dict]:
    """Sync every decision's champion into the BentoML store and print what is served and what is not.

    Raises:
        typer.Exit: no decision has a champion (one sentence per decision says which command creates it).
    """
    from serving import model_store

    model_store.use_bentoml_home(settings)
    results = model_store.sync_champions(settings)
    for r in results:
        if "missing" in r:
            console.print(f"[yellow]not served[/yellow] {r['decision']}: {r['missing']}")
            continue
        action = "imported" if r["imported"] else "already in store"
        console.print(f"{r['name']} v{r['version']} @{r['alias']} -> {r['tag']} ({action})")
    if all("missing" in r for r in results):
        console.print(f"[red]nothing to serve for dataset {settings.served_dataset!r}[/red]: train first")
        raise typer.Exit(2)
    return results


def _first_key(settings: Settings) -> str:
    """The key to show in the curl example: the public demo key only; any real key is never printed."""
    secrets = [entry.partition(":")[2] for entry in settings.api_keys.split(",")]
    return DEMO_SECRET if DEMO_SECRET in secrets else "<your key>"


def checked_settings() -> Settings:
    """Every serving setting checked before anything starts; a bad one ends the command with one sentence."""
    from serving import config

    try:
        return config.check()["settings"]
    except config.ConfigError as exc:
        console.print(f"[red]cannot serve:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None


def _example_user_ids(settings: Settings) -> list[str]:
    """Two user ids of the served dataset, so the printed curl call answers ``ok`` on any shop's data."""
    import pyarrow.parquet as pq

    users = settings.dataset(settings.served_dataset).lake / "users.parquet"
    try:
        ids = pq.read_table(users, columns=["user_id"]).column(0).drop_null().slice(0, 2).to_pylist()
    except (OSError, KeyError, ValueError):
        ids = []
    return [str(i) for i in ids] or ["U000001", "U000002"]


def print_usage(settings: Settings, host: str, port: int) -> None:
    """The URL of the Swagger UI and a curl call that works against this server."""
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    console.print(f"Swagger UI: {base}/   OpenAPI: {base}/docs.json   metrics: {base}/metrics")
    console.print(f"audit log: {settings.audit_log}   ({DEMO_KEY_NOTE})")
    console.print(
        f"curl -s -X POST {base}/churn/predict -H 'Authorization: Bearer {_first_key(settings)}' "
        f"-H 'Content-Type: application/json' -d '{json.dumps({'user_ids': _example_user_ids(settings), 'explain': True})}'",
        soft_wrap=True,
    )


def build_bento(settings: Settings, served: list[str]) -> str:
    """``bentoml build`` of bentofile.yaml with the synced champions; returns the Bento tag.

    ``UV_NO_DEV`` keeps the dev tools (pytest, Spark, Jupyter) out of the requirements exported from uv.lock.
    """
    env = bentoml_env(settings) | {"UV_NO_DEV": "1", SERVED_DECISIONS_ENV: ",".join(served)}
    local_uv = PROJECT_ROOT / ".uv" / "bin"  # where `make install` puts uv
    if local_uv.is_dir():
        env["PATH"] = f"{local_uv}{os.pathsep}{env.get('PATH', '')}"
    command = [sys.executable, "-m", "bentoml", "build", "-f", "bentofile.yaml", "--output", "tag"]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        console.print(done.stdout[-4000:], done.stderr[-4000:])
        raise typer.Exit(done.returncode)
    match = re.search(r"__tag__:(\S+)", done.stdout) or re.search(r"(shopsense:\w+)", done.stdout)
    return match.group(1) if match else done.stdout.strip().splitlines()[-1]


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (0.0.0.0 for every interface)."),
    port: int = typer.Option(3000, help="HTTP port."),
    workers: int | None = typer.Option(None, help="Worker processes (default SHOPSENSE_SERVING_WORKERS)."),
    build: bool = typer.Option(False, "--build", help="Sync the champions and build a Bento instead of serving."),
    no_sync: bool = typer.Option(False, "--no-sync", help="Serve what the BentoML store holds; skip MLflow."),
    dataset: str | None = typer.Option(
        None, help="Serve this dataset's champions and online store (default SHOPSENSE_SERVING_DATASET or synthetic)."
    ),
) -> None:
    """Sync the @champion models from MLflow into the BentoML store, then serve them (or build a Bento)."""
    if dataset:
        os.environ["SHOPSENSE_SERVING_DATASET"] = dataset
        get_settings.cache_clear()
    settings = checked_settings()
    results = [] if no_sync else sync(settings)
    served = [r["decision"] for r in results if "missing" not in r]
    if build:
        tag = build_bento(settings, served)
        console.print(f"built Bento {tag} in {settings.bentoml_home / 'bentos'}")
        console.print(f"serve it: BENTOML_HOME={settings.bentoml_home} .venv/bin/bentoml serve {tag}")
        return
    print_usage(settings, host, port)
    env = bentoml_env(settings, workers or settings.serving_workers)
    if served:  # declare only what was synced: `bentoml serve` fails on a declared model the store lacks
        env[SERVED_DECISIONS_ENV] = ",".join(served)
    command = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host, "--port", str(port)]
    raise typer.Exit(run_foreground(command, env, settings))  # SIGTERM/Ctrl-C: not ready, drain, stop the group
