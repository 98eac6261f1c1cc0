"""The HTML report of a training run: the summary in words, better directions and verdicts, segments, customer-level
drivers apart from snapshot-level inputs, one decile order, the champion comparison, and no external resources."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re

import numpy as np
import pandas as pd
import pytest

from features import ColumnMap, read_transactions
from features.generate import GeneratorConfig, generate
from models.boosting import BoosterConfig
from models.metrics import decile_table
from training import report
from training.promote import judge
from training.train import TrainConfig, train

AS_OF = dt.date(2025, 1, 1)
EXPECTED_DIRECTION = {
    "roc_auc": "↑ higher is better",
    "pr_auc": "↑ higher is better",
    "brier": "↓ lower is better",
    "log_loss": "↓ lower is better",
    "calibration_error": "↓ lower is better",
    "gini": "↑ higher is better",
    "top10_capture": "↑ higher is better",
    "top20_capture": "↑ higher is better",
    "rmse": "↓ lower is better",
    "mae": "↓ lower is better",
    "decile_mape": "↓ lower is better",
    "aggregate_error": "↓ lower |value| is better (closer to 0)",
    "interval_coverage": "≈ closer to the nominal 80 % is better",
    "purchases_mae": "↓ lower is better",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small training result, its facts as `clv train` gives them, and its plots."""
    tx, _ = generate(GeneratorConfig(customers=1500, start=dt.date(2023, 6, 1), end=AS_OF, seed=5))
    log = read_transactions(tx, ColumnMap(order="order_id", cost="cost"))
    booster = BoosterConfig(max_rounds=30, min_child_samples=40, threads=1)  # one thread: quick on a busy machine
    config = TrainConfig(horizon="91d", snapshots=3, every="56d", booster=booster)
    result = train(log, AS_OF, config)
    facts = {
        "transactions": "generated.parquet",
        "data_range": f"{tx['date'].min().date()} .. {tx['date'].max().date()}",
        "rows": str(len(tx)),
        "customers": str(tx["customer_id"].nunique()),
        "as_of": AS_OF.isoformat(),
        "backtest_cutoff": result.test_cutoff.isoformat(),
        "horizon_days": str(config.horizon_days),
    }
    folder = tmp_path_factory.mktemp("report")
    plots = report.plots(result, folder / "plots")
    return result, facts, plots, folder


@pytest.fixture(scope="module")
def comparison(run):
    """A promotion comparison on the run's backtest window against the baseline and a made-up champion."""
    result = run[0]
    bt = result.backtest
    frame = bt.assign(
        challenger_churn=bt["churn_probability"],
        challenger_clv=bt["predicted_clv"],
        champion_churn=np.clip(bt["baseline_churn"] * 0.9 + 0.05, 0, 1),
        champion_clv=bt["baseline_clv"] * 1.3,
    )
    return judge(frame, has_champion=True, n_boot=50).comparison


@pytest.fixture(scope="module")
def page(run) -> str:
    result, facts, plots, folder = run
    path = report.html_report(result, plots, facts, folder / "report.html")
    assert path == folder / "report.html" and path.exists()
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def judged_page(run, comparison) -> str:
    result, facts, plots, folder = run
    return report.html_report(result, plots, facts, folder / "judged.html", comparison).read_text(encoding="utf-8")


def section(page: str, name: str) -> str:
    found = re.search(rf'<section id="{name}"[^>]*>(.*?)</section>', page, re.S)
    assert found, f"no section {name}"
    return found.group(1)


def text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", fragment)))


