import math

import numpy as np
import pandas as pd
import pytest

from training.promote import Verdict, judge

# Eight customers of a backtest window. GOOD_P ranks every churner (0.9, 0.8, 0.7) above every stayer (<= 0.4): ROC
# AUC 1. BAD_P = 1 - GOOD_P ranks them the other way (AUC 0), and its squared error is larger on every row
# (0.64 vs 0.04, 0.64 vs 0.04, 0.49 vs 0.09, ...), so it loses on Brier in every resample too.
CHURNED = [1, 0, 1, 0, 0, 1, 0, 0]
SPEND = [0.0, 120.0, 10.0, 80.0, 40.0, 0.0, 200.0, 60.0]
GOOD_P = [0.8, 0.2, 0.7, 0.3, 0.4, 0.9, 0.1, 0.3]
BAD_P = [0.2, 0.8, 0.3, 0.7, 0.6, 0.1, 0.9, 0.7]
# CLV ranks like spend; sum 500 vs 510. Per row clv / spend is at least 50 / 60 (rows of 0 spend only raise the
# ratio r of a resample), so r > 1/2 on every resample and |3r - 1| > |r - 1|: 3 x CLV loses on aggregate error in
# every resample, while it ranks exactly like CLV (same Gini).
CLV = [5.0, 110.0, 15.0, 90.0, 35.0, 5.0, 190.0, 50.0]
TRIPLE_CLV = [3 * v for v in CLV]
N_BOOT = 50  # the outcomes below hold on every resample, so a few suffice


def window(challenger, baseline, champion=None, churned=CHURNED, spend=SPEND) -> pd.DataFrame:
    """A backtest frame from (churn, clv) pairs per model; no champion columns when champion is None."""
    columns = {"churned": churned, "future_spend": spend}
    for name, pair in (("challenger", challenger), ("baseline", baseline), ("champion", champion)):
        if pair is not None:
            columns[f"{name}_churn"], columns[f"{name}_clv"] = pair
    return pd.DataFrame(columns)


def test_challenger_equal_to_champion_is_promoted():
    verdict = judge(window((GOOD_P, CLV), (BAD_P, CLV), (GOOD_P, CLV)), has_champion=True)  # default n_boot
    assert isinstance(verdict, Verdict)
    assert verdict.promote
    assert verdict.reason == "not worse than the baseline or the champion on any metric"
    champion = verdict.comparison[verdict.comparison["other"] == "champion"]
    assert champion[["diff", "lo", "hi"]].to_numpy().tolist() == [[0.0, 0.0, 0.0]] * 4


def test_challenger_much_worse_than_the_baseline_is_refused_naming_the_baseline():
    # the champion is the same poor model as the challenger: nothing is worse against it
    verdict = judge(window((BAD_P, TRIPLE_CLV), (GOOD_P, CLV), (BAD_P, TRIPLE_CLV)), has_champion=True, n_boot=N_BOOT)
    assert not verdict.promote
    assert verdict.reason == "worse than the baseline beyond noise on roc_auc, brier, abs_aggregate_error"
    rows = verdict.comparison.set_index(["metric", "other"])
    assert rows.loc[("roc_auc", "baseline"), ["challenger_value", "other_value", "diff"]].tolist() == [0.0, 1.0, -1.0]
    # |1500 / 510 - 1| - |500 / 510 - 1| = 990 / 510 - 10 / 510 = 980 / 510
    assert rows.loc[("abs_aggregate_error", "baseline"), "diff"] == pytest.approx(980 / 510)
    assert not rows.loc[("gini", "baseline"), "worse"]  # 3 x CLV ranks like CLV


def test_worse_than_the_champion_only_names_the_champion():
    verdict = judge(window((GOOD_P, TRIPLE_CLV), (GOOD_P, TRIPLE_CLV), (GOOD_P, CLV)), has_champion=True, n_boot=N_BOOT)
    assert not verdict.promote
    assert verdict.reason == "worse than the champion beyond noise on abs_aggregate_error"


