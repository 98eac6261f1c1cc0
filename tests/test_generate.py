"""The synthetic log: seeded, realistic in the ways real logs are, with a truth that predicts it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from features import build_features, build_labels, read_transactions
from features.config import ColumnMap
from features.generate import GeneratorConfig, expected_min_geometric_poisson, generate, oracle_expected

CFG = GeneratorConfig(customers=20_000, seed=7)


@pytest.fixture(scope="module")
def generated():
    return generate(CFG)


def test_same_seed_same_log_other_seed_other_log(generated):
    tx, _ = generated
    again, _ = generate(CFG)
    assert tx.equals(again)
    other, _ = generate(GeneratorConfig(customers=20_000, seed=8))
    assert not tx["amount"].equals(other["amount"])


def test_log_has_what_real_logs_have(generated):
    tx, truth = generated
    assert list(tx.columns) == ["customer_id", "order_id", "date", "amount", "cost"]
    assert tx["date"].min() >= np.datetime64(CFG.start) and tx["date"].max() < np.datetime64(CFG.end)
    assert 0.02 < (tx["amount"] < 0).mean() < 0.1  # returns
    per_day = tx.assign(day=tx["date"].dt.floor("D")).groupby(["customer_id", "day"])["order_id"].nunique()
    assert (per_day > 1).mean() > 0.05  # several orders on one day
    purchases = tx[tx["amount"] > 0].groupby("customer_id").size()
    assert 0.3 < (purchases == 1).mean() < 0.8  # many one-time buyers
    month = tx[tx["amount"] > 0]["date"].dt.month.value_counts(normalize=True)
    assert month[12] > month[6] * 1.3  # seasonality peaks in December
    assert len(truth) == CFG.customers and truth["customer_id"].is_unique


def test_closed_form_expected_purchases_matches_monte_carlo():
    rng = np.random.default_rng(0)
    p = np.array([0.05, 0.3, 0.8])
    mu = np.array([4.0, 2.0, 10.0])
    n = 200_000
    sims = np.minimum(rng.geometric(p[:, None], (3, n)), rng.poisson(mu[:, None], (3, n))).mean(axis=1)
    np.testing.assert_allclose(expected_min_geometric_poisson(p, mu), sims, rtol=0.02)


def test_oracle_predicts_the_generated_future(generated):
    """The truth at an earlier cutoff forecasts what the log then shows, in aggregate and by customer."""
    tx, truth = generated
    as_of, horizon = dt.date(2024, 7, 1), 180
    oracle = oracle_expected(truth, CFG, as_of, horizon).set_index("customer_id")
    log = read_transactions(tx, ColumnMap(order="order_id"))
    actual = build_labels(log, as_of, f"{horizon}d").set_index("customer_id")
    joined = oracle.join(actual, how="inner")
    assert len(joined) == len(build_features(log, as_of))
    # Expected purchase days vs observed: the oracle counts events, a few fall on one day.
    ratio = joined["future_purchases"].sum() / joined["expected_purchases"].sum()
    assert 0.85 < ratio < 1.05
    spend_ratio = joined["future_spend"].sum() / joined["expected_spend"].sum()
    assert 0.85 < spend_ratio < 1.15
    assert np.corrcoef(joined["expected_spend"], joined["future_spend"])[0, 1] > 0.4
    # Customers the truth says are gone never buy.
    assert joined.loc[~joined["alive"], "future_purchases"].sum() == 0
