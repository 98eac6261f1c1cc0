"""Evaluation metrics against values worked out by hand (the arithmetic is in the comments), plus tie-invariance
properties (hypothesis) for the ranking metrics."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.metrics import (
    aggregate_error,
    brier,
    calibration_error,
    calibration_table,
    churn_metrics,
    clv_metrics,
    decile_mape,
    decile_table,
    interval_coverage,
    log_loss,
    mae,
    normalized_gini,
    pr_auc,
    rmse,
    roc_auc,
    spend_capture,
)

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)


def same(a: float, b: float) -> bool:
    """Exactly equal, counting nan as equal to nan."""
    return a == b or (math.isnan(a) and math.isnan(b))


# ----------------------------------------------------------------------------------------------------- churn

Y = [0, 0, 1, 1]
P = [0.1, 0.4, 0.35, 0.8]


def test_roc_auc_counts_concordant_pairs():
    # positive/negative pairs: (0.35, 0.1) yes, (0.35, 0.4) no, (0.8, 0.1) yes, (0.8, 0.4) yes -> 3 / 4
    assert roc_auc(Y, P) == pytest.approx(0.75)


def test_roc_auc_counts_a_tied_pair_as_half():
    # p = [0.2, 0.5 | 0.5, 0.9]: (0.5, 0.2) 1, (0.5, 0.5) 1/2, (0.9, 0.2) 1, (0.9, 0.5) 1 -> 3.5 / 4
    assert roc_auc([0, 0, 1, 1], [0.2, 0.5, 0.5, 0.9]) == pytest.approx(0.875)


def test_pr_auc_is_average_precision():
    # ranked by p: 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg)
    # recall steps 0 -> 1/2 at precision 1/1, then 1/2 -> 1 at precision 2/3: AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    assert pr_auc(Y, P) == pytest.approx(5 / 6)


def test_single_class_gives_nan_for_the_curves():
    assert math.isnan(roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(pr_auc([0, 0, 0], [0.2, 0.5, 0.9]))
    assert math.isnan(churn_metrics([0, 0], [0.2, 0.3])["roc_auc"])
    # the others are still defined: brier = (0.04 + 0.09) / 2
    assert brier([0, 0], [0.2, 0.3]) == pytest.approx(0.065)


def test_brier_by_hand():
    # (0.1 - 0)^2 + (0.4 - 0)^2 + (0.35 - 1)^2 + (0.8 - 1)^2 = 0.01 + 0.16 + 0.4225 + 0.04 = 0.6325; / 4
    assert brier(Y, P) == pytest.approx(0.158125)


def test_log_loss_by_hand():
    # y = [1, 0, 1, 0], p = [0.5, 0.5, 0.8, 0.2]: -ln 0.5 twice, -ln 0.8 twice
    # mean = (2 ln 2 + 2 ln 1.25) / 4 = ln(2 * 1.25) / 2 = ln(2.5) / 2 = 0.458145...
    assert log_loss([1, 0, 1, 0], [0.5, 0.5, 0.8, 0.2]) == pytest.approx(0.4581453659)
    # one class only is fine: -ln 0.5 = 0.693147...
    assert log_loss([1, 1], [0.5, 0.5]) == pytest.approx(0.6931471806)


def test_log_loss_clips_a_confident_miss():
    # y = 1 with p = 0 costs -ln(1e-15) = 15 ln 10 = 34.538776; y = 0 with p = 0 costs ~1e-15; mean 17.269388
    assert log_loss([1, 0], [0.0, 0.0]) == pytest.approx(17.269388, rel=1e-6)


def test_calibration_error_two_bins_by_hand():
    # sorted p: [0.1, 0.2 | 0.6, 0.9], y [0, 1 | 0, 1]
    # bin 1: mean p 0.15, rate 0.5 -> gap 0.35; bin 2: mean p 0.75, rate 0.5 -> gap 0.25
    # ECE = 2/4 * 0.35 + 2/4 * 0.25 = 0.30
    assert calibration_error([0, 1, 0, 1], [0.1, 0.2, 0.6, 0.9], bins=2) == pytest.approx(0.30)


def test_calibration_error_weights_unequal_bins_by_size():
    # 5 rows, 2 bins: ascending rank r goes to bin ceil(2r / 5) -> ranks 1, 2 in bin 1; ranks 3, 4, 5 in bin 2
    # bin 1: p [0.1, 0.3] mean 0.2, y [0, 1] rate 0.5 -> gap 0.3
    # bin 2: p [0.4, 0.5, 0.9] mean 0.6, y [0, 0, 1] rate 1/3 -> gap 0.6 - 1/3 = 4/15
    # ECE = 2/5 * 0.3 + 3/5 * 4/15 = 0.12 + 0.16 = 0.28
    assert calibration_error([0, 1, 0, 0, 1], [0.1, 0.3, 0.4, 0.5, 0.9], bins=2) == pytest.approx(0.28)


def test_calibration_error_is_zero_when_each_bin_is_calibrated():
    # bins of two: p [0.5, 0.5] vs y [0, 1] -> 0.5 = 0.5; p [1.0, 1.0] vs y [1, 1] -> 1 = 1
    assert calibration_error([0, 1, 1, 1], [0.5, 0.5, 1.0, 1.0], bins=2) == pytest.approx(0.0)


def test_calibration_table_by_hand():
    table = calibration_table([1, 1, 0, 0], [0.9, 0.2, 0.6, 0.1], bins=2)  # the (y, p) rows above, shuffled
    assert list(table.columns) == ["bin", "n", "mean_predicted", "observed_rate"]
    assert table["bin"].tolist() == [1, 2]
    assert table["n"].tolist() == [2, 2]
    assert table["mean_predicted"].tolist() == pytest.approx([0.15, 0.75])
    assert table["observed_rate"].tolist() == pytest.approx([0.5, 0.5])


def test_calibration_table_keeps_tied_probabilities_in_one_bin():
    # p = [0.2, 0.2, 0.2, 0.7]: the tie has average ascending rank 2 -> bin ceil(2 * 2 / 4) = 1; 0.7 rank 4 -> bin 2
    table = calibration_table([0, 0, 1, 1], [0.2, 0.2, 0.2, 0.7], bins=2)
    assert table["n"].tolist() == [3, 1]
    assert table["observed_rate"].tolist() == pytest.approx([1 / 3, 1.0])


def test_churn_metrics_keys_and_floats():
    out = churn_metrics(Y, P)
    assert list(out) == ["roc_auc", "pr_auc", "brier", "log_loss", "calibration_error"]
    assert all(type(v) is float for v in out.values())
    assert out["roc_auc"] == pytest.approx(0.75)
    assert out["brier"] == pytest.approx(0.158125)


def test_churn_inputs_are_checked():
    with pytest.raises(ValueError, match="0 and 1"):
        brier([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        brier([0, 1], [0.1, 1.2])


# ------------------------------------------------------------------------------------------------------- CLV


def test_rmse_and_mae_by_hand():
    # errors pred - actual: [3, 0, -4, 0]; squares 9 + 0 + 16 + 0 = 25 -> rmse sqrt(25 / 4) = 2.5
    # absolute 3 + 0 + 4 + 0 = 7 -> mae 7 / 4 = 1.75
    actual, pred = [0, 3, 4, 1], [3, 3, 0, 1]
    assert rmse(actual, pred) == pytest.approx(2.5)
    assert mae(actual, pred) == pytest.approx(1.75)


def test_normalized_gini_by_hand():
    # actual [4, 0, 3, 1] (total 8), pred [0.9, 0.8, 0.3, 0.1]
    # by pred: actual 4, 0, 3, 1 -> cumulative shares 0.5, 0.5, 0.875, 1
    #   area (trapezoids of width 1/4) = (0.25 + 0.5 + 0.6875 + 0.9375) / 4 = 0.59375 -> Gini 0.59375 - 0.5 = 0.09375
    # by actual: 4, 3, 1, 0 -> shares 0.5, 0.875, 1, 1
    #   area = (0.25 + 0.6875 + 0.9375 + 1) / 4 = 0.71875 -> Gini 0.21875
    # normalized: 0.09375 / 0.21875 = 3 / 7
    assert normalized_gini([4, 0, 3, 1], [0.9, 0.8, 0.3, 0.1]) == pytest.approx(3 / 7)


def test_normalized_gini_counts_a_tie_at_its_average():
    # actual [10, 0, 3, 6, 1] (total 20), pred [9, 5, 5, 5, 1]: the tie group {0, 3, 6} counts as three customers of 3
    # by pred: 10, 3, 3, 3, 1 -> shares 0.5, 0.65, 0.8, 0.95, 1
    #   area = (0.25 + 0.575 + 0.725 + 0.875 + 0.975) / 5 = 3.4 / 5 = 0.68 -> Gini 0.18
    # by actual: 10, 6, 3, 1, 0 -> shares 0.5, 0.8, 0.95, 1, 1
    #   area = (0.25 + 0.65 + 0.875 + 0.975 + 1) / 5 = 3.75 / 5 = 0.75 -> Gini 0.25
    # normalized: 0.18 / 0.25 = 0.72
    assert normalized_gini([10, 0, 3, 6, 1], [9, 5, 5, 5, 1]) == pytest.approx(0.72)
    assert normalized_gini([10, 6, 3, 0, 1], [9, 5, 5, 5, 1]) == pytest.approx(0.72)  # tied rows reordered


def test_normalized_gini_perfect_reversed_and_constant():
    actual = [5.0, 1.0, 7.0, 0.0, 2.5]
    assert normalized_gini(actual, actual) == 1.0
    assert normalized_gini(actual, [50, 10, 70, 0, 25]) == 1.0  # any increasing map of actual is perfect
    assert normalized_gini(actual, [-a for a in actual]) == pytest.approx(-1.0)  # exactly reversed
    assert normalized_gini(actual, [3.3] * 5) == 0.0  # one tie group: the diagonal itself


def test_normalized_gini_undefined_cases_are_nan():
    assert math.isnan(normalized_gini([0, 0, 0], [1, 2, 3]))  # no spend at all
    assert math.isnan(normalized_gini([2, 2, 2], [1, 2, 3]))  # every ordering is as good as the best


def test_spend_capture_splits_the_tie_at_the_cut():
    # 5 customers, top 40 % = 2 slots; ranked by pred: 9 -> actual 10, then the tie at 5 -> {0, 3, 6}, then 1 -> 1
    # slot 1 is the 10; slot 2 is one of three tied slots, worth the tie mean (0 + 3 + 6) / 3 = 3
    # captured 10 + 3 = 13 of total 20 -> 0.65
    actual, pred = [10, 0, 3, 6, 1], [9, 5, 5, 5, 1]
    assert spend_capture(actual, pred, top=0.4) == pytest.approx(0.65)
    # top 20 % = 1 slot: just the 10 -> 10 / 20; top 80 % = 4 slots: 10 + 9 (whole tie) -> 19 / 20; all -> 1
    assert spend_capture(actual, pred, top=0.2) == pytest.approx(0.5)
    assert spend_capture(actual, pred, top=0.8) == pytest.approx(0.95)
    assert spend_capture(actual, pred, top=1.0) == pytest.approx(1.0)


def test_spend_capture_without_ties_and_fractional_slots():
    # pred ranks actual as 8, 2, 6, 4 (total 20); top 50 % = 2 slots -> (8 + 2) / 20 = 0.5
    actual, pred = [2, 8, 4, 6], [0.7, 0.9, 0.1, 0.3]
    assert spend_capture(actual, pred, top=0.5) == pytest.approx(0.5)
    # top 10 % of 4 customers = 0.4 of a slot: 0.4 * 8 / 20 = 0.16 (the Lorenz curve read at 10 %)
    assert spend_capture(actual, pred, top=0.1) == pytest.approx(0.16)


def test_spend_capture_of_no_spend_is_nan_and_top_is_checked():
    assert math.isnan(spend_capture([0, 0], [1, 2], top=0.5))
    with pytest.raises(ValueError, match="top"):
        spend_capture([1, 2], [1, 2], top=0.0)
    with pytest.raises(ValueError, match="top"):
        spend_capture([1, 2], [1, 2], top=1.5)


# pred [60, 10, 50, 20, 40, 30] ranks (descending) 1, 6, 2, 5, 3, 4; with n = 2 rank r goes to decile ceil(2r / 6)
# decile 1 = pred 60, 50, 40 with actual 50, 30, 20; decile 2 = pred 30, 20, 10 with actual 40, 10, 0
DEC_ACTUAL = [50, 0, 30, 10, 20, 40]
DEC_PRED = [60, 10, 50, 20, 40, 30]


def test_decile_table_by_hand():
    table = decile_table(DEC_ACTUAL, DEC_PRED, n=2)
    assert list(table.columns) == [
        "decile",
        "customers",
        "mean_predicted",
        "mean_actual",
        "sum_predicted",
        "sum_actual",
    ]
    assert table["decile"].tolist() == [1, 2]
    assert table["customers"].tolist() == [3, 3]
    assert table["sum_predicted"].tolist() == pytest.approx([150, 60])  # 60 + 50 + 40, 30 + 20 + 10
    assert table["sum_actual"].tolist() == pytest.approx([100, 50])  # 50 + 30 + 20, 40 + 10 + 0
    assert table["mean_predicted"].tolist() == pytest.approx([50, 20])
    assert table["mean_actual"].tolist() == pytest.approx([100 / 3, 50 / 3])


def test_decile_table_puts_ties_in_one_decile():
    # pred [9, 5, 5, 5, 1], n = 5: ranks 1, (2 + 3 + 4) / 3 = 3 for each tie, 5 -> decile ceil(5r / 5) = r
    # -> deciles 1 (one customer), 3 (the three tied), 5 (one); 2 and 4 are empty and not listed
    table = decile_table([10, 0, 3, 6, 1], [9, 5, 5, 5, 1], n=5)
    assert table["decile"].tolist() == [1, 3, 5]
    assert table["customers"].tolist() == [1, 3, 1]
    assert table["mean_actual"].tolist() == pytest.approx([10, 3, 1])


def test_decile_mape_by_hand():
    # decile 1: |50 - 100/3| = 50/3; decile 2: |20 - 50/3| = 10/3 -> numerator 60/3 = 20
    # denominator 100/3 + 50/3 = 50 -> 20 / 50 = 0.4 (a mean of the per-decile ratios 0.5 and 0.2 would give 0.35)
    assert decile_mape(DEC_ACTUAL, DEC_PRED, n=2) == pytest.approx(0.4)


def test_decile_mape_counts_deciles_without_spend():
    # n = 2: decile 1 = pred 4, 3 (mean 3.5) vs actual 2, 2 (mean 2) -> |3.5 - 2| = 1.5
    #        decile 2 = pred 2, 1 (mean 1.5) vs actual 0, 0 (mean 0) -> |1.5 - 0| = 1.5
    # (1.5 + 1.5) / (2 + 0) = 1.5; skipping decile 2 (the old definition) would give 1.5 / 2 = 0.75
    assert decile_mape([2, 2, 0, 0], [4, 3, 2, 1], n=2) == pytest.approx(1.5)
    # pred [2.5, 1.5 | 1.25, 0.75]: decile 1 mean 2 is exact, decile 2 mean 1 vs 0 -> (0 + 1) / 2 = 0.5, where the
    # old definition saw only decile 1 and reported a perfect 0
    assert decile_mape([2, 2, 0, 0], [2.5, 1.5, 1.25, 0.75], n=2) == pytest.approx(0.5)
    assert math.isnan(decile_mape([0, 0, 0, 0], [4, 3, 2, 1], n=2))


def test_decile_mape_shares_one_denominator_between_predictors():
    # actual [4, 0, 2, 0], n = 2. Predictor a ranks [4, 2 | 0, 0] (pred [4, 1, 3, 2]): means 3 | 0 vs pred 3.5 | 1.5
    #   -> (0.5 + 1.5) / (3 + 0) = 2/3
    # predictor b ranks [4, 0 | 2, 0] (pred [4, 3, 1, 2]): means 2 | 1 vs pred 3.5 | 1.5 -> (1.5 + 0.5) / (2 + 1) = 2/3
    # both divide by 3 = total actual 6 / decile size 2; the old definition gave 1/6 (a, decile 2 skipped) vs 0.625
    assert decile_mape([4, 0, 2, 0], [4, 1, 3, 2], n=2) == pytest.approx(2 / 3)
    assert decile_mape([4, 0, 2, 0], [4, 3, 1, 2], n=2) == pytest.approx(2 / 3)


def test_aggregate_error_by_hand():
    # sum pred 12 + 18 + 36 = 66, sum actual 10 + 20 + 30 = 60 -> 66 / 60 - 1 = 0.1
    assert aggregate_error([10, 20, 30], [12, 18, 36]) == pytest.approx(0.1)
    # 30 / 60 - 1 = -0.5 (under-forecast)
    assert aggregate_error([10, 20, 30], [5, 10, 15]) == pytest.approx(-0.5)
    assert math.isnan(aggregate_error([0, 0], [1, 1]))


def test_interval_coverage_by_hand():
    # 1 in [0, 2] yes; 5 in [5, 6] yes (bounds inclusive); 10 in [11, 12] no; 3 in [4, 5] no -> 2 / 4
    assert interval_coverage([1, 5, 10, 3], [0, 5, 11, 4], [2, 6, 12, 5]) == pytest.approx(0.5)


def test_clv_metrics_keys():
    out = clv_metrics(DEC_ACTUAL, DEC_PRED)
    assert list(out) == ["rmse", "mae", "gini", "top10_capture", "top20_capture", "decile_mape", "aggregate_error"]
    assert all(type(v) is float for v in out.values())
    assert out["aggregate_error"] == pytest.approx(210 / 150 - 1)  # sum pred 210, sum actual 150
    with_interval = clv_metrics([1, 5, 10, 3], [1, 5, 10, 3], [0, 5, 11, 4], [2, 6, 12, 5])
    assert list(with_interval)[-1] == "interval_coverage"
    assert with_interval["interval_coverage"] == pytest.approx(0.5)
    assert with_interval["gini"] == 1.0


def test_clv_metrics_accepts_series():
    actual = pd.Series(DEC_ACTUAL, index=[10, 11, 12, 13, 14, 15])  # index is ignored: positions pair up
    assert decile_mape(actual, pd.Series(DEC_PRED), n=2) == pytest.approx(0.4)
    assert clv_metrics(actual, pd.Series(DEC_PRED)) == clv_metrics(DEC_ACTUAL, DEC_PRED)


# ------------------------------------------------------------------------------------------------- bad input

PAIRWISE = [roc_auc, pr_auc, brier, log_loss, calibration_error, calibration_table, churn_metrics]
PAIRWISE += [rmse, mae, normalized_gini, spend_capture, decile_table, decile_mape, aggregate_error, clv_metrics]


@pytest.mark.parametrize("fn", PAIRWISE, ids=lambda f: f.__name__)
def test_length_mismatch_raises(fn):
    with pytest.raises(ValueError, match="equal lengths"):
        fn([0, 1, 1], [0.2, 0.4])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("fn", PAIRWISE, ids=lambda f: f.__name__)
def test_non_finite_raises(fn, bad):
    with pytest.raises(ValueError, match="non-finite"):
        fn([0, 1, 1], [0.2, bad, 0.4])
    with pytest.raises(ValueError, match="non-finite"):
        fn([0, 1, bad], [0.2, 0.3, 0.4])


def test_interval_and_empty_inputs_are_checked():
    with pytest.raises(ValueError, match="equal lengths"):
        interval_coverage([1, 2], [0, 0], [3])
    with pytest.raises(ValueError, match="non-finite"):
        interval_coverage([1, 2], [0, float("nan")], [3, 3])
    with pytest.raises(ValueError, match="empty"):
        rmse([], [])
    with pytest.raises(ValueError, match="both"):
        clv_metrics([1, 2], [1, 2], lower=[0, 0])


# ---------------------------------------------------------------------------------- tie invariance (hypothesis)


@st.composite
def tied_rows(draw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(actual, pred, permutation): pred drawn from a few values so ties are common; the permutation reorders only
    rows that tie in pred (every row keeps its pred, the actuals move around inside each tie group)."""
    n = draw(st.integers(1, 12))
    pred = np.array(draw(st.lists(st.sampled_from([0.0, 1.5, 2.0, 7.25]), min_size=n, max_size=n)))
    actual = np.array(
        draw(st.lists(st.floats(-50, 1000, allow_nan=False, allow_infinity=False), min_size=n, max_size=n))
    )
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    perm = np.arange(n)
    for value in np.unique(pred):
        idx = np.flatnonzero(pred == value).tolist()
        perm[idx] = rng.sample(idx, len(idx))
    return actual, pred, perm


