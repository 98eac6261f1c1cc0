"""The ``clv`` command line: generate data, build features, run the demo.

Exit codes: 0 ok, 2 bad input (one message, no traceback, no output file), 1 internal error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer
from rich.console import Console

from features import ColumnMap, FeatureConfig, InputError, Policy, parse_horizon, policy_report, read_transactions
from features.build import as_date
from features.engine import (
    DEFAULT_ENGINE,
    EngineConfig,
    connect,
    is_remote,
    materialise,
    out_of_memory_errors,
    parse_spark_conf,
    read_output,
)
from features.periods import customer_periods
from features.policy import daily_activity
from features.snapshots import snapshot_from_periods
from training import console as show
from training.outputs import write_table

for _name in ("MLFLOW_DISABLE_TELEMETRY", "BENTOML_DO_NOT_TRACK", "DO_NOT_TRACK"):
    os.environ.setdefault(_name, "true")

app = typer.Typer(
    name="clv",
    help="Churn probability and customer lifetime value from purchase logs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True)
out = Console()


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM (a job scheduler stopping us, `kill`) unwinds like Ctrl-C: an open MLflow run ends FAILED and a
    model version registered without its alias is deleted, instead of the process vanishing mid-write."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def handle_errors(fn: Callable) -> Callable:
    """Map InputError to exit 2 and anything unexpected to exit 1, each with one readable message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except out_of_memory_errors() as exc:  # a limit reached, not a bug
            if os.environ.get("CLV_DEBUG"):
                traceback.print_exc()
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            err.print(
                f"[bold red]out of memory:[/] {first}\nGive DuckDB more with --memory-limit (e.g. 8GB), or run on a "
                "machine with more memory; nothing was written.",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
        except Exception as exc:
            if os.environ.get("CLV_DEBUG"):
                traceback.print_exc()
            err.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {exc}\n(set CLV_DEBUG=1 for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def _date(value: str | None, what: str) -> dt.date | None:
    return None if value is None else as_date(value, what)


TransactionsOpt = Annotated[
    str, typer.Option("--transactions", "-t", help="Purchase log: a CSV or Parquet file, a directory or a glob.")
]
CustomerCol = Annotated[str, typer.Option(help="Column holding the customer id.")]
DateCol = Annotated[str, typer.Option(help="Column holding the purchase date or timestamp.")]
AmountCol = Annotated[str, typer.Option(help="Column holding the amount (negative for returns).")]
OrderCol = Annotated[str | None, typer.Option(help="Optional column holding the order id.")]
CostCol = Annotated[str | None, typer.Option(help="Optional column holding the cost of goods.")]
DateFormat = Annotated[
    str | None, typer.Option(help="strptime format of text dates, e.g. '%d/%m/%Y'; ISO dates need none.")
]
DropDuplicates = Annotated[bool, typer.Option(help="Drop exact duplicate rows instead of keeping them.")]
MemoryLimit = Annotated[
    str | None,
    typer.Option(
        help="Memory for DuckDB, e.g. 4GB; above it work spills to a temporary directory (default: 80% of RAM)."
    ),
]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="Where features are computed: duckdb (embedded) or spark (local[*] unless "
        "spark-submit, SPARK_REMOTE or --spark-conf spark.master=... say otherwise).",
    ),
]
SparkConfOpt = Annotated[
    list[str] | None,
    typer.Option("--spark-conf", help="Spark setting key=value (repeatable), e.g. spark.driver.memory=16g."),
]


def engine_config(engine: str, memory_limit: str | None, spark_conf: list[str] | None) -> EngineConfig:
    """The engine options of a command as one typed config."""
    return EngineConfig(engine, memory_limit, parse_spark_conf(spark_conf))


TrackingUri = Annotated[
    str | None, typer.Option(help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).")
]
ModelName = Annotated[str, typer.Option(help="Registered model name.")]


