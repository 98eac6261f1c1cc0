"""Training frames over several cutoffs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features import InputError, build_features, build_labels, build_training_frame
from features.planner import Grid, Snapshot, backtest_window, plan_frames, snapshots_before, training_every

AS_OF = dt.date(2024, 1, 1)


def year_of_history(seed: int = 0) -> pd.DataFrame:
    """Twelve months of history before AS_OF (the short real case)."""
    rng = np.random.default_rng(seed)
    n = 3000
    return pd.DataFrame(
        {
            "customer_id": rng.integers(0, 300, n).astype(str),
            "date": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "amount": rng.gamma(2, 20, n).round(2),
        }
    )


def test_plan_by_hand():
    d = dt.timedelta
    grid = Grid(AS_OF, 30, dt.date(2023, 1, 1))
    assert snapshots_before(AS_OF, 100, 3, grid) == [
        Snapshot(AS_OF - d(30), 30),
        Snapshot(AS_OF - d(60), 60),
        Snapshot(AS_OF - d(90), 90),
        Snapshot(AS_OF - d(120), 100),
        Snapshot(AS_OF - d(150), 100),
        Snapshot(AS_OF - d(180), 100),
    ]
    # cutoffs with less than 28 days of log before them are dropped: 130 - 30 k >= 28 keeps k <= 3
    short = Grid(AS_OF, 30, AS_OF - d(130))
    assert snapshots_before(AS_OF, 100, 3, short) == [Snapshot(AS_OF - d(k * 30), k * 30) for k in (1, 2, 3)]
    # windows shorter than 28 days are never planned: with every = 10, the first cutoff (window 10) and the second
    # (window 20) go
    assert [s.window_days for s in snapshots_before(AS_OF, 100, 1, Grid(AS_OF, 10, dt.date(2023, 1, 1)))] == [
        30, 40, 50, 60, 70, 80, 90, 100,
    ]  # fmt: skip


def test_frames_and_backtest_windows_by_hand():
    d = dt.timedelta
    first = AS_OF - d(270)  # nine months of history, a 182-day horizon
    assert backtest_window(270, 182) == 90  # a third of the history
    assert backtest_window(1000, 182) == 182
    assert training_every(28, 270) == 13 and training_every(28, 1000) == 28
    grid = Grid(AS_OF, 13, first)
    plan = plan_frames(AS_OF, 182, 6, grid)
    assert plan.validation == Snapshot(AS_OF - d(135), 135)  # half the history
    # Grid cutoffs AS_OF - 13 k: a window cut at v = AS_OF - 135 of at least 28 days needs 13 k >= 163 (k >= 13),
    # 28 days of log before the cutoff needs 270 - 13 k >= 28 (k <= 18).
    assert plan.train == [Snapshot(AS_OF - d(13 * k), 13 * k - 135) for k in range(13, 19)]
    with pytest.raises(InputError, match="at least 56 days"):
        backtest_window(40, 182)


def test_twelve_months_of_history_and_a_six_month_horizon():
    data = year_of_history()
    frame = build_training_frame(data, AS_OF, "181d", snapshots=6, every="28d", partial=True)
    windows = frame.groupby("snapshot")["horizon_days"].first()
    full = windows[windows == 181]
    assert len(full) == 6 and len(windows) > 6
    # No label window reaches past as_of.
    ends = pd.to_datetime(windows.index) + pd.to_timedelta(windows.to_numpy(), unit="D")
    assert (ends <= pd.Timestamp(AS_OF)).all()


def test_each_snapshot_equals_features_and_labels_at_its_cutoff():
    data = year_of_history(1)
    frame = build_training_frame(data, AS_OF, "90d", snapshots=2, every="60d")
    cutoff = dt.date(2023, 9, 3)  # AS_OF - 120 days: the newest grid cutoff (every 60 days) with a full window
    part = frame[frame["snapshot"] == pd.Timestamp(cutoff)].drop(columns=["snapshot"]).reset_index(drop=True)
    expected = build_features(data, cutoff).merge(build_labels(data, cutoff, "90d"), on="customer_id")
    pd.testing.assert_frame_equal(part[expected.columns], expected, check_exact=False, rtol=1e-9)


def test_too_short_history_is_an_input_error():
    data = year_of_history()
    with pytest.raises(InputError, match="too short"):
        build_training_frame(data, AS_OF, "400d")
