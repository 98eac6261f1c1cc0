"""Training frames: features and labels stacked over several cutoffs before ``as_of``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import ibis
import pandas as pd

from features.build import Transactions, as_date, as_log, features_from_periods
from features.config import FeatureConfig, parse_horizon
from features.errors import InputError
from features.io import materialise
from features.labels import labels_from_periods
from features.periods import customer_periods
from features.planner import Grid, Snapshot, snapshots_before
from features.policy import daily_activity


def snapshot_from_periods(
    periods: ibis.Table, cutoff: dt.date, window_days: int | None, config: FeatureConfig, has_cost: bool
) -> ibis.Table:
    """Features as of ``cutoff`` joined with labels over ``window_days`` after it (features only when None), from
    cached :func:`customer_periods`."""
    feats = features_from_periods(periods, cutoff, config, has_cost)
    if window_days is None:
        return feats
    return feats.inner_join(labels_from_periods(periods, window_days, has_cost), "customer_id")


def snapshot_expr(
    daily: ibis.Table, cutoff: dt.date, window_days: int | None, config: FeatureConfig, has_cost: bool
) -> ibis.Table:
    """Features as of ``cutoff`` joined with labels over ``window_days`` after it, from the customer-day table."""
    periods = materialise(customer_periods(daily, cutoff, config, has_cost, window_days))
    return snapshot_from_periods(periods, cutoff, window_days, config, has_cost)


def build_training_frame(
    transactions: Transactions,
    as_of,
    horizon,
    snapshots: int = 6,
    every="28d",
    partial: bool = False,
    config: FeatureConfig | None = None,
    progress: Callable[[Snapshot], None] | None = None,
    con: ibis.BaseBackend | None = None,
) -> pd.DataFrame:
    """Features + labels at the cutoffs ``as_of - k * every`` the training planner picks
    (:func:`features.planner.snapshots_before`: the newest ``snapshots`` full windows, and with ``partial`` the
    windows cut short at ``as_of``), stacked, with ``snapshot`` and ``horizon_days`` (the label window length)
    columns. No label window reaches past ``as_of``.
    """
    config = config or FeatureConfig()
    log = as_log(transactions, config, con)
    as_of = as_date(as_of)
    horizon_days = parse_horizon(horizon)
    daily = daily_activity(log).cache()
    first_day = daily.aggregate(d=daily.day.min()).execute()["d"].iloc[0]
    first_day = first_day.date() if hasattr(first_day, "date") else first_day
    plan = snapshots_before(as_of, horizon_days, snapshots, Grid(as_of, parse_horizon(every), first_day))
    if not partial:
        plan = [s for s in plan if s.window_days == horizon_days]
    if not any(s.window_days == horizon_days for s in plan):
        raise InputError(
            f"history from {first_day} to {as_of} is too short for a {horizon_days}-day horizon: no cutoff with 28 "
            f"days of log before it has a full label window before as_of; use a shorter horizon or a later as_of"
        )
    frames = []
    for snap in plan:
        joined = snapshot_expr(daily, snap.cutoff, snap.window_days, config, log.has_cost)
        joined = joined.mutate(snapshot=ibis.literal(snap.cutoff, type="date"))
        frame = joined.order_by("customer_id").to_pandas()
        if len(frame):
            frames.append(frame)
        if progress:
            progress(snap)
    out = pd.concat(frames, ignore_index=True)
    front = ["snapshot", "customer_id"]
    return out[front + [c for c in out.columns if c not in front]]