@app.command()
@handle_errors
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for transactions.parquet and truth.parquet.")],
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 10_000,
    start: Annotated[
        str, typer.Option(help="First day of the log (ISO date); --start and --end set the history's length.")
    ] = "2022-01-01",
    end: Annotated[str, typer.Option(help="Day after the last day of the log (ISO date).")] = "2025-01-01",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same log.")] = 42,
    acquisition_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="One acquisition cohort: every first purchase in the log's first N days "
            "(default: a growing business, first purchases over the whole log).",
        ),
    ] = None,
    season_amplitude: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Seasonality A: purchase intensity 1 + A cos(...), peaking mid-December "
            "(default: GeneratorConfig.season_amplitude).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write a synthetic purchase log with known per-customer truth."""
    from features.generate import GeneratorConfig, write_generated

    cfg = GeneratorConfig(
        customers=customers,
        start=as_date(start, "start"),
        end=as_date(end, "end"),
        seed=seed,
        acquisition_days=acquisition_days,
        season_amplitude=GeneratorConfig.season_amplitude if season_amplitude is None else season_amplitude,
    )
    with err.status(f"generating {customers:,} customers"):
        paths = write_generated(cfg, out_dir)
    show.generated(out, paths)


@app.command("features")
@handle_errors
def features_cmd(
    transactions: TransactionsOpt,
    as_of: Annotated[str, typer.Option(help="Cutoff date: features use only rows strictly before it.")],
    output: Annotated[str, typer.Option("--out", "-o", help="Output file: .parquet or .csv.")],
    horizon: Annotated[
        str | None, typer.Option(help="Also add labels over [as_of, as_of + horizon), e.g. 181d or 26w.")
    ] = None,
    customer_col: CustomerCol = "customer_id",
    date_col: DateCol = "date",
    amount_col: AmountCol = "amount",
    order_col: OrderCol = None,
    cost_col: CostCol = None,
    date_format: DateFormat = None,
    drop_duplicates: DropDuplicates = False,
    memory_limit: MemoryLimit = None,
    engine: EngineOpt = DEFAULT_ENGINE,
    spark_conf: SparkConfOpt = None,
) -> None:
    """Build point-in-time customer features (and labels with --horizon) and write them to a file (on Spark, a
    directory of Parquet or CSV part files)."""
    cutoff = as_date(as_of, "--as-of")
    engine_cfg = engine_config(engine, memory_limit, spark_conf)
    horizon_days = parse_horizon(horizon) if horizon is not None else None
    _check_output(output, engine_cfg)
    columns = ColumnMap(customer_col, date_col, amount_col, order_col, cost_col, date_format)
    config = FeatureConfig(columns=columns, policy=Policy(drop_duplicates=drop_duplicates))
    with err.status("reading and validating the purchase log"):
        log = read_transactions(transactions, columns, config.policy, con=connect(engine_cfg))
    counts = log.counts
    if cutoff <= counts.first_day:
        raise InputError(f"--as-of {cutoff} is not after the first day of the log ({counts.first_day}): no history")
    if horizon_days is not None and cutoff + dt.timedelta(days=horizon_days) > counts.last_day + dt.timedelta(days=1):
        raise InputError(
            f"labels over [{cutoff}, {cutoff + dt.timedelta(days=horizon_days)}) need data the log does not have "
            f"(it ends {counts.last_day}): choose an earlier --as-of or a shorter --horizon"
        )
    with err.status(f"building features as of {cutoff} and writing {output}"):
        # One pass: the customer periods hold the features, the labels and the run summary's counts.
        daily = daily_activity(log, report=True)
        periods = materialise(
            customer_periods(daily, cutoff, config, log.has_cost, horizon_days, later=True, report=True)
        )
        report = policy_report(log, periods)
        table = snapshot_from_periods(periods, cutoff, horizon_days, config, log.has_cost)
        write_table(table.order_by("customer_id"), output)
    show.policy(out, report, log.source)
    written = read_output(log.backend, output)
    show.segments(out, written, horizon_days)
    out.print(f"wrote {written.count().execute():,} customers x {len(written.columns)} columns to [bold]{output}[/]")


