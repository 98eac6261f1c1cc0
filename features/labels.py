"""Labels over the horizon after a cutoff: purchases, spend, margin and churn in [as_of, as_of + horizon)."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pandas as pd

from features.build import Transactions, as_date, as_log
from features.config import FeatureConfig, parse_horizon
from features.policy import daily_activity
from features.rfm import observed


def labels_from_daily(daily: ir.Table, as_of: dt.date, horizon_days: int, has_cost: bool) -> ir.Table:
    """Label expression for customers with a purchase before ``as_of``; only rows inside the window count."""
    seen = observed(daily, as_of)
    customers = seen.filter(seen.is_purchase).select("customer_id").distinct()
    start = ibis.literal(as_of, type="date")
    end = ibis.literal(as_of + dt.timedelta(days=horizon_days), type="date")
    window = daily.filter((daily.day >= start) & (daily.day < end))
    aggs = {"future_purchases": window.count(where=window.is_purchase), "future_spend": window.net.sum()}
    if has_cost:
        aggs["future_margin"] = (window.net - window.cost).sum()
    future = window.group_by("customer_id").aggregate(**aggs)
    joined = customers.left_join(future, "customer_id").drop("customer_id_right")
    filled = {name: joined[name].fill_null(0) for name in aggs}
    out = joined.mutate(**filled)
    return out.mutate(churned=out.future_purchases == 0, horizon_days=ibis.literal(horizon_days, type="int64"))


def build_labels(transactions: Transactions, as_of, horizon, config: FeatureConfig | None = None) -> pd.DataFrame:
    """Per customer with a purchase before ``as_of``: ``future_purchases`` (purchase days), ``future_spend``
    (net) and, with a cost column, ``future_margin`` in ``[as_of, as_of + horizon)``; ``churned`` = no purchase
    in that window. ``horizon``: ``181d``, ``26w`` or a number of days.
    """
    log = as_log(transactions, config)
    expr = labels_from_daily(daily_activity(log), as_date(as_of), parse_horizon(horizon), log.has_cost)
    return expr.order_by("customer_id").to_pandas()
