"""The ``shopsense`` command: one Typer app with a sub-app per layer (data, features, train, serve)."""

from __future__ import annotations

import typer

from training import cli_data, cli_features, cli_privacy, cli_report, cli_serve, cli_train

app = typer.Typer(
    name="shopsense",
    help="ShopSense: machine-learning decision support for e-commerce operations.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(cli_data.app, name="data")
app.add_typer(cli_features.app, name="features")
app.add_typer(cli_privacy.app, name="privacy")
app.command("train")(cli_train.train)
app.command("serve")(cli_serve.serve)
app.command("report")(cli_report.report)
app.command("monitor")(cli_report.monitor)


@app.command("demo")
def demo(
    preset: str = typer.Option("default", help="Synthetic world size: tiny, default or large."),
    seed: int = typer.Option(42, help="Seed of the synthetic world and the models."),
    serve: bool = typer.Option(True, help="End by starting the prediction service (blocks until Ctrl-C)."),
) -> None:
    """The main job on the embedded default: world -> lake -> features -> models -> online store -> service."""
    from features.settings import get_settings
    from training.demo import run_demo

    settings = get_settings()
    seconds = run_demo(settings, preset=preset, seed=seed)
    typer.echo(f"steps 1-2 took {sum(seconds.values()):.0f} s")
    if serve:
        typer.echo("3/3 sync the champions and serve them (ready when /readyz answers 200; Ctrl-C to stop)")
        # every parameter given: a typer command called as a function would otherwise get OptionInfo defaults
        cli_serve.serve(host="127.0.0.1", port=3000, workers=None, build=False, no_sync=False, dataset=None)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level.")) -> None:
    """Configure logging once for every command (settings come from SHOPSENSE_* environment variables)."""
    from training import quiet

    quiet.configure(verbose)


if __name__ == "__main__":
    app()
