"""How busy a calendar window is expected to be, from the log itself: the trailing year's purchase days by
day of year, smoothed and detrended (a growing or shrinking customer base is not a season), relative to that
year's average. Lets models scale forecasts for seasons."""

from __future__ import annotations

import datetime as dt

import ibis.expr.types as ir
import numpy as np
import pandas as pd

YEAR = 365
SMOOTH_DAYS = 29
RECENT_DAYS = 90  # the recent past on which a BTYD forecast leans; its season is a feature too


def purchase_totals(daily: ir.Table) -> pd.Series:
    """Repeat purchase days of all customers per calendar day (a small series: one value per day of the log). First
    purchases are left out: the season that scales a forecast for existing customers is that of their repeat
    purchases, not of acquisition."""
    repeat = daily.filter(daily.is_purchase & ~daily.is_first)
    totals = repeat.group_by("day").aggregate(n=repeat.count()).to_pandas()
    return totals.set_index(pd.to_datetime(totals["day"]))["n"].sort_index().astype(float)


def year_slot(days: pd.DatetimeIndex) -> np.ndarray:
    """Slot 0..364 of each day in a 365-day year: 29 February shares 28 February's slot, so 31 December is 364 in
    leap years too and no two calendar days of a normal year collide."""
    doy = days.dayofyear.to_numpy() - 1
    return doy - (days.is_leap_year & (doy >= 59)).astype(int)


def season_profile(totals: pd.Series, as_of: dt.date) -> list[float] | None:
    """Relative intensity per day of year (index 0 = Jan 1) from the 365 days before ``as_of``; None when the
    log does not cover a full year before it."""
    start = pd.Timestamp(as_of) - pd.Timedelta(days=YEAR)
    if totals.empty or totals.index.min() > start:
        return None
    year = totals[(totals.index >= start) & (totals.index < pd.Timestamp(as_of))]
    days = pd.date_range(start, periods=YEAR, freq="D")
    counts = year.reindex(days, fill_value=0.0).to_numpy()
    kernel = np.ones(SMOOTH_DAYS) / SMOOTH_DAYS
    # Mirrored, not wrapped, at the ends: the year's two ends are a year of growth apart.
    padded = np.pad(counts, SMOOTH_DAYS // 2, mode="reflect")
    smooth = np.convolve(padded, kernel, mode="valid")
    if smooth.min() <= 0:
        return None
    t = np.arange(YEAR)
    slope, intercept = np.polyfit(t, np.log(smooth), 1)
    relative = smooth / np.exp(intercept + slope * t)
    slot = year_slot(days)
    hits = np.bincount(slot, minlength=YEAR)
    profile = np.bincount(slot, weights=relative, minlength=YEAR) / np.maximum(hits, 1)
    if (hits == 0).any():  # a year holding 29 February leaves one slot without a day: take its neighbours' mean
        empty = np.flatnonzero(hits == 0)
        profile[empty] = (profile[(empty - 1) % YEAR] + profile[(empty + 1) % YEAR]) / 2
    return (profile / profile.mean()).tolist()


def season_index(profile: list[float] | None, start: dt.date, window_days: int) -> float:
    """Mean relative intensity over ``[start, start + window_days)``: above 1 for a busy season; NaN if unknown."""
    if profile is None:
        return float("nan")
    slot = year_slot(pd.date_range(pd.Timestamp(start), periods=window_days, freq="D"))
    return float(np.asarray(profile)[slot].mean())


def observed_cumsum(profile: list[float] | None, as_of: dt.date, max_days: int = YEAR) -> np.ndarray | None:
    """Cumulative intensity over the ``max_days`` before ``as_of`` (index k: the first k of those days); the
    per-as_of part of :func:`observed_season`, worth caching when scoring one customer at a time."""
    if profile is None:
        return None
    days = pd.date_range(pd.Timestamp(as_of) - pd.Timedelta(days=max_days), periods=max_days, freq="D")
    values = np.asarray(profile)[year_slot(days)]
    return np.concatenate([[0.0], np.cumsum(values)])


def observed_season(
    profile: list[float] | None, first_purchase, as_of: dt.date, max_days: int = YEAR, csum: np.ndarray | None = None
) -> np.ndarray:
    """Per customer, the mean intensity over the days they were observed (first purchase to ``as_of``, at most
    the last ``max_days``): the season their history, and so their BTYD rate, reflects. NaN if unknown."""
    first = np.asarray(first_purchase).astype("datetime64[D]")
    if csum is None:
        csum = observed_cumsum(profile, as_of, max_days)
    if csum is None:
        return np.full(len(first), np.nan)
    observed = (np.datetime64(as_of, "D") - first).astype(np.int64)
    start = np.clip(max_days - observed, 0, max_days - 1)
    return (csum[max_days] - csum[start]) / (max_days - start)
