"""Behavioural features over customer-days before ``as_of``: windows, gaps, trend, orders, returns."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from features.aggregates import count_if, when
from features.config import FeatureConfig


def first_purchase_net(days: ir.Table) -> ir.Value:
    """Net amount of the customer's first purchase day (``is_first`` of the customer-day table)."""
    return when(days.is_first, days.net).sum()


def behaviour_aggregates(days: ir.Table, as_of: dt.date, config: FeatureConfig, has_cost: bool) -> dict[str, ir.Value]:
    """Aggregates of the behavioural features (to use inside a group-by over the customer-day table)."""
    p = days.is_purchase

    def since(n: int) -> ir.BooleanValue:
        return days.day >= ibis.literal(as_of - dt.timedelta(days=n), type="date")

    aggs: dict[str, ir.Value] = {
        "purchase_days": when(p, days.day).count(),  # the same aggregate as the BTYD count: computed once
        "total_spend": days.net.sum(),
        "orders": days.orders.sum(),
        "returned": days.returned.sum(),
        "max_order_value": days.max_order.max(),
        "gap_std": days.gap.std(how="sample"),
        "active_months": count_if(days.new_month),
    }
    for n in config.windows:
        aggs[f"purchases_{n}d"] = count_if(p & since(n))
        aggs[f"spend_{n}d"] = when(since(n), days.net).sum()
    k = config.trend_days
    if k not in config.windows:
        aggs[f"spend_{k}d"] = when(since(k), days.net).sum()
    aggs["_prior"] = when(since(2 * k) & ~since(k), days.net).sum()
    if has_cost:
        margin = days.net - days.cost
        aggs["total_margin"] = margin.sum()
        aggs["margin_365d"] = when(since(365), margin).sum()
    return aggs


def finish_behaviour(table: ir.Table, as_of: dt.date, config: FeatureConfig, has_cost: bool) -> ir.Table:
    """Derive the ratio features from the aggregates and fill empty windows with 0."""
    zero_fill = {f"spend_{n}d": table[f"spend_{n}d"].fill_null(0.0) for n in config.windows}
    if has_cost:
        zero_fill["margin_365d"] = table.margin_365d.fill_null(0.0)
    recent = table[f"spend_{config.trend_days}d"].fill_null(0.0)
    prior = table._prior.fill_null(0.0)
    scale = recent.abs() + prior.abs()
    gross = table.total_spend + table.returned
    as_of_lit = ibis.literal(as_of, type="date")
    out = table.mutate(
        **zero_fill,
        days_since_last=as_of_lit.delta(table.last_purchase, unit="day"),
        tenure_days=as_of_lit.delta(table.first_purchase, unit="day"),
        gap_mean=ibis.ifelse(table.frequency > 0, table.recency / table.frequency, ibis.null("float64")),
        spend_trend=ibis.ifelse(scale > 0, (recent - prior) / scale, 0.0),
        avg_order_value=ibis.ifelse(table.orders > 0, gross / table.orders, 0.0),
        returns_share=ibis.ifelse(gross > 0, table.returned / gross, 0.0),
    )
    extra = [f"spend_{config.trend_days}d"] if config.trend_days not in config.windows else []
    return out.drop("_prior", "returned", *extra)
