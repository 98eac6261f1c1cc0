"""Behavioural features over customer-days before ``as_of``: windows, gaps, trend, orders, returns."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from features.config import FeatureConfig


def with_gaps(days: ir.Table) -> ir.Table:
    """Add ``gap``: days since the customer's previous purchase day, on purchase days (null on the first)."""
    purchase_day = ibis.ifelse(days.is_purchase, days.day, ibis.null("date"))
    previous = purchase_day.max().over(ibis.window(group_by="customer_id", order_by="day", rows=(None, -1)))
    return days.mutate(gap=ibis.ifelse(days.is_purchase, days.day.delta(previous, unit="day"), ibis.null("int64")))


def behaviour_aggregates(days: ir.Table, as_of: dt.date, config: FeatureConfig, has_cost: bool) -> dict[str, ir.Value]:
    """Aggregates of the behavioural features (to use inside a group-by over ``with_gaps(days)``)."""
    p = days.is_purchase

    def since(n: int) -> ir.BooleanValue:
        return days.day >= ibis.literal(as_of - dt.timedelta(days=n), type="date")

    aggs: dict[str, ir.Value] = {
        "purchase_days": days.count(where=p),
        "total_spend": days.net.sum(),
        "orders": days.orders.sum(),
        "gross_spend": days.gross.sum(),
        "returned": days.returned.sum(),
        "max_order_value": days.max_order.max(),
        "gap_std": days.gap.std(how="sample"),
        "active_months": days.day.truncate("M").nunique(where=p),
    }
    for n in config.windows:
        aggs[f"purchases_{n}d"] = days.count(where=p & since(n))
        aggs[f"spend_{n}d"] = days.net.sum(where=since(n))
    k = config.trend_days
    aggs["_recent"] = days.net.sum(where=since(k))
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
    recent = table._recent.fill_null(0.0)
    prior = table._prior.fill_null(0.0)
    scale = recent.abs() + prior.abs()
    as_of_lit = ibis.literal(as_of, type="date")
    out = table.mutate(
        **zero_fill,
        days_since_last=as_of_lit.delta(table.last_purchase, unit="day"),
        tenure_days=as_of_lit.delta(table.first_purchase, unit="day"),
        gap_mean=ibis.ifelse(table.frequency > 0, table.recency / table.frequency, ibis.null("float64")),
        spend_trend=ibis.ifelse(scale > 0, (recent - prior) / scale, 0.0),
        avg_order_value=ibis.ifelse(table.orders > 0, table.gross_spend / table.orders, 0.0),
        returns_share=ibis.ifelse(table.gross_spend > 0, table.returned / table.gross_spend, 0.0),
    )
    return out.drop("_recent", "_prior", "gross_spend", "returned")
