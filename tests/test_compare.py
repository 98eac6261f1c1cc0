import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models import compare as compare_module
from models.compare import METRICS, Contender, abs_aggregate_error, compare, paired_bootstrap
from models.metrics import roc_auc


def mean_pred(actual: np.ndarray, pred: np.ndarray) -> float:
    """A metric that is just the mean prediction, so resampled differences can be worked out by hand."""
    return float(np.mean(pred))


def synthetic(n: int = 2000, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Churn labels drawn from known probabilities, spend from a known value; returns (y, p_true, spend, value)."""
    rng = np.random.default_rng(seed)
    p_true = rng.uniform(0.05, 0.95, n)
    y = (rng.uniform(size=n) < p_true).astype(int)
    value = rng.gamma(2.0, 50.0, n)
    spend = value * rng.uniform(0.5, 1.5, n)
    return y, p_true, spend, value


# ------------------------------------------------------------------------------------------- paired_bootstrap


def test_two_rows_by_hand():
    # pred_a = [1, 0], pred_b = [0, 0]: on all rows 0.5 - 0 = 0.5. A resample of 2 rows holds row 0 k times,
    # k ~ Binomial(2, 1/2), so its difference is k / 2: 0, 0.5 or 1 with chance 1/4, 1/2, 1/4. About 50 of 200
    # resamples sit at each end, far more than the 5 the 2.5 % tails need: the interval is [0, 1].
    assert paired_bootstrap(mean_pred, [0, 0], [1, 0], [0, 0]) == (0.5, 0.0, 1.0)


def test_resamples_pair_the_rows():
    # pred_a - pred_b = 3 on every row: a resample drawing the same rows for both has difference exactly 3, whereas
    # resampling a and b independently would spread it (the means of a range from 1 to 9)
    pred_a = np.array([1.0, 5.0, 2.0, 9.0, 4.0])
    assert paired_bootstrap(mean_pred, np.zeros(5), pred_a, pred_a - 3) == pytest.approx((3.0, 3.0, 3.0))


def test_identical_predictors_give_zero():
    y, p_true, _, _ = synthetic(300)
    assert paired_bootstrap(roc_auc, y, p_true, p_true) == (0.0, 0.0, 0.0)


def test_interval_contains_the_full_sample_diff():
    y, p_true, _, _ = synthetic()
    noisy = np.clip(p_true + np.random.default_rng(5).normal(0, 0.3, len(y)), 0, 1)
    diff, lo, hi = paired_bootstrap(roc_auc, y, p_true, noisy)
    assert diff == pytest.approx(roc_auc(y, p_true) - roc_auc(y, noisy))
    assert lo < diff < hi
    assert lo > 0  # the truth beats a noisy copy of itself beyond noise on 2000 rows


def test_deterministic_given_the_seed():
    y, p_true, _, _ = synthetic(500)
    noisy = np.clip(p_true + np.random.default_rng(5).normal(0, 0.3, len(y)), 0, 1)
    first = paired_bootstrap(roc_auc, y, p_true, noisy, n_boot=50, seed=7)
    assert paired_bootstrap(roc_auc, y, p_true, noisy, n_boot=50, seed=7) == first
    other_seed = paired_bootstrap(roc_auc, y, p_true, noisy, n_boot=50, seed=8)
    assert other_seed[0] == first[0]  # the full-sample difference does not depend on the seed
    assert other_seed[1:] != first[1:]


def test_level_widens_the_interval():
    y, p_true, _, _ = synthetic(500)
    noisy = np.clip(p_true + np.random.default_rng(5).normal(0, 0.3, len(y)), 0, 1)
    _, lo90, hi90 = paired_bootstrap(roc_auc, y, p_true, noisy, level=0.90)
    _, lo99, hi99 = paired_bootstrap(roc_auc, y, p_true, noisy, level=0.99)
    assert lo99 < lo90 < hi90 < hi99


def strict_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC that raises ValueError on a single class, as older scikit-learn did."""
    if len(np.unique(y)) < 2:
        raise ValueError("only one class")
    return float(roc_auc_score(y, p))


def test_undefined_resamples_are_skipped():
    # one churner among 6: a resample misses it with chance (5/6)^6 = 33 %, where the AUC is undefined
    y = [1, 0, 0, 0, 0, 0]
    good, bad = [0.9, 0.1, 0.2, 0.3, 0.4, 0.5], [0.1, 0.9, 0.2, 0.3, 0.4, 0.5]
    diff, lo, hi = paired_bootstrap(strict_auc, y, good, bad)
    # good ranks the churner first (AUC 1), bad ranks it last (AUC 0); every defined resample says the same, while
    # a skipped resample counted as nan would make the percentiles nan and counted as 0 would pull lo to 0
    assert (diff, lo, hi) == (1.0, 1.0, 1.0)
    # roc_auc returns nan instead of raising: same result
    assert paired_bootstrap(roc_auc, y, good, bad) == (diff, lo, hi)


def test_no_defined_resample_gives_a_nan_interval():
    rows = np.arange(6.0)

    def only_on_all_rows(actual: np.ndarray, pred: np.ndarray) -> float:
        """Defined only on the original rows in order: a resample repeats rows with chance 1 - 6!/6^6 = 98.5 %."""
        if not np.array_equal(actual, rows):
            raise ValueError("undefined")
        return float(np.mean(pred))

    diff, lo, hi = paired_bootstrap(only_on_all_rows, rows, rows + 1, rows, n_boot=20)
    assert diff == pytest.approx(1.0)
    assert math.isnan(lo) and math.isnan(hi)


def test_undefined_on_all_rows_gives_nan():
    assert all(math.isnan(v) for v in paired_bootstrap(roc_auc, [0, 0, 0], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1]))


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="n_boot"):
        paired_bootstrap(mean_pred, [0, 1], [0, 1], [0, 1], n_boot=0)
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap(mean_pred, [0, 1], [0, 1], [0, 1], level=1.0)
    with pytest.raises(ValueError, match="equally long"):
        paired_bootstrap(mean_pred, [0, 1], [0, 1], [0])


