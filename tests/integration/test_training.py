"""Training, registry, promotion, failure safety and scoring against a real MLflow tracking server."""

from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.integration.conftest import AS_OF

NAME = "customer-value"


def test_backtest_reports_model_and_baseline(trained):
    m = trained.metrics
    for key in ("roc_auc", "brier", "gini", "top10_capture", "rmse", "decile_mape", "aggregate_error"):
        assert f"model.{key}" in m and f"baseline.{key}" in m and f"lift.{key}" in m
    assert m["lift.roc_auc"] == pytest.approx(m["model.roc_auc"] - m["baseline.roc_auc"])
    # The aggregate error's lift compares sizes: a signed difference would reward overshooting the other way.
    assert m["lift.aggregate_error"] == pytest.approx(
        abs(m["model.aggregate_error"]) - abs(m["baseline.aggregate_error"])
    )
    assert 0.5 < m["model.roc_auc"] <= 1.0
    assert 0.0 <= m["model.interval_coverage"] <= 1.0
    # The backtest model never saw a label after its cutoff; the test window is the last horizon.
    assert trained.backtest_fit.end == trained.test_cutoff.isoformat()
    assert trained.final_fit.end == AS_OF.isoformat()


def test_run_is_logged_with_params_metrics_plots_and_datasets(registered, mlflow_uri):
    run_id, version = registered
    client = MlflowClient(mlflow_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["horizon"] == "120d" and run.data.params["booster.max_rounds"] == "150"
    assert "backtest/model/gini" in run.data.metrics and "backtest/baseline/gini" in run.data.metrics
    assert run.data.tags["final_model"].startswith("early-stopped boosters, blended with the baseline")
    assert "backtest/backtest.parquet" in {a.path for a in client.list_artifacts(run_id, "backtest")}
    for output in ("churn", "clv", "purchases"):
        assert 0.0 <= run.data.metrics[f"final/{output}_weight"] <= 1.0
    artifacts = {a.path for a in client.list_artifacts(run_id)} | {
        a.path for a in client.list_artifacts(run_id, "plots")
    }
    for name in ("report.html", "plots/gains.png", "plots/calibration.png", "plots/deciles.png",
                 "plots/feature_importance.png", "plots/shap_summary.png", "plots/interval_coverage.png"):  # fmt: skip
        assert name in artifacts
    assert {d.dataset.name for d in run.inputs.dataset_inputs} >= {
        "transactions", "backtest-features", "backtest-predictions"
    }  # fmt: skip
    mv = client.get_model_version_by_alias(NAME, "challenger")
    assert mv.version == version and mv.run_id == run_id


def test_registered_model_reproduces_predictions_in_a_fresh_process(registered, trained, mlflow_uri, tmp_path):
    features = trained.test_frame.drop(
        columns=[
            c
            for c in trained.test_frame.columns
            if c.startswith(("future_", "btyd_", "season_")) or c in ("churned", "snapshot", "horizon_days")
        ]
    ).head(300)
    features.to_parquet(tmp_path / "features.parquet")
    script = (
        "import sys, mlflow, pandas as pd\n"
        "m = mlflow.pyfunc.load_model('models:/customer-value@challenger')\n"
        "m.predict(pd.read_parquet(sys.argv[1])).to_parquet(sys.argv[2])\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri}
    res = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "features.parquet"), str(tmp_path / "out.parquet")],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    fresh = pd.read_parquet(tmp_path / "out.parquet")
    here = trained.bundle.predict(pd.read_parquet(tmp_path / "features.parquet"))
    pd.testing.assert_frame_equal(fresh, here, check_exact=True)


def _register_copy(trained, small_config, mlflow_uri, generated, bundle):
    """Register ``bundle`` as the challenger, its backtest predictions computed by that bundle on the window."""
    from training.tracking import log_training

    scored = dataclasses.replace(bundle, horizon_days=trained.test_window_days).predict(trained.test_frame)
    backtest = trained.backtest.assign(
        churn_probability=scored["churn_probability"].to_numpy(), predicted_clv=scored["predicted_clv"].to_numpy()
    )
    result = dataclasses.replace(trained, bundle=bundle, backtest=backtest)
    return log_training(
        result, small_config, {"case": "promotion"}, str(generated["transactions"]), "tests", NAME, mlflow_uri
    )


def _baseline_only(bundle):
    """A copy of ``bundle`` that ships the BTYD baseline alone (its forecasts are the backtest's baseline columns)."""
    b = copy.deepcopy(bundle)
    for model in (b.churn, b.clv, b.purchases):
        model.booster_, model.choice_.weight = None, 0.0
    return b


