"""Options several commands share, declared once: the purchase log's columns and policy, the engine, MLflow.

``@log_options`` adds the column, policy and engine options to a command and hands it one ``LogOptions``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import typer

from clv import defaults
from features import ColumnMap, Policy
from features.engine import EngineConfig, parse_spark_conf

COLUMNS = "Input columns"
POLICY = "Transaction policy"
ENGINE = "Engine"
MLFLOW = "MLflow"
OUTPUT = "Output"

Transactions = Annotated[
    str, typer.Option("--transactions", "-t", help="Purchase log: a CSV or Parquet file, a directory or a glob.")
]
AsOf = Annotated[str, typer.Option(help="Cutoff date (ISO): only rows strictly before it are used.")]
Horizon = Annotated[str, typer.Option(help="Prediction horizon, e.g. 181d or 26w.")]
TrackingUri = Annotated[
    str | None,
    typer.Option(
        help=f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else {defaults.TRACKING_URI}).",
        rich_help_panel=MLFLOW,
    ),
]
OutputFile = Annotated[
    str,
    typer.Option(
        "--out",
        "-o",
        help="Output file: .parquet or .csv (on Spark, a directory of part files).",
        rich_help_panel=OUTPUT,
    ),
]
ModelName = Annotated[str, typer.Option(help="Registered model name.", rich_help_panel=MLFLOW)]
ModelUri = Annotated[str, typer.Option(help="Model URI (models:/NAME@alias or models:/NAME/VERSION).")]


@dataclass(frozen=True)
class LogOptions:
    """How to read the purchase log: which columns, which policy, on which engine."""

    columns: ColumnMap
    policy: Policy
    engine: EngineConfig


def _option(name: str, default, kind, help: str, panel: str, *decls: str) -> inspect.Parameter:
    annotation = Annotated[kind, typer.Option(*decls, help=help, rich_help_panel=panel)]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


_COLUMNS, _ENGINE = ColumnMap(), EngineConfig()
_LOG_PARAMETERS = [
    _option("customer_col", _COLUMNS.customer, str, "Column holding the customer id.", COLUMNS),
    _option("date_col", _COLUMNS.date, str, "Column holding the purchase date or timestamp.", COLUMNS),
    _option("amount_col", _COLUMNS.amount, str, "Column holding the amount (negative for returns).", COLUMNS),
    _option("order_col", _COLUMNS.order, str | None, "Optional column holding the order id.", COLUMNS),
    _option("cost_col", _COLUMNS.cost, str | None, "Optional column holding the cost of goods.", COLUMNS),
    _option(
        "date_format", _COLUMNS.date_format, str | None,
        "strptime format of text dates, e.g. '%d/%m/%Y'; ISO dates need none.", COLUMNS,
    ),
    _option(
        "drop_duplicates", Policy().drop_duplicates, bool, "Drop exact duplicate rows instead of keeping them.", POLICY
    ),
    _option(
        "engine", _ENGINE.name, str,
        "Where features are computed: duckdb (embedded) or spark (local[*] unless spark-submit, SPARK_REMOTE or "
        "--spark-conf spark.master=... say otherwise).", ENGINE, "--engine",
    ),
    _option(
        "memory_limit", _ENGINE.memory_limit, str | None,
        "Memory for DuckDB, e.g. 4GB; above it work spills to a temporary directory (default: 80% of RAM).", ENGINE,
    ),
    _option(
        "spark_conf", None, list[str] | None,
        "Spark setting key=value (repeatable), e.g. spark.driver.memory=16g.", ENGINE, "--spark-conf",
    ),
]  # fmt: skip


def log_options(fn: Callable) -> Callable:
    """Add the column, policy and engine options to a command; it receives them as ``log: LogOptions``."""
    names = [p.name for p in _LOG_PARAMETERS]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        given = {name: kwargs.pop(name) for name in names}
        columns = ColumnMap(
            given["customer_col"], given["date_col"], given["amount_col"], given["order_col"], given["cost_col"],
            given["date_format"],
        )  # fmt: skip
        engine = EngineConfig(given["engine"], given["memory_limit"], parse_spark_conf(given["spark_conf"]))
        return fn(*args, log=LogOptions(columns, Policy(drop_duplicates=given["drop_duplicates"]), engine), **kwargs)

    own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "log"]
    wrapper.__signature__ = inspect.Signature(own + _LOG_PARAMETERS)
    wrapper.__annotations__ = {p.name: p.annotation for p in own + _LOG_PARAMETERS}
    del wrapper.__wrapped__  # Typer must read the new signature, not the function's own
    return wrapper
