"""The transaction policy and its report, counted by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from features import Policy, build_features, policy_report, read_transactions
from features.config import FeatureConfig
from tests.conftest import log

ROWS = [
    ("a", "2024-01-01", 10.0),
    ("a", "2024-01-01", 10.0),  # exact duplicate
    ("a", "2024-01-01", 5.0),  # same day, another order
    ("a", "2024-01-04", -3.0),  # return
    ("b", "2024-01-02", 0.0),  # zero amount
    ("b", "2024-01-03", 7.0),
]


def test_report_counts_each_rule():
    report = policy_report(read_transactions(log(ROWS)))
    assert report.rows == 6
    assert report.duplicate_rows == 1
    assert report.return_rows == 1
    assert report.zero_amount_rows == 1
    # customer-days: a/01-01, a/01-04, b/01-02, b/01-03 -> 4; 6 rows -> 2 merged
    assert report.customer_days == 4
    assert report.same_day_rows_merged == 2
    assert report.purchase_days == 2  # a/01-01 (25) and b/01-03 (7)
    assert report.non_purchase_days == 2
    assert (report.customers, report.customers_with_purchase) == (2, 2)
    assert (report.first_day, report.last_day) == (dt.date(2024, 1, 1), dt.date(2024, 1, 4))


def test_duplicates_kept_by_default_dropped_on_request():
    kept = build_features(log(ROWS), "2024-02-01").set_index("customer_id")
    assert kept.loc["a", "total_spend"] == 10 + 10 + 5 - 3
    config = FeatureConfig(policy=Policy(drop_duplicates=True))
    dropped = build_features(read_transactions(log(ROWS), policy=config.policy), "2024-02-01").set_index("customer_id")
    assert dropped.loc["a", "total_spend"] == 10 + 5 - 3
    report = policy_report(read_transactions(log(ROWS), policy=config.policy))
    assert report.duplicates_dropped and report.same_day_rows_merged == 1


def test_returns_are_netted_but_never_purchases():
    feats = build_features(log(ROWS), "2024-02-01").set_index("customer_id")
    assert feats.loc["a", "purchase_days"] == 1
    assert feats.loc["a", "returns_share"] == 3 / 25
    assert feats.loc["b", "purchase_days"] == 1
    assert feats.loc["b", "first_purchase"].strftime("%Y-%m-%d") == "2024-01-03"  # the zero day is no purchase


def test_duplicates_are_judged_on_the_timestamp_not_the_day():
    frame = log(
        [("a", "2024-01-05 09:00:00", 9.99), ("a", "2024-01-05 17:30:00", 9.99), ("a", "2024-01-05 17:30:00", 9.99)]
    )
    logged = read_transactions(frame, policy=Policy(drop_duplicates=True))
    assert policy_report(logged).duplicate_rows == 1  # only the 17:30 pair
    feats = build_features(logged, "2024-02-01").set_index("customer_id")
    assert feats.loc["a", "total_spend"] == pytest.approx(2 * 9.99)