def rows(fragment: str) -> list[list[str]]:
    """Body rows of the tables in a fragment, as cell texts."""
    bodies = re.findall(r"<tbody>(.*?)</tbody>", fragment, re.S)
    return [
        [text(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        for body in bodies
        for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_summary_says_who_when_how_much_in_numbers(run, page):
    result, facts, _, _ = run
    summary = text(section(page, "summary"))
    bt = result.backtest
    first, last = facts["data_range"].split(" .. ")
    assert (
        f"{int(facts['customers']):,} customers and {int(facts['rows']):,} rows in the purchase log, dated "
        f"{first} to {last}" in summary
    )
    assert f"as of {AS_OF} over the next 91 days" in summary
    assert (
        f"backtested on the {result.test_window_days} days from {result.test_cutoff} to {AS_OF}: a model trained "
        f"only on data before {result.test_cutoff} scored the {len(bt):,} customers who had bought by then; "
        f"{bt['churned'].mean():.1%} of them churned (no purchase in the window) and they spent "
        f"{bt['future_spend'].sum():,.0f} in total." in summary
    )
    fit = result.final_fit
    assert (
        f"learned from {fit.train_rows:,} training rows (customer snapshots at {len(fit.train_cutoffs)} cutoffs)"
        in summary
    )
    assert f"validated on {sum(fit.validation_rows.values()):,} held-out customers" in summary
    # No verdict was given: better / worse are not claimed.
    against = summary.split("Against the BTYD baseline.")[1]
    assert " better " not in against and " worse " not in against


def test_baseline_sentence_claims_better_or_worse_only_beyond_noise(run, comparison):
    result = run[0]
    metrics = {
        "model.roc_auc": 0.80, "baseline.roc_auc": 0.79, "lift.roc_auc": 0.01,
        "model.brier": 0.15, "baseline.brier": 0.16, "lift.brier": -0.01,
        "model.gini": 0.70, "baseline.gini": 0.72, "lift.gini": -0.02,
        "model.aggregate_error": -0.05, "baseline.aggregate_error": 0.10, "lift.aggregate_error": -0.05,
        "model.top10_capture": 0.40, "baseline.top10_capture": 0.40, "lift.top10_capture": 0.0,
    }  # fmt: skip
    fit = dataclasses.replace(result.backtest_fit, baseline_only=None, choices={"churn": {"weight": 1.0}})
    plain = report.baseline_sentence(metrics, fit)
    assert "better" not in plain and "worse" not in plain
    assert "ahead of the baseline on ROC AUC 0.800 vs 0.790, Brier score 0.150 vs 0.160" in plain
    assert "behind the baseline on normalized Gini 0.700 vs 0.720" in plain
    assert "level with it on top-10 % spend capture" in plain
    judged = pd.DataFrame(
        [
            ["roc_auc", "baseline", True, 0.80, 0.79, 0.01, -0.01, 0.03, False],  # ahead, within noise
            ["brier", "baseline", False, 0.15, 0.16, -0.01, -0.02, -0.005, False],  # better beyond noise
            ["gini", "baseline", True, 0.70, 0.72, -0.02, -0.04, -0.01, True],  # worse beyond noise
        ],
        columns=["metric", "other", "higher_is_better", "challenger_value", "other_value", "diff", "lo", "hi", "worse"],
    )
    sentence = report.baseline_sentence(metrics, fit, judged)
    assert "better than the BTYD baseline beyond noise on Brier score;" in sentence
    assert "worse than the BTYD baseline beyond noise on normalized Gini;" in sentence
    assert "within noise on ROC AUC." in sentence
    assert "ahead of the baseline on aggregate error -0.050 vs 0.100" in sentence  # not judged: point difference
    table = report.metric_table(metrics, judged).set_index("metric")["verdict"]
    assert table["brier"] == "better beyond noise" and table["gini"] == "worse beyond noise"
    assert table["roc_auc"] == "within noise" and table["aggregate_error"] == "ahead (no interval)"
    baseline_only = dataclasses.replace(fit, choices={"churn": {"weight": 0.0}, "clv": {"weight": 0.0}})
    assert "is the BTYD baseline for every output" in report.baseline_sentence(metrics, baseline_only)


def test_every_metric_has_its_better_direction_and_a_verdict(run, page):
    result = run[0]
    table = rows(section(page, "metrics"))
    keys = [re.search(r"\((\w+)\)$", r[0]).group(1) for r in table]
    assert sorted(keys) == sorted(k.split(".", 1)[1] for k in result.metrics if k.startswith("model."))
    for key, row in zip(keys, table, strict=True):
        assert row[1] == EXPECTED_DIRECTION[key], key
        assert row[5], f"{key} has no verdict"
        if key != "interval_coverage":
            assert row[5] in ("ahead (no interval)", "behind (no interval)", "level"), row


def test_segment_counts_sum_to_the_backtest_customers(run, page):
    result = run[0]
    segments = rows(section(page, "segments"))
    assert [r[0] for r in segments] == list(report.SEGMENTS)
    assert sum(int(r[1].replace(",", "")) for r in segments) == len(result.backtest)
    frame = report.segment_table(result).set_index("segment")
    occupied = frame[frame["customers"] > 0]
    bt = result.backtest
    weighted = (occupied["mean_churn_probability"] * occupied["customers"]).sum() / len(bt)
    assert weighted == pytest.approx(bt["churn_probability"].mean())
    assert (occupied["actual_churn_rate"] * occupied["customers"]).sum() == pytest.approx(bt["churned"].sum())


def test_customer_level_drivers_leave_snapshot_inputs_apart(run, page):
    result = run[0]
    snapshot_inputs = [f for f in result.bundle.features if f.startswith(("season_", "horizon_"))]
    assert snapshot_inputs  # the run has some
    drivers = section(page, "drivers")
    for feature in snapshot_inputs:
        assert feature not in drivers and report.SNAPSHOT_READABLE[feature] not in text(drivers)
    assert "season" not in text(drivers).lower() and "horizon" not in text(drivers).lower()
    apart = text(section(page, "snapshot-inputs"))
    assert all(f"({feature})" in apart for feature in snapshot_inputs)
    customer, snapshot = report.drivers(result)
    assert not customer["feature"].map(report.is_snapshot_input).any()
    assert sorted(snapshot["feature"]) == sorted(snapshot_inputs)
    assert not report.customer_importance(result)["feature"].map(report.is_snapshot_input).any()


def test_deciles_count_from_the_highest_prediction_everywhere(run, page):
    result = run[0]
    bt = result.backtest
    cov = report.coverage_table(bt)
    dec = decile_table(bt["future_spend"], bt["predicted_clv"])
    assert cov["decile"].tolist() == dec["decile"].tolist() and cov["decile"].iloc[0] == 1
    assert np.allclose(cov["mean_predicted"], dec["mean_predicted"])
    assert cov["mean_predicted"].is_monotonic_decreasing
    numbering = re.findall(r"decile[^.;]*?1 = (\w+)", text(page))
    assert numbering and set(numbering) == {"highest"}


def test_champion_comparison_shown_when_given_and_explained_when_not(run, page, judged_page, comparison):
    assert "No champion to compare with" in text(section(page, "champion"))
    assert "Against the champion" not in text(section(page, "summary"))
    champion = section(judged_page, "champion")
    table = rows(champion)
    assert len(table) == len(comparison)
    assert sum(r[1] == "champion" for r in table) == (comparison["other"] == "champion").sum()
    assert all(re.fullmatch(r"\[[-+]\d\.\d{4}, [-+]\d\.\d{4}\]", r[6]) for r in table)
    worse = comparison[comparison["worse"]]
    for row, (_, expected) in zip(table, comparison.iterrows(), strict=True):
        assert (row[7] == "worse beyond noise") == bool(expected["worse"])
    summary = text(section(judged_page, "summary"))
    assert "Against the champion. On the 95 % paired bootstrap" in summary
    assert ("worse than the champion beyond noise" in summary) == bool((worse["other"] == "champion").any())


def test_the_page_needs_nothing_from_outside(run, page, judged_page):
    plots = run[2]
    for content in (page, judged_page):
        assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", content, re.I)
        assert "<script" not in content and "<link" not in content and "@import" not in content
        assert "url(" not in content
        assert content.count('src="data:image/png;base64,') == len(plots)
        assert 'class="grid"' in content and "grid-template-columns" in content


def test_a_comparison_without_champion_says_so(run, comparison):
    result, facts, plots, folder = run
    baseline_only = comparison[comparison["other"] == "baseline"]
    page = report.html_report(result, plots, facts, folder / "no-champion.html", baseline_only).read_text("utf-8")
    assert "There was no champion to compare with" in text(section(page, "champion"))
    assert len(rows(section(page, "champion"))) == len(baseline_only)
    assert "Against the champion. There was no champion to compare with." in text(section(page, "summary"))
