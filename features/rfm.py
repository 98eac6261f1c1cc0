"""The buy-till-you-die summary (lifetimes' definitions at day resolution), RFM scores and named segments."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

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


def btyd_aggregates(days: ir.Table, as_of: dt.date) -> dict[str, ir.Value]:
    """Aggregates of the BTYD summary over customer-days before ``as_of`` (to use inside a group-by).

    The observation period ends on the day before ``as_of`` (lifetimes' ``observation_period_end``, inclusive):
    ``T`` counts days from the first purchase day to ``as_of - 1 day``.
    """
    p = days.is_purchase
    end = ibis.literal(as_of - dt.timedelta(days=1), type="date")
    first = days.day.min(where=p)
    last = days.day.max(where=p)
    n = days.count(where=p)
    repeat_spend = days.net.sum(where=p) - days.net.argmin(days.day, where=p)
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
    days = observed(daily, as_of)
    out = days.group_by("customer_id").aggregate(**btyd_aggregates(days, as_of))
    return out.filter(out.first_purchase.notnull())


def _score(rank: ir.FloatingValue) -> ir.IntegerValue:
    """Quintile score 1-5 from a percent rank; tied customers share the lower score."""
    return ibis.least(5, (rank * 5).floor().cast("int64") + 1).cast("int8")


def rfm_scores(table: ir.Table) -> ir.Table:
    """Add r_score, f_score, m_score (quintiles at this as_of) and the named rfm_segment."""
    r = _score(ibis.percent_rank().over(order_by=ibis.desc(table.days_since_last)))
    f = _score(ibis.percent_rank().over(order_by=table.purchase_days))
    m = _score(ibis.percent_rank().over(order_by=table.total_spend))
    scored = table.mutate(r_score=r, f_score=f, m_score=m)
    segment = ibis.cases(
        *[
            (scored.r_score.between(rr.start, rr.stop - 1) & scored.f_score.between(ff.start, ff.stop - 1), name)
            for name, rr, ff in SEGMENT_RULES
        ],
        else_="Unknown",
    )
    return scored.mutate(rfm_segment=segment)