@app.command()
@handle_errors
def train(
    transactions: TransactionsOpt,
    as_of: Annotated[
        str, typer.Option(help="Train on rows before this date; the backtest is the last horizon (shorter logs: less).")
    ],
    horizon: Annotated[str, typer.Option(help="Prediction horizon, e.g. 181d or 26w.")] = "181d",
    snapshots: Annotated[
        int,
        typer.Option(
            min=1, help="Full-horizon training snapshots (every --every days: 12 x 28 days spans a year of seasons)."
        ),
    ] = 12,
    every: Annotated[str, typer.Option(help="Spacing of training snapshots.")] = "28d",
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "customer-value",
    register_as: ModelName = "customer-value",
    tracking_uri: TrackingUri = None,
    max_train_rows: Annotated[int, typer.Option(min=1000, help="Sample training frames above this size.")] = 2_000_000,
    margin: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Margin share of spend, for margin CLV without --cost-col.")
    ] = None,
    customer_col: CustomerCol = "customer_id",
    date_col: DateCol = "date",
    amount_col: AmountCol = "amount",
    order_col: OrderCol = None,
    cost_col: CostCol = None,
    date_format: DateFormat = None,
    drop_duplicates: DropDuplicates = False,
    memory_limit: MemoryLimit = None,
    engine: EngineOpt = DEFAULT_ENGINE,
    spark_conf: SparkConfOpt = None,
) -> None:
    """Backtest what ships (model, baseline or a blend, chosen on validation customers) against the BTYD
    baseline, fit the final model, log it all to MLflow, register it as the challenger."""
    from training.train import TrainConfig

    config = TrainConfig(
        horizon=horizon, snapshots=snapshots, every=every, max_train_rows=max_train_rows, margin=margin
    )
    parse_horizon(every)
    columns = ColumnMap(customer_col, date_col, amount_col, order_col, cost_col, date_format)
    policy = Policy(drop_duplicates=drop_duplicates)
    run_train(
        transactions,
        as_date(as_of, "--as-of"),
        config,
        columns,
        policy,
        experiment,
        register_as,
        tracking_uri,
        engine_config(engine, memory_limit, spark_conf),
    )


def run_train(transactions, cutoff, config, columns, policy, experiment, register_as, tracking_uri, engine=None):
    """Shared by ``train`` and ``demo``: read, train, log, register; prints the backtest table."""
    with terminate_as_interrupt():
        args = (transactions, cutoff, config, columns, policy, experiment, register_as, tracking_uri, engine)
        return _train(*args)


def _train(transactions, cutoff, config, columns, policy, experiment, register_as, tracking_uri, engine):
    from training import tracking
    from training.train import train as fit

    tracking.connect(tracking_uri)  # fail now, not after training, if the server is unreachable
    from training.frames import SnapshotStore

    feature_config = FeatureConfig(columns=columns, policy=policy)
    with err.status("reading and validating the purchase log"):
        log = read_transactions(transactions, columns, policy, con=connect(engine))
        store = SnapshotStore(log, feature_config)  # the customer-day table, built once for every snapshot
        report = store.report
    show.policy(out, report, log.source)
    with err.status("training") as status:
        result = fit(log, cutoff, config, feature_config, progress=status.update, store=store)
    facts = {
        "transactions": str(log.source),
        "data_range": f"{report.first_day} .. {report.last_day}",
        "rows": str(report.rows),
        "customers": str(report.customers),
        "as_of": cutoff.isoformat(),
        "backtest_cutoff": result.test_cutoff.isoformat(),
        "horizon_days": str(config.horizon_days),
    }
    with err.status("logging the run and registering the model in MLflow"):
        run_id, version = tracking.log_training(
            result, config, facts, str(log.source), experiment, register_as, tracking_uri
        )
    show.backtest(out, result.metrics)
    show.choices(out, result.final_fit)
    out.print(
        f"run [bold]{run_id}[/] logged; model [bold]{register_as}[/] version {version} is now [bold]@challenger[/] "
        f"(tracking URI {tracking.tracking_uri(tracking_uri)})"
    )
    return result, run_id, version