def test_promotion_on_one_window_against_baseline_and_champion(
    registered, trained, small_config, mlflow_uri, generated, capsys
):
    from training.jobs import run_promote

    client = MlflowClient(mlflow_uri)
    champion_of = lambda: client.get_model_version_by_alias(NAME, "champion").version  # noqa: E731
    as_good = _baseline_only(trained.backtest_bundle)
    # A baseline that forecasts five times the purchases: far worse on Brier and the aggregate error.
    worse = _baseline_only(trained.backtest_bundle)
    worse.baseline.bgnbd_ = dataclasses.replace(worse.baseline.bgnbd_, r=worse.baseline.bgnbd_.r * 5)

    # No champion yet: judged against the baseline only; equal to it is not worse.
    first_run, first = _register_copy(trained, small_config, mlflow_uri, generated, as_good)
    assert run_promote(NAME, False, mlflow_uri) and champion_of() == first
    assert "no champion yet" in capsys.readouterr().out
    # The promotion is on the version's page (tags, description) and its comparison in the run.
    mv = client.get_model_version(NAME, first)
    assert mv.tags["promotion/outcome"] == "promoted" and mv.tags["promotion/against"] == "the BTYD baseline"
    assert "no champion yet" in mv.tags["promotion/reason"]
    assert "Promotion " in mv.description and "promoted to @champion" in mv.description
    assert "Not yet judged" not in mv.description, mv.description
    assert f"as-of {trained.backtest_bundle.trained_as_of}" in mv.description
    logged = {a.path for a in client.list_artifacts(first_run, "promotion")}
    assert logged == {"promotion/comparison.csv", "promotion/comparison.json"}
    table = pd.read_csv(client.download_artifacts(first_run, "promotion/comparison.csv"))
    assert set(table["other"]) == {"baseline"} and "roc_auc" in set(table["metric"])
    # Worse than the baseline and the champion beyond noise: refused, the champion stays.
    _, bad = _register_copy(trained, small_config, mlflow_uri, generated, worse)
    assert not run_promote(NAME, False, mlflow_uri)
    refused = client.get_model_version(NAME, bad)
    assert refused.tags["promotion/outcome"] == "refused" and "Not promoted" not in refused.description
    assert f"champion v{first}" in refused.tags["promotion/against"] and "not promoted:" in refused.description
    out = capsys.readouterr().out
    assert "not promoted" in out and "worse than the baseline beyond noise" in out
    assert "worse than the champion beyond noise" in out and "95 % paired bootstrap" in out
    assert champion_of() == first
    # --force overrides.
    assert run_promote(NAME, True, mlflow_uri) and champion_of() == bad
    # The champion is scored on the challenger's window: the worse one now loses to an as-good challenger.
    _, good = _register_copy(trained, small_config, mlflow_uri, generated, as_good)
    assert run_promote(NAME, False, mlflow_uri) and champion_of() == good


