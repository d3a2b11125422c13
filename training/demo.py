"""The main job on the embedded default: synthetic world -> lake -> features -> models -> online store -> service.

Each step ends with one line: what it wrote, where, and how long it took (steps that produce several things, like
training every decision, add one indented line per thing), so a newcomer can follow DESIGN.md §1 in one screen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from rich.console import Console

from features import build, engine, registry
from features.lake import ingest
from features.settings import Settings
from features.sources.synthetic import SynthConfig, generate
from training import decisions, parallel, runner
from training.decisions.spec import TrainOptions

console = Console(highlight=False)
STEPS = 3
SERVING_FEATURES = "features as of today"
MATERIALIZE = "online store"
SERVE_PREFIX = "serve "


def _step(number: int, title: str, work: Callable[[], str]) -> float:
    """Run one step and print ``n/3 title: what it wrote (seconds)``; returns the seconds."""
    started = time.perf_counter()
    wrote = work()
    seconds = time.perf_counter() - started
    console.print(f"[bold]{number}/{STEPS} {title}[/bold]: {wrote} [dim]({seconds:.0f} s)[/dim]")
    return seconds


def _world(settings: Settings, preset: str, seed: int) -> str:
    paths = settings.dataset("synthetic")
    report = ingest(generate(SynthConfig.preset(preset, seed=seed)), paths)
    accepted = sum(t.accepted for t in report.tables.values())
    quarantined = sum(t.quarantined for t in report.tables.values())
    return (
        f"{accepted:,} rows in {len(report.tables)} tables ({quarantined:,} quarantined) -> {paths.lake} "
        f"(ground truth, never read by features: {paths.truth})"
    )


def _train_and_serving_features(settings: Settings, seed: int) -> str:
    """Every registered decision the world supports (the registry decides the list), side by side with the features
    as of today and the online store (they need no model, so they wait for nothing); each champion goes into the
    BentoML store as soon as its decision is trained."""
    options = TrainOptions(seed=seed)
    also = online_store_jobs(settings) + champion_store_jobs(settings)
    outcomes = runner.train_many(decisions.DECISION_NAMES, "synthetic", options, settings, _print_outcome, also)
    trained = [name for name in decisions.DECISION_NAMES if outcomes[name].error is None]
    skipped = [name for name in decisions.DECISION_NAMES if outcomes[name].error is not None]
    tail = f", skipped {', '.join(skipped)}" if skipped else ""
    ui = f".venv/bin/mlflow ui --backend-store-uri {settings.tracking_uri}"
    workers = runner.train_workers(settings)
    return f"{len(trained)} models registered in {settings.tracking_uri}{tail} ({workers} processes; UI: {ui})"


def online_store_jobs(settings: Settings) -> list[parallel.Job]:
    """Today's features of every set, then the online store loaded from them: jobs that need no model, to run
    beside training (:func:`training.runner.train_many`)."""
    return [
        parallel.Job(SERVING_FEATURES, partial(_serving_features, settings), seconds=20.0),
        parallel.Job(MATERIALIZE, partial(_materialize, settings), after=(SERVING_FEATURES,), seconds=35.0),
    ]


def champion_store_jobs(settings: Settings) -> list[parallel.Job]:
    """Each decision's champion into the BentoML store, prepared for serving, as soon as that decision is trained."""
    from serving import model_store

    return [
        parallel.Job(f"{SERVE_PREFIX}{name}", partial(model_store.prepare_champion, name, settings), after=(name,),
                     seconds=5.0)
        for name in decisions.DECISION_NAMES
    ]  # fmt: skip


def _print_outcome(outcome: parallel.Outcome) -> None:
    """One indented line per finished job: a model with its gate metric and baselines, or what a feature step wrote."""
    if outcome.error is not None:
        console.print(f"    [yellow]skipped {outcome.name}[/yellow]: {outcome.error}")
        return
    if outcome.name in (SERVING_FEATURES, MATERIALIZE):
        console.print(f"    {outcome.name}: {outcome.value} [dim]({outcome.seconds:.0f} s)[/dim]")
        return
    if outcome.name.startswith(SERVE_PREFIX):
        r = outcome.value
        done = f"not served: {r['missing']}" if "missing" in r else f"{r['name']} v{r['version']} -> {r['tag']}"
        ready = " (prepared for serving)" if r.get("prepared") else ""
        console.print(f"    BentoML store: {done}{ready} [dim]({outcome.seconds:.0f} s)[/dim]")
        return
    result, metric = outcome.value, decisions.get(outcome.name).primary[0]
    best = {name: round(v.get(metric, float("nan")), 3) for name, v in result.baselines.items()}
    console.print(
        f"    {result.model_name} v{result.version} @{result.alias} {metric}={result.metrics[metric]:.3f} "
        f"(baselines {best or 'none'}) [dim]({outcome.seconds:.0f} s)[/dim]"
    )


def _serving_features(settings: Settings) -> str:
    """Every snapshot set as of the end of the data, so the online store holds today's values."""
    paths = settings.dataset("synthetic")
    con = engine.connect(settings)
    cutoff = build.default_cutoff(con, paths)
    sizes = []
    for feature_set in build.supported_sets(paths, registry.FEATURE_SET_NAMES):
        frame = build.build(feature_set, con, paths, [cutoff], progress=False)
        sizes.append(f"{feature_set.name} {len(frame):,}")
    return f"rows as of {cutoff:%Y-%m-%d}: {', '.join(sizes)} -> {paths.features}"


def _materialize(settings: Settings) -> str:
    from features import store

    summary = store.materialize(settings.dataset("synthetic"), settings=settings, progress=False)
    views = []
    for view, info in summary["views"].items():
        limited = f" of {info['offline_keys']:,}" if "offline_keys" in info else ""
        views.append(f"{view} {info['keys']:,}{limited}")
    return f"keys online ({summary['online_store']}, {summary['writer']} writer): {', '.join(views)}"


def run_demo(settings: Settings, preset: str = "default", seed: int = 42) -> dict[str, float]:
    """Steps 1-2 of the demo; serving (step 3) is started by the caller (it blocks). Returns seconds per step."""
    return {
        "world": _step(1, f"synthetic world ({preset}, seed {seed}) -> validated lake", lambda: _world(settings, preset, seed)),
        "train": _step(2, "every decision -> MLflow -> BentoML store; today's features -> online store",
                       lambda: _train_and_serving_features(settings, seed)),
    }  # fmt: skip
