"""Every MLflow call of the project: the run (params, metrics, tags, datasets, plots, report), the pyfunc model,
the registry version and its aliases. A failure before the alias is set leaves no new version and the run FAILED."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from clv import defaults
from clv.defaults import tracking_uri
from features import InputError
from training import report
from training.train import TrainConfig, TrainResult

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = [
    "lightgbm", "numpy", "pandas", "scipy", "scikit-learn", "pyarrow", "duckdb", "sqlglot", "mlflow",
]  # fmt: skip


def connect(uri: str | None = None) -> MlflowClient:
    """Point MLflow at the tracking URI; a server that does not answer is a clear error, not minutes of retries."""
    defaults.telemetry_off()
    resolved = tracking_uri(uri)
    if resolved.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(resolved.rstrip("/") + "/health", timeout=10):
                pass
        except OSError as exc:
            raise InputError(f"cannot reach the MLflow tracking server at {resolved}: {exc}") from None
    mlflow.set_tracking_uri(resolved)
    mlflow.set_registry_uri(resolved)
    return MlflowClient(resolved, resolved)


def pip_requirements() -> list[str]:
    """Exact versions of what the model needs at load time (the project's own code ships as code paths)."""
    pins = [f"{name}=={version(name)}" for name in REQUIREMENTS]
    return pins + [f"ibis-framework[duckdb]=={version('ibis-framework')}"]


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=5, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def set_alias(client: MlflowClient, name: str, alias: str, model_version: str) -> None:
    client.set_registered_model_alias(name, alias, model_version)


def log_training(
    result: TrainResult,
    config: TrainConfig,
    facts: dict[str, str],
    source: str,
    experiment: str,
    register_as: str,
    uri: str | None = None,
) -> tuple[str, str]:
    """Record the run and register the model with alias ``challenger``; returns (run id, model version)."""
    client = connect(uri)
    exp = mlflow.set_experiment(experiment)
    end_orphaned_runs(client, exp.experiment_id)
    with (
        contextlib.ExitStack() as registering,
        mlflow.start_run(
            run_name=f"train as of {result.bundle.trained_as_of}",
            tags={HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())},
        ) as run,
    ):
        mlflow.log_params(config.as_params())
        mlflow.set_tags(
            facts
            | {
                "git_commit": git_commit(),
                "final_model": f"the BTYD baseline alone: {result.final_fit.baseline_only}"
                if result.final_fit.baseline_only
                else "early-stopped boosters, blended with the baseline as chosen on held-out customers",
                "customer_sample_share": f"{result.customer_share:.4f}",
            }
        )
        mlflow.log_metrics(result.metrics)
        mlflow.log_dict({"backtest": asdict(result.backtest_fit), "final": asdict(result.final_fit)}, "fits.json")
        _log_datasets(result, source)
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            backtest_frame(result).to_parquet(tmp_path / BACKTEST_FILE, index=False)
            mlflow.log_artifact(str(tmp_path / BACKTEST_FILE), "backtest")
            plots = report.plots(result, tmp_path / "plots")
            for path in plots.values():
                mlflow.log_artifact(str(path), "plots")
            html = report.html_report(result, plots, facts, tmp_path / "report.html")
            mlflow.log_artifact(str(html))
            report.comparison_table(result.metrics).to_csv(tmp_path / "backtest_metrics.csv", index=False)
            mlflow.log_artifact(str(tmp_path / "backtest_metrics.csv"))
            model_uri = _log_model(result, tmp_path)
        # Registering and aliasing happen whole: a SIGTERM now is held until the run has ended FINISHED.
        registering.enter_context(interrupts_held())
        version_ = _register(client, model_uri, register_as, run.info.run_id)
    return run.info.run_id, version_


@contextlib.contextmanager
def interrupts_held():
    """SIGTERM / SIGINT arriving inside the block are held until it ends, then raised as KeyboardInterrupt (main
    thread only; elsewhere signals cannot arrive anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: arrived.append(signum)) for sig in HELD_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if arrived:
        raise KeyboardInterrupt


HELD_SIGNALS = (signal.SIGTERM, signal.SIGINT)
HOST_TAG, PID_TAG = "clv.host", "clv.pid"  # who runs a training run, so a later start can tell it was killed


def end_orphaned_runs(client: MlflowClient, experiment_id: str) -> list[str]:
    """Mark KILLED the runs of this experiment still RUNNING whose training process on this machine is gone (killed
    with SIGKILL, or the machine lost power); runs of live processes or other machines are left alone."""
    host = socket.gethostname()
    runs = client.search_runs(
        [experiment_id], filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'"
    )
    ended = []
    for run in runs:
        pid = run.data.tags.get(PID_TAG, "")
        if pid.isdigit() and not _alive(int(pid)):
            client.set_terminated(run.info.run_id, "KILLED")
            ended.append(run.info.run_id)
    return ended


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


BACKTEST_FILE = "backtest.parquet"  # in the run's "backtest" artifact folder: what `clv promote` judges on


def backtest_frame(result: TrainResult) -> pd.DataFrame:
    """The backtest customers' features at the test cutoff, their labels, and the shipped and baseline predictions:
    enough for `clv promote` to score a champion on the same customers and window."""
    bt = result.backtest
    return result.test_frame.assign(
        challenger_churn=bt["churn_probability"].to_numpy(),
        challenger_clv=bt["predicted_clv"].to_numpy(),
        baseline_churn=bt["baseline_churn"].to_numpy(),
        baseline_clv=bt["baseline_clv"].to_numpy(),
        backtest_window_days=result.test_window_days,
    )


def load_backtest_frame(client: MlflowClient, mv) -> pd.DataFrame:
    """The backtest frame logged by the run behind a model version (see :func:`backtest_frame`)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(mv.run_id, f"backtest/{BACKTEST_FILE}", tmp)
        except mlflow.exceptions.MlflowException as exc:
            raise InputError(
                f"version {mv.version}'s run {mv.run_id} has no backtest frame to judge it on (trained by an older "
                f"version of this tool?): retrain it with `clv train`, or promote with --force ({exc})"
            ) from None
        return pd.read_parquet(path)


