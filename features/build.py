"""Point-in-time customer features as of a cutoff: the public ``build_features``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from features.behaviour import finish_behaviour
from features.config import FeatureConfig
from features.errors import InputError
from features.io import TransactionLog, materialise, read_transactions
from features.periods import customer_periods, customers_before, public_ids
from features.policy import REPORT_COLUMNS, daily_activity
from features.rfm import rfm_scores

Transactions = TransactionLog | pd.DataFrame | pa.Table | str | Path


def as_log(
    transactions: Transactions, config: FeatureConfig | None = None, con: ibis.BaseBackend | None = None
) -> TransactionLog:
    """Accept a validated log, a data frame or a path; validate whatever is not a log yet (on ``con``: an
    embedded DuckDB when None, or e.g. ``features.engine.connect(EngineConfig("spark"))``)."""
    if isinstance(transactions, TransactionLog):
        return transactions
    config = config or FeatureConfig()
    return read_transactions(transactions, config.columns, config.policy, con=con)


def as_date(value: dt.date | dt.datetime | str, what: str = "as_of") -> dt.date:
    """A cutoff as a ``date``; strings must be ISO dates like 2024-06-30."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"{what} {value!r} is not a date: write it like 2024-06-30") from None


def features_from_periods(periods: ir.Table, as_of: dt.date, config: FeatureConfig, has_cost: bool) -> ir.Table:
    """The features of customers with a purchase before ``as_of``, from :func:`customer_periods` (cache those
    first when the labels or the run summary read them too)."""
    table = customers_before(periods)
    table = table.drop("period", *[c for c in REPORT_COLUMNS if c in table.columns])
    # Materialised once: the RFM scores read it four times (small to compile and to scan, at any log size).
    return public_ids(rfm_scores(materialise(finish_behaviour(table, as_of, config, has_cost))))


def features_from_daily(daily: ir.Table, as_of: dt.date, config: FeatureConfig, has_cost: bool) -> ir.Table:
    """The feature expression over the customer-day table (one group-by, computed and cached here)."""
    return features_from_periods(customer_periods(daily, as_of, config, has_cost), as_of, config, has_cost)


def features_expr(
    transactions: Transactions, as_of, config: FeatureConfig | None = None, con: ibis.BaseBackend | None = None
) -> ir.Table:
    """The Ibis expression behind :func:`build_features` (for writing straight to a file)."""
    config = config or FeatureConfig()
    log = as_log(transactions, config, con)
    return features_from_daily(daily_activity(log), as_date(as_of), config, log.has_cost)


def build_features(
    transactions: Transactions, as_of, config: FeatureConfig | None = None, con: ibis.BaseBackend | None = None
) -> pd.DataFrame:
    """One row per customer whose first purchase is before ``as_of``, from rows strictly before ``as_of``.

    Columns: the BTYD summary (``frequency``, ``recency``, ``T``, ``monetary_value``, lifetimes' definitions
    at day resolution, observation period ending the day before ``as_of``), behavioural features, RFM
    scores and segment. See the README's feature table.
    """
    table = features_expr(transactions, as_of, config, con).order_by("customer_id")
    return table.to_pandas()
