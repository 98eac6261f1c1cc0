"""The feature stage's commands: ``clv generate`` (a synthetic log with known truth) and ``clv features``."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer

from clv.options import AsOf, LogOptions, OutputFile, Transactions, log_options
from clv.terminal import current
from features import FeatureConfig, InputError, parse_horizon, policy_report, read_transactions
from features import console as show
from features.build import as_date
from features.engine import EngineConfig, connect, is_remote, materialise, read_output, write_table
from features.periods import customer_periods
from features.policy import daily_activity
from features.snapshots import snapshot_from_periods


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
    term = current()
    with term.progress(f"generating {customers:,} customers") as progress:
        paths = write_generated(cfg, out_dir, progress=progress)
    show.generated(term.out, paths)


@log_options
def features(
    transactions: Transactions,
    as_of: AsOf,
    output: OutputFile,
    log: LogOptions,
    horizon: Annotated[
        str | None, typer.Option(help="Also add labels over [as_of, as_of + horizon), e.g. 181d or 26w.")
    ] = None,
) -> None:
    """Build point-in-time customer features (and labels with --horizon) and write them to a file (on Spark, a
    directory of Parquet or CSV part files)."""
    cutoff = as_date(as_of, "--as-of")
    horizon_days = parse_horizon(horizon) if horizon is not None else None
    check_output(output, log.engine)
    config = FeatureConfig(columns=log.columns, policy=log.policy)
    term = current()
    with term.status("reading and validating the purchase log"):
        table = read_transactions(transactions, log.columns, log.policy, con=connect(log.engine))
    counts = table.counts
    if cutoff <= counts.first_day:
        raise InputError(f"--as-of {cutoff} is not after the first day of the log ({counts.first_day}): no history")
    if horizon_days is not None and cutoff + dt.timedelta(days=horizon_days) > counts.last_day + dt.timedelta(days=1):
        raise InputError(
            f"labels over [{cutoff}, {cutoff + dt.timedelta(days=horizon_days)}) need data the log does not have "
            f"(it ends {counts.last_day}): choose an earlier --as-of or a shorter --horizon"
        )
    with term.status(f"building features as of {cutoff} and writing {output}"):
        # One pass: the customer periods hold the features, the labels and the run summary's counts.
        daily = daily_activity(table, report=True)
        periods = materialise(
            customer_periods(daily, cutoff, config, table.has_cost, horizon_days, later=True, report=True)
        )
        report = policy_report(table, periods)
        snapshot = snapshot_from_periods(periods, cutoff, horizon_days, config, table.has_cost)
        write_table(snapshot.order_by("customer_id"), output)
    show.policy(term.out, report, table.source)
    written = read_output(table.backend, output)
    show.segments(term.out, written, horizon_days)
    rows, cols = written.count().execute(), len(written.columns)
    term.out.print(f"wrote {rows:,} customers x {cols} columns to [bold]{output}[/]")


def check_html(path: Path, option: str = "--report") -> None:
    """An HTML file name in a directory we can create or write, checked before any work is done."""
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"{option} {path}: the file name must end in .html")
    if path.is_dir():
        raise InputError(f"{option} {path} is a directory; give a file name ending in .html")
    parent = next((p for p in (path.absolute().parent, *path.absolute().parents) if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: cannot write in {parent or path.parent}")


def check_output(output: str, engine: EngineConfig) -> None:
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
