"""``shopsense train``: fit a decision, evaluate it against baselines, log to MLflow, register, move the alias."""

from __future__ import annotations

import json
from enum import StrEnum

import typer
from rich.console import Console
from rich.table import Table as RichTable

from features.settings import get_settings

app = typer.Typer(help="Train a decision and register it in MLflow (champion only if it beats the current one).")
console = Console()


class Decision(StrEnum):
    churn = "churn"
    tiering = "tiering"


def _print_result(result, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({k: v for k, v in result.__dict__.items()}, default=str, ensure_ascii=False, indent=2))
        return
    table = RichTable(title=f"{result.decision} on {result.dataset} ({result.seconds:.0f} s)")
    table.add_column("metric")
    table.add_column("model", justify="right")
    for name in result.baselines:
        table.add_column(name, justify="right")
    for metric, value in result.metrics.items():
        row = [metric, f"{value:.4f}"] + [f"{b.get(metric, float('nan')):.4f}" for b in result.baselines.values()]
        table.add_row(*row)
    console.print(table)
    gate = result.extra.get("gate", {})
    console.print(
        f"run {result.run_id} -> {result.model_name} v{result.version} @{result.alias} "
        f"(champion before: v{gate.get('champion_version')} scored {gate.get('champion_score')})\n"
        f"tracking: {result.tracking_uri}\n"
        f"UI: .venv/bin/mlflow ui --backend-store-uri {result.tracking_uri}"
    )


@app.callback(invoke_without_command=True)
def train(
    decision: Decision = typer.Argument(..., help="Which decision to train."),
    dataset: str | None = typer.Option(None, help="Dataset under SHOPSENSE_DATA_DIR (default: synthetic)."),
    horizon: int = typer.Option(90, help="Churn horizon H in days: churned = no order in the H days after the cutoff."),
    seed: int = typer.Option(42, help="Random seed for every model."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Train DECISION (churn or tiering) on the dataset's lake; features are built for missing cutoffs."""
    from training import pipeline

    settings = get_settings()
    if decision is Decision.churn:
        result = pipeline.train_churn(dataset, horizon_days=horizon, seed=seed, settings=settings)
    else:
        result = pipeline.train_tiering(dataset, seed=seed, settings=settings)
    _print_result(result, as_json)
