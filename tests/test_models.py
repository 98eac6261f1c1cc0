"""Model parts on small hand-made inputs: reasons, segments, drift, intervals, calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.clv import IntervalBands
from models.drift import psi, reference_bins
from models.explain import readable, top_reasons
from models.matrix import feature_columns, to_matrix
from models.segments import SegmentConfig, value_risk_segment, value_thresholds


def test_top_reasons_pick_largest_absolute_contributions_with_direction():
    features = ["days_since_last", "frequency", "spend_90d", "T"]
    contrib = np.array(
        [
            [0.9, -0.1, 0.05, -0.5, 0.3],  # last column is the bias
            [-0.2, -1.5, 0.4, 0.0, 0.3],
        ]
    )
    reasons = top_reasons(contrib, features, k=2)
    assert reasons[0] == "days since last purchase (raises churn risk); customer age in days (lowers churn risk)"
    assert reasons[1] == "repeat purchase days (lowers churn risk); spend in last 90 days (raises churn risk)"
    assert readable("purchases_30d") == "purchases in last 30 days"


def test_value_risk_segments_by_hand():
    cfg = SegmentConfig(high_value_share=0.2, medium_value_share=0.3, watch_from=0.3, at_risk_from=0.6)
    values = np.arange(1, 11, dtype=float)  # 1..10
    high, medium = value_thresholds(values, cfg)
    assert high == pytest.approx(8.2)  # 80th percentile of 1..10 (linear)
    assert medium == pytest.approx(5.5)  # 50th percentile
    seg = value_risk_segment(np.array([9.0, 6.0, 2.0]), np.array([0.7, 0.3, 0.1]), (high, medium), cfg)
    assert seg.tolist() == ["high value / at risk", "medium value / watch", "low value / safe"]


def test_psi_is_zero_for_the_same_population_and_grows_with_shift():
    ref = pd.DataFrame({"x": np.arange(1000, dtype=float)})
    bins = reference_bins(ref, ["x"], bins=4)
    assert psi(bins, ref)["x"] == pytest.approx(0.0, abs=1e-12)
    # Everyone moves to the top quartile: shares (0,0,0,1,0) vs (.25,.25,.25,.25,0).
    shifted = pd.DataFrame({"x": np.full(1000, 999.0)})
    eps = 1e-4
    expected = 3 * (eps - 0.25) * np.log(eps / 0.25) + (1 - 0.25) * np.log(1 / 0.25)
    assert psi(bins, shifted)["x"] == pytest.approx(expected, rel=1e-6)


def test_interval_bands_cover_eighty_percent_even_with_ties_at_zero():
    rng = np.random.default_rng(0)
    pred = rng.uniform(0, 100, 20_000)
    actual = np.where(rng.random(20_000) < 0.5, 0.0, rng.gamma(2.0, pred / 2))  # half are zero
    bands = IntervalBands.fit(pred, actual, bands=10)
    lo, hi = bands.predict(pred)
    inside = (actual >= lo) & (actual <= hi)
    assert inside.mean() == pytest.approx(0.8, abs=0.02)
    fresh_pred = rng.uniform(0, 100, 20_000)
    fresh = np.where(rng.random(20_000) < 0.5, 0.0, rng.gamma(2.0, fresh_pred / 2))
    lo, hi = bands.predict(fresh_pred)
    assert ((fresh >= lo) & (fresh <= hi)).mean() == pytest.approx(0.8, abs=0.03)


def test_feature_matrix_excludes_labels_and_ids_and_codes_segments():
    frame = pd.DataFrame(
        {
            "customer_id": ["a"],
            "frequency": [2],
            "first_purchase": pd.to_datetime(["2024-01-01"]),
            "rfm_segment": ["Lost"],
            "future_spend": [3.0],
            "churned": [True],
        }
    )
    cols = feature_columns(frame)
    assert cols == ["frequency", "rfm_segment"]
    assert to_matrix(frame, cols).tolist() == [[2.0, 10.0]]  # "Lost" is the 11th rule