@SETTINGS
@given(tied_rows())
def test_gini_is_unchanged_by_reordering_tied_rows(rows):
    actual, pred, perm = rows
    assert same(normalized_gini(actual[perm], pred[perm]), normalized_gini(actual, pred))


@SETTINGS
@given(tied_rows(), st.sampled_from([0.1, 0.2, 0.25, 0.5, 1 / 3, 0.9, 1.0]))
def test_spend_capture_is_unchanged_by_reordering_tied_rows(rows, top):
    actual, pred, perm = rows
    assert same(spend_capture(actual[perm], pred[perm], top), spend_capture(actual, pred, top))


@SETTINGS
@given(tied_rows(), st.integers(1, 6))
def test_decile_table_is_unchanged_by_reordering_tied_rows(rows, n):
    actual, pred, perm = rows
    pd.testing.assert_frame_equal(decile_table(actual[perm], pred[perm], n), decile_table(actual, pred, n))


@SETTINGS
@given(st.lists(st.floats(0, 1000, allow_nan=False), min_size=2, max_size=12), st.floats(-5, 5))
def test_constant_prediction_gives_exactly_zero_gini(actual, c):
    gini = normalized_gini(actual, [c] * len(actual))
    assert gini == 0.0 or (math.isnan(gini) and len(set(actual)) == 1)
