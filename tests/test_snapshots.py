"""Training frames over several cutoffs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features import InputError, build_features, build_labels, build_training_frame
from features.snapshots import Snapshot, snapshot_plan

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
    plan = snapshot_plan(AS_OF, 100, 3, 30, dt.date(2023, 1, 1), partial=True)
    d = dt.timedelta
    assert plan == [
        Snapshot(AS_OF - d(30), 30),
        Snapshot(AS_OF - d(60), 60),
        Snapshot(AS_OF - d(90), 90),
        Snapshot(AS_OF - d(100), 100),
        Snapshot(AS_OF - d(130), 100),
        Snapshot(AS_OF - d(160), 100),
    ]
    # cutoffs on or before the first day of the log are dropped
    assert snapshot_plan(AS_OF, 100, 3, 30, AS_OF - d(130)) == [Snapshot(AS_OF - d(100), 100)]


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
    cutoff = dt.date(2023, 10, 3)  # AS_OF - 90 days
    part = frame[frame["snapshot"] == pd.Timestamp(cutoff)].drop(columns=["snapshot"]).reset_index(drop=True)
    expected = build_features(data, cutoff).merge(build_labels(data, cutoff, "90d"), on="customer_id")
    pd.testing.assert_frame_equal(part[expected.columns], expected, check_exact=False, rtol=1e-9)


def test_too_short_history_is_an_input_error():
    data = year_of_history()
    with pytest.raises(InputError, match="too short"):
        build_training_frame(data, AS_OF, "400d")
