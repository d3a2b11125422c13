"""``shopsense report`` and ``shopsense monitor``: ops reports (zh / en HTML) and model monitoring per decision.

Choices come from the decision registry, so a new decision gets both commands without touching this file.
"""

from __future__ import annotations

from enum import StrEnum

import typer
from rich.console import Console
from rich.table import Table as RichTable

from training.decisions import DECISION_NAMES

console = Console()
ALL = "all"
Decision = StrEnum("Decision", {name: name for name in (*DECISION_NAMES, ALL)})
Lang = StrEnum("Lang", {"zh": "zh", "en": "en"})


def _names(decision: Decision) -> list[str] | None:
    return None if decision.value == ALL else [decision.value]


def report(
    decision: Decision = typer.Argument(..., help=f"Which decision: {', '.join(DECISION_NAMES)} or all."),
    dataset: str | None = typer.Option(None, help="Dataset under SHOPSENSE_DATA_DIR (default: synthetic)."),
    lang: Lang = typer.Option(Lang.zh, help="Language of the pages: zh (default) or en."),
    entity: str | None = typer.Option(None, help="Also explain this entity (user / SKU / review id)."),
) -> None:
    """Write self-contained HTML reports for ops (model card, SHAP drivers, action list) and the KPI index."""
    from training.reports.build import build_reports, frame_of

    written = build_reports(_names(decision), dataset, lang.value, entity)
    table = RichTable(title=f"reports ({lang.value})")
    for column in ("page", "seconds", "kB", "path / note"):
        table.add_column(column)
    for row in frame_of(written).itertuples():
        table.add_row(row.page, f"{row.seconds:.1f}", f"{row.kB:,.0f}", row.path or row.note)
    console.print(table)
    if all(w.path is None for w in written if w.decision != "index"):
        raise typer.Exit(2)


def monitor(
    decision: Decision = typer.Argument(..., help=f"Which decision: {', '.join(DECISION_NAMES)} or all."),
    dataset: str | None = typer.Option(None, help="Dataset under SHOPSENSE_DATA_DIR (default: synthetic)."),
    lang: Lang = typer.Option(Lang.zh, help="Language of the HTML page."),
) -> None:
    """Feature and prediction drift (PSI), realised performance, and a retrain recommendation per decision."""
    from training.reports.monitor import monitor as run_monitor

    verdicts, path = run_monitor(_names(decision), dataset, lang.value)
    for v in verdicts:
        flag = "[red]RETRAIN[/red]" if v.retrain else "[green]ok[/green]"
        console.print(f"{v.decision}: {flag} — " + "; ".join(v.reasons))
    console.print(f"written: {path} (runs in MLflow experiment shopsense/monitor/<dataset>)")
    if not verdicts:
        raise typer.Exit(2)
