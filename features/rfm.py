"""The buy-till-you-die summary (lifetimes' definitions at day resolution), RFM scores and named segments."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from features.aggregates import when
from features.engine import arg_min

# (segment, R scores, F scores): the first rule that matches a customer's (R, F) names the segment.
# Every one of the 25 (R, F) cells is matched by exactly one rule (tests check it).
SEGMENT_RULES: tuple[tuple[str, range, range], ...] = (
    ("Champions", range(5, 6), range(4, 6)),
    ("Loyal", range(3, 5), range(4, 6)),
    ("Potential loyalist", range(4, 6), range(2, 4)),
    ("New", range(5, 6), range(1, 2)),
    ("Promising", range(4, 5), range(1, 2)),
    ("Need attention", range(3, 4), range(3, 4)),
    ("About to sleep", range(3, 4), range(1, 3)),
    ("Can't lose", range(1, 3), range(5, 6)),
    ("At risk", range(1, 3), range(3, 5)),
    ("Hibernating", range(2, 3), range(1, 3)),
    ("Lost", range(1, 2), range(1, 3)),
)


def segment_of(r: int, f: int) -> str:
    """The segment of one (R, F) pair, from :data:`SEGMENT_RULES`."""
    return next(name for name, rr, ff in SEGMENT_RULES if r in rr and f in ff)


def observed(daily: ir.Table, as_of: dt.date) -> ir.Table:
    """Customer-days strictly before ``as_of``: the only rows any feature may see."""
    return daily.filter(daily.day < ibis.literal(as_of, type="date"))


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
        first_net = arg_min(days.net, days.day, p)
    end = ibis.literal(as_of - dt.timedelta(days=1), type="date")
    day, net = (days.day, days.net) if p is None else (when(p, days.day), when(p, days.net))
    first = day.min()
    last = day.max()
    n = day.count()
    repeat_spend = net.sum() - first_net
    return {
        "frequency": n - 1,
        "recency": last.delta(first, unit="day"),
        "T": end.delta(first, unit="day"),
        "monetary_value": ibis.ifelse(n > 1, repeat_spend / (n - 1), 0.0),
        "first_purchase": first,
        "last_purchase": last,
    }


def btyd_summary(daily: ir.Table, as_of: dt.date) -> ir.Table:
    """One row per customer with a purchase before ``as_of``: frequency, recency, T, monetary_value."""
    days = observed(daily.select("customer_id", "day", "net", "is_purchase"), as_of)
    days = days.filter(days.is_purchase)
    return days.group_by("customer_id").aggregate(**btyd_aggregates(days, as_of, purchases_only=True))


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
