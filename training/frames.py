"""Training, validation and backtest frames, each feature snapshot computed once and reused.

Every frame here is point in time: features at a cutoff from rows before it, labels from a window after it that
never reaches past the frame's end date. The BTYD baseline of each cutoff is fitted on that cutoff's features.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from features import FeatureConfig, InputError, PolicyReport, TransactionLog
from features.build import features_from_periods
from features.engine import sample_bucket
from features.labels import labels_from_periods
from features.periods import customer_periods
from features.planner import Snapshot
from features.policy import activity_aggregates, daily_activity, policy_report
from features.seasonality import purchase_totals, season_profile
from models.btyd import BTYDBaseline
from models.bundle import add_baseline, add_season, fit_baseline


def sample_share(customers: int, cutoffs: int, max_rows: int) -> float:
    """The share of customers that keeps about ``max_rows`` training rows over ``cutoffs`` snapshots."""
    return min(1.0, max_rows / max(customers * cutoffs, 1))


@dataclass
class SnapshotStore:
    """The customer-day table of one validated log, materialised once, and the features, labels and fitted
    baselines of each cutoff computed from it (one group-by per cutoff) and memoised.

    :meth:`sample` keeps a fixed random share of customers (by a hash of the id) for every cutoff alike, so large
    logs train on a consistent panel within the row budget.
    """

    log: TransactionLog
    config: FeatureConfig
    progress: Callable[[str], None] | None = None  # hears of each group-by of the customer-day table
    sample_share: float = 1.0
    report: PolicyReport | None = None
    _daily: object = None
    _features: dict = field(default_factory=dict)
    _labels: dict = field(default_factory=dict)
    _baselines: dict = field(default_factory=dict)
    _profiles: dict = field(default_factory=dict)
    first_day: dt.date | None = None
    last_day: dt.date | None = None  # the log's last day with a row (a purchase or a return)
    totals: pd.Series | None = None

    def __post_init__(self) -> None:
        daily = daily_activity(self.log, report=True).cache()
        by_customer = daily.group_by("customer_id").aggregate(
            purchase_days=daily.is_purchase.cast("int64").sum(), **activity_aggregates(daily)
        )
        self.report = policy_report(self.log, by_customer)
        self.first_day, self.last_day = self.report.first_day, self.report.last_day
        self._daily = daily
        self.totals = purchase_totals(self._daily)

    def sample(self, share: float) -> None:
        """Keep about ``share`` of the customers from now on (the same ones on every engine: by an md5 digest of
        the id as text)."""
        if share >= 1.0:
            return
        daily = self._daily
        self._daily = daily.filter(sample_bucket(daily.customer_id, share)).cache()
        daily.release()
        self.sample_share = share
        self.totals = purchase_totals(self._daily)

    def profile(self, cutoff: dt.date) -> list[float] | None:
        """The season profile known at ``cutoff`` (from the year before it)."""
        if cutoff not in self._profiles:
            self._profiles[cutoff] = season_profile(self.totals, cutoff)
        return self._profiles[cutoff]

    def _load(self, cutoff: dt.date, window_days: int | None) -> None:
        """Features of ``cutoff`` and labels of its window from one group-by of the customer-day table."""
        want_features = cutoff not in self._features
        want_labels = window_days is not None and (cutoff, window_days) not in self._labels
        if not (want_features or want_labels):
            return
        if self.progress:
            self.progress(f"features as of {cutoff}")
        periods = customer_periods(self._daily, cutoff, self.config, self.log.has_cost, window_days).cache()
        try:
            if want_features:
                expr = features_from_periods(periods, cutoff, self.config, self.log.has_cost)
                self._features[cutoff] = expr.order_by("customer_id").to_pandas()
            if want_labels:
                expr = labels_from_periods(periods, window_days, self.log.has_cost)
                self._labels[(cutoff, window_days)] = expr.order_by("customer_id").to_pandas()
        finally:
            periods.release()

    def features(self, cutoff: dt.date) -> pd.DataFrame:
        self._load(cutoff, None)
        return self._features[cutoff]

    def labels(self, cutoff: dt.date, window_days: int) -> pd.DataFrame:
        self._load(cutoff, window_days)
        return self._labels[(cutoff, window_days)]

    def baseline(self, cutoff: dt.date) -> BTYDBaseline:
        if cutoff not in self._baselines:
            self._baselines[cutoff] = fit_baseline(self.features(cutoff))
        return self._baselines[cutoff]

    def snapshot(self, snap: Snapshot) -> pd.DataFrame:
        """Features + BTYD columns + labels for one cutoff and window length."""
        self._load(snap.cutoff, snap.window_days)
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
