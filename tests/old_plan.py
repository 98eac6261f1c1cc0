"""The feature plan as it was before the one-pass rewrite (commit f08ef79), frozen so that a test can prove the new
plan gives the same numbers. Test code only: nothing in the product imports it."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from features.config import FeatureConfig
from features.io import TransactionLog
from features.rfm import SEGMENT_RULES


@ibis.udf.agg.builtin(name="arg_min")
def _duckdb_arg_min(arg: float, key: dt.date) -> float:  # type: ignore[empty-body]
    """DuckDB's ``arg_min``: the value of ``arg`` on the row with the smallest ``key``."""


def first_by_day(value: ir.Value, day: ir.Value, where: ir.BooleanValue | None) -> ir.Value:
    """``value`` on the earliest ``day``. Ibis compiles its portable arg-min to an ordered FIRST on DuckDB,
    about 10 % slower there than DuckDB's own ``arg_min``, so DuckDB gets that; other engines the portable one.
    """
    if value._find_backend(use_default=True).name == "duckdb":
        return _duckdb_arg_min(value, day, where=where)
    return value.argmin(day, where=where)


def btyd_aggregates(
    days: ir.Table, as_of: dt.date, first_net: ir.Value | None = None, purchases_only: bool = False
) -> dict[str, ir.Value]:
    """Aggregates of the BTYD summary over customer-days before ``as_of`` (to use inside a group-by).

    The observation period ends on the day before ``as_of`` (lifetimes' ``observation_period_end``, inclusive):
    ``T`` counts days from the first purchase day to ``as_of - 1 day``. ``first_net`` is the aggregate giving
    the net amount of the first purchase day (default: an arg-min by day). ``purchases_only`` says ``days``
    holds purchase days only, so no aggregate needs a filter.
    """
    p = None if purchases_only else days.is_purchase
    if first_net is None:
        first_net = first_by_day(days.net, days.day, p)
    end = ibis.literal(as_of - dt.timedelta(days=1), type="date")
    first = days.day.min(where=p)
    last = days.day.max(where=p)
    n = days.count(where=p)
    repeat_spend = days.net.sum(where=p) - first_net
    return {
        "frequency": n - 1,
        "recency": last.delta(first, unit="day"),
        "T": end.delta(first, unit="day"),
        "monetary_value": ibis.ifelse(n > 1, repeat_spend / (n - 1), 0.0),
        "first_purchase": first,
        "last_purchase": last,
    }


def quintile_score(table: ir.Table, column: str, name: str, higher_is_better: bool = True) -> ir.Table:
    """Score per distinct value of ``column``: 1 + floor(5 x percent rank) capped at 5, where the percent rank
    of a value is the share of the other customers with a strictly worse value; tied customers share a score.

    A small lookup table (value -> score) from the histogram of values: joining it back is much cheaper than
    sorting the wide feature table.
    """
    hist = table.group_by(column).aggregate(_n=table.count())
    order = hist[column] if higher_is_better else ibis.desc(hist[column])
    worse = hist._n.sum().over(ibis.window(order_by=order, rows=(None, -1))).fill_null(0)
    total = hist._n.sum().over(ibis.window())
    rank = ibis.ifelse(total > 1, worse.cast("float64") / (total - 1), 0.0)
    return hist.select(column, **{name: ibis.least(5, (rank * 5).floor().cast("int64") + 1).cast("int8")})


def rfm_scores(table: ir.Table) -> ir.Table:
    """Add r_score (recency), f_score (purchase days), m_score (total spend, whole currency units), quintiles
    among the customers at this as_of, and the named rfm_segment."""
    base = table.mutate(_spend_units=table.total_spend.floor().cast("int64"))
    # The lookups are small; computing them first keeps the engine from planning the joins around the histograms.
    r = quintile_score(base, "days_since_last", "r_score", higher_is_better=False).cache()
    f = quintile_score(base, "purchase_days", "f_score").cache()
    m = quintile_score(base, "_spend_units", "m_score").cache()
    table = base.inner_join(r, "days_since_last").inner_join(f, "purchase_days").inner_join(m, "_spend_units")
    table = table.drop("_spend_units")
    segment = ibis.cases(
        *[
            (table.r_score.between(rr.start, rr.stop - 1) & table.f_score.between(ff.start, ff.stop - 1), name)
            for name, rr, ff in SEGMENT_RULES
        ],
        else_="Unknown",
    )
    return table.mutate(rfm_segment=segment)


def policy_rows(log: TransactionLog) -> ir.Table:
    return log.rows.distinct() if log.policy.drop_duplicates else log.rows


