"""Training, validation and backtest frames, each feature snapshot computed once and reused.

Every frame here is point in time: features at a cutoff from rows before it, labels from a window after it that
never reaches past the frame's end date. The BTYD baseline of each cutoff is fitted on that cutoff's features.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from features import FeatureConfig, InputError, TransactionLog
from features.build import features_from_daily
from features.labels import labels_from_daily
from features.policy import daily_activity
from features.seasonality import purchase_totals, season_profile
from features.snapshots import Snapshot
from models.btyd import BTYDBaseline
from models.bundle import add_baseline, add_season, fit_baseline

SAMPLE_BUCKETS = 10_000


def sample_share(log: TransactionLog, cutoffs: int, max_rows: int) -> float:
    """The share of customers that keeps about ``max_rows`` training rows over ``cutoffs`` snapshots."""
    customers = int(log.rows.customer_id.nunique().execute())
    return min(1.0, max_rows / max(customers * cutoffs, 1))


@dataclass
class SnapshotStore:
    """Memoises features, labels and fitted baselines per cutoff over one validated log.

    ``sample_share`` < 1 keeps a fixed random share of customers (by a hash of the id) for every cutoff alike, so
    large logs train on a consistent panel within the row budget.
    """

    log: TransactionLog
    config: FeatureConfig
    progress: Callable[[str], None] | None = None
    sample_share: float = 1.0
    _daily: object = None
    _features: dict = field(default_factory=dict)
    _labels: dict = field(default_factory=dict)
    _baselines: dict = field(default_factory=dict)
    _profiles: dict = field(default_factory=dict)
    first_day: dt.date | None = None
    totals: pd.Series | None = None

    def __post_init__(self) -> None:
        daily = daily_activity(self.log)
        if self.sample_share < 1.0:
            bucket = (daily.customer_id.hash() % SAMPLE_BUCKETS).abs()
            daily = daily.filter(bucket < int(round(self.sample_share * SAMPLE_BUCKETS)))
        self._daily = daily.cache()
        first = self._daily.aggregate(d=self._daily.day.min()).execute()["d"].iloc[0]
        self.first_day = first.date() if hasattr(first, "date") else first
        self.totals = purchase_totals(self._daily)

    def profile(self, cutoff: dt.date) -> list[float] | None:
        """The season profile known at ``cutoff`` (from the year before it)."""
        if cutoff not in self._profiles:
            self._profiles[cutoff] = season_profile(self.totals, cutoff)
        return self._profiles[cutoff]

    def features(self, cutoff: dt.date) -> pd.DataFrame:
        if cutoff not in self._features:
            if self.progress:
                self.progress(f"features as of {cutoff}")
            expr = features_from_daily(self._daily, cutoff, self.config, self.log.has_cost)
            self._features[cutoff] = expr.order_by("customer_id").to_pandas()
        return self._features[cutoff]

    def labels(self, cutoff: dt.date, window_days: int) -> pd.DataFrame:
        key = (cutoff, window_days)
        if key not in self._labels:
            expr = labels_from_daily(self._daily, cutoff, window_days, self.log.has_cost)
            self._labels[key] = expr.order_by("customer_id").to_pandas()
        return self._labels[key]

    def baseline(self, cutoff: dt.date) -> BTYDBaseline:
        if cutoff not in self._baselines:
            self._baselines[cutoff] = fit_baseline(self.features(cutoff))
        return self._baselines[cutoff]

    def snapshot(self, snap: Snapshot) -> pd.DataFrame:
        """Features + BTYD columns + labels for one cutoff and window length."""
        feats = self.features(snap.cutoff)
        if feats.empty:
            return feats
        labels = self.labels(snap.cutoff, snap.window_days).drop(columns=["horizon_days"])
        frame = feats.merge(labels, on="customer_id", how="inner")
        frame = add_baseline(frame, self.baseline(snap.cutoff), snap.window_days)
        frame = frame.assign(snapshot=pd.Timestamp(snap.cutoff), horizon_days=snap.window_days)
        return add_season(frame, self.profile(snap.cutoff), snap.cutoff, snap.window_days)

    def frame(self, plan: list[Snapshot]) -> pd.DataFrame:
        parts = [self.snapshot(s) for s in plan]
        parts = [p for p in parts if not p.empty]
        if not parts:
            raise InputError("no customer has a purchase before any training cutoff: the history is too short")
        return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class FramePlan:
    """Which cutoffs make the training and validation frames for a model whose labels must end by ``end``."""

    end: dt.date
    validation: Snapshot
    train: list[Snapshot]


@dataclass(frozen=True)
class Grid:
    """Training cutoffs ``anchor - k * every`` (k >= 1), shared by every frame of a run so each cutoff's
    features are computed once; none closer than ``min_history_days`` to the first day of the log."""

    anchor: dt.date
    every_days: int
    first_day: dt.date
    min_history_days: int = 56

    def before(self, end: dt.date) -> list[dt.date]:
        out, k = [], 1
        while True:
            c = self.anchor - dt.timedelta(days=k * self.every_days)
            if (c - self.first_day).days < min(self.min_history_days, self.every_days):
                return out
            if c < end:
                out.append(c)
            k += 1


def snapshots_before(end: dt.date, horizon_days: int, snapshots: int, grid: Grid) -> list[Snapshot]:
    """Grid cutoffs before ``end``, windows cut at ``end``: every cut-short one and the newest ``snapshots`` full."""
    plan, full = [], 0
    for c in grid.before(end):
        window = min(horizon_days, (end - c).days)
        if window < horizon_days:
            plan.append(Snapshot(c, window))
        elif full < snapshots:
            plan.append(Snapshot(c, window))
            full += 1
    return plan


def plan_frames(end: dt.date, horizon_days: int, snapshots: int, grid: Grid) -> FramePlan:
    """Validation: the cutoff ``v = end - L`` with window L = min(horizon, half the history), labels up to ``end``.
    Training: grid snapshots whose label windows end by ``v`` (full windows, and windows cut short at ``v`` whose
    length the model sees). So training never sees a label from the validation period, and works with short
    histories (12 months of history, 6-month horizon)."""
    history = (end - grid.first_day).days
    if history < 2 * grid.min_history_days:
        raise InputError(
            f"history from {grid.first_day} to {end} is {history} days: at least {2 * grid.min_history_days} days "
            "are needed to train and validate"
        )
    window = min(horizon_days, history // 2)
    v = end - dt.timedelta(days=window)
    train = snapshots_before(v, horizon_days, snapshots, grid)
    if not train:
        raise InputError(
            f"no training cutoff between {grid.first_day} and {v}: use a shorter --every or a later --as-of"
        )
    return FramePlan(end=end, validation=Snapshot(v, window), train=train)