def test_abs_aggregate_error_by_hand():
    # sum pred 30, sum actual 60 -> |30 / 60 - 1| = 0.5; over-forecast by 10 % -> 0.1
    assert abs_aggregate_error([10, 20, 30], [5, 10, 15]) == pytest.approx(0.5)
    assert abs_aggregate_error([10, 20, 30], [12, 18, 36]) == pytest.approx(0.1)


# ---------------------------------------------------------------------------------------------------- compare

COLUMNS = ["metric", "other", "higher_is_better", "challenger_value", "other_value", "diff", "lo", "hi", "worse"]


def test_identical_contenders_are_not_worse():
    y, p_true, spend, value = synthetic(300)
    same = Contender("champion", p_true, value)
    table = compare(y, spend, Contender("challenger", p_true.copy(), value.copy()), [same], n_boot=50)
    assert list(table.columns) == COLUMNS
    assert table["metric"].tolist() == ["roc_auc", "brier", "gini", "abs_aggregate_error"]
    assert table["other"].tolist() == ["champion"] * 4
    assert table[["diff", "lo", "hi"]].to_numpy().tolist() == [[0.0, 0.0, 0.0]] * 4
    assert not table["worse"].any()
    assert (table["challenger_value"] == table["other_value"]).all()


def test_random_churn_is_worse_than_informative():
    y, p_true, spend, value = synthetic(2000)
    random_p = np.random.default_rng(3).uniform(size=len(y))
    informative = Contender("baseline", p_true, value)
    table = compare(y, spend, Contender("challenger", random_p, value), [informative]).set_index("metric")
    assert table.loc["roc_auc", "worse"] and table.loc["roc_auc", "hi"] < 0  # higher is better: interval below 0
    assert table.loc["brier", "worse"] and table.loc["brier", "lo"] > 0  # lower is better: interval above 0
    assert not table.loc["gini", "worse"] and not table.loc["abs_aggregate_error", "worse"]  # same CLV
    # the other way round nothing is worse
    reverse = compare(y, spend, informative, [Contender("challenger", random_p, value)])
    assert not reverse["worse"].any()