def daily_activity(log: TransactionLog) -> ir.Table:
    rows = policy_rows(log).mutate(customer_id=lambda t: t.customer_id.cast("string"))
    keys = ["customer_id", "day"]
    if log.has_order:
        sums = {"amount": rows.amount.sum()}
        if log.has_cost:
            sums["cost"] = rows.cost.sum()
        units = rows.group_by([*keys, "order_id"]).aggregate(**sums)
    else:
        units = rows
    aggs = {
        "net": units.amount.sum(),
        "returned": ibis.greatest(-units.amount, 0.0).sum(),
        "orders": (units.amount > 0).cast("int64").sum(),
        "max_order": units.amount.max(),
    }
    if log.has_cost:
        aggs["cost"] = units.cost.sum()
    daily = units.group_by(keys).aggregate(**aggs)
    return daily.mutate(is_purchase=daily.net > 0)


def observed(daily: ir.Table, as_of: dt.date) -> ir.Table:
    return daily.filter(daily.day < ibis.literal(as_of, type="date"))


def with_previous(days: ir.Table) -> ir.Table:
    window = ibis.window(group_by=[days.customer_id, days.is_purchase], order_by=days.day)
    return days.mutate(prev_day=days.day.lag().over(window))


def behaviour_aggregates(days: ir.Table, as_of: dt.date, config: FeatureConfig, has_cost: bool) -> dict:
    p = days.is_purchase
    gap = days.day.delta(days.prev_day, unit="day")
    new_month = p & (days.prev_day.isnull() | (days.day.truncate("M") != days.prev_day.truncate("M")))

    def since(n: int) -> ir.BooleanValue:
        return days.day >= ibis.literal(as_of - dt.timedelta(days=n), type="date")

    aggs = {
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


def features(log: TransactionLog, as_of: dt.date, config: FeatureConfig) -> ir.Table:
    days = with_previous(observed(daily_activity(log), as_of))
    first_net = days.net.sum(where=days.is_purchase & days.prev_day.isnull())
    aggs = btyd_aggregates(days, as_of, first_net) | behaviour_aggregates(days, as_of, config, log.has_cost)
    table = days.group_by("customer_id").aggregate(**aggs)
    table = finish_behaviour(table.filter(table.purchase_days > 0), as_of, config, log.has_cost)
    return rfm_scores(table.cache())


def labels(log: TransactionLog, as_of: dt.date, horizon_days: int) -> ir.Table:
    daily = daily_activity(log)
    seen = observed(daily, as_of)
    customers = seen.filter(seen.is_purchase).select("customer_id").distinct()
    start = ibis.literal(as_of, type="date")
    end = ibis.literal(as_of + dt.timedelta(days=horizon_days), type="date")
    window = daily.filter((daily.day >= start) & (daily.day < end))
    aggs = {"future_purchases": window.count(where=window.is_purchase), "future_spend": window.net.sum()}
    if log.has_cost:
        aggs["future_margin"] = (window.net - window.cost).sum()
    future = window.group_by("customer_id").aggregate(**aggs)
    joined = customers.left_join(future, "customer_id").drop("customer_id_right")
    out = joined.mutate(**{name: joined[name].fill_null(0) for name in aggs})
    return out.mutate(churned=out.future_purchases == 0, horizon_days=ibis.literal(horizon_days, type="int64"))


def report(log: TransactionLog) -> dict:
    """The run summary's counts, by the old two scans (a DISTINCT over every row and a second daily pass)."""
    rows = log.rows
    r = (
        rows.aggregate(
            rows=rows.count(),
            distinct=rows.distinct().count().as_scalar(),
            returns=rows.count(where=rows.amount < 0),
            zeros=rows.count(where=rows.amount == 0),
            first_day=rows.day.min(),
            last_day=rows.day.max(),
            customers=rows.customer_id.nunique(),
        )
        .execute()
        .iloc[0]
    )
    daily = daily_activity(log)
    d = (
        daily.aggregate(
            days=daily.count(),
            purchase_days=daily.count(where=daily.is_purchase),
            buyers=daily.customer_id.nunique(where=daily.is_purchase),
        )
        .execute()
        .iloc[0]
    )
    return {
        "rows": int(r["rows"]),
        "duplicate_rows": int(r["rows"] - r["distinct"]),
        "return_rows": int(r["returns"]),
        "zero_amount_rows": int(r["zeros"]),
        "same_day_rows_merged": int((r["distinct"] if log.policy.drop_duplicates else r["rows"]) - d["days"]),
        "customer_days": int(d["days"]),
        "purchase_days": int(d["purchase_days"]),
        "customers": int(r["customers"]),
        "customers_with_purchase": int(d["buyers"]),
        "first_day": r["first_day"],
        "last_day": r["last_day"],
    }