def test_failure_before_aliasing_leaves_no_version_and_a_failed_run(
    trained, small_config, mlflow_uri, generated, monkeypatch
):
    import training.tracking as tracking

    client = MlflowClient(mlflow_uri)
    mlflow.set_tracking_uri(mlflow_uri)
    before = {v.version for v in client.search_model_versions(f"name='{NAME}'")}
    challenger = client.get_model_version_by_alias(NAME, "challenger").version

    def boom(*args, **kwargs):
        raise RuntimeError("injected failure before aliasing")

    monkeypatch.setattr(tracking, "set_alias", boom)
    with pytest.raises(RuntimeError, match="injected"):
        tracking.log_training(trained, small_config, {"case": "failure"}, "x", "tests-failure", NAME, mlflow_uri)
    after = {v.version for v in client.search_model_versions(f"name='{NAME}'")}
    assert after == before
    assert client.get_model_version_by_alias(NAME, "challenger").version == challenger
    exp = client.get_experiment_by_name("tests-failure")
    runs = client.search_runs([exp.experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]


def test_cli_train_promote_score_end_to_end(mlflow_uri, generated, tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri, "COLUMNS": "200"}
    tx = str(generated["transactions"])

    def clv(*args):
        return subprocess.run([sys.executable, "-m", "clv", *args], env=env, capture_output=True, text=True,
                              timeout=900, cwd=tmp_path)  # fmt: skip

    res = clv("train", "-t", tx, "--as-of", AS_OF.isoformat(), "--horizon", "120d", "--snapshots", "6",
              "--every", "56d", "--register-as", "cli-model", "--order-col", "order_id")  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "BTYD baseline" in res.stdout and "@challenger" in res.stdout
    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name("customer-value")
    (run,) = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("as_of") == AS_OF.isoformat()][:1]
    # The run was open through the training: it lasted at least as long as the training did.
    assert (run.info.end_time - run.info.start_time) / 1000 >= float(run.data.tags["training_seconds"]) > 0
    assert f"{mlflow_uri}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}" in res.stdout
    assert "report: " in res.stdout and "report.html" in res.stdout
    assert "verdict: beats the BTYD baseline beyond noise on " in res.stdout and "worse on: " in res.stdout
    res = clv("promote", "--name", "cli-model")
    assert res.returncode == 0 and "promoted" in res.stdout
    out = tmp_path / "scores.parquet"
    res = clv(
        "score", "-t", tx, "--as-of", AS_OF.isoformat(), "--model", "models:/cli-model@champion", "--out", str(out)
    )
    assert res.returncode == 0, res.stderr[-3000:]
    scores = pd.read_parquet(out)
    assert list(scores.columns) == [
        "customer_id", "churn_probability", "predicted_clv", "clv_lower", "clv_upper",
        "expected_purchases", "next_order_date", "segment", "top_reasons", "model_version",
    ]  # fmt: skip
    champion = MlflowClient(mlflow_uri).get_model_version_by_alias("cli-model", "champion").version
    assert set(scores["model_version"]) == {str(champion)}  # the version that scored, for the service to name
    assert scores["customer_id"].is_unique and scores["churn_probability"].between(0, 1).all()
    assert (scores["clv_lower"] <= scores["predicted_clv"]).all() and (
        scores["predicted_clv"] <= scores["clv_upper"]
    ).all()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".scores")] == []
    # An unknown model is a clear error, exit 2, and no file.
    bad = tmp_path / "bad.parquet"
    res = clv("score", "-t", tx, "--as-of", AS_OF.isoformat(), "--model", "models:/nope@champion", "--out", str(bad))
    assert res.returncode == 2 and "cannot load model" in res.stderr and not bad.exists()
    # A drift report three months before the model's as-of: customers who first bought since have vanished, none
    # is new. Written, said in one line, logged as a scoring run beside the training run.
    early, drift = tmp_path / "early.parquet", tmp_path / "drift.html"
    args = ["-t", tx, "--as-of", "2024-10-01", "--model", "models:/cli-model@champion", "--out", str(early)]
    res = clv("score", *args, "--report", str(tmp_path / "drift.txt"))
    assert res.returncode == 2 and "must end in .html" in res.stderr and not early.exists()
    res = clv("score", *args, "--report", str(drift))
    assert res.returncode == 0, res.stderr[-3000:]
    verdicts = [line for line in res.stderr.splitlines() if "drift:" in line]
    assert len(verdicts) == 1 and "0 new and" in verdicts[0], res.stderr
    assert "PSI" in drift.read_text() and str(drift) in res.stdout
    client = MlflowClient(mlflow_uri)
    trained_in = client.get_run(client.get_model_version("cli-model", champion).run_id).info.experiment_id
    (run,) = client.search_runs([trained_in], filter_string="tags.kind = 'scoring'")
    assert run.data.tags["model_version"] == str(champion) and run.data.tags["as_of"] == "2024-10-01"
    log = pd.read_parquet(generated["transactions"])
    first = log[log["amount"] > 0].groupby("customer_id")["date"].min()
    since = int(((first >= "2024-10-01") & (first < AS_OF.isoformat())).sum())
    assert run.data.metrics["drift/new_customers"] == 0 and 0 < run.data.metrics["drift/vanished_customers"] <= since
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["drift.html"]


def test_margin_clv_uses_each_customers_cost_share(trained):
    feats = trained.test_frame.head(50)
    pred = trained.bundle.predict(feats, reasons=False)
    spend = feats["total_spend"].to_numpy()
    rate = (feats["total_margin"].to_numpy() / spend).clip(0, 1)
    ok = spend > 0
    assert pred["predicted_margin"].to_numpy()[ok] == pytest.approx(pred["predicted_clv"].to_numpy()[ok] * rate[ok])
    assert (pred["margin_upper"] >= pred["predicted_margin"] - 1e-9).all()


def test_single_record_path_matches_the_batch_path(trained):
    feats = trained.test_frame.drop(
        columns=[c for c in trained.test_frame.columns if c.startswith(("btyd_", "season_"))]
    )
    batch = trained.bundle.predict(feats.head(20))
    for i in (0, 7, 19):
        one = trained.bundle.predict_record(feats.iloc[i].to_dict())
        for col in ("churn_probability", "predicted_clv", "clv_lower", "clv_upper", "expected_purchases"):
            assert one[col] == pytest.approx(batch[col].iloc[i], rel=1e-12), col
        assert one["segment"] == batch["segment"].iloc[i] and one["top_reasons"] == batch["top_reasons"].iloc[i]


def test_reasons_explain_the_whole_score_and_name_no_snapshot_inputs(trained, generated):
    from features import ColumnMap, read_transactions
    from training.score import score

    log = read_transactions(generated["transactions"], ColumnMap(order="order_id", cost="cost"))
    scores = score(log, AS_OF, trained.bundle).predictions
    first = scores["top_reasons"].str.split("; ").str[0]
    at_risk, safe = scores["segment"].str.endswith("at risk"), scores["segment"].str.endswith("safe")
    assert at_risk.sum() > 100 and safe.sum() > 20
    # An at-risk score is explained by what raises it, a safe one by what lowers it.
    assert first[at_risk].str.contains("raises churn risk").mean() > 0.95
    assert first[safe].str.contains("lowers churn risk").mean() > 0.95
    words = " ".join(scores["top_reasons"])
    for snapshot_level in ("season", "horizon", "baseline"):
        assert snapshot_level not in words