def _log_datasets(result: TrainResult, source: str) -> None:
    sample = result.test_frame.sample(n=min(10_000, len(result.test_frame)), random_state=0)
    ds = mlflow.data.from_pandas(sample, source=source, name="backtest-features", targets="future_spend")
    mlflow.log_input(ds, context="backtest")
    bt = result.backtest.sample(n=min(10_000, len(result.backtest)), random_state=0)
    mlflow.log_input(mlflow.data.from_pandas(bt, source=source, name="backtest-predictions"), context="evaluation")


def _log_model(result: TrainResult, tmp: Path) -> str:
    bundle_path = tmp / "bundle.json"
    bundle_path.write_text(json.dumps(result.bundle.to_dict()), encoding="utf-8")
    example = result.test_frame.drop(
        columns=[
            c
            for c in result.test_frame.columns
            if c.startswith(("future_", "btyd_", "season_")) or c in ("churned", "snapshot")
        ]
    ).head(5)
    example = example.drop(columns=["horizon_days"], errors="ignore")
    output = result.bundle.predict(example)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(PROJECT_ROOT / "training" / "pyfunc_model.py"),
        artifacts={"bundle": str(bundle_path)},
        code_paths=[str(PROJECT_ROOT / "models"), str(PROJECT_ROOT / "features")],
        signature=infer_signature(example, output, params={"reasons": True}),
        input_example=example,
        pip_requirements=pip_requirements(),
    )
    return info.model_uri


def _register(client: MlflowClient, model_uri: str, name: str, run_id: str) -> str:
    """Register and move ``challenger``; if anything fails after the version exists, delete it again."""
    mv = mlflow.register_model(model_uri, name)
    try:
        client.set_model_version_tag(name, mv.version, "run_id", run_id)
        set_alias(client, name, "challenger", mv.version)
    except BaseException:
        client.delete_model_version(name, mv.version)
        raise
    return str(mv.version)


def alias_version(client: MlflowClient, name: str, alias: str):
    """The model version behind ``alias``, or None when the model or the alias does not exist. Any other registry
    failure is an error: taking it for "no champion yet" would promote without judging."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.error_code
        raise InputError(
            f"the model registry could not say which version of {name!r} is @{alias} ({exc.error_code}: {first}); "
            "nothing was changed"
        ) from None


def load_bundle(model_uri: str):
    """The ModelBundle inside a registered pyfunc model (``models:/NAME@alias`` or any model URI)."""
    model = mlflow.pyfunc.load_model(model_uri)
    return model.unwrap_python_model().bundle, model.metadata


def pin_version(model_uri: str) -> tuple[str, str]:
    """``models:/NAME@alias`` resolved to ``models:/NAME/VERSION`` before loading, so what is recorded as the
    scoring version is the one loaded even if the alias moves meanwhile; returns (URI to load, version label).
    Other URIs are their own label."""
    if model_uri.startswith("models:/") and "@" in model_uri:
        name, alias = model_uri.removeprefix("models:/").split("@", 1)
        version = str(MlflowClient().get_model_version_by_alias(name, alias).version)
        return f"models:/{name}/{version}", version
    if model_uri.startswith("models:/") and model_uri.rsplit("/", 1)[-1].isdigit():
        return model_uri, model_uri.rsplit("/", 1)[-1]
    return model_uri, model_uri


def log_scoring(model_uri: str, version: str, as_of, metrics: dict[str, float], report: Path) -> str:
    """A scoring run beside the model's training run (same experiment): the drift numbers and the drift report,
    tagged with the model version and the scoring cutoff; returns its id."""
    client = MlflowClient()
    name = model_uri.removeprefix("models:/").split("/")[0]
    trained_in = client.get_run(client.get_model_version(name, version).run_id).info.experiment_id
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with mlflow.start_run(experiment_id=trained_in, run_name=f"score {as_of} v{version} {stamp}") as run:
        mlflow.set_tags({"kind": "scoring", "model_name": name, "model_version": version, "as_of": str(as_of)})
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(report))
    return run.info.run_id
