"""The season profile: one slot per day of a 365-day year, leap years included."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.seasonality import YEAR, observed_season, season_index, season_profile


def flat_totals(start: str, end: str) -> pd.Series:
    days = pd.date_range(start, end, freq="D", inclusive="left")
    return pd.Series(10.0, index=days)


@pytest.mark.parametrize("as_of", [dt.date(2025, 1, 1), dt.date(2025, 7, 1), dt.date(2024, 3, 1), dt.date(2023, 6, 1)])
def test_a_flat_log_has_a_flat_profile_whatever_the_leap_days(as_of):
    # The trailing year of 2025-01-01 holds 29 Feb and 31 Dec 2024: every slot must still be written, and equal 1.
    profile = season_profile(flat_totals("2022-01-01", "2025-12-31"), as_of)
    assert len(profile) == YEAR
    assert np.allclose(profile, 1.0)


def test_thirty_first_of_december_is_the_last_slot_in_leap_years_too():
    ramp = list(range(YEAR))  # slot i holds i, so an index reads back as the slot it used
    assert season_index(ramp, dt.date(2024, 12, 31), 1) == 364
    assert season_index(ramp, dt.date(2023, 12, 31), 1) == 364
    assert season_index(ramp, dt.date(2024, 2, 29), 1) == 58  # shares 28 February's slot
    assert season_index(ramp, dt.date(2024, 3, 1), 1) == 59
    assert season_index(ramp, dt.date(2025, 1, 1), 2) == 0.5


def test_observed_season_over_a_leap_year_reads_each_slot_once_but_the_shared_one():
    ramp = np.arange(YEAR, dtype=float)
    # Observed from 2024-12-30 to the day before 2025-01-01: slots 363 and 364.
    got = observed_season(ramp.tolist(), np.array(["2024-12-30"], dtype="datetime64[D]"), dt.date(2025, 1, 1))
    assert got[0] == pytest.approx((363 + 364) / 2)
