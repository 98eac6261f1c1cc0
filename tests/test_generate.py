"""The synthetic log: seeded, realistic in the ways real logs are, with a truth that predicts it."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from features import InputError, build_features, build_labels, read_transactions
from features.config import ColumnMap
from features.generate import (
    GeneratorConfig,
    expected_min_geometric_poisson,
    generate,
    load_config,
    oracle_expected,
    rates_oracle,
    write_generated,
)
from models.metrics import roc_auc

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


def test_one_acquisition_cohort_buys_first_inside_its_window():
    cfg = GeneratorConfig(
        customers=5_000, seed=3, start=dt.date(2024, 1, 1), end=dt.date(2025, 4, 1), acquisition_days=84
    )
    tx, truth = generate(cfg)
    window_end = np.datetime64(cfg.start + dt.timedelta(days=84))
    first = tx[tx["amount"] > 0].groupby("customer_id")["date"].min()
    assert len(first) == cfg.customers
    assert (first < window_end).all() and (truth["first_purchase"] < window_end).all()
    days = (truth["first_purchase"] - np.datetime64(cfg.start)).dt.days
    assert days.min() == 0 and days.max() == 83
    assert abs(days.mean() - 41.5) < 2  # uniform, not the growing business's late-heavy sqrt
    assert tx["date"].max() > np.datetime64(dt.date(2025, 3, 1))  # the cohort goes on buying after the window
    # Cohort drift runs over the window: the late joiners of the window buy less often than the early ones.
    late = days >= 42
    assert truth.loc[late, "purchase_rate"].mean() < truth.loc[~late, "purchase_rate"].mean()


@pytest.mark.parametrize("days", [0, -5, 367, 2.5, True])
def test_acquisition_days_outside_the_log_is_an_input_error(days):
    with pytest.raises(InputError, match="acquisition_days must be a whole number of days from 1 to the log's 366"):
        GeneratorConfig(start=dt.date(2024, 1, 1), end=dt.date(2025, 1, 1), acquisition_days=days)


def test_acquisition_days_at_the_bounds_is_accepted():
    for days in (1, 366):
        cfg = GeneratorConfig(customers=50, start=dt.date(2024, 1, 1), end=dt.date(2025, 1, 1), acquisition_days=days)
        _, truth = generate(cfg)
        assert (truth["first_purchase"] < np.datetime64(cfg.start + dt.timedelta(days=days))).all()


@pytest.mark.parametrize("acquisition_days", [None, 84])
def test_load_config_round_trips(tmp_path, acquisition_days):
    cfg = GeneratorConfig(customers=200, seed=5, season_amplitude=0.7, acquisition_days=acquisition_days)
    paths = write_generated(cfg, tmp_path)
    assert load_config(paths["config"]) == cfg


def _clock(cfg: GeneratorConfig, day: float) -> float:
    """The seasonal clock at ``day`` (days from start, fractions within a day at that day's intensity), by hand."""
    total = 0.0
    for d in range(math.ceil(day)):
        doy = (cfg.start + dt.timedelta(days=d)).timetuple().tm_yday
        intensity = 1 + cfg.season_amplitude * math.cos(2 * math.pi * (doy - cfg.season_peak_doy) / 365.25)
        total += intensity * min(1.0, day - d)
    return total


def test_rates_oracle_hand_computed():
    """One repeat buyer and one single-purchase customer, the posterior and the forecasts worked out by hand."""
    cfg = GeneratorConfig(start=dt.date(2024, 1, 1), end=dt.date(2025, 1, 1))
    as_of, horizon = dt.date(2024, 9, 1), 91
    truth = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C"],
            "purchase_rate": [0.02, 0.01, 0.5],
            "dropout_prob": [0.2, 0.1, 0.3],
            "mean_spend": [50.0, 80.0, 10.0],
        }
    )
    history = pd.DataFrame(
        {
            "customer_id": ["B", "A"],  # the output keeps the history's order; C never bought
            "frequency": [0, 3],
            "first_purchase": pd.to_datetime(["2024-06-01", "2024-02-10"]),
            "last_purchase": pd.to_datetime(["2024-06-01", "2024-07-15"]),
        }
    )
    out = rates_oracle(truth, cfg, as_of, horizon, history)
    assert list(out.columns) == ["customer_id", "alive", "expected_purchases", "prob_no_purchase", "expected_spend"]
    assert out["customer_id"].tolist() == ["B", "A"]

    a = (as_of - cfg.start).days  # 244
    kept = 1 - 0.06 * (0.3 + 1.0) / 2
    expected = {}
    for cid, quit_now, last in (("A", 0.2, dt.date(2024, 7, 15)), ("B", cfg.one_and_done, dt.date(2024, 6, 1))):
        rate, p, spend = truth.set_index("customer_id").loc[cid, ["purchase_rate", "dropout_prob", "mean_spend"]]
        delta = _clock(cfg, a) - _clock(cfg, (last - cfg.start).days + 0.5)
        silent = (1 - quit_now) * math.exp(-rate * delta)
        alive = silent / (silent + quit_now)
        mu = rate * (_clock(cfg, a + horizon) - _clock(cfg, a))
        # E[min(G, N)] = sum_k (1-p)^(k-1) P(N >= k), summed directly.
        e_min = sum(
            (1 - p) ** (k - 1) * (1 - sum(math.exp(-mu) * mu**i / math.factorial(i) for i in range(k)))
            for k in range(1, 60)
        )
        expected[cid] = (alive, alive * e_min, 1 - alive * (1 - math.exp(-mu)), alive * e_min * spend * kept)
    got = out.set_index("customer_id")
    for cid, (alive, purchases, no_purchase, spend) in expected.items():
        assert got.loc[cid, "alive"] == pytest.approx(alive, rel=1e-9)
        assert got.loc[cid, "expected_purchases"] == pytest.approx(purchases, rel=1e-9)
        assert got.loc[cid, "prob_no_purchase"] == pytest.approx(no_purchase, rel=1e-9)
        assert got.loc[cid, "expected_spend"] == pytest.approx(spend, rel=1e-9)
    # A: 3 repeat purchases, silent for 47.5 summer days (38.8 on the seasonal clock) at 0.02 a day:
    # 0.8 e^-0.78 / (0.8 e^-0.78 + 0.2) = 0.65.
    assert got.loc["A", "alive"] == pytest.approx(0.648, abs=0.001)
    # B: one purchase 91.5 days (68.1 on the clock) ago at 0.01 a day: 0.75 e^-0.68 / (0.75 e^-0.68 + 0.25) = 0.60.
    assert got.loc["B", "alive"] == pytest.approx(0.603, abs=0.001)


