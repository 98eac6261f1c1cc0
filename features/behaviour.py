"""Behavioural features over customer-days before ``as_of``: windows, gaps, trend, orders, returns."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from features.config import FeatureConfig


def with_previous(days: ir.Table) -> ir.Table:
    """Add ``prev_day``: on a purchase day, the customer's previous purchase day (null on the first).

    One window partitioned by (customer, is_purchase) serves gaps, first-day spend and active months.
    """
    window = ibis.window(group_by=[days.customer_id, days.is_purchase], order_by=days.day)
    return days.mutate(prev_day=days.day.lag().over(window))


def first_purchase_net(days: ir.Table) -> ir.Value:
    """Net amount of the first purchase day, from ``with_previous`` (cheaper than an ordered aggregate)."""
    return days.net.sum(where=days.is_purchase & days.prev_day.isnull())


def behaviour_aggregates(days: ir.Table, as_of: dt.date, config: FeatureConfig, has_cost: bool) -> dict[str, ir.Value]:
    """Aggregates of the behavioural features (to use inside a group-by over ``with_previous(days)``)."""
    p = days.is_purchase
    gap = days.day.delta(days.prev_day, unit="day")
    new_month = p & (days.prev_day.isnull() | (days.day.truncate("M") != days.prev_day.truncate("M")))

    def since(n: int) -> ir.BooleanValue:
        return days.day >= ibis.literal(as_of - dt.timedelta(days=n), type="date")

    aggs: dict[str, ir.Value] = {
        "purchase_days": days.count(where=p),
        "total_spend": days.net.sum(),
        "orders": days.orders.sum(),
        "returned": days.returned.sum(),
        "max_order_value": days.max_order.max(),
        "gap_std": gap.std(how="sample", where=p),
        "active_months": days.count(where=new_month),
    }
    for n in config.windows:
        aggs[f"purchases_{n}d"] = days.count(where=p & since(n))
        aggs[f"spend_{n}d"] = days.net.sum(where=since(n))
    k = config.trend_days
    if k not in config.windows:
        aggs[f"spend_{k}d"] = days.net.sum(where=since(k))
    aggs["_prior"] = days.net.sum(where=since(2 * k) & ~since(k))
    if has_cost:
        aggs["total_margin"] = (days.net - days.cost).sum()
        aggs["margin_365d"] = (days.net - days.cost).sum(where=since(365))
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
