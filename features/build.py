"""Point-in-time customer features as of a cutoff: the public ``build_features``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from features.behaviour import behaviour_aggregates, finish_behaviour, first_purchase_net, with_previous
from features.config import FeatureConfig
from features.errors import InputError
from features.io import TransactionLog, read_transactions
from features.policy import daily_activity
from features.rfm import btyd_aggregates, observed, rfm_scores

Transactions = TransactionLog | pd.DataFrame | pa.Table | str | Path


def as_log(transactions: Transactions, config: FeatureConfig | None = None) -> TransactionLog:
    """Accept a validated log, a data frame or a path; validate whatever is not a log yet."""
    if isinstance(transactions, TransactionLog):
        return transactions
    config = config or FeatureConfig()
    return read_transactions(transactions, config.columns, config.policy)


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


def features_from_daily(daily: ir.Table, as_of: dt.date, config: FeatureConfig, has_cost: bool) -> ir.Table:
    """The feature expression over customer-days (one window pass, one group-by)."""
    days = with_previous(observed(daily, as_of))
    aggs = btyd_aggregates(days, as_of, first_purchase_net(days)) | behaviour_aggregates(days, as_of, config, has_cost)
    table = days.group_by("customer_id").aggregate(**aggs)
    table = finish_behaviour(table.filter(table.purchase_days > 0), as_of, config, has_cost)
    # Computed once here: the RFM scores read this table four times, and the engine would recompute it each time.
    return rfm_scores(table.cache())


def features_expr(transactions: Transactions, as_of, config: FeatureConfig | None = None) -> ir.Table:
    """The lazy Ibis expression behind :func:`build_features` (for writing straight to a file)."""
    config = config or FeatureConfig()
    log = as_log(transactions, config)
    return features_from_daily(daily_activity(log), as_date(as_of), config, log.has_cost)


def build_features(transactions: Transactions, as_of, config: FeatureConfig | None = None) -> pd.DataFrame:
    """One row per customer whose first purchase is before ``as_of``, from rows strictly before ``as_of``.

    Columns: the BTYD summary (``frequency``, ``recency``, ``T``, ``monetary_value``, lifetimes' definitions
    at day resolution, observation period ending the day before ``as_of``), behavioural features, RFM
    scores and segment. See the README's feature table.
    """
    table = features_expr(transactions, as_of, config).order_by("customer_id")
    return table.to_pandas()
