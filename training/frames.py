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
from features.planner import Snapshot
from features.policy import daily_activity
from features.seasonality import purchase_totals, season_profile
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
    last_day: dt.date | None = None  # the log's last day with a row (a purchase or a return)
    totals: pd.Series | None = None

    def __post_init__(self) -> None:
        daily = daily_activity(self.log)
        if self.sample_share < 1.0:
            bucket = (daily.customer_id.hash() % SAMPLE_BUCKETS).abs()
            daily = daily.filter(bucket < int(round(self.sample_share * SAMPLE_BUCKETS)))
        self._daily = daily.cache()
        span = self._daily.aggregate(first=self._daily.day.min(), last=self._daily.day.max()).execute().iloc[0]
        self.first_day, self.last_day = (d.date() if hasattr(d, "date") else d for d in (span["first"], span["last"]))
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
