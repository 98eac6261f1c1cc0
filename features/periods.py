"""Customer periods: one group-by over the customer-day table gives the features before a cutoff, the labels in
the window after it and the run summary's counts, so no command aggregates the log twice."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from features.behaviour import behaviour_aggregates, first_purchase_net
from features.config import FeatureConfig
from features.errors import InputError
from features.policy import activity_aggregates
from features.rfm import btyd_aggregates

BEFORE, WINDOW, LATER = 0, 1, 2  # rows before the cutoff, in the label window, after it


def customer_periods(
    daily: ir.Table,
    as_of: dt.date,
    config: FeatureConfig,
    has_cost: bool,
    window_days: int | None = None,
    later: bool = False,
    report: bool = False,
) -> ir.Table:
    """One row per customer and ``period``: ``BEFORE`` as_of (what features may see), the label ``WINDOW``
    ``[as_of, as_of + window_days)`` and, with ``later``, the rest of the log (``LATER``, for the run summary).

    Columns: the feature aggregates (:func:`features.rfm.btyd_aggregates`, :func:`behaviour_aggregates`), whose sums
    in the window are the labels, and with ``report`` (over ``daily_activity(..., report=True)``) the run summary's
    counts.
    """
    _check_reach(as_of, config, window_days or 0)
    start = ibis.literal(as_of, type="date")
    end = ibis.literal(as_of + dt.timedelta(days=window_days or 0), type="date")
    days = daily if later else daily.filter(daily.day < end)
    days = days.mutate(period=ibis.ifelse(days.day < start, BEFORE, ibis.ifelse(days.day < end, WINDOW, LATER)))
    aggs = btyd_aggregates(days, as_of, first_purchase_net(days)) | behaviour_aggregates(days, as_of, config, has_cost)
    if report:
        aggs |= activity_aggregates(days)
    return days.group_by("customer_id", "period").aggregate(**aggs)


def _check_reach(as_of: dt.date, config: FeatureConfig, window_days: int) -> None:
    """The feature windows look back and the label window forward from ``as_of``: both must stay on the calendar."""
    back = max((*config.windows, 2 * config.trend_days))
    if (as_of - dt.date.min).days < back or (dt.date.max - as_of).days < window_days:
        raise InputError(
            f"as_of {as_of} is too close to the ends of the calendar: the features look back {back} days and the "
            f"labels {window_days} days ahead; use a date between year 2 and year 9998"
        )


def customers_before(periods: ir.Table) -> ir.Table:
    """The rows of customers with a purchase before the cutoff: those that get features and labels."""
    return periods.filter((periods.period == BEFORE) & (periods.purchase_days > 0))


def public_ids(table: ir.Table) -> ir.Table:
    """Customer ids as text, whatever their type in the log: every output gives them out alike."""
    return table.mutate(customer_id=table.customer_id.cast("string"))