def test_clv_worse_on_level_and_ranking_by_hand():
    # challenger CLV = 2 x spend: |2 - 1| = 1 on every resample, against 0 for a CLV equal to spend -> diff 1, [1, 1]
    # and reversed ranking (-spend): normalized Gini -1 against 1
    y, p_true, spend, _ = synthetic(400)
    others = [Contender("level", p_true, spend), Contender("ranking", p_true, spend)]
    table = compare(y, spend, Contender("challenger", p_true, 2 * spend), others[:1], n_boot=50).set_index("metric")
    assert table.loc["abs_aggregate_error", ["challenger_value", "other_value"]].tolist() == pytest.approx([1, 0])
    assert table.loc["abs_aggregate_error", ["diff", "lo", "hi"]].tolist() == pytest.approx([1, 1, 1])
    assert table.loc["abs_aggregate_error", "worse"] and not table.loc["gini", "worse"]
    reversed_table = compare(y, spend, Contender("challenger", p_true, -spend), others[1:], n_boot=50)
    gini = reversed_table.set_index("metric").loc["gini"]
    assert gini[["challenger_value", "other_value", "diff"]].tolist() == pytest.approx([-1, 1, -2])
    assert gini["worse"]


def test_one_row_per_metric_and_other():
    y, p_true, spend, value = synthetic(200)
    others = [Contender("baseline", p_true, value), Contender("champion", p_true, value)]
    table = compare(y, spend, Contender("challenger", p_true, value), others, n_boot=20)
    assert list(zip(table["metric"], table["other"], strict=True)) == [
        (m, o) for m in ["roc_auc", "brier", "gini", "abs_aggregate_error"] for o in ["baseline", "champion"]
    ]


def test_undefined_metric_is_nan_and_never_worse():
    # nobody churned: ROC AUC is undefined, Brier is not (mean p^2)
    y = np.zeros(4, dtype=int)
    spend = np.array([10.0, 0.0, 5.0, 5.0])
    table = compare(
        y, spend, Contender("challenger", np.full(4, 0.9), spend), [Contender("baseline", np.full(4, 0.1), spend)]
    ).set_index("metric")
    auc = table.loc["roc_auc"]
    assert all(math.isnan(auc[c]) for c in ["challenger_value", "other_value", "diff", "lo", "hi"])
    assert not auc["worse"]
    # Brier 0.81 vs 0.01: the challenger is worse on every resample
    assert table.loc["brier", ["challenger_value", "other_value", "diff"]].tolist() == pytest.approx([0.81, 0.01, 0.8])
    assert table.loc["brier", "worse"]


def test_compare_is_deterministic_given_the_seed():
    y, p_true, spend, value = synthetic(300)
    args = (y, spend, Contender("c", np.clip(p_true + 0.1, 0, 1), value * 1.1), [Contender("b", p_true, value)])
    pd.testing.assert_frame_equal(compare(*args, n_boot=30, seed=4), compare(*args, n_boot=30, seed=4))


def test_compare_rows_match_paired_bootstrap():
    # compare reuses the challenger's resampled values across others: each row equals its own paired_bootstrap
    y, p_true, spend, value = synthetic(300)
    challenger = Contender("challenger", np.clip(p_true + 0.1, 0, 1), value * 1.2)
    others = [Contender("baseline", p_true, value), Contender("champion", np.clip(p_true - 0.1, 0, 1), value)]
    table = compare(y, spend, challenger, others, n_boot=30, seed=2)
    for row in table.itertuples():
        metric, _, on_churn = METRICS[row.metric]
        other = next(o for o in others if o.name == row.other)
        args = (y, challenger.churn, other.churn) if on_churn else (spend, challenger.clv, other.clv)
        assert (row.diff, row.lo, row.hi) == paired_bootstrap(metric, *args, n_boot=30, seed=2)


def test_draws_in_blocks_are_still_paired(monkeypatch):
    # with at most 5 indices per draw every resample of 5 rows is its own block: the pairing must hold across blocks
    monkeypatch.setattr(compare_module, "_MAX_DRAW", 5)
    pred_a = np.array([1.0, 5.0, 2.0, 9.0, 4.0])
    assert paired_bootstrap(mean_pred, np.zeros(5), pred_a, pred_a - 3, n_boot=7) == pytest.approx((3.0, 3.0, 3.0))
    first = paired_bootstrap(mean_pred, np.zeros(5), pred_a, np.zeros(5), n_boot=7)
    assert paired_bootstrap(mean_pred, np.zeros(5), pred_a, np.zeros(5), n_boot=7) == first
