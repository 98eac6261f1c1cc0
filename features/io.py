"""Read a purchase log (CSV or Parquet; a file, a directory or a glob), validate it and normalise its columns.

Every problem the user must fix raises :class:`features.errors.InputError` with a message that names the
column, how many rows are affected and the first few of them.
"""

from __future__ import annotations

import csv
import datetime as dt
import glob
import gzip
import math
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from features.config import ColumnMap, Policy
from features.engine import (
    atomic_file,
    connect,
    engine_of,
    first_line,
    frame_table,
    is_infinite,
    is_remote,
    keep_row_order,
    materialise,
    out_of_memory_errors,
    parse_timestamp,
    read_error_detail,
    read_errors,
    scan_files,
    strip,
    to_number,
)
from features.errors import InputError

__all__ = ["LogCounts", "TransactionLog", "atomic_file", "connect", "materialise", "read_transactions"]

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
# Tried in order when a text date column is not ISO 8601; day-first and month-first are told apart by the data.
DATE_FORMATS = (
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y%m%d",
)
SHOW_ROWS = 5
MAX_AMOUNT = 1e12  # larger amounts are data errors, and would overflow integer spend units


@dataclass(frozen=True)
class LogCounts:
    """What the validation scan counts on the way (so the run summary needs no pass of its own for them)."""

    rows: int
    return_rows: int
    zero_amount_rows: int
    first_day: dt.date
    last_day: dt.date


@dataclass(frozen=True)
class TransactionLog:
    """A validated purchase log: one row per input row with normalised columns.

    ``rows`` has ``customer_id`` (integer ids as stored, anything else as text: features and labels give it out as
    text), ``day`` (date), ``amount`` (float64), ``stamp`` (the date as given, for the duplicate rule) and, when
    mapped, ``order_id`` (string) and ``cost`` (float64). Nothing is materialised: it is a lazy Ibis expression.
    ``counts`` holds the validation scan's counts (None when the log was read without validation).
    """

    rows: ir.Table
    source: str
    has_order: bool = False
    has_cost: bool = False
    policy: Policy = field(default_factory=Policy)
    counts: LogCounts | None = None

    @property
    def backend(self):
        return self.rows._find_backend()


def remote_files(path: str, con: ibis.BaseBackend) -> tuple[list[str], str]:
    """An object-store path (``s3a://``, ``gs://``, ``abfss://``, ``hdfs://``) as it is, for Spark to list."""
    if engine_of(con) != "spark":
        raise InputError(f"{path}: object-store and HDFS paths need --engine spark")
    return [path], "csv" if path.lower().rstrip("/").endswith(CSV_SUFFIXES) else "parquet"


def resolve_files(path: str | Path) -> tuple[list[str], str]:
    """Expand a file, directory or glob into files of one format (``parquet`` or ``csv``)."""
    text = str(path)
    p = Path(text)
    if any(ch in text for ch in "*?["):
        files = sorted(f for f in glob.glob(text, recursive=True) if Path(f).is_file())
        if not files:
            raise InputError(f"no file matches {text!r}")
    elif p.is_dir():
        files = sorted(
            str(f) for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(PARQUET_SUFFIXES + CSV_SUFFIXES)
        )
        if not files:
            raise InputError(f"directory {text!r} holds no .parquet or .csv file")
    elif p.is_file():
        files = [text]
    else:
        raise InputError(f"no such file or directory: {text!r}")
    formats = {_format_of(f) for f in files}
    if len(formats) > 1:
        raise InputError(f"{text!r} mixes Parquet and CSV files; give one format at a time")
    return files, formats.pop()


def _format_of(file: str) -> str:
    name = file.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    with open(file, "rb") as fh:
        return "parquet" if fh.read(4) == b"PAR1" else "csv"


