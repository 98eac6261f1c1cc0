"""Model parts on small hand-made inputs: reasons, segments, drift, intervals, calibration."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from models.blend import choose, log_loss, poisson_deviance, tweedie_deviance
from models.clv import IntervalBands
from models.drift import psi, reference_bins
from models.explain import baseline_contributions, readable, top_reasons
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


def test_interval_bands_are_conformal_order_statistics_by_hand():
    # One band (fewer than 200 customers), n = 19 ratios 1..19: the lower bound is the floor(20 x 0.1) = 2nd
    # smallest, the upper the ceil(20 x 0.9) = 18th smallest.
    bands = IntervalBands.fit(np.ones(19), np.arange(1.0, 20.0))
    assert bands.edges == [] and bands.lower == [2.0] and bands.upper == [18.0]
    lo, hi = bands.predict(np.array([10.0]))
    assert lo[0] == 20.0 and hi[0] == 180.0
    # Five of 19 spent nothing (or returned goods): the honest P10 is 0.
    with_zeros = IntervalBands.fit(np.ones(19), np.array([0.0] * 4 + [-3.0] + list(range(1, 15))))
    assert with_zeros.lower == [0.0] and with_zeros.upper == [13.0]
    # n = 5: no order statistic is a valid P10 (floor(6 x 0.1) = 0) and the P90 is the largest.
    assert IntervalBands.fit(np.ones(5), np.arange(1.0, 6.0)).lower == [0.0]
    assert IntervalBands.fit(np.ones(5), np.arange(1.0, 6.0)).upper == [5.0]


def test_interval_bands_hold_both_tails_on_fresh_customers_with_ties_at_zero():
    rng = np.random.default_rng(0)

    def customers(n):
        pred = rng.uniform(1, 100, n)
        return pred, np.where(rng.random(n) < 0.5, 0.0, rng.gamma(2.0, pred))  # half buy nothing

    bands = IntervalBands.fit(*customers(20_000))
    assert len(bands.edges) == 9  # ten bands of predicted value
    pred, actual = customers(20_000)
    lo, hi = bands.predict(pred)
    assert (lo == 0).all()  # half of every band spends nothing: P10 = 0 is the honest answer
    assert (actual > hi).mean() == pytest.approx(0.1, abs=0.01)
    assert (hi > pred).mean() > 0.99  # yet the upper bound says more than the point forecast


def test_blend_weight_is_the_best_scoring_when_it_beats_the_baseline_beyond_noise():
    rows = np.arange(100.0)
    # Per-row loss (w - 0.3)^2 + row noise shared by every w: the gain over w = 0 is 0.09 on every row, no noise.
    choice = choose(lambda w: (w - 0.3) ** 2 + rows)
    assert choice.weight == 0.3 and choice.name == "blend" and choice.rows == 100
    assert choice.scores == {
        "model": pytest.approx(0.49 + 49.5),
        "baseline": pytest.approx(0.09 + 49.5),
        "chosen": pytest.approx(49.5),
    }
    assert choose(lambda w: np.ones(5)).weight == 0.0  # nothing to gain: the baseline, as is
    assert choose(lambda w: -w * np.ones(5)).name == "model"
    # A mean gain of 0.1 whose row gains are +-1 (standard error 0.1 on 100 rows): inside the noise, baseline.
    swing = np.where(np.arange(100) % 2 == 0, 1.0, -1.0)
    assert choose(lambda w: -w * (0.1 + swing)).weight == 0.0
    # The same gain on 10,000 rows (standard error 0.01): beyond it, the model.
    swing = np.where(np.arange(10_000) % 2 == 0, 1.0, -1.0)
    assert choose(lambda w: -w * (0.1 + swing)).weight == 1.0


def test_deviances_by_hand():
    # Poisson: 2 [y log(y / mu) - (y - mu)]; y = 0 leaves 2 mu.
    assert poisson_deviance(np.array([2.0, 0.0]), np.array([1.0, 0.5])) == pytest.approx(
        [2 * (2 * np.log(2) - 1), 2 * 0.5]
    )
    # Tweedie p = 1.5 at y = mu is 0; at y = 0 it is 2 mu^0.5 / 0.5 = 4 sqrt(mu).
    assert tweedie_deviance(np.array([3.0]), np.array([3.0])) == pytest.approx([0.0], abs=1e-12)
    assert tweedie_deviance(np.array([0.0]), np.array([4.0])) == pytest.approx([8.0])
    assert log_loss(np.array([1, 0]), np.array([0.0, 0.0])) == pytest.approx([np.log(2)] * 2)


def test_baseline_shapley_values_by_hand():
    ref = {"frequency": 1.0, "recency": 10.0, "days_since_last": 5.0}
    # Additive in (frequency, recency, T = recency + days_since_last - 1): 2 f + 3 r + 5 T = 2 f + 8 r + 5 d - 5.
    linear = baseline_contributions(
        lambda f, r, t: 2 * f + 3 * r + 5 * t, np.array([3.0]), np.array([20.0]), np.array([1.0]), ref
    )
    assert linear.tolist() == [[2 * 2.0, 8 * 10.0, 5 * -4.0]]
    # A product: the three values share the interaction equally and sum to f(x) - f(reference).
    fx = baseline_contributions(
        lambda f, r, t: f * r * t, np.array([2.0, 1.0]), np.array([4.0, 10.0]), np.array([3.0, 5.0]), ref
    )
    assert fx.sum(axis=1) == pytest.approx([2 * 4 * 6 - 1 * 10 * 14, 0.0])
    assert fx[1].tolist() == [0.0, 0.0, 0.0]  # the reference customer itself: nothing to explain


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


def test_next_order_date_past_the_calendar_is_unknown_not_an_overflow():
    from types import SimpleNamespace

    from models.bundle import ModelBundle

    fake = SimpleNamespace(horizon_days=181)
    dates = ModelBundle._next_order_date(fake, dt.date(9999, 11, 1), np.array([10.0, 1.0, 0.1]))
    # 181 / 10 -> 19 days: 9999-11-20; 181 days would pass 9999-12-31: unknown; 0.1 expected: unknown
    assert str(dates[0])[:10] == "9999-11-20"
    assert np.isnat(dates[1]) and np.isnat(dates[2])
