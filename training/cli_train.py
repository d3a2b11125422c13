"""``shopsense train``: fit a decision (or all), evaluate against baselines, log to MLflow, register, gate.

The choices come from the decision registry, so a new decision appears here without touching this file.
"""

from __future__ import annotations

import json
from enum import StrEnum

import typer
from rich.console import Console
from rich.table import Table as RichTable

from features.settings import get_settings
from training.decisions import DECISION_NAMES

console = Console()
ALL = "all"
Decision = StrEnum("Decision", {name: name for name in (*DECISION_NAMES, ALL)})


def _print_result(result, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result.__dict__, default=str, ensure_ascii=False, indent=2))
        return
    primary, direction = result.extra.get("primary", ("", ""))
    table = RichTable(
        title=f"{result.decision} on {result.dataset} ({result.seconds:.0f} s; primary {primary}, {direction} is better)"
    )
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


def train(
    decision: Decision = typer.Argument(..., help=f"Which decision to train: {', '.join(DECISION_NAMES)} or all."),
    dataset: str | None = typer.Option(None, help="Dataset under SHOPSENSE_DATA_DIR (default: synthetic)."),
    horizon: int | None = typer.Option(
        None,
        help="Label or forecast horizon in days (churn: no order in the H days after the cutoff; default per decision).",
    ),
    seed: int = typer.Option(42, help="Random seed for every model."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Train DECISION on the dataset's lake (features are built for missing cutoffs); `all` trains every decision
    the dataset's tables allow, upstream decisions first and independent ones side by side (SHOPSENSE_TRAIN_WORKERS
    processes; every model fits on one thread, so the models are the same either way)."""
    from training import decisions, parallel, runner
    from training.decisions.spec import TrainOptions

    settings = get_settings()
    options = TrainOptions(seed=seed, horizon_days=horizon)
    if decision.value != ALL:
        try:
            _print_result(runner.run_decision(decision.value, dataset, options, settings), as_json)
        except runner.DecisionUnavailable as err:
            console.print(f"[red]cannot train:[/red] {err}")
            raise typer.Exit(2) from None
        return

    def report(outcome: parallel.Outcome) -> None:
        if outcome.error is not None:
            console.print(f"[yellow]skipped {outcome.name}:[/yellow] {outcome.error}")
        else:
            _print_result(outcome.value, as_json)

    outcomes = runner.train_many(decisions.DECISION_NAMES, dataset, TrainOptions(seed=seed), settings, report)
    if all(o.error is not None for o in outcomes.values()):
        raise typer.Exit(2)