def read_transactions(
    source: str | Path | pd.DataFrame | pa.Table,
    columns: ColumnMap | None = None,
    policy: Policy | None = None,
    con: ibis.BaseBackend | None = None,
    validate: bool = True,
) -> TransactionLog:
    """Open and validate a purchase log; raise :class:`InputError` naming what is wrong and where.

    ``source`` is a path (file, directory or glob of CSV or Parquet files) or an in-memory frame.
    The log stays in DuckDB: this scans it once to validate and never loads it into pandas.
    ``validate=False`` skips that scan (for logs already known to be clean, e.g. in benchmarks).
    """
    columns = columns or ColumnMap()
    policy = policy or Policy()
    con = con or connect()
    if isinstance(source, pd.DataFrame | pa.Table):
        if not len(source):
            raise InputError("the transaction log is empty: it has no rows")
        raw = frame_table(con, source)
        label = "the data frame"
        fmt = "frame"
    else:
        files, fmt = remote_files(str(source), con) if is_remote(source) else resolve_files(source)
        label = str(source)
        raw = _scan(con, files, fmt, label)
    _check_columns(raw, columns, label)
    try:
        rows, counts = _normalise(raw, columns, label, validate, trim=fmt != "parquet")
    except out_of_memory_errors():
        raise
    except read_errors() as exc:  # a malformed line deep in a CSV surfaces only when it is scanned
        raise _unreadable(label, fmt, exc) from None
    return TransactionLog(
        rows=rows,
        source=label,
        has_order=columns.order is not None,
        has_cost=columns.cost is not None,
        policy=policy,
        counts=counts,
    )


def _scan(con: ibis.BaseBackend, files: list[str], fmt: str, label: str) -> ir.Table:
    try:
        if fmt == "parquet":
            return scan_files(con, files, fmt)
        delim, names = _csv_header(con, files[0], label)
        for other in files[1:]:
            if _csv_header(con, other, label)[1] != names:
                raise InputError(
                    f"{label}: {other} has columns {', '.join(_csv_header(con, other, label)[1])} but {files[0]} has "
                    f"{', '.join(names)}: every CSV file must have the same header in the same order"
                )
        return scan_files(con, files, fmt, delim, names)
    except out_of_memory_errors():
        raise
    except read_errors() as exc:
        raise _unreadable(label, fmt, exc) from None