def test_rates_oracle_rejects_a_history_it_cannot_use():
    cfg = GeneratorConfig(start=dt.date(2024, 1, 1), end=dt.date(2025, 1, 1))
    truth = pd.DataFrame({"customer_id": ["A"], "purchase_rate": [0.02], "dropout_prob": [0.2], "mean_spend": [5.0]})
    row = {"customer_id": ["A"], "frequency": [1], "last_purchase": pd.to_datetime(["2024-09-01"])}
    with pytest.raises(InputError, match="on or after as_of"):
        rates_oracle(truth, cfg, dt.date(2024, 9, 1), 30, pd.DataFrame(row))
    with pytest.raises(InputError, match="not in the truth"):
        rates_oracle(truth, cfg, dt.date(2024, 10, 1), 30, pd.DataFrame(row | {"customer_id": ["Z"]}))
    with pytest.raises(InputError, match="as_of"):
        rates_oracle(truth, cfg, dt.date(2025, 2, 1), 30, pd.DataFrame(row))


def test_rates_oracle_is_informative_but_below_the_full_oracle(generated):
    """Knowing the rates but not who is alive: a calibrated churn forecast, ranked worse than the full truth's."""
    tx, truth = generated
    as_of, horizon = dt.date(2024, 7, 1), 180
    log = read_transactions(tx, ColumnMap(order="order_id"))
    history = build_features(log, as_of)
    rates = rates_oracle(truth, CFG, as_of, horizon, history).set_index("customer_id")
    full = oracle_expected(truth, CFG, as_of, horizon).set_index("customer_id")
    actual = build_labels(log, as_of, f"{horizon}d").set_index("customer_id")
    assert len(rates) == len(history) == len(actual)
    full, actual = full.loc[rates.index], actual.loc[rates.index]
    churned = actual["churned"].astype(int)
    auc_rates, auc_full = roc_auc(churned, rates["prob_no_purchase"]), roc_auc(churned, full["prob_no_purchase"])
    assert 0.5 < auc_rates < auc_full
    assert auc_rates > 0.7  # the history says a lot
    # The posterior is calibrated: it matches the share the truth says is alive, and the observed churn.
    assert rates["alive"].mean() == pytest.approx(full["alive"].mean(), abs=0.02)
    assert rates["prob_no_purchase"].mean() == pytest.approx(churned.mean(), abs=0.02)
    ratio = actual["future_purchases"].sum() / rates["expected_purchases"].sum()
    assert 0.85 < ratio < 1.05


def test_generated_files_are_written_atomically_and_leave_nothing_behind(tmp_path, monkeypatch):
    import features.generate as gen

    cfg = GeneratorConfig(customers=50, seed=3)
    paths = gen.write_generated(cfg, tmp_path / "ok")
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == [
        "generator.json",
        "transactions.parquet",
        "truth.parquet",
    ]

    real = gen.pq.write_table
    calls = []

    def fail_on_truth(table, where):
        calls.append(where)
        if len(calls) == 2:
            real(table, where)  # a half-written file under the temporary name ...
            raise KeyboardInterrupt  # ... then the user presses Ctrl-C
        real(table, where)

    monkeypatch.setattr(gen.pq, "write_table", fail_on_truth)
    with pytest.raises(KeyboardInterrupt):
        gen.write_generated(cfg, tmp_path / "cut")
    assert sorted(p.name for p in (tmp_path / "cut").iterdir()) == ["transactions.parquet"]  # whole, renamed
    assert len(pd.read_parquet(tmp_path / "cut" / "transactions.parquet")) == len(
        pd.read_parquet(paths["transactions"])
    )
