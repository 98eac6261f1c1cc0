"""The one point-in-time planner: which cutoffs and label windows make the training, validation and backtest
frames. Every window it plans ends on or before the date it is given, so no label reaches past it, and every
cutoff has some history before it. Short logs get shorter windows, never windows of a few days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from features.errors import InputError

MIN_HISTORY_DAYS = 28  # log before a training cutoff: customers need a history to have features
MIN_WINDOW_DAYS = 28  # shortest label window worth learning from (the horizon itself when that is shorter)
MIN_TRAIN_HISTORY_DAYS = 2 * MIN_WINDOW_DAYS  # one window to fit the baseline on, one to backtest it on


@dataclass(frozen=True)
class Snapshot:
    """A cutoff and the length of its label window (shorter than the horizon when cut at the frame's end)."""

    cutoff: dt.date
    window_days: int


@dataclass(frozen=True)
class Grid:
    """Training cutoffs ``anchor - k * every`` (k >= 1), shared by every frame of a run so each cutoff's
    features are computed once; none with less than ``MIN_HISTORY_DAYS`` of log before it."""

    anchor: dt.date
    every_days: int
    first_day: dt.date

    def __post_init__(self) -> None:
        if self.every_days < 1:
            raise InputError(f"every must be at least 1 day, got {self.every_days}")

    def before(self, end: dt.date) -> list[dt.date]:
        """Grid cutoffs strictly before ``end``, newest first."""
        out, k = [], 1
        while True:
            c = self.anchor - dt.timedelta(days=k * self.every_days)
            if (c - self.first_day).days < MIN_HISTORY_DAYS:
                return out
            if c < end:
                out.append(c)
            k += 1


def min_window(horizon_days: int) -> int:
    return min(MIN_WINDOW_DAYS, horizon_days)


def snapshots_before(end: dt.date, horizon_days: int, snapshots: int, grid: Grid) -> list[Snapshot]:
    """Grid cutoffs before ``end`` with windows cut at ``end``: every cut-short window of at least
    :func:`min_window` days and the newest ``snapshots`` full ones, newest first."""
    if snapshots < 1:
        raise InputError(f"snapshots must be at least 1, got {snapshots}")
    plan, full = [], 0
    for c in grid.before(end):
        window = min(horizon_days, (end - c).days)
        if window < min_window(horizon_days):
            continue
        if window == horizon_days:
            if full == snapshots:
                continue
            full += 1
        plan.append(Snapshot(c, window))
    return plan


@dataclass(frozen=True)
class FramePlan:
    """The cutoffs of one fit whose labels must end by ``end``: training windows end by the validation cutoff, the
    validation window runs from it to ``end``. ``train`` is empty when the history holds no training window."""

    end: dt.date
    validation: Snapshot
    train: list[Snapshot]


def plan_frames(end: dt.date, horizon_days: int, snapshots: int, grid: Grid) -> FramePlan:
    """Validation window L = min(horizon, half the history before ``end``) just before ``end``; training
    snapshots whose label windows end by its cutoff. So no training label comes from the validation period."""
    history = (end - grid.first_day).days
    window = max(1, min(horizon_days, history // 2))
    v = end - dt.timedelta(days=window)
    train = snapshots_before(v, horizon_days, snapshots, grid) if window >= min_window(horizon_days) else []
    return FramePlan(end=end, validation=Snapshot(v, window), train=train)


def backtest_window(history_days: int, horizon_days: int) -> int:
    """The backtest's window: the horizon, or a third of the history when that is shorter, so the model being
    backtested keeps two thirds of the log to train and validate on."""
    if history_days < MIN_TRAIN_HISTORY_DAYS:
        raise InputError(
            f"the history is {history_days} days: at least {MIN_TRAIN_HISTORY_DAYS} days are needed (one window to "
            "fit the baseline on and one to backtest it on); use a later --as-of"
        )
    return min(horizon_days, max(history_days // 3, min_window(horizon_days)))


def training_every(every_days: int, history_days: int) -> int:
    """The grid spacing: ``every``, made finer for short logs (about 20 cutoffs over the history, at least weekly)
    so that a year of history still gives several training snapshots."""
    return min(every_days, max(7, history_days // 20))