def _csv_header(con: ibis.BaseBackend, file: str, label: str) -> tuple[str, list[str]]:
    """Delimiter and column names from the first line, so that a ragged row later is an error, not a guess."""
    if is_remote(file):
        first = first_line(con, file)
    else:
        opener = gzip.open if file.lower().endswith(".gz") else open
        with opener(file, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
            first = fh.readline()
    if not first.strip():
        raise InputError(f"{label}: {file} is empty: expected a header line such as customer_id,date,amount")
    try:
        delim = csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
    except csv.Error:
        delim = ","
    names = next(csv.reader([first], delimiter=delim))
    names = [n.strip() for n in names]
    if len(set(names)) != len(names):
        raise InputError(f"{label}: the header line repeats a column name: {', '.join(names)}")
    return delim, names


def _unreadable(label: str, fmt: str, exc: Exception) -> InputError:
    return InputError(f"cannot read {label} as {fmt.upper()}: {read_error_detail(exc)}")


def _check_columns(raw: ir.Table, columns: ColumnMap, label: str) -> None:
    missing = [c for c in columns.required() if c not in raw.columns]
    if missing:
        present = ", ".join(raw.columns) or "(none)"
        names = ", ".join(repr(c) for c in missing)
        raise InputError(
            f"{label}: missing column(s) {names}; the columns present are: {present}. "
            "Map yours with --customer-col, --date-col, --amount-col (and --order-col, --cost-col)."
        )


def _parse_number(col: ir.Column) -> ir.NumericColumn:
    if col.type().is_numeric():
        return col.cast("float64")
    return to_number(strip(col.cast("string")))


def _text(col: ir.Column, trim: bool) -> ir.StringColumn:
    """Ids as text, surrounding spaces stripped where ``trim`` (CSV and frames; Parquet ids are taken as stored)."""
    text = col.cast("string")
    return strip(text) if trim else text


def _customer_id(col: ir.Column, trim: bool) -> ir.Column:
    """Integer ids stay integers (grouping on them is much cheaper than on text; the features give them out as
    text, which is the same one-to-one); any other id becomes text."""
    return col if col.type().is_integer() else _text(col, trim)


def _parse_date(raw: ir.Table, name: str, date_format: str | None, label: str) -> ir.DateColumn:
    col = raw[name]
    typ = col.type()
    if typ.is_date():
        return col
    if typ.is_timestamp():
        return col.cast("date")
    if not typ.is_string():
        raise InputError(f"{label}: column {name!r} holds {typ}, not dates; give dates like 2024-03-31")
    text = strip(col)
    if date_format:
        return parse_timestamp(text, date_format).cast("date")
    iso = text.try_cast("timestamp").cast("date")
    failures = raw.aggregate(n=(iso.isnull() & text.notnull()).sum()).execute()["n"].iloc[0]
    if not failures:
        return iso
    # Not ISO: count failures of each known format in one scan and keep the formats that parse every value.
    counts = raw.aggregate(
        **{f"f{i}": (parse_timestamp(text, f).isnull() & text.notnull()).sum() for i, f in enumerate(DATE_FORMATS)}
    ).execute()
    fitting = [f for i, f in enumerate(DATE_FORMATS) if counts[f"f{i}"].iloc[0] == 0]
    orders = {f.replace("%m", "M").replace("%d", "D").split(" ")[0] for f in fitting}
    if len(orders) > 1:
        raise InputError(
            f"{label}: dates in {name!r} fit both day-first and month-first formats ({', '.join(fitting)}); "
            "say which with --date-format"
        )
    if fitting:
        return parse_timestamp(text, fitting[0]).cast("date")
    return iso


def _normalise(
    raw: ir.Table, columns: ColumnMap, label: str, validate: bool, trim: bool
) -> tuple[ir.Table, LogCounts | None]:
    cid = _customer_id(raw[columns.customer], trim)
    day = _parse_date(raw, columns.date, columns.date_format, label)
    amount = _parse_number(raw[columns.amount])
    # The date as given (time of day included): exact duplicates are judged on it, not on the day.
    exprs = {"customer_id": cid, "day": day, "amount": amount, "stamp": raw[columns.date]}
    if columns.order:
        exprs["order_id"] = _text(raw[columns.order], trim)
    if columns.cost:
        exprs["cost"] = _parse_number(raw[columns.cost])
    if not validate:
        return raw.select(**exprs), None
    missing_id = cid.isnull() if cid.type().is_integer() else cid.isnull() | (cid == "")
    checks = {
        "id": (missing_id, columns.customer, "empty or missing customer id"),
        "date": (day.isnull(), columns.date, "unparseable or missing date"),
        "amount_nan": (amount.isnull() | amount.isnan(), columns.amount, "non-numeric or missing amount"),
        "amount_inf": (is_infinite(amount), columns.amount, "infinite amount"),
        "amount_big": (
            amount.abs().between(MAX_AMOUNT, math.inf) & ~is_infinite(amount),
            columns.amount,
            f"amount of {MAX_AMOUNT:.0e} or more",
        ),
    }
    if columns.order:
        oid = exprs["order_id"]
        checks["order"] = (oid.isnull() | (oid == ""), columns.order, "empty or missing order id")
    if columns.cost:
        cost = exprs["cost"]
        checks["cost"] = (cost.isnull() | cost.isnan() | is_infinite(cost), columns.cost, "non-numeric or missing cost")
    counts = (
        raw.aggregate(
            rows=raw.count(),
            _returns=(amount < 0).sum(),
            _zeros=(amount == 0).sum(),
            _first=day.min(),
            _last=day.max(),
            **{k: cond.sum() for k, (cond, _, _) in checks.items()},
        )
        .execute()
        .iloc[0]
    )
    if counts["rows"] == 0:
        raise InputError(f"{label}: the transaction log is empty: it has a header but no rows")
    problems = [(k, int(counts[k])) for k in checks if counts[k]]
    if problems:
        raise InputError(_describe(raw, checks, problems, int(counts["rows"]), label))
    found = LogCounts(
        rows=int(counts["rows"]),
        return_rows=int(counts["_returns"]),
        zero_amount_rows=int(counts["_zeros"]),
        first_day=engine_date(counts["_first"]),
        last_day=engine_date(counts["_last"]),
    )
    return raw.select(**exprs), found


def engine_date(value) -> dt.date:
    """A date from what an engine returns for a DATE value (a date, a datetime or a pandas Timestamp)."""
    return value.date() if hasattr(value, "date") else value


def _describe(raw: ir.Table, checks: dict, problems: list[tuple[str, int]], total: int, label: str) -> str:
    keep_row_order(raw._find_backend())
    numbered = raw.mutate(_row=ibis.row_number() + 1)
    lines = [f"{label}: {sum(n for _, n in problems)} problem(s) in {total} rows (row numbers count data rows from 1):"]
    for key, n in problems:
        cond, name, what = checks[key]
        shown = numbered.filter(cond)
        sample = shown.order_by("_row").select("_row", value=numbered[name].cast("string")).limit(SHOW_ROWS).execute()
        examples = ", ".join(f"row {int(r)}: {_show(v)}" for r, v in zip(sample["_row"], sample["value"], strict=True))
        lines.append(f"  - column {name!r}: {n} row(s) with {what}; first: {examples}")
    return "\n".join(lines)


def _show(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "<missing>"
    return repr(value)
