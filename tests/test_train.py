"""Training on logs of every length: what ships, what it was validated on, and the season only where training saw it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from features import ColumnMap, FeatureConfig, InputError, read_transactions
from features.generate import GeneratorConfig, generate
from features.planner import Grid, backtest_window, plan_frames, training_every
from models.blend import log_loss
from models.boosting import BoosterConfig
from models.bundle import baseline_columns
from models.matrix import to_matrix
from training.frames import SnapshotStore
from training.train import VALIDATION_FOLDS, TrainConfig, train, validation_fold

FAST = BoosterConfig(max_rounds=60, min_child_samples=40)
COLUMNS = ColumnMap(order="order_id", cost="cost")


def cohort_log(start: dt.date, end: dt.date, customers: int = 2500, seed: int = 3, acquisition_days: int = 84):
    """One acquisition cohort (first purchases in the first 12 weeks): the real-log shape of the issue."""
    cfg = GeneratorConfig(customers=customers, start=start, end=end, seed=seed, acquisition_days=acquisition_days)
    tx, _ = generate(cfg)
    return read_transactions(tx, COLUMNS)


@pytest.fixture(scope="module")
def nine_months():
    as_of = dt.date(2024, 10, 1)
    log = cohort_log(dt.date(2024, 1, 1), as_of)
    return log, as_of, train(log, as_of, TrainConfig(horizon="182d", booster=FAST))


@pytest.mark.slow
def test_nine_months_of_history_and_a_half_year_horizon_ship_a_model(nine_months):
    log, as_of, result = nine_months
    history = (as_of - result.first_day).days
    assert result.test_window_days == history // 3 < 182  # a shorter backtest window, said so in the metrics
    assert result.metrics["backtest.window_days"] == history // 3
    assert result.final_fit.baseline_only is None and result.final_fit.best_rounds["churn"] >= 1
    assert result.bundle.horizon_days == 182 and result.backtest_bundle.horizon_days == history // 3
    windows = [int(c.split(":")[1][:-1]) for c in result.final_fit.train_cutoffs]
    assert windows and min(windows) >= 28 and max(windows) < 182  # cut-short windows, none of a few days


@pytest.mark.slow
def test_no_season_in_scoring_when_training_never_had_one():
    # Fifteen months of one cohort, a 91-day horizon: a full year lies before as_of, so a season profile is known
    # there, but no training cutoff has a year before it. Scoring must not use the profile the trees never saw.
    as_of = dt.date(2025, 4, 1)
    log = cohort_log(dt.date(2024, 1, 1), as_of)
    result = train(log, as_of, TrainConfig(horizon="91d", booster=FAST))
    store = SnapshotStore(log, FeatureConfig(columns=COLUMNS))
    assert store.profile(as_of) is not None
    assert not result.final_fit.season and result.bundle.season_profile is None
    # The season ahead is unknown: the shipped total of spend and purchases over the customers scored at as_of is
    # the baseline's, whatever the blend.
    feats = store.features(as_of)
    shipped = result.bundle.predict(feats, reasons=False)
    base = baseline_columns(feats, result.bundle.baseline, 91)
    assert shipped["predicted_clv"].sum() == pytest.approx(base["btyd_expected_value"].sum(), rel=1e-9)
    assert shipped["expected_purchases"].sum() == pytest.approx(base["btyd_expected_purchases"].sum(), rel=1e-9)


@pytest.mark.slow
def test_the_blend_was_chosen_for_the_booster_that_ships(nine_months):
    """What ships is what was validated: the recorded log loss of the shipped churn forecast on the calibration
    customers is that of the shipped bundle's own model, recomputed from scratch."""
    log, as_of, result = nine_months
    store = SnapshotStore(log, FeatureConfig(columns=COLUMNS))
    history = (as_of - store.first_day).days
    plan = plan_frames(as_of, 182, TrainConfig().snapshots, Grid(as_of, training_every(28, history), store.first_day))
    val = store.snapshot(plan.validation).assign(season_adjust=1.0)
    choose = val[np.isin(validation_fold(val), list(VALIDATION_FOLDS["choose"]))]
    churn = result.bundle.churn
    shipped = churn.predict_logit(to_matrix(choose, result.bundle.features), choose["btyd_prob_no_purchase"])
    recorded = result.final_fit.choices["churn"]
    assert recorded["rows"] == len(choose)
    assert log_loss(choose["churned"].to_numpy(), shipped).mean() == pytest.approx(
        recorded["scores"]["chosen"], rel=1e-9
    )


def test_a_short_log_ships_the_baseline_alone_and_says_why():
    as_of = dt.date(2024, 3, 11)  # 70 days of history: enough to fit BG/NBD, not to learn a correction
    log = cohort_log(dt.date(2024, 1, 1), as_of, customers=1500, acquisition_days=28)
    result = train(log, as_of, TrainConfig(horizon="182d", booster=FAST))
    assert result.final_fit.baseline_only and "no training window" in result.final_fit.baseline_only
    assert result.bundle.churn.booster_ is None and result.final_fit.choices["churn"]["weight"] == 0.0
    # ... and ships exactly the baseline's forecasts.
    m = result.metrics
    assert m["model.roc_auc"] == pytest.approx(m["baseline.roc_auc"]) and m["model.gini"] == pytest.approx(
        m["baseline.gini"]
    )
    scores = result.bundle.predict(result.test_frame, reasons=True)
    assert scores["top_reasons"].str.len().gt(0).all()  # the baseline's own reasons


def test_a_model_that_cannot_be_backtested_does_not_ship():
    as_of = dt.date(2024, 5, 30)  # 150 days: a model fits before the final validation window, not the backtest's
    log = cohort_log(dt.date(2024, 1, 1), as_of, customers=1500, acquisition_days=28)
    result = train(log, as_of, TrainConfig(horizon="182d", booster=FAST))
    assert result.backtest_fit.baseline_only and result.final_fit.baseline_only.startswith(
        "no model could be backtested"
    )
    assert result.bundle.churn.booster_ is None


def test_less_than_eight_weeks_of_history_is_a_clear_error():
    as_of = dt.date(2024, 2, 10)
    log = cohort_log(dt.date(2024, 1, 1), as_of, customers=500, acquisition_days=28)
    with pytest.raises(InputError, match="at least 56 days"):
        train(log, as_of, TrainConfig(horizon="182d", booster=FAST))
    assert backtest_window(56, 182) == 28