def test_worse_than_both_names_both():
    verdict = judge(window((BAD_P, CLV), (GOOD_P, CLV), (GOOD_P, TRIPLE_CLV)), has_champion=True, n_boot=N_BOOT)
    assert not verdict.promote
    # against the champion the challenger's CLV is the better level, so only the churn metrics fail there too
    assert verdict.reason == (
        "worse than the baseline beyond noise on roc_auc, brier; worse than the champion beyond noise on roc_auc, brier"
    )


def test_no_champion_is_judged_against_the_baseline_only():
    # champion columns are present but ignored: the challenger would lose to them on every churn metric
    frame = window((BAD_P, CLV), (BAD_P, CLV), (GOOD_P, CLV))
    verdict = judge(frame, has_champion=False, n_boot=N_BOOT)
    assert verdict.promote
    assert verdict.reason == "not worse than the baseline on any metric (no champion yet)"
    assert set(verdict.comparison["other"]) == {"baseline"}
    assert len(verdict.comparison) == 4
    # and the same window without champion columns at all
    assert judge(frame.drop(columns=["champion_churn", "champion_clv"]), has_champion=False, n_boot=N_BOOT).promote


def test_undefined_metric_is_reported_and_does_not_block():
    # nobody churned: ROC AUC is undefined; the other metrics are equal, so the challenger is promoted
    verdict = judge(window((GOOD_P, CLV), (GOOD_P, CLV), churned=[0] * 8), has_champion=False, n_boot=N_BOOT)
    assert verdict.promote
    assert verdict.reason == (
        "not worse than the baseline on any metric (no champion yet); roc_auc undefined on this window, not judged"
    )
    auc = verdict.comparison.set_index("metric").loc["roc_auc"]
    assert math.isnan(auc["diff"]) and not auc["worse"]


def test_undefined_metrics_are_reported_next_to_a_failure():
    # no spend at all: Gini and aggregate error are undefined; the churn metrics still fail against the baseline
    verdict = judge(
        window((BAD_P, CLV), (GOOD_P, CLV), (BAD_P, CLV), spend=[0.0] * 8), has_champion=True, n_boot=N_BOOT
    )
    assert not verdict.promote
    assert verdict.reason == (
        "worse than the baseline beyond noise on roc_auc, brier; gini, abs_aggregate_error undefined on this window, "
        "not judged"
    )


def test_deterministic_given_the_seed():
    frame = window((GOOD_P, TRIPLE_CLV), (BAD_P, CLV), (GOOD_P, CLV))
    first, second = judge(frame, True, n_boot=50, seed=3), judge(frame, True, n_boot=50, seed=3)
    assert (first.promote, first.reason) == (second.promote, second.reason)
    pd.testing.assert_frame_equal(first.comparison, second.comparison)


def test_frame_is_checked():
    frame = window((GOOD_P, CLV), (GOOD_P, CLV))
    with pytest.raises(ValueError, match="champion_churn"):
        judge(frame, has_champion=True, n_boot=N_BOOT)
    with pytest.raises(ValueError, match="no rows"):
        judge(frame.iloc[:0], has_champion=False, n_boot=N_BOOT)
    frame.loc[0, "challenger_clv"] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        judge(frame, has_champion=False, n_boot=N_BOOT)


def test_a_registry_failure_is_an_error_not_no_champion(tmp_path):
    """The local store (the default `sqlite:///mlflow.db`) with its alias table gone: the lookup fails, and that must
    stop the promotion with a message instead of reading as "no champion yet"."""
    import sqlite3

    from mlflow import MlflowClient

    from features import InputError
    from training import tracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("m")
    assert tracking.alias_version(client, "m", "champion") is None  # no such alias: None
    assert tracking.alias_version(client, "unknown", "champion") is None  # no such model: None
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        db.execute("DROP TABLE registered_model_aliases")
    with pytest.raises(InputError, match="registry could not say which version of 'm' is @champion"):
        tracking.alias_version(client, "m", "champion")
