"""What the MLflow pages of a training show: grouped metric names, verdicts against the baseline, learning curves,
the data by absolute URI and digest, the metrics on the logged model, the version's description and tags."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.integration.conftest import AS_OF

NAME = "customer-value"


def test_metrics_are_grouped_with_slashes_and_signed_lifts_are_left_out(registered, mlflow_uri):
    run_id, _ = registered
    metrics = MlflowClient(mlflow_uri).get_run(run_id).data.metrics
    for key in ("roc_auc", "brier", "gini", "aggregate_error", "purchases_mae"):
        assert f"backtest/model/{key}" in metrics and f"backtest/baseline/{key}" in metrics
    assert {"backtest/customers", "backtest/churn_rate", "backtest/window_days", "final/churn_weight"} <= set(metrics)
    assert not [k for k in metrics if k.startswith("lift") or "." in k.split("/")[0]]


def test_verdict_tags_follow_each_metrics_better_direction(registered, trained, mlflow_uri):
    client = MlflowClient(mlflow_uri)
    tags = client.get_run(registered[0]).data.tags
    table = pd.read_csv(client.download_artifacts(registered[0], "backtest/comparison.csv")).set_index("metric")
    # By hand: model - baseline of AUC (higher is better) is better when its interval lies above 0; of Brier (lower
    # is better) when it lies below 0; an interval across 0 is a tie.
    auc, brier = table.loc["roc_auc"], table.loc["brier"]
    assert auc["challenger_value"] == pytest.approx(trained.metrics["model.roc_auc"])
    assert tags["verdict/roc_auc"] == ("better" if auc["lo"] > 0 else "worse" if auc["hi"] < 0 else "tie")
    assert tags["verdict/brier"] == ("better" if brier["hi"] < 0 else "worse" if brier["lo"] > 0 else "tie")
    # A metric without a bootstrap interval is judged on its point estimates, and the tag says how.
    m = trained.metrics
    expected = "ahead" if m["model.log_loss"] < m["baseline.log_loss"] else "behind"
    assert tags["verdict/log_loss"] == expected
    expected = "ahead" if m["model.top10_capture"] > m["baseline.top10_capture"] else "behind"
    assert tags["verdict/top10_capture"] == expected
    assert "roc_auc" in tags["verdict/how"] and "bootstrap" in tags["verdict/how"]
    assert "point estimates" in tags["verdict/how"] and tags["verdict"].startswith(
        "beats the BTYD baseline beyond noise on "
    )


def test_verdicts_by_interval_and_by_point_estimate():
    from training.promote import metric_verdicts

    metrics = {
        "model.roc_auc": 0.80, "baseline.roc_auc": 0.75, "model.brier": 0.20, "baseline.brier": 0.18,
        "model.gini": 0.5, "baseline.gini": 0.5, "model.log_loss": 0.40, "baseline.log_loss": 0.45,
        "model.aggregate_error": -0.10, "baseline.aggregate_error": 0.05,
    }  # fmt: skip
    rows = [  # metric, other, higher_is_better, challenger, other, diff, lo, hi, worse
        ["roc_auc", "baseline", True, 0.80, 0.75, 0.05, 0.02, 0.08, False],
        ["brier", "baseline", False, 0.20, 0.18, 0.02, 0.01, 0.03, True],
        ["gini", "baseline", True, 0.5, 0.5, 0.0, -0.01, 0.01, False],
        ["roc_auc", "champion", True, 0.80, 0.90, -0.1, -0.2, -0.05, True],  # not the baseline: ignored here
    ]
    comparison = pd.DataFrame(rows, columns=["metric", "other", "higher_is_better", "challenger_value",
                                             "other_value", "diff", "lo", "hi", "worse"])  # fmt: skip
    verdicts = {k: v for k, (v, _) in metric_verdicts(metrics, comparison).items()}
    assert verdicts == {
        "roc_auc": "better", "brier": "worse", "gini": "tie", "log_loss": "ahead", "aggregate_error": "behind"
    }  # fmt: skip


def test_learning_curves_are_logged_per_round(registered, trained, mlflow_uri):
    client = MlflowClient(mlflow_uri)
    for output, metric in (("churn", "binary_logloss"), ("clv", "tweedie"), ("purchases", "poisson")):
        history = client.get_metric_history(registered[0], f"curve/final/{output}/{metric}")
        steps = [h.step for h in sorted(history, key=lambda h: h.step)]
        assert len(steps) > 1 and steps == list(range(1, len(steps) + 1))
        assert len(steps) >= trained.final_fit.best_rounds[output]
        assert client.get_metric_history(registered[0], f"curve/backtest/{output}/{metric}")


def test_the_log_is_referenced_by_absolute_uri_and_digest(registered, generated, mlflow_uri):
    from training.tracking import files_digest

    run = MlflowClient(mlflow_uri).get_run(registered[0])
    inputs = {d.dataset.name: d.dataset for d in run.inputs.dataset_inputs}
    uri = Path(generated["transactions"]).absolute().as_uri()
    assert json.loads(inputs["transactions"].source)["uri"] == uri and uri.startswith("file:///")
    assert inputs["transactions"].digest == files_digest(str(generated["transactions"]))
    assert json.loads(inputs["backtest-features"].source)["uri"] == uri
    assert run.data.tags["transactions_uri"] == uri


def test_files_digest_changes_with_the_files(tmp_path):
    from training.tracking import files_digest

    folder = tmp_path / "log"
    folder.mkdir()
    (folder / "a.csv").write_bytes(b"x" * (3 << 20))
    before = files_digest(str(folder))
    assert files_digest(str(folder / "*.csv")) == before  # a glob of the same files
    with open(folder / "a.csv", "r+b") as fh:  # the same size and mtime, another last byte
        stat = os.stat(folder / "a.csv")
        fh.seek(-1, os.SEEK_END)
        fh.write(b"y")
    os.utime(folder / "a.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert files_digest(str(folder)) != before
    (folder / "b.csv").write_text("more")
    assert len({before, files_digest(str(folder))}) == 2


def test_the_version_is_registered_from_the_logged_model_with_its_metrics_and_description(registered, mlflow_uri):
    run_id, version = registered
    client = MlflowClient(mlflow_uri)
    mv = client.get_model_version(NAME, version)
    model_id = mv.tags["model_id"]
    assert mv.source == f"models:/{model_id}" and mv.run_id == run_id
    assert mv.model_id in (None, model_id)  # the OSS registry stores no model_id (MLflow 3.17); the source holds it
    logged = client.get_logged_model(model_id)
    assert logged.source_run_id == run_id
    assert {"name": NAME, "version": version} in json.loads(logged.tags["mlflow.modelVersions"])
    on_model = {m.key: m for m in logged.metrics}
    assert on_model["backtest/model/roc_auc"].value == pytest.approx(
        client.get_run(run_id).data.metrics["backtest/model/roc_auc"]
    )
    assert on_model["backtest/model/roc_auc"].dataset_name == "backtest-features"
    assert mv.tags["as_of"] == AS_OF.isoformat() and mv.tags["horizon_days"] == "120"
    assert f"as-of {AS_OF}" in mv.description and "horizon 120 days" in mv.description
    assert "BTYD baseline" in mv.description and "Not yet judged for promotion" in mv.description
    assert "churn" in client.get_registered_model(NAME).description.lower()


def test_run_names_say_what_ran_and_are_unique(registered, mlflow_uri):
    from training.tracking import run_name

    client = MlflowClient(mlflow_uri)
    run = client.get_run(registered[0])
    assert re.fullmatch(r"train 2025-01-01 h120d \d{8}-\d{6}(-\d+)?", run.info.run_name)
    exp = run.info.experiment_id
    first = run_name(client, exp, AS_OF, 120)
    client.create_run(exp, run_name=first)
    second = run_name(client, exp, AS_OF, 120)  # within the same second: a suffix
    assert second != first and second.startswith("train 2025-01-01 h120d ")
    names = [r.info.run_name for r in client.search_runs([exp])]
    assert len(names) == len(set(names))
