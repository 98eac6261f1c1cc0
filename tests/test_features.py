"""Feature and label values on a hand-written log, each expected value worked out by hand."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from features import build_features, build_labels
from features.config import FeatureConfig, parse_horizon
from features.errors import InputError
from tests.conftest import log

AS_OF = "2024-03-01"


def by_id(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {row.customer_id: row for _, row in frame.iterrows()}


def test_customers_are_those_with_a_purchase_before_the_cutoff(hand_log, con):
    feats = build_features(hand_log, AS_OF, con=con)
    # C has only a return, D buys after the cutoff.
    assert feats["customer_id"].tolist() == ["A", "B"]


def test_btyd_summary_matches_lifetimes_definitions(hand_log, con):
    a, b = by_id(build_features(hand_log, AS_OF, con=con)).values()
    # A buys on Jan 1 (10 + 5), Jan 11 (20) and Feb 10 (40); Jan 15 is a return, Mar 1 is the cutoff day.
    assert a.frequency == 2
    assert a.recency == 40  # Jan 1 -> Feb 10
    assert a["T"] == 59  # Jan 1 -> Feb 29, the last observed day (2024 is a leap year)
    assert a.monetary_value == pytest.approx((20 + 40) / 2)
    assert (b.frequency, b.recency, b["T"], b.monetary_value) == (0, 0, 1, 0.0)


def test_behavioural_features(hand_log, con):
    a = by_id(build_features(hand_log, AS_OF, con=con))["A"]
    assert a.purchase_days == 3
    assert a.total_spend == pytest.approx(15 + 20 - 5 + 40)
    assert a.orders == 4  # two orders on Jan 1
    assert a.avg_order_value == pytest.approx(75 / 4)
    assert a.max_order_value == 40
    assert a.returns_share == pytest.approx(5 / 75)
    assert a.days_since_last == 20  # Feb 10 -> Mar 1
    assert a.tenure_days == 60
    assert a.gap_mean == pytest.approx(20)
    assert a.gap_std == pytest.approx(math.sqrt(((10 - 20) ** 2 + (30 - 20) ** 2) / 1))
    assert (a.purchases_30d, a.spend_30d) == (1, 40)  # since Jan 31
    assert (a.purchases_90d, a.spend_90d) == (3, 70)
    assert a.active_months == 2
    assert a.spend_trend == 1.0  # nothing in the 90 days before the last 90
    assert a.first_purchase == pd.Timestamp("2024-01-01")
    assert a.last_purchase == pd.Timestamp("2024-02-10")


def test_spend_trend_compares_recent_and_prior_windows(con):
    frame = log([("A", "2024-01-01", 30.0), ("A", "2024-03-10", 10.0)])
    a = by_id(build_features(frame, "2024-04-01", FeatureConfig(trend_days=60), con=con))["A"]
    # recent 60 days (Feb 1 - Mar 31): 10; prior 60 days (Dec 3 - Jan 31): 30 -> (10 - 30) / 40
    assert a.spend_trend == pytest.approx(-0.5)


def test_a_day_whose_returns_outweigh_purchases_is_no_purchase(con):
    frame = log([("A", "2024-01-01", 50.0), ("A", "2024-01-05", 20.0), ("A", "2024-01-05", -30.0)])
    a = by_id(build_features(frame, "2024-02-01", con=con))["A"]
    assert a.frequency == 0
    assert a.total_spend == pytest.approx(40)


def test_labels_count_only_the_window(hand_log, con):
    labels = by_id(build_labels(hand_log, AS_OF, "30d", con=con))
    assert set(labels) == {"A", "B"}
    # Window [Mar 1, Mar 31): the Mar 1 purchase is in, the Mar 31 one is out.
    assert (labels["A"].future_purchases, labels["A"].future_spend, labels["A"].churned) == (1, 100.0, False)
    assert (labels["B"].future_purchases, labels["B"].future_spend, labels["B"].churned) == (0, 0.0, True)
    assert labels["A"].horizon_days == 30
    wider = by_id(build_labels(hand_log, AS_OF, "31d", con=con))
    assert (wider["A"].future_purchases, wider["A"].future_spend) == (2, 150.0)


def test_margin_with_a_cost_column(con):
    from features import ColumnMap

    frame = pd.DataFrame(
        {
            "customer_id": ["A", "A", "A"],
            "date": ["2024-01-01", "2024-02-01", "2024-02-15"],
            "amount": [100.0, 60.0, -10.0],
            "cost": [70.0, 30.0, -7.0],
        }
    )
    config = FeatureConfig(columns=ColumnMap(cost="cost"))
    a = by_id(build_features(frame[:1], "2024-02-01", config, con=con))["A"]
    assert a.total_margin == pytest.approx(30)
    lab = by_id(build_labels(frame, "2024-02-01", "30d", config, con=con))["A"]
    assert lab.future_margin == pytest.approx((60 - 30) + (-10 + 7))


def test_orders_with_an_order_column_are_summed_per_order(con):
    from features import ColumnMap

    frame = log([("A", "2024-01-01", 10.0, "o1"), ("A", "2024-01-01", 15.0, "o1"), ("A", "2024-01-01", 5.0, "o2")])
    a = by_id(build_features(frame, "2024-02-01", FeatureConfig(columns=ColumnMap(order="order_id")), con=con))["A"]
    assert (a.orders, a.max_order_value, a.avg_order_value) == (2, 25.0, 15.0)
    b = by_id(build_features(frame[["customer_id", "date", "amount"]], "2024-02-01", con=con))["A"]
    assert (b.orders, b.max_order_value) == (3, 15.0)


def test_timestamps_count_by_day(con):
    frame = log([("A", "2024-01-01 08:00:00", 10.0), ("A", "2024-01-01 23:59:59", 5.0), ("A", "2024-01-02 00:00", 1.0)])
    a = by_id(build_features(frame, "2024-01-03", con=con))["A"]
    assert (a.frequency, a.recency, a["T"]) == (1, 1, 1)
    assert a.monetary_value == 1.0


@pytest.mark.parametrize(("text", "days"), [("181d", 181), ("26w", 182), ("90", 90), (" 7D ", 7), (30, 30)])
def test_horizon_parsing(text, days, con):
    assert parse_horizon(text) == days


@pytest.mark.parametrize("text", ["6m", "0d", "-3d", "abc", ""])
def test_bad_horizon_is_an_input_error(text, con):
    with pytest.raises(InputError, match="horizon"):
        parse_horizon(text)


def test_as_of_must_be_a_date(hand_log, con):
    with pytest.raises(InputError, match="as_of"):
        build_features(hand_log, "yesterday", con=con)
    assert len(build_features(hand_log, dt.date(2024, 3, 1), con=con)) == 2


@pytest.mark.parametrize(("as_of", "horizon"), [("0001-06-01", None), ("9999-12-01", "181d")])
def test_a_cutoff_at_the_ends_of_the_calendar_is_an_input_error(hand_log, as_of, horizon, con):
    with pytest.raises(InputError, match="too close to the ends of the calendar"):
        if horizon is None:
            build_features(hand_log, as_of, con=con)
        else:
            build_labels(hand_log, as_of, horizon, con=con)
