"""The training stage's commands: ``clv train``, ``clv promote``, ``clv score`` and ``clv demo``. Each parses its
options and calls a job of ``training.jobs``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clv import defaults
from clv.options import (
    MLFLOW,
    OUTPUT,
    Horizon,
    LogOptions,
    ModelName,
    ModelUri,
    OutputFile,
    TrackingUri,
    Transactions,
    log_options,
)
from clv.terminal import current
from features import ColumnMap, parse_horizon
from features.build import as_date
from features.cli import check_html, check_output
from training.jobs import LogSource, Tracking, run_promote, run_score, run_train
from training.train import TrainConfig

DEFAULTS = TrainConfig()


@log_options
def train(
    transactions: Transactions,
    as_of: Annotated[
        str, typer.Option(help="Train on rows before this date; the backtest is the last horizon (shorter logs: less).")
    ],
    log: LogOptions,
    horizon: Horizon = DEFAULTS.horizon,
    snapshots: Annotated[
        int,
        typer.Option(
            min=1, help="Full-horizon training snapshots (every --every days: 12 x 28 days spans a year of seasons)."
        ),
    ] = DEFAULTS.snapshots,
    every: Annotated[str, typer.Option(help="Spacing of training snapshots.")] = DEFAULTS.every,
    max_train_rows: Annotated[
        int, typer.Option(min=1000, help="Sample training frames above this size.")
    ] = DEFAULTS.max_train_rows,
    margin: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Margin share of spend, for margin CLV without --cost-col.")
    ] = DEFAULTS.margin,
    report: Annotated[
        Path | None, typer.Option(help="Also write the run's HTML report here.", rich_help_panel=OUTPUT)
    ] = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.", rich_help_panel=MLFLOW)] = defaults.EXPERIMENT,
    register_as: ModelName = defaults.MODEL_NAME,
    tracking_uri: TrackingUri = None,
) -> None:
    """Backtest what ships (model, baseline or a blend, chosen on validation customers) against the BTYD
    baseline, fit the final model, log it all to MLflow, register it as the challenger."""
    config = TrainConfig(
        horizon=horizon, snapshots=snapshots, every=every, max_train_rows=max_train_rows, margin=margin
    )
    parse_horizon(every)
    if report is not None:
        check_html(report)
    source = LogSource(transactions, log.columns, log.policy, log.engine)
    run_train(source, as_date(as_of, "--as-of"), config, Tracking(tracking_uri, experiment, register_as), report)


def promote(
    name: ModelName = defaults.MODEL_NAME,
    force: Annotated[bool, typer.Option(help="Promote even if the challenger is worse beyond noise.")] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Make the challenger the champion if, on its latest backtest window, it is not worse than the baseline or
    the champion beyond noise (paired bootstrap; rule in the README)."""
    run_promote(name, force, tracking_uri)


@log_options
def score(
    transactions: Transactions,
    as_of: Annotated[str, typer.Option(help="Score customers with a purchase before this date.")],
    output: OutputFile,
    log: LogOptions,
    model: ModelUri = defaults.CHAMPION_URI,
    reasons: Annotated[bool, typer.Option(help="Add the top 3 reasons per customer (slower).")] = True,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Write a drift and data-quality report (HTML) here; it is logged to MLflow too.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Write churn probability, CLV with interval, segment and reasons for every customer; warn on drift. On
    Spark the model runs as a Spark UDF and the output is a directory of Parquet or CSV part files."""
    cutoff = as_date(as_of, "--as-of")
    check_output(output, log.engine)
    source = LogSource(transactions, log.columns, log.policy, log.engine)
    if report is not None:
        check_html(report)
    run_score(source, cutoff, output, model, reasons, tracking_uri, report)


def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo writes its data and outputs.")] = Path("demo-output"),
    customers: Annotated[int, typer.Option(min=500, help="Customers to generate.")] = 20_000,
    horizon: Horizon = DEFAULTS.horizon,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    register_as: ModelName = defaults.MODEL_NAME,
    tracking_uri: TrackingUri = None,
) -> None:
    """The main job end to end on generated data: generate, train (backtest vs BTYD), promote, score."""
    from features import console as feature_tables
    from features.generate import GeneratorConfig, write_generated
    from training import console as show
    from training import tracking

    term = current()
    out = term.out
    config = TrainConfig(horizon=horizon)
    gen = GeneratorConfig(customers=customers, seed=seed)
    out.rule("1. generate a purchase log with known truth")
    with term.progress(f"generating {customers:,} customers") as progress:
        paths = write_generated(gen, workdir / "data", progress=progress)
    feature_tables.generated(out, paths)
    out.rule(f"2. train as of {gen.end}: backtest on the last {config.horizon_days} days, then the final model")
    source = LogSource(str(paths["transactions"]), ColumnMap(order="order_id", cost="cost"))
    tracking_to = Tracking(tracking_uri, defaults.EXPERIMENT, register_as)
    run_train(source, gen.end, config, tracking_to, workdir / "report.html")
    out.rule("3. promote unless worse than the baseline or the champion beyond noise")
    run_promote(register_as, False, tracking_uri)
    alias = defaults.CHAMPION
    if tracking.alias_version(tracking.connect(tracking_uri), register_as, alias) is None:
        alias = defaults.CHALLENGER
        out.print("no @champion yet: the demo scores with the challenger (in production, fix or --force first)")
    out.rule(f"4. score every customer as of {gen.end} with @{alias}")
    target = workdir / "scores.parquet"
    result = run_score(source, gen.end, str(target), defaults.model_uri(register_as, alias), True, tracking_uri)
    show.top_at_risk(out, result.predictions)
    uri = tracking.tracking_uri(tracking_uri)
    if uri.startswith("sqlite"):
        ui = f"[bold]mlflow ui --backend-store-uri {uri}[/], then open http://127.0.0.1:5000"
    else:
        ui = f"open [bold]{uri}[/]"
    out.print(f"scores: [bold]{target}[/]\nreview the run, plots and report in MLflow: {ui}")
    out.print(f"serve the champion over HTTP: [bold]clv serve --snapshot {target}[/] (then see README: curl examples)")
