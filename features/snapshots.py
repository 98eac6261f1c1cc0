"""Training frames: features and labels stacked over several cutoffs before ``as_of``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import ibis
import pandas as pd

from features.build import Transactions, as_date, as_log, features_from_daily
from features.config import FeatureConfig, parse_horizon
from features.errors import InputError
from features.labels import labels_from_daily
from features.policy import daily_activity


@dataclass(frozen=True)
class Snapshot:
    """A cutoff and the length of its label window (shorter than the horizon when cut at ``as_of``)."""

    cutoff: dt.date
    window_days: int


def snapshot_plan(
    as_of: dt.date, horizon_days: int, snapshots: int, every_days: int, first_day: dt.date, partial: bool = False
) -> list[Snapshot]:
    """Cutoffs whose label windows end on or before ``as_of``, newest first, none before ``first_day``.

    Full windows: ``as_of - horizon - i * every`` for i < ``snapshots``. With ``partial``, also the cutoffs
    ``as_of - j * every`` inside the last horizon, whose windows are cut short at ``as_of``.
    """
    if snapshots < 1 or every_days < 1:
        raise InputError("snapshots and every must be at least 1")
    plan = []
    if partial:
        j = 1
        while j * every_days < horizon_days:
            plan.append(Snapshot(as_of - dt.timedelta(days=j * every_days), j * every_days))
            j += 1
    for i in range(snapshots):
        plan.append(Snapshot(as_of - dt.timedelta(days=horizon_days + i * every_days), horizon_days))
    return [s for s in plan if s.cutoff > first_day]


def snapshot_expr(
    daily: ibis.Table, cutoff: dt.date, window_days: int | None, config: FeatureConfig, has_cost: bool
) -> ibis.Table:
    """Features as of ``cutoff`` joined with labels over ``window_days`` after it (features only when None)."""
    feats = features_from_daily(daily, cutoff, config, has_cost)
    if window_days is None:
        return feats
    return feats.inner_join(labels_from_daily(daily, cutoff, window_days, has_cost), "customer_id")


def build_training_frame(
    transactions: Transactions,
    as_of,
    horizon,
    snapshots: int = 6,
    every="28d",
    partial: bool = False,
    config: FeatureConfig | None = None,
    progress: Callable[[Snapshot], None] | None = None,
) -> pd.DataFrame:
    """Features + labels for each cutoff of :func:`snapshot_plan`, stacked, with ``snapshot`` and
    ``horizon_days`` (the label window length) columns. No label window reaches past ``as_of``.
    """
    config = config or FeatureConfig()
    log = as_log(transactions, config)
    as_of = as_date(as_of)
    horizon_days = parse_horizon(horizon)
    daily = daily_activity(log).cache()
    first_day = daily.aggregate(d=daily.day.min()).execute()["d"].iloc[0]
    first_day = first_day.date() if hasattr(first_day, "date") else first_day
    plan = snapshot_plan(as_of, horizon_days, snapshots, parse_horizon(every), first_day, partial)
    if not any(s.window_days == horizon_days for s in plan):
        raise InputError(
            f"history from {first_day} to {as_of} is too short for a {horizon_days}-day horizon: the first "
            f"full label window must start after the first purchase day; use a shorter horizon or a later as_of"
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
