"""Labels over the horizon after a cutoff: purchases, spend, margin and churn in [as_of, as_of + horizon)."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pandas as pd

from features.build import Transactions, as_date, as_log
from features.config import FeatureConfig, parse_horizon
from features.periods import WINDOW, customer_periods, customers_before, public_ids
from features.policy import daily_activity


def labels_from_periods(periods: ir.Table, window_days: int, has_cost: bool) -> ir.Table:
    """Labels of the customers with a purchase before the cutoff, from :func:`customer_periods` built with
    ``window_days``: the window's purchase days, net spend and margin (0 when they bought nothing there)."""
    seen = customers_before(periods).select("customer_id")
    window = periods.filter(periods.period == WINDOW)
    sums = {"future_purchases": window.purchase_days, "future_spend": window.total_spend}
    if has_cost:
        sums["future_margin"] = window.total_margin
    joined = seen.left_join(window.select("customer_id", **sums), "customer_id").drop("customer_id_right")
    out = joined.mutate(**{name: joined[name].fill_null(0) for name in sums})
    out = out.mutate(churned=out.future_purchases == 0, horizon_days=ibis.literal(window_days, type="int64"))
    return public_ids(out)


def labels_from_daily(daily: ir.Table, as_of: dt.date, window_days: int, has_cost: bool) -> ir.Table:
    """Label expression over the customer-day table; only rows inside ``[as_of, as_of + window_days)`` count."""
    periods = customer_periods(daily, as_of, FeatureConfig(), has_cost, window_days)
    return labels_from_periods(periods, window_days, has_cost)


def build_labels(
    transactions: Transactions,
    as_of,
    horizon,
    config: FeatureConfig | None = None,
    con: ibis.BaseBackend | None = None,
) -> pd.DataFrame:
    """Per customer with a purchase before ``as_of``: ``future_purchases`` (purchase days), ``future_spend``
    (net) and, with a cost column, ``future_margin`` in ``[as_of, as_of + horizon)``; ``churned`` = no purchase
    in that window. ``horizon``: ``181d``, ``26w`` or a number of days.
    """
    log = as_log(transactions, config, con)
    expr = labels_from_daily(daily_activity(log), as_date(as_of), parse_horizon(horizon), log.has_cost)
    return expr.order_by("customer_id").to_pandas()