@app.command()
@handle_errors
def promote(
    name: ModelName = "customer-value",
    force: Annotated[bool, typer.Option(help="Promote even if the challenger is worse.")] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Make the challenger the champion if, on its latest backtest window, it is not worse than the baseline or
    the champion beyond noise (paired bootstrap; rule in the README)."""
    run_promote(name, force, tracking_uri)


def _judge(client, name: str, challenger, champion):
    """The verdict on the challenger's backtest window, and that window's length in days."""
    import dataclasses

    from training import tracking
    from training.promote import judge

    frame = tracking.load_backtest_frame(client, challenger)
    window = int(frame["backtest_window_days"].iloc[0])
    if champion is not None:
        with err.status(f"scoring champion v{champion.version} on the challenger's {window}-day backtest window"):
            try:
                bundle, _ = tracking.load_bundle(f"models:/{name}/{champion.version}")
            except Exception as exc:  # e.g. a bundle format of another code version
                raise InputError(
                    f"cannot load champion v{champion.version} to compare: {str(exc).splitlines()[0]}; retrain it, "
                    "or promote with --force"
                ) from None
            scored = dataclasses.replace(bundle, horizon_days=window).predict(frame, reasons=False)
        if dt.date.fromisoformat(bundle.trained_as_of) > frame["snapshot"].iloc[0].date():  # the window's cutoff
            out.print(
                f"note: champion v{champion.version} was trained on data up to {bundle.trained_as_of}, inside this "
                "window: the comparison favours it",
                soft_wrap=True,
            )
        frame = frame.assign(
            champion_churn=scored["churn_probability"].to_numpy(), champion_clv=scored["predicted_clv"].to_numpy()
        )
    with err.status(f"comparing on {len(frame):,} customers (paired bootstrap)"):
        return judge(frame, champion is not None), window


def run_promote(name: str, force: bool, tracking_uri: str | None) -> bool:
    """Judge the challenger on its latest backtest window against the baseline and the champion (scored on the
    same customers over the same window length); promote when it is not worse beyond noise, or with ``force``."""
    from training import tracking

    client = tracking.connect(tracking_uri)
    challenger = tracking.alias_version(client, name, "challenger")
    if challenger is None:
        raise InputError(f"model {name!r} has no @challenger version: run `clv train` first")
    champion = tracking.alias_version(client, name, "champion")
    if champion is not None and champion.version == challenger.version:
        out.print(f"version {challenger.version} is already the champion")
        return True
    try:
        verdict, window = _judge(client, name, challenger, champion)
    except InputError as exc:
        if not force:
            raise
        out.print(f"[bold yellow]not judged[/]: {exc}", soft_wrap=True)
        verdict, window = None, None
    if verdict is None:
        tracking.set_alias(client, name, "champion", challenger.version)
        out.print(f"[bold green]promoted[/] version {challenger.version} to @champion (forced, not judged)")
        return True
    show.promotion(out, verdict, challenger.version, champion.version if champion else None, window)
    if verdict.promote or force:
        tracking.set_alias(client, name, "champion", challenger.version)
        note = " (forced)" if force and not verdict.promote else ""
        out.print(
            f"[bold green]promoted[/] version {challenger.version} to @champion{note}: {verdict.reason}", soft_wrap=True
        )
        return True
    out.print(f"[bold yellow]not promoted[/]: {verdict.reason}; use --force to override", soft_wrap=True)
    return False


@app.command()
@handle_errors
def score(
    transactions: TransactionsOpt,
    as_of: Annotated[str, typer.Option(help="Score customers with a purchase before this date.")],
    output: Annotated[str, typer.Option("--out", "-o", help="Output file: .parquet or .csv.")],
    model: Annotated[str, typer.Option(help="Model URI.")] = "models:/customer-value@champion",
    reasons: Annotated[bool, typer.Option(help="Add the top 3 reasons per customer (slower).")] = True,
    tracking_uri: TrackingUri = None,
    customer_col: CustomerCol = "customer_id",
    date_col: DateCol = "date",
    amount_col: AmountCol = "amount",
    order_col: OrderCol = None,
    cost_col: CostCol = None,
    date_format: DateFormat = None,
    drop_duplicates: DropDuplicates = False,
    memory_limit: MemoryLimit = None,
    engine: EngineOpt = DEFAULT_ENGINE,
    spark_conf: SparkConfOpt = None,
) -> None:
    """Write churn probability, CLV with interval, segment and reasons for every customer; warn on drift. On
    Spark the model runs as a Spark UDF and the output is a directory of Parquet or CSV part files."""
    cutoff = as_date(as_of, "--as-of")
    columns = ColumnMap(customer_col, date_col, amount_col, order_col, cost_col, date_format)
    engine_cfg = engine_config(engine, memory_limit, spark_conf)
    _check_output(output, engine_cfg)
    run_score(transactions, cutoff, output, model, reasons, tracking_uri, columns, Policy(drop_duplicates), engine_cfg)


def run_score(transactions, cutoff, output, model, reasons, tracking_uri, columns, policy, engine=None):
    from training import tracking
    from training.score import score as predict
    from training.score import score_on_spark

    with err.status("reading and validating the purchase log"):
        log = read_transactions(transactions, columns, policy, con=connect(engine))
    tracking.connect(tracking_uri)
    with err.status(f"loading {model}"):
        try:
            pinned, version = tracking.pin_version(model)
            bundle, _ = tracking.load_bundle(pinned)
        except Exception as exc:  # the registry says what is missing (unknown name, alias, version)
            raise InputError(f"cannot load model {model!r}: {str(exc).splitlines()[0]}") from None
    if engine is not None and engine.name == "spark":
        with err.status(f"scoring customers as of {cutoff} on Spark"):
            result = score_on_spark(log, cutoff, bundle, pinned, version, str(output), reasons=reasons)
        show.drift(err, result.drifted)
        out.print(
            f"wrote {result.customers:,} predictions to [bold]{output}[/] (a directory of part files; model trained "
            f"as of {bundle.trained_as_of}, horizon {bundle.horizon_days} days, version {version})"
        )
        return result
    with err.status(f"scoring customers as of {cutoff}"):
        result = predict(log, cutoff, bundle, reasons=reasons)
    scored = result.predictions.assign(model_version=version)  # the service names it in its responses
    write_table(pa.Table.from_pandas(scored, preserve_index=False), output)
    show.drift(err, result.drifted)
    out.print(
        f"wrote {len(result.predictions):,} predictions to [bold]{output}[/] (model trained as of "
        f"{bundle.trained_as_of}, horizon {bundle.horizon_days} days, version {version})"
    )
    return result


@app.command()
@handle_errors
def serve(
    model: Annotated[str, typer.Option(help="Model URI the service loads.")] = "models:/customer-value@champion",
    snapshot: Annotated[
        Path | None, typer.Option(help="Scores written by `clv score`, for /predict and /target.")
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    tracking_uri: TrackingUri = None,
) -> None:
    """Start the HTTP prediction service (BentoML). Set CLV_API_KEY to require `Authorization: Bearer <key>`, and
    CLV_ADMIN_KEY to open /admin/reload (locked without it)."""

    from serving.middleware import check_key
    from training import tracking

    for name in ("CLV_API_KEY", "CLV_ADMIN_KEY"):
        try:
            check_key(name, os.environ.get(name))
        except ValueError as exc:
            raise InputError(str(exc)) from None
    if snapshot is not None and not snapshot.is_file():
        raise InputError(f"--snapshot {snapshot} does not exist: write it with `clv score --out {snapshot}`")
    env = os.environ | {
        "CLV_MODEL_URI": model,
        "MLFLOW_TRACKING_URI": tracking.tracking_uri(tracking_uri),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    if snapshot is not None:
        env["CLV_SNAPSHOT"] = str(snapshot.resolve())
    cmd = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "serving.service:CustomerValueService",
        "--host",
        host,
        "--port",
        str(port),
    ]
    out.print(f"serving {model} on http://{host}:{port} (API docs at /)")
    raise typer.Exit(run_forwarding_signals(cmd, env))


def run_forwarding_signals(cmd: list[str], env: dict) -> int:
    """Run the server and pass SIGTERM / SIGINT on to it: it drains in-flight requests and exits, and so do we;
    nothing is left holding the port. Returns its exit code."""
    import subprocess

    child = subprocess.Popen(cmd, env=env)

    def forward(signum, frame):
        child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command()
@handle_errors
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo writes its data and outputs.")] = Path("demo-output"),
    customers: Annotated[int, typer.Option(min=500, help="Customers to generate.")] = 20_000,
    horizon: Annotated[str, typer.Option(help="Prediction horizon.")] = "181d",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    register_as: ModelName = "customer-value",
    tracking_uri: TrackingUri = None,
) -> None:
    """The main job end to end on generated data: generate, train (backtest vs BTYD), promote, score."""
    from features.generate import GeneratorConfig, write_generated
    from training import tracking
    from training.train import TrainConfig

    config = TrainConfig(horizon=horizon)
    gen = GeneratorConfig(customers=customers, seed=seed)
    columns = ColumnMap(order="order_id", cost="cost")
    out.rule("1. generate a purchase log with known truth")
    with err.status(f"generating {customers:,} customers"):
        paths = write_generated(gen, workdir / "data")
    show.generated(out, paths)
    out.rule(f"2. train as of {gen.end}: backtest on the last {config.horizon_days} days, then the final model")
    run_train(paths["transactions"], gen.end, config, columns, Policy(), "customer-value", register_as, tracking_uri)
    out.rule("3. promote unless worse than the baseline or the champion")
    run_promote(register_as, False, tracking_uri)
    alias = "champion"
    if tracking.alias_version(tracking.connect(tracking_uri), register_as, "champion") is None:
        alias = "challenger"
        out.print("no @champion yet: the demo scores with the challenger (in production, fix or --force first)")
    out.rule(f"4. score every customer as of {gen.end} with @{alias}")
    target = workdir / "scores.parquet"
    result = run_score(
        paths["transactions"], gen.end, target, f"models:/{register_as}@{alias}", True, tracking_uri, columns, Policy()
    )
    show.top_at_risk(out, result.predictions)
    uri = tracking.tracking_uri(tracking_uri)
    if uri.startswith("sqlite"):
        ui = f"[bold]mlflow ui --backend-store-uri {uri}[/], then open http://127.0.0.1:5000"
    else:
        ui = f"open [bold]{uri}[/]"
    out.print(f"scores: [bold]{target}[/]\nreview the run, plots and report in MLflow: {ui}")
    out.print(f"serve the champion over HTTP: [bold]clv serve --snapshot {target}[/] (then see README: curl examples)")


@app.command()
@handle_errors
def bento(
    snapshot: Annotated[Path, typer.Option(help="Scores written by `clv score`, served by /predict and /target.")],
    model: Annotated[str, typer.Option(help="Model URI (an alias is resolved to its version).")] = (
        "models:/customer-value@champion"
    ),
    tracking_uri: TrackingUri = None,
) -> None:
    """Build a self-contained Bento: the model, the snapshot, the code and the uv.lock requirements; `bentoml serve`
    then needs no MLflow."""
    from serving.bento import build_bento
    from training import tracking

    if not snapshot.is_file():
        raise InputError(f"--snapshot {snapshot} does not exist: write it with `clv score --out {snapshot}`")
    tracking.connect(tracking_uri)
    with err.status(f"storing {model} and {snapshot} in the BentoML model store, building the Bento"):
        tag = build_bento(model, snapshot)
    out.print(f"built Bento [bold]{tag}[/]", highlight=False, soft_wrap=True)
    out.print(f"serve it: bentoml serve {tag}", highlight=False, soft_wrap=True)
    out.print(f"image:    bentoml containerize {tag}", highlight=False, soft_wrap=True)


def _check_output(output: str, engine: EngineConfig) -> None:
    """An output name Parquet or CSV by extension; a directory only where Spark's own output will replace it."""
    if not output.lower().rstrip("/").endswith((".parquet", ".csv")):
        raise InputError(f"--out {output}: the file name must end in .parquet or .csv")
    if is_remote(output):
        if engine.name != "spark":
            raise InputError(f"--out {output}: object-store and HDFS paths need --engine spark")
        return
    path = Path(output)
    if path.is_dir() and (engine.name != "spark" or not (path / "_SUCCESS").exists()):
        raise InputError(f"--out {output} is a directory; give a file name ending in .parquet or .csv")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="clv")


if __name__ == "__main__":
    sys.exit(main())
